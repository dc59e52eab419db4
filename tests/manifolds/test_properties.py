"""The property suite of DESIGN.md over every manifold, float32 and float64, under jax.jit.

One jitted function per (manifold, dtype) computes every property's error for a
hypothesis-drawn seed and tangent length, so each case compiles once.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.manifolds.registry import (
    DTYPES,
    REGISTRY,
    TANGENT_RADIUS,
    batched,
    random_point,
    random_tangent,
    second_point,
)

# Relative tolerance per dtype (errors are divided by 1 + |reference|).
TOL = {jnp.float32: 5e-4, jnp.float64: 1e-9}

PROPERTIES = [
    "proj_idempotent",
    "proj_fixes_points",
    "proju_idempotent",
    "log_exp",
    "dist_exp_norm",
    "dist_symmetric",
    "dist_zero_diagonal",
    "transp_tangent",
    "transp_isometry",
    "unbatched_equals_batched",
    "batched_equals_vmap",
]


def _rel(a, b):
    errs = [
        jnp.max(jnp.abs(x - y) / (1 + jnp.abs(y)))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    ]
    return jnp.max(jnp.stack(errs))


@functools.cache
def property_errors(name: str, dtype):
    m, shape = REGISTRY[name]
    batch = (3,)

    @jax.jit
    def errors(key, scale):
        kx, ky, ku, kv, kw = jax.random.split(key, 5)
        x = random_point(m, kx, batched(shape, batch), dtype)
        y = second_point(name, m, ky, x, batched(shape, batch), dtype)
        u = random_tangent(m, ku, x, (TANGENT_RADIUS.get(name, 1.0) * scale).astype(dtype))
        v = random_tangent(m, kv, x, jnp.asarray(1.0, dtype))
        w = random_tangent(m, kw, x, jnp.asarray(1.0, dtype))
        # An ambient, off-manifold perturbation of x, and a non-tangent ambient vector.
        leaves, treedef = jax.tree.flatten(x)
        noise = jax.tree.unflatten(
            treedef,
            [
                jax.random.normal(k, a.shape, a.dtype)
                for k, a in zip(jax.random.split(kw, len(leaves)), leaves, strict=False)
            ],
        )
        a = jax.tree.map(lambda xi, ni: xi + 0.1 * ni, x, noise)
        g = jax.tree.map(lambda vi, ni: vi + ni, v, noise)
        z = m.expmap(x, u)
        t_v, t_w = m.transp(x, z, v), m.transp(x, z, w)
        single = jax.tree.map(lambda a: a[0], (x, y, u))
        vmapped = jax.vmap(lambda a, b, c: (m.dist(a, b), m.expmap(a, c), m.logmap(a, b)))(x, y, u)
        batched_out = (m.dist(x, y), m.expmap(x, u), m.logmap(x, y))
        return {
            "proj_idempotent": _rel(m.proj(m.proj(a)), m.proj(a)),
            "proj_fixes_points": _rel(m.proj(x), x),
            "proju_idempotent": _rel(m.proju(x, m.proju(x, g)), m.proju(x, g)),
            "log_exp": _rel(m.logmap(x, z), u),
            "dist_exp_norm": _rel(m.dist(x, z), m.norm(x, u)),
            "dist_symmetric": _rel(m.dist(x, y), m.dist(y, x)),
            "dist_zero_diagonal": jnp.max(jnp.abs(m.dist(x, x))),
            "transp_tangent": _rel(m.proju(z, t_v), t_v),
            "transp_isometry": _rel(m.inner(z, t_v, t_w), m.inner(x, v, w)),
            "batched_equals_vmap": _rel(batched_out, vmapped),
            "unbatched_equals_batched": _rel(
                (m.dist(*single[:2]), m.expmap(single[0], single[2])),
                jax.tree.map(lambda a: a[0], batched_out[:2]),
            ),
        }

    return errors


CASES = [(n, d) for n in REGISTRY for d in DTYPES]


@pytest.mark.parametrize("prop", PROPERTIES)
@pytest.mark.parametrize("name,dtype", CASES, ids=[f"{n}-{jnp.dtype(d).name}" for n, d in CASES])
@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.0, 1.0))
def test_property(name, dtype, prop, seed, scale):
    m, _ = REGISTRY[name]
    if prop == "transp_isometry" and not m.transp_is_isometry:
        pytest.skip(f"{name}: transp is a documented vector transport, not an isometry")
    errs = property_errors(name, dtype)(jax.random.PRNGKey(seed), jnp.asarray(scale))
    err = float(errs[prop])
    assert np.isfinite(err), f"{name} {prop}: non-finite error"
    assert err <= TOL[dtype], (
        f"{name} {jnp.dtype(dtype).name} {prop}: error {err:.3g} > {TOL[dtype]}"
    )


@pytest.mark.parametrize("name,dtype", CASES, ids=[f"{n}-{jnp.dtype(d).name}" for n, d in CASES])
def test_expmap_lands_on_manifold(name, dtype):
    m, shape = REGISTRY[name]
    kx, ku = jax.random.split(jax.random.PRNGKey(7))
    x = random_point(m, kx, batched(shape, (16,)), dtype)
    length = jnp.asarray(0.9 * TANGENT_RADIUS.get(name, 1.0), dtype)
    z = jax.jit(m.expmap)(x, random_tangent(m, ku, x, length))
    ok, reason = m.check(jax.tree.map(np.asarray, z))
    assert ok, reason
