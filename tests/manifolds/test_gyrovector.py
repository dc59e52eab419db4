"""Gyrovector identities of the Poincare ball (Ungar 2008; Ganea et al. 2018) and the layers'
maps: outputs on the ball, finite float32 gradients, agreement with their definitions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from manifolds import PoincareBall
from manifolds.gyrovector import (
    expmap0,
    hyperbolic_mlr_logits,
    logmap0,
    mobius_linear,
    mobius_matvec,
    mobius_pointwise,
    mobius_scalar_mul,
    poincare_fc,
    poincare_mlr_logits,
)
from manifolds.poincare import gyration, mobius_add

CURVATURES = [1.0, 0.3]


def _points(key, shape, c, dtype=jnp.float64, std=0.7):
    return PoincareBall(c).random(key, shape, dtype, std=std)


@pytest.mark.parametrize("c", CURVATURES)
def test_mobius_identities(c):
    kx, ky, ka = jax.random.split(jax.random.PRNGKey(0), 3)
    x, y, a = (_points(k, (64, 4), c) for k in (kx, ky, ka))
    ball = PoincareBall(c)
    # Left cancellation: (-x) (+) (x (+) y) = y.
    np.testing.assert_allclose(mobius_add(-x, mobius_add(x, y, c), c), y, atol=1e-10)
    # Gyrocommutative law: x (+) y = gyr[x, y](y (+) x).
    np.testing.assert_allclose(
        mobius_add(x, y, c), gyration(x, y, mobius_add(y, x, c), c), atol=1e-10
    )
    # Mobius translations are isometries: d(a (+) x, a (+) y) = d(x, y).
    np.testing.assert_allclose(
        ball.dist(mobius_add(a, x, c), mobius_add(a, y, c)), ball.dist(x, y), rtol=1e-9
    )
    # Scalar multiplication: 1 (x) x = x and (r + s) (x) x = r (x) x (+) s (x) x.
    np.testing.assert_allclose(mobius_scalar_mul(1.0, x, c), x, atol=1e-12)
    r, s = 0.7, -1.9
    np.testing.assert_allclose(
        mobius_scalar_mul(r + s, x, c),
        mobius_add(mobius_scalar_mul(r, x, c), mobius_scalar_mul(s, x, c), c),
        atol=1e-10,
    )
    # exp_0 and log_0 are inverse; they agree with the manifold's exp and log at 0.
    np.testing.assert_allclose(expmap0(logmap0(x, c), c), x, atol=1e-10)
    np.testing.assert_allclose(logmap0(x, c), ball.logmap(jnp.zeros_like(x), x), atol=1e-10)


@pytest.mark.parametrize("c", CURVATURES)
def test_matvec_and_linear_follow_their_definitions(c):
    x = _points(jax.random.PRNGKey(1), (32, 5), c)
    m = jax.random.normal(jax.random.PRNGKey(2), (3, 5), jnp.float64)
    # Ganea et al. eq. 27, written out.
    sc = np.sqrt(c)
    mx = np.asarray(x) @ np.asarray(m).T
    xn = np.linalg.norm(x, axis=-1, keepdims=True)
    mxn = np.linalg.norm(mx, axis=-1, keepdims=True)
    expected = np.tanh(mxn / xn * np.arctanh(sc * xn)) * mx / (mxn * sc)
    np.testing.assert_allclose(mobius_matvec(m, x, c), expected, rtol=1e-9)
    # Identity matrix, zero matrix and the origin.
    np.testing.assert_allclose(mobius_matvec(jnp.eye(5), x, c), x, atol=1e-12)
    assert np.all(np.asarray(mobius_matvec(jnp.zeros((3, 5)), x, c)) == 0)
    assert np.all(np.asarray(mobius_matvec(m, jnp.zeros((2, 5)), c)) == 0)
    bias = _points(jax.random.PRNGKey(3), (3,), c)
    np.testing.assert_allclose(
        mobius_linear(x, m, bias, c), mobius_add(mobius_matvec(m, x, c), bias, c), atol=1e-12
    )
    np.testing.assert_allclose(
        mobius_pointwise(jnp.tanh, x, c), expmap0(jnp.tanh(logmap0(x, c)), c), atol=1e-12
    )


@pytest.mark.parametrize("c", CURVATURES)
def test_hyperbolic_mlr_is_a_scaled_signed_gyroplane_distance(c):
    """|logit_k| / (lambda_p |a| / sqrt(c)) = asinh of the gyroplane-distance argument; at
    the plane's base point the logit is 0 and its sign flips across the plane."""
    k = jax.random.split(jax.random.PRNGKey(4), 3)
    p = _points(k[0], (4, 3), c, std=0.3)
    a = jax.random.normal(k[1], (4, 3), jnp.float64)
    np.testing.assert_allclose(jnp.diagonal(hyperbolic_mlr_logits(p, p, a, c)), 0, atol=1e-12)
    ball = PoincareBall(c)
    step = 0.05 * a / jnp.linalg.norm(a, axis=-1, keepdims=True)
    ahead = ball.expmap(p, step)
    behind = ball.expmap(p, -step)
    assert np.all(np.diagonal(hyperbolic_mlr_logits(ahead, p, a, c)) > 0)
    assert np.all(np.diagonal(hyperbolic_mlr_logits(behind, p, a, c)) < 0)


