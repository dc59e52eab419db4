"""The opt-in checked mode (`manifolds.checked`): silent on valid input, a named error under jit
on points off the manifold, on a curvature <= 0 and on non-finite results."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

from manifolds import SPD, Euclidean, PoincareBall, Product, Sphere
from manifolds.checked import Checked, run_checked
from tests.manifolds.registry import DTYPES, REGISTRY, batched, random_point, second_point


def _pair(name, dtype):
    m, shape = REGISTRY[name]
    k1, k2 = jax.random.split(jax.random.key(3))
    x = random_point(m, k1, batched(shape, (8,)), dtype)
    return m, x, second_point(name, m, k2, x, batched(shape, (8,)), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_valid_points_pass_and_give_the_unchecked_value(name, dtype):
    m, x, y = _pair(name, dtype)
    checked = Checked(m)
    dist = run_checked(jax.jit(checked.dist))(x, y)
    # The same function compiled beside the checks: equal up to fusion order (a few float32
    # ulps, amplified next to the ball's boundary by the distance's 1 / (1 - c|x|^2)).
    rtol = 1e-5 if dtype == jnp.float32 else 1e-13
    np.testing.assert_allclose(dist, jax.jit(m.dist)(x, y), rtol=rtol)
    u = run_checked(jax.jit(checked.logmap))(x, y)
    run_checked(jax.jit(checked.expmap))(x, u)
    run_checked(jax.jit(checked.transp))(x, y, u)


def _off_manifold(m, x):
    if isinstance(m, SPD):  # an antisymmetric part: SPD.proj would symmetrize it away
        return x + jnp.zeros_like(x).at[..., 0, 1].set(0.3)
    if isinstance(m, PoincareBall):
        return 1.2 * x / jnp.linalg.norm(x, axis=-1, keepdims=True) / jnp.sqrt(m.c)
    return 1.5 * x


@pytest.mark.parametrize(
    "name", ["poincare_c1", "lorentz_k2", "sphere", "spd_affine", "stiefel", "grassmann"]
)
def test_a_point_off_the_manifold_is_named_under_jit(name):
    m, x, y = _pair(name, jnp.float32)
    bad = _off_manifold(m, y)
    with pytest.raises(
        checkify.JaxRuntimeError, match=rf"{type(m).__name__}.dist: argument 1 is not on"
    ):
        run_checked(jax.jit(Checked(m).dist))(x, bad)


def test_a_non_symmetric_matrix_is_an_error_not_a_symmetrized_answer():
    spd = Checked(SPD(3))
    a = jnp.eye(3).at[0, 1].set(0.5)
    assert float(SPD(3).dist(a, jnp.eye(3))) > 0  # unchecked: symmetrized silently
    with pytest.raises(checkify.JaxRuntimeError, match="argument 0 is not on SPD"):
        run_checked(jax.jit(spd.dist))(a, jnp.eye(3))
    with pytest.raises(checkify.JaxRuntimeError, match="argument 0 is not on SPD"):
        run_checked(jax.jit(spd.dist))(jnp.diag(jnp.array([2.0, 2.0, -0.1])), jnp.eye(3))


def test_a_traced_curvature_is_checked():
    def expmap0(c, u):
        return Checked(PoincareBall(c)).expmap0(u)

    u = jnp.array([0.1, 0.2])
    np.testing.assert_allclose(run_checked(jax.jit(expmap0))(1.0, u), PoincareBall(1.0).expmap0(u))
    with pytest.raises(checkify.JaxRuntimeError, match="curvature parameter must be > 0"):
        run_checked(jax.jit(expmap0))(-1.0, u)


def test_non_finite_tangents_and_results_are_named():
    ball = Checked(PoincareBall(1.0))
    x = jnp.array([0.1, 0.2])
    with pytest.raises(checkify.JaxRuntimeError, match="argument 1 .a tangent vector"):
        run_checked(jax.jit(ball.expmap))(x, jnp.array([jnp.nan, 0.0]))
    with pytest.raises(checkify.JaxRuntimeError, match="Euclidean.norm: the result is not"):
        run_checked(jax.jit(Checked(Euclidean()).norm))(x, jnp.array([3e38, 3e38], jnp.float32))


def test_checked_works_eagerly_in_products_and_under_grad():
    ball = Checked(PoincareBall(1.0))
    with pytest.raises(checkify.JaxRuntimeError, match="argument 0 is not on PoincareBall"):
        ball.dist(jnp.array([1.5, 0.0]), jnp.array([0.0, 0.0]))
    product = Checked(Product(PoincareBall(1.0), Sphere()))
    x = (jnp.array([0.1, 0.2]), jnp.array([1.0, 0.0]))
    y = (jnp.array([0.0, 0.2]), jnp.array([0.0, 2.0]))
    with pytest.raises(checkify.JaxRuntimeError, match="Product.dist: argument 1"):
        run_checked(jax.jit(product.dist))(x, y)
    grad = run_checked(jax.jit(jax.grad(lambda a: ball.dist(a, jnp.zeros(2)))))(x[0])
    np.testing.assert_allclose(grad, jax.grad(lambda a: PoincareBall(1.0).dist(a, 0 * a))(x[0]))
    ok, reason = ball.check(jnp.array([1.5, 0.0]))
    assert not ok and reason.startswith("PoincareBall: outside the ball")


def test_unchecked_jit_needs_run_checked():
    with pytest.raises(ValueError, match="checkify"):
        jax.jit(Checked(PoincareBall(1.0)).dist)(jnp.zeros(2), jnp.zeros(2))
