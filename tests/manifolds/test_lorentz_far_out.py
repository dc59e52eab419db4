"""The hyperboloid in float32 far from the origin: norms, projections and transport."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from manifolds import Lorentz

F32, F64 = jnp.float32, jnp.float64
EPS32 = float(jnp.finfo(F32).eps)


def _far_point_and_tangent(distance, k=1.0, seed=0):
    """float64 x at `distance` from the origin and a unit tangent vector u there."""
    rng = np.random.default_rng(seed)
    m = Lorentz(k)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    x = m.expmap0(jnp.asarray(np.concatenate([[0.0], distance * direction]), F64))
    u = m.proju(x, jnp.asarray(rng.normal(size=4), F64))
    return m, x, u / m.norm(x, u)


@pytest.mark.parametrize("distance", [5.0, 10.0, 14.0])
def test_float32_tangent_norm_far_out(distance):
    # x_0 = cosh(14) ~ 6e5 at the farthest; -u_0^2 + |u_s|^2 had no correct digit there.
    m, x, u = _far_point_and_tangent(distance)
    norm = float(m.norm(x.astype(F32), u.astype(F32)))
    assert abs(norm - 1.0) < 1e-5, norm


@pytest.mark.parametrize("distance", [5.0, 10.0, 14.0])
def test_float32_riemannian_gradient_far_out(distance):
    m, x, _ = _far_point_and_tangent(distance, seed=1)
    x = m.proj(x.astype(F32))  # the float32 point, and float64 at that same point
    g = jnp.asarray(np.random.default_rng(2).normal(size=4), F32)
    x64 = x.astype(F64)
    ref = m.egrad2rgrad(x64, g.astype(F64))
    out = m.egrad2rgrad(x, g).astype(F64)
    # A tangent vector is fixed by its space-like part, and `norm` reads only that part:
    # the error's norm in the metric at x, against the gradient's.
    err = m.norm(x64, out - ref) / m.norm(x64, ref)
    # Ambient float32 coordinates hold a tangent vector at x to about eps x_0 (its part
    # along x_s is x_0 times the rest): the documented range (docs/numerics.md).
    assert float(err) < EPS32 * float(x[0]), (float(err), EPS32 * float(x[0]))


@pytest.mark.parametrize("distance", [5.0, 10.0, 14.0])
def test_float32_transport_keeps_the_norm_far_out(distance):
    m, x, u = _far_point_and_tangent(distance, seed=3)
    w = m.proju(x, jnp.asarray([0.0, 1.0, -1.0, 0.5], F64))
    y = m.expmap(x, 0.1 * w / m.norm(x, w))  # a step of length 0.1
    moved = m.transp(x.astype(F32), y.astype(F32), u.astype(F32))
    assert np.all(np.isfinite(np.asarray(moved)))
    error = abs(float(m.norm(y.astype(F32), moved)) - 1.0)
    assert error < EPS32 * float(x[0]), (error, EPS32 * float(x[0]))