@pytest.mark.parametrize("c", CURVATURES)
def test_poincare_fc_output_has_the_logits_as_gyroplane_coordinates(c):
    """HNN++ eq. 9-10: y's signed distances to the standard gyroplanes through the origin are
    the input's logits v; the MLR logit with |z| = 1 is twice that distance (eq. 6)."""
    x = _points(jax.random.PRNGKey(5), (16, 4), c)
    z = jax.random.normal(jax.random.PRNGKey(6), (4, 3), jnp.float64)
    r = 0.1 * jax.random.normal(jax.random.PRNGKey(7), (3,), jnp.float64)
    y = poincare_fc(x, z, r, c)
    v = poincare_mlr_logits(x, z, r, c)
    np.testing.assert_allclose(
        poincare_mlr_logits(y, jnp.eye(3), jnp.zeros(3), c), 2 * v, rtol=1e-8, atol=1e-10
    )


@pytest.mark.parametrize("c", CURVATURES)
def test_layers_stay_on_the_ball_with_finite_float32_gradients(c):
    ball = PoincareBall(c)
    key = jax.random.split(jax.random.PRNGKey(8), 4)
    near_edge = ball.proj(jax.random.normal(key[0], (8, 6), jnp.float32) * 10)
    x = jnp.concatenate([_points(key[1], (8, 6), c, jnp.float32), near_edge, jnp.zeros((1, 6))])
    m = jax.random.normal(key[2], (4, 6), jnp.float32)
    z = jax.random.normal(key[3], (6, 4), jnp.float32)
    bias = jnp.full((4,), 0.1, jnp.float32)
    r = jnp.zeros((4,), jnp.float32)
    layers = {
        "linear": lambda x, m: mobius_linear(x, m, bias, c),
        "pointwise": lambda x, m: mobius_pointwise(jax.nn.relu, x @ jnp.eye(6, dtype=x.dtype), c),
        "fc": lambda x, m: poincare_fc(x, m.T, r, c),
    }
    for name, layer in layers.items():  # jitted: cheaper than op-by-op dispatch of a gradient
        out = jax.jit(layer)(x, m)
        ok, reason = ball.check(out)
        assert ok, (name, reason)
        grad_fn = jax.jit(jax.grad(lambda x, m, f=layer: jnp.sum(f(x, m) ** 2), argnums=(0, 1)))
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in grad_fn(x, m)), name
    for logits in (hyperbolic_mlr_logits(x, ball.proj(0.5 * z.T), z.T, c),
                   poincare_mlr_logits(x, z, r, c)):  # fmt: skip
        assert bool(jnp.all(jnp.isfinite(logits)))
    mlr_loss = lambda x: jnp.sum(hyperbolic_mlr_logits(x, ball.proj(0.5 * z.T), z.T, c))  # noqa: E731
    assert bool(jnp.all(jnp.isfinite(jax.jit(jax.grad(mlr_loss))(x))))
