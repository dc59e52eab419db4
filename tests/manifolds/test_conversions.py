"""Isometries between hyperbolic models preserve distance and commute with the geometry."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manifolds as mf
from manifolds import Lorentz, PoincareBall
from manifolds.numerics import arcosh1p

F64 = jnp.float64


def _reference_dist(u, v):
    """float64 hyperbolic law of cosines, valid where cosh does not overflow float64."""
    a, b = jnp.linalg.norm(u), jnp.linalg.norm(v)
    cos_t = jnp.dot(u, v) / jnp.maximum(a * b, 1e-300)
    delta = 2 * jnp.sinh((a - b) / 2) ** 2 + jnp.sinh(a) * jnp.sinh(b) * (1 - cos_t)
    return arcosh1p(delta)


def _points(c, n=16, seed=0):
    ball = PoincareBall(c)
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    return ball, ball.random(kx, (n, 4), F64, std=0.7), ball.random(ky, (n, 4), F64, std=0.7)


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_round_trips(c):
    _, p, _ = _points(c)
    np.testing.assert_allclose(
        mf.lorentz_to_poincare(mf.poincare_to_lorentz(p, c), c), p, atol=1e-12
    )
    np.testing.assert_allclose(mf.klein_to_poincare(mf.poincare_to_klein(p, c), c), p, atol=1e-12)
    x = mf.poincare_to_lorentz(p, c)
    np.testing.assert_allclose(mf.klein_to_lorentz(mf.lorentz_to_klein(x, c), c), x, rtol=1e-10)
    v = mf.lorentz_to_euclidean_param(x, c)
    np.testing.assert_allclose(mf.euclidean_param_to_lorentz(v, c), x, rtol=1e-10)
    np.testing.assert_allclose(
        mf.euclidean_param_to_poincare(mf.poincare_to_euclidean_param(p, c), c), p, atol=1e-12
    )


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_distances_agree_across_models(c):
    ball, p, q = _points(c)
    hyperboloid = Lorentz(1.0 / c)
    d_ball = ball.dist(p, q)
    x, y = mf.poincare_to_lorentz(p, c), mf.poincare_to_lorentz(q, c)
    assert hyperboloid.check(np.asarray(x))[0]
    np.testing.assert_allclose(hyperboloid.dist(x, y), d_ball, rtol=1e-10)
    u, v = mf.poincare_to_euclidean_param(p, c), mf.poincare_to_euclidean_param(q, c)
    np.testing.assert_allclose(mf.euclidean_param_dist(u, v, c), d_ball, rtol=1e-10)
    # |v| is the distance to the origin in the Euclidean parametrization.
    np.testing.assert_allclose(
        jnp.linalg.norm(u, axis=-1), ball.dist(ball.origin((4,), F64), p), rtol=1e-10
    )


@pytest.mark.parametrize("radius", [0.5, 5.0, 30.0, 200.0])
def test_euclidean_parametrization_capacity(radius):
    """Far beyond where the float32 ball rounds points onto its boundary (distance ~12), the
    Euclidean parametrization still gives accurate distances, and finite gradients."""
    u = jnp.array([radius, 0.0, 0.0], jnp.float32)
    v = jnp.array([radius, 0.3, 0.1], jnp.float32)
    w = jnp.array([radius * 0.5, -radius * 0.2, 0.0], jnp.float32)
    for a, b in [(u, v), (u, w), (u, u)]:
        d = float(mf.euclidean_param_dist(a, b))
        reference = float(_reference_dist(a.astype(F64), b.astype(F64)))
        assert np.isfinite(d) and abs(d - reference) <= 1e-4 * max(1.0, reference), (d, reference)
        g = jax.grad(lambda x, y: mf.euclidean_param_dist(x, y), argnums=(0, 1))(a, b)
        assert all(np.all(np.isfinite(t)) for t in g)


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_poincare_transport_matches_lorentz_transport(c):
    """Parallel transport commutes with the isometry: push v through d(poincare_to_lorentz)."""
    ball, p, q = _points(c, n=6)
    v = jax.random.normal(jax.random.PRNGKey(3), p.shape, F64)
    hyperboloid = Lorentz(1.0 / c)
    to_l = lambda a: mf.poincare_to_lorentz(a, c)  # noqa: E731
    push = jax.vmap(lambda a, t: jax.jvp(to_l, (a,), (t,))[1])
    ours = push(q, ball.transp(p, q, v))
    theirs = hyperboloid.transp(to_l(p), to_l(q), push(p, v))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_expmap_commutes_with_isometry():
    c = 1.0
    ball, p, _ = _points(c, n=6)
    v = jax.random.normal(jax.random.PRNGKey(4), p.shape, F64)
    v = 1.5 * v / ball.norm(p, v)[:, None]  # Riemannian length 1.5
    to_l = lambda a: mf.poincare_to_lorentz(a, c)  # noqa: E731
    push = jax.vmap(lambda a, t: jax.jvp(to_l, (a,), (t,))[1])
    np.testing.assert_allclose(
        to_l(ball.expmap(p, v)), Lorentz(1.0).expmap(to_l(p), push(p, v)), rtol=1e-9
    )
