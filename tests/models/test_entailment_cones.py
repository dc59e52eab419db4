"""Entailment cones (Ganea et al. 2018) and order embeddings: the energies' defining
properties, their float32 behaviour at the origin and the boundary, and bad settings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from manifolds import PoincareBall
from manifolds.hyperbolic import poincare_to_lorentz
from models.entailment_cones import (
    PoincareAnnulus,
    cone_energy,
    entailment_space,
    exterior_angle,
    half_aperture,
    inner_radius,
    lorentz_cone_energy,
    order_energy,
)

K, R = 0.1, 0.1


def _geodesic_point(x, angle, length):
    """exp_x of a tangent vector at `angle` from x's radial direction (in the e1, e2 plane
    of x = |x| e1), of Riemannian length `length`."""
    ball = PoincareBall(1.0)
    direction = jnp.zeros_like(x).at[0].set(jnp.cos(angle)).at[1].set(jnp.sin(angle))
    lam = 2 / (1 - jnp.sum(x * x))
    return ball.expmap(x, direction * length / lam)


@pytest.mark.parametrize("norm", [0.15, 0.5, 0.9, 0.999])
def test_exterior_angle_is_the_angle_the_geodesic_leaves_at(norm):
    x = jnp.zeros(4, jnp.float64).at[0].set(norm)
    for angle in (0.05, 0.4, 1.2, 2.5, 3.0):
        y = _geodesic_point(x, angle, 0.7)
        assert float(exterior_angle(x, y)) == pytest.approx(angle, abs=1e-9)


def test_energy_is_zero_inside_the_cone_and_positive_outside():
    x = jnp.zeros(3, jnp.float64).at[0].set(0.4)
    psi = float(half_aperture(x, K, R))
    assert 0 < psi < np.pi / 2
    for angle in np.linspace(0, 0.98 * psi, 5):
        for length in (0.01, 0.5, 4.0):
            assert float(cone_energy(x, _geodesic_point(x, angle, length), K, R)) == 0.0
    for angle in (1.02 * psi, 2.0, 3.1):
        energy = float(cone_energy(x, _geodesic_point(x, angle, 1.0), K, R))
        assert energy == pytest.approx(angle - psi, abs=1e-9)


def _inside_cone(rng, apex, fraction):
    """A point on a geodesic from `apex` at `fraction` of its half-aperture, in a random
    direction around the radial one, at a random length."""
    apex = np.asarray(apex)
    radial = apex / np.linalg.norm(apex)
    other = rng.normal(size=apex.shape)
    other -= other @ radial * radial
    angle = fraction * float(half_aperture(jnp.asarray(apex), K, R))
    direction = np.cos(angle) * radial + np.sin(angle) * other / np.linalg.norm(other)
    lam = 2 / (1 - apex @ apex)
    step = direction * rng.uniform(0.1, 3.0) / lam
    return np.asarray(PoincareBall(1.0).expmap(jnp.asarray(apex), jnp.asarray(step)))


def test_cones_are_nested_so_the_relation_is_transitive():
    """y in cone(x) and z in cone(y) imply z in cone(x) (Ganea et al., Sec. 3)."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        x = rng.normal(size=3)
        x *= rng.uniform(0.11, 0.9) / np.linalg.norm(x)
        y = _inside_cone(rng, x, rng.uniform(0, 0.999))
        z = _inside_cone(rng, y, rng.uniform(0, 0.999))
        assert float(cone_energy(jnp.asarray(x), jnp.asarray(y), K, R)) == 0.0
        assert float(cone_energy(jnp.asarray(x), jnp.asarray(z), K, R)) < 1e-9


def test_half_aperture_and_angles_are_finite_and_continuous_in_float32():
    e1 = jnp.zeros(5, jnp.float32).at[0].set(1.0)
    norms = [0.0, 1e-30, 1e-8, R * (1 - 1e-6), R, R * (1 + 1e-6), 0.5, 1 - 1e-6]
    grad_psi = jax.grad(lambda x: half_aperture(x, K, R))
    for r in norms:
        x = r * e1
        assert np.isfinite(float(half_aperture(x, K, R)))
        assert np.all(np.isfinite(np.asarray(grad_psi(x))))
    below, above = (half_aperture(r * e1, K, R) for r in (R * (1 - 1e-6), R * (1 + 1e-6)))
    assert abs(float(below) - float(above)) < 1e-5
    other = jnp.zeros(5, jnp.float32).at[1].set(0.3)
    grad_e = jax.grad(lambda x, y: cone_energy(x, y, K, R), argnums=(0, 1))
    for x, y in [(0 * e1, other), (0.3 * e1, 0.3 * e1), ((1 - 1e-6) * e1, other),
                 (0.5 * e1, (1 - 1e-7) * e1), (0.5 * e1, 0.5000001 * e1)]:  # fmt: skip
        assert np.isfinite(float(cone_energy(x, y, K, R)))
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grad_e(x, y))
    assert float(exterior_angle(0.3 * e1, 0.3 * e1)) == 0.0


