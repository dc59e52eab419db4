"""The closed-form loss and gradient of Nickel & Kiela agree with autodiff of the reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from manifolds import PoincareBall
from models.nickel_kiela import poincare_ranking_loss_and_grad, ranking_loss


@jax.jit
def _reference(rows, valid, weight):
    def loss(rows):
        dists = PoincareBall(1.0).dist(rows[..., :1, :], rows[..., 1:, :])
        return jnp.sum(weight * ranking_loss(dists, valid), -1)

    return loss(rows), jax.grad(lambda r: jnp.sum(loss(r)))(rows)


def _rows(key, shape, radius, dtype):
    direction = jax.random.normal(key, shape, dtype)
    norm = jax.random.uniform(jax.random.fold_in(key, 1), shape[:-1] + (1,), dtype, 0, radius)
    return direction / jnp.linalg.norm(direction, axis=-1, keepdims=True) * norm


@pytest.mark.parametrize(
    "dtype,radius,rtol", [(jnp.float64, 0.9, 1e-10), (jnp.float32, 0.99, 2e-4)]
)
def test_matches_autodiff(dtype, radius, rtol):
    key = jax.random.PRNGKey(0)
    rows = _rows(key, (3, 10, 12, 5), radius, dtype)  # 3 runs, 10 positives, 10 negatives
    valid = jax.random.bernoulli(jax.random.fold_in(key, 2), 0.8, (3, 10, 11)).at[..., 0].set(True)
    weight = jax.random.uniform(jax.random.fold_in(key, 3), (3, 10), dtype)
    loss, grad = jax.jit(poincare_ranking_loss_and_grad)(rows, valid, weight)
    ref_loss, ref_grad = _reference(rows, valid, weight)
    assert loss.shape == (3,) and grad.shape == rows.shape
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol)
    scale = float(jnp.max(jnp.abs(ref_grad)))
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * scale)
    masked = ~valid[..., 1:]
    assert float(jnp.max(jnp.abs(jnp.where(masked[..., None], grad[..., 2:, :], 0)))) == 0.0


def test_coincident_points_and_the_boundary_stay_finite():
    rows = jnp.zeros((2, 4, 3), jnp.float32)
    rows = rows.at[0, 1].set(rows[0, 0])  # the ancestor on the child: zero distance
    far = [[0.99999, 0, 0], [-0.99999, 0, 0], [0, 0.5, 0], [0, 0, 0]]
    rows = rows.at[1].set(jnp.array(far, jnp.float32))
    valid = jnp.ones((2, 3), bool)
    loss, grad = jax.jit(poincare_ranking_loss_and_grad)(rows, valid, jnp.ones(2, jnp.float32))
    assert bool(jnp.isfinite(loss)) and bool(jnp.all(jnp.isfinite(grad)))
    np.testing.assert_array_equal(grad[0, :2], 0.0)  # all points coincide in positive 0
