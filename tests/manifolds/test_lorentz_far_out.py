"""The hyperboloid in float32 far from the origin: norms, projections and transport."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from manifolds import Lorentz
from manifolds.lorentz_exact import exact_lorentz_dist, exact_lorentz_logmap

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


@pytest.mark.parametrize("distance", [6.0, 10.0, 12.0])
def test_float32_distance_far_out(distance):
    """Pairs at `distance` from the origin, 0.01 to 3 apart or on opposite sides: the float32
    distance of the float32 points against their exact distance, and a finite gradient.
    -<x, y>_L in float32 left no digit of a distance of 1 at radius 6; the error is now
    near eps x_0 relative."""
    m = Lorentz(1.0)
    rng = np.random.default_rng(4)
    with mpmath.workdps(50):
        for gap in (0.01, 0.1, 1.0, 3.0, None):
            for _ in range(5):
                x, u = _far_point_and_tangent(distance, seed=int(rng.integers(1 << 30)))[1:]
                y = m.expmap(x, gap * u) if gap else x * jnp.asarray([1.0, -1, -1, -1], F64)
                x32, y32 = m.proj(x.astype(F32)), m.proj(y.astype(F32))
                want = exact_lorentz_dist(x32, y32)
                got = float(m.dist(x32, y32))
                bound = EPS32 * (4 + float(x32[0]) * want)
                assert abs(got - want) <= bound, (gap, got, want, bound)
                grad = jax.grad(lambda p, q=y32: m.dist(p, q))(x32)
                assert np.all(np.isfinite(np.asarray(grad))), (gap, grad)


@pytest.mark.parametrize("distance", [5.0, 9.0, 12.0])
def test_float32_logmap_far_out(distance):
    """log_x(y) in float32 for partners 0.001 to 3 away, against its exact value, and
    exp_x(log_x(y)) against y: both within 50 eps x_0, the resolution of the float32 points
    (y + <x, y>_L x erred by 5e3 eps x_0 at radius 7 and 7e5 at radius 12)."""
    m = Lorentz(1.0)
    rng = np.random.default_rng(5)
    with mpmath.workdps(50):
        for gap in (1e-3, 0.1, 1.0, 3.0):
            for _ in range(4):
                x, u = _far_point_and_tangent(distance, seed=int(rng.integers(1 << 30)))[1:]
                x32, y32 = m.proj(x.astype(F32)), m.proj(m.expmap(x, gap * u).astype(F32))
                x64, y64 = m.proj(x32.astype(F64)), m.proj(y32.astype(F64))
                bound = 50 * EPS32 * float(x64[0])
                log = m.logmap(x32, y32)
                error = float(m.norm(x64, log.astype(F64) - exact_lorentz_logmap(x32, y32)))
                assert error <= bound, (gap, error, bound)
                back = m.proj(m.expmap(x32, log)).astype(F64)
                assert float(m.dist(back, y64)) <= bound, (gap, float(m.dist(back, y64)), bound)
