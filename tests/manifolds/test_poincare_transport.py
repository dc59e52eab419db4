"""Poincare parallel transport in float32 up to the boundary clamp, against float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from manifolds import PoincareBall
from manifolds.numerics import ball_margin
from manifolds.poincare import conformal_factor, gyration

F32, F64 = jnp.float32, jnp.float64
EPS32 = float(jnp.finfo(F32).eps)
# Measured worst case over these draws: 0.66 eps / (1 - c|x|^2) (docs/numerics.md).
BOUND = 2.0


def _reference(x, y, v, c):
    """Ungar's closed form in float64: its error eps64 / (1 - c|x|^2)^2 is below 1e-6 here."""
    x, y, v = (jnp.asarray(a, F64) for a in (x, y, v))
    return gyration(y, -x, v, c) * conformal_factor(x, c) / conformal_factor(y, c)


def _draw(rng, n, radius, c):
    """Points at `radius` times the radius (projected), steps 1e-8..1e-2 of the gap, vectors."""
    ball = PoincareBall(c)
    dirs = rng.normal(size=(n, 5))
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    x = ball.proj(jnp.asarray(radius / np.sqrt(c) * dirs, F32))
    scale = 10 ** rng.uniform(-8, -2, size=(n, 1)) * (1 - radius) / np.sqrt(c)
    y = ball.proj(x + jnp.asarray(rng.normal(size=(n, 5)) * scale, F32))
    v = jnp.asarray(rng.normal(size=(n, 5)) * 1e-3, F32)
    return x, y, v


@pytest.mark.parametrize("c", [1.0, 0.3])
@pytest.mark.parametrize("radius", [0.5, 0.9, 0.99, 0.999, 0.9999, 1 - ball_margin(F32)])
def test_float32_transport_error_within_eps_over_gap(radius, c):
    rng = np.random.default_rng(int(radius * 1e6) % 1000)
    x, y, v = _draw(rng, 400, radius, c)
    out = np.asarray(jax.jit(PoincareBall(c).transp)(x, y, v))
    ref = np.asarray(_reference(x, y, v, c))
    rel = np.linalg.norm(out - ref, axis=-1) / np.linalg.norm(ref, axis=-1)
    gap = 1 - c * np.sum(np.asarray(x, np.float64) ** 2, axis=-1)
    assert np.all(np.isfinite(out))
    assert np.max(rel * gap / EPS32) < BOUND, np.max(rel * gap / EPS32)


def test_the_reported_case_at_the_clamp():
    # |x| = 0.99999, y 1e-7 away, v = (1e-3, 1e-3): the closed form gave (-2.3e5, -4.07).
    x = jnp.asarray([0.99999, 0.0], F32)
    y = x + jnp.asarray([0.0, 1e-7], F32)
    v = jnp.asarray([1e-3, 1e-3], F32)
    out = np.asarray(PoincareBall(1.0).transp(x, y, v))
    ref = np.asarray(_reference(x, y, v, 1.0))
    assert np.allclose(out, ref, rtol=BOUND * EPS32 / 2e-5, atol=0), (out, ref)


def test_transport_keeps_float64_accuracy_and_isometry():
    rng = np.random.default_rng(0)
    ball = PoincareBall(1.0)
    x, y, v = (jnp.asarray(a, F64) for a in _draw(rng, 200, 0.9, 1.0))
    out, ref = ball.transp(x, y, v), _reference(x, y, v, 1.0)
    assert np.max(np.linalg.norm(out - ref, axis=-1) / np.linalg.norm(ref, axis=-1)) < 1e-12
    assert np.allclose(ball.norm(y, out), ball.norm(x, v), rtol=1e-12)
