"""SPD in float32 up to condition number 1e6: finite values and gradients, float64 accuracy."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from manifolds import SPD
from manifolds.spd import FLOAT32_CONDITION_LIMIT, METRICS

COUNT = 100


def _draw(rng, cond):
    """4 x 4 SPD matrices in random bases with eigenvalues 1, cond and two log-uniform."""
    out = []
    for _ in range(COUNT):
        q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
        w = np.exp(rng.uniform(0, np.log(cond), size=4))
        w[:2] = 1.0, cond
        out.append((q * w) @ q.T)
    return np.asarray(out, np.float32)


@functools.cache
def _jitted(metric):
    m = SPD(4, metric)
    fns = {
        "dist": m.dist,
        "logmap": m.logmap,
        "expmap": lambda p, q: m.expmap(p, 0.1 * m.logmap(p, q)),
    }
    grads = {
        name: jax.jit(jax.grad(lambda p, q, f=f: jnp.sum(f(p, q)), argnums=(0, 1)))
        for name, f in fns.items()
    }
    return {name: jax.jit(f) for name, f in fns.items()}, grads


@pytest.mark.parametrize("cond", [1e2, 1e4, 1e6])
@pytest.mark.parametrize("metric", METRICS)
def test_float32_maps_are_finite_and_accurate_up_to_the_limit(metric, cond):
    rng = np.random.default_rng(int(np.log10(cond)))
    p, q = _draw(rng, cond), _draw(rng, cond)
    values, grads = _jitted(metric)
    # Measured worst cases (docs/numerics.md): 2.9e-6 at 1e2, 2.5e-4 at 1e4, 1.6e-2 at 1e6.
    bound = 1e-4 + 5e-8 * cond
    for name in values:
        out = np.asarray(values[name](p, q), np.float64)
        ref = np.asarray(values[name](p.astype(np.float64), q.astype(np.float64)))
        assert np.all(np.isfinite(out)), name
        err = np.linalg.norm((out - ref).reshape(COUNT, -1), axis=-1)
        rel = err / np.linalg.norm(ref.reshape(COUNT, -1), axis=-1)
        assert np.max(rel) < bound, (name, float(np.max(rel)))
        g = grads[name](p, q)
        assert all(bool(jnp.all(jnp.isfinite(a))) for a in g), name


def test_check_names_the_float32_condition_limit():
    big = np.diag([1.0, 10.0, 100.0, 10 * FLOAT32_CONDITION_LIMIT]).astype(np.float32)
    ok, reason = SPD(4).check(big)
    assert not ok and "condition number 1e+07 is beyond 1e+06" in reason and "float64" in reason
    assert SPD(4).check(big.astype(np.float64))[0]
    assert SPD(4).check(np.diag([1.0, 1.0, 1.0, FLOAT32_CONDITION_LIMIT]).astype(np.float32))[0]