def test_float32_angles_agree_with_float64_near_the_boundary():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5))
    x *= rng.uniform(0.9, 0.9999, (200, 1)) / np.linalg.norm(x, axis=1, keepdims=True)
    y = x + 1e-3 * rng.normal(size=x.shape)
    y /= np.maximum(1.0, np.linalg.norm(y, axis=1, keepdims=True) / 0.99995)
    exact = np.asarray(exterior_angle(jnp.asarray(x), jnp.asarray(y)))
    single = np.asarray(exterior_angle(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)))
    assert np.max(np.abs(single - exact)) < 2e-3


def test_lorentz_cones_are_the_ball_cones_and_meru_closed_form():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 4))
    x *= rng.uniform(0.12, 0.95, (100, 1)) / np.linalg.norm(x, axis=1, keepdims=True)
    y = rng.normal(size=(100, 4)) * 0.3
    y /= np.maximum(1.0, np.linalg.norm(y, axis=1, keepdims=True) / 0.99)
    X, Y = poincare_to_lorentz(jnp.asarray(x)), poincare_to_lorentz(jnp.asarray(y))
    np.testing.assert_allclose(
        lorentz_cone_energy(X, Y, K, R), cone_energy(jnp.asarray(x), jnp.asarray(y), K, R),
        atol=1e-10,
    )  # fmt: skip
    X, Y = np.asarray(X), np.asarray(Y)  # MERU, eq. 7-8 with c = 1
    inner = -X[:, 0] * Y[:, 0] + np.sum(X[:, 1:] * Y[:, 1:], 1)
    space = np.linalg.norm(X[:, 1:], axis=1)
    ext = np.arccos(np.clip((Y[:, 0] + X[:, 0] * inner) / (space * np.sqrt(inner**2 - 1)), -1, 1))
    meru = np.maximum(ext - np.arcsin(np.minimum(2 * K / space, 1)), 0)
    np.testing.assert_allclose(lorentz_cone_energy(jnp.asarray(X), jnp.asarray(Y), K, R), meru,
                               atol=1e-6)  # fmt: skip


def test_order_energy_is_zero_iff_the_child_dominates():
    parent = jnp.asarray([0.1, 0.2, 0.0])
    assert float(order_energy(parent, jnp.asarray([0.3, 0.2, 0.5]))) == 0.0
    assert float(order_energy(parent, jnp.asarray([0.0, 0.5, 0.5]))) == pytest.approx(0.01)


def test_annulus_projection_keeps_rows_between_the_radii():
    annulus = PoincareAnnulus(1.0, 0.2)
    rows = jnp.asarray([[0.01, 0.0], [0.0, 0.5], [3.0, 4.0]])
    norms = np.linalg.norm(np.asarray(annulus.proj(rows)), axis=1)
    assert norms[0] == pytest.approx(0.2) and norms[1] == pytest.approx(0.5)
    assert 0.999 < norms[2] < 1.0


def test_the_training_loss_is_the_max_margin_loss():
    space = entailment_space("cones", "poincare", K, R, 0.05)
    x = jnp.asarray([0.4, 0.0])
    inside, outside = _geodesic_point(x, 0.0, 1.0), _geodesic_point(x, 2.0, 1.0)
    far = jnp.asarray([-0.5, 0.1])
    rows = jnp.stack([inside, x, far, x])[None]  # child, ancestor, two negatives
    valid = jnp.asarray([[True, True, False]])
    loss, grads = space.ranking_loss_and_grad(rows, valid, jnp.ones(1))
    expected = 0.0 + max(0.0, 0.05 - float(cone_energy(far, inside, K, R)))
    assert float(loss) == pytest.approx(expected)
    assert np.all(np.isfinite(np.asarray(grads)))
    assert float(cone_energy(x, outside, K, R)) > 0


def test_bad_cone_settings_are_clear_errors():
    assert inner_radius(K) == pytest.approx(0.0990195, abs=1e-6)
    with pytest.raises(ValueError, match="min_radius=0.05 must be in"):
        entailment_space("cones", "poincare", K, 0.05)
    with pytest.raises(ValueError, match="K must be positive"):
        entailment_space("cones", "poincare", 0.0, 0.1)
    with pytest.raises(ValueError, match="margin must be positive"):
        entailment_space("order", margin=0.0)
    with pytest.raises(ValueError, match="valid choices are poincare, lorentz"):
        entailment_space("cones", "klein")
