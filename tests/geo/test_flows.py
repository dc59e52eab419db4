"""Flows on manifolds (geo.flows): paths, integrators, divergences, likelihoods, and a tiny
flow-matching run that learns a von Mises-Fisher density."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from geo.flows import divergence, geodesic_path, integrate, log_likelihood, rfm_loss
from manifolds import Lorentz, SpecialOrthogonal, Sphere, Torus
from manifolds.distributions import Uniform, VonMisesFisher
from models.vector_field import VectorField

OMEGA = jnp.asarray([0.3, -1.1, 0.7], jnp.float32)


def rotation_field(t, x):
    """v(x) = omega x x on S^2: rotation about omega at speed |omega|, divergence 0."""
    return jnp.cross(jnp.broadcast_to(OMEGA.astype(x.dtype), x.shape), x)


def _rodrigues(x, w):
    from manifolds.special_orthogonal import so3_exp

    return x @ so3_exp(w).T


@pytest.mark.parametrize(
    "manifold,shape",
    [(Sphere(), (3,)), (SpecialOrthogonal(), (3, 3)), (Torus(), (2,)), (Lorentz(), (3,))],
    ids=["sphere", "so3", "torus", "lorentz"],
)
def test_geodesic_paths_join_their_ends_with_the_right_velocity(manifold, shape):
    kx, ky, kt = jax.random.split(jax.random.key(0), 3)
    with jax.enable_x64(True):
        x0 = manifold.random(kx, (5, *shape), jnp.float64)
        x1 = manifold.random(ky, (5, *shape), jnp.float64)
        start, _ = geodesic_path(manifold, x0, x1, jnp.zeros(5))
        end, _ = geodesic_path(manifold, x0, x1, jnp.ones(5))
        t = jax.random.uniform(kt, (5,), jnp.float64, 0.1, 0.9)
        xt, ut = geodesic_path(manifold, x0, x1, t)
        h = 1e-6
        ahead, _ = geodesic_path(manifold, x0, x1, t + h)
        behind, _ = geodesic_path(manifold, x0, x1, t - h)
        difference = manifold.logmap(behind, ahead) / (2 * h)
        np.testing.assert_allclose(start, x0, atol=1e-10)
        np.testing.assert_allclose(end, x1, atol=1e-8)
        np.testing.assert_allclose(ut, manifold.proju(xt, difference), atol=1e-5)


def test_integrators_follow_a_known_flow_and_stay_on_the_sphere_in_float32():
    x = Sphere().random(jax.random.key(1), (200, 3), jnp.float32)
    exact = _rodrigues(x, OMEGA)  # the flow of the rotation field for unit time
    for method, steps, tol in (("rk4", 20, 1e-5), ("euler", 200, 3e-2)):
        y = integrate(rotation_field, Sphere(), x, steps=steps, method=method)
        assert float(jnp.max(jnp.abs(jnp.linalg.norm(y, axis=-1) - 1))) <= 2e-7
        assert float(jnp.max(jnp.abs(y - exact))) <= tol, method
    with pytest.raises(ValueError, match="method='rk5'"):
        integrate(rotation_field, Sphere(), x, method="rk5")


def test_a_field_on_the_hyperboloid_stays_bounded_far_from_the_origin_in_float32():
    """Ambient coordinates grow like e^r; the field reads bounded ball coordinates, so its
    speed far out is that near the origin, and the likelihood's ODE stays finite there."""
    from manifolds.distributions import WrappedNormal

    h2 = Lorentz()
    field = VectorField(h2, (3,), hidden=64, layers=3, rngs=nnx.Rngs(0))
    directions = Sphere().random(jax.random.key(3), (64, 2), jnp.float32)
    origin = h2.origin((64, 3), jnp.float32)

    def at_radius(r):
        tangent = jnp.concatenate([jnp.zeros((64, 1)), r * directions], -1)
        return h2.proj(h2.expmap(origin, tangent.astype(jnp.float32)))

    def speed(x):
        v = field(jnp.full(x.shape[:1], 0.5, jnp.float32), x)
        return jnp.sqrt(jnp.maximum(h2.inner(x, v, v), 0.0))

    near = float(jnp.max(speed(at_radius(0.5))))
    far = float(jnp.max(speed(at_radius(6.0))))
    assert 0 < far <= 10 * near, (near, far)
    base = WrappedNormal(h2, h2.origin((3,)), jnp.ones(2))
    ll = jax.jit(lambda x: log_likelihood(field, h2, base.log_prob, x, steps=10))(at_radius(6.0))
    assert bool(jnp.all(jnp.isfinite(ll)))


def test_divergence_exact_and_hutchinson():
    x = Sphere().random(jax.random.key(2), (64, 3), jnp.float32)  # x64 is on in the suite
    a = jnp.asarray([0.5, -0.2, 1.0])

    def gradient_field(t, x):  # the gradient of <a, x>, whose Laplacian is -2 <a, x>
        return Sphere().proju(x, jnp.broadcast_to(a, x.shape))

    assert float(jnp.max(jnp.abs(divergence(rotation_field, Sphere(), 0.0, x)))) <= 1e-5
    exact = divergence(gradient_field, Sphere(), 0.0, x)
    np.testing.assert_allclose(exact, -2 * x @ a, atol=1e-5)
    keys = jax.random.split(jax.random.key(3), 2000)
    estimates = jax.jit(jax.vmap(lambda k: divergence(gradient_field, Sphere(), 0.0, x, k)))(keys)
    np.testing.assert_allclose(jnp.mean(estimates, 0), exact, atol=0.15)  # 4 sigma
    # SO(3): v(R) = R hat(c) is left-invariant, divergence 0; torus: d/dx_i of sin(x_i) terms
    r = SpecialOrthogonal().random(jax.random.key(4), (8, 3, 3), jnp.float32)
    from manifolds.special_orthogonal import hat

    field = lambda t, r: r @ hat(jnp.asarray([0.1, 0.2, 0.3]))  # noqa: E731
    assert float(jnp.max(jnp.abs(divergence(field, SpecialOrthogonal(), 0.0, r)))) <= 1e-5
    angles = Torus().random(jax.random.key(5), (8, 2), jnp.float32)
    div = divergence(lambda t, x: jnp.sin(x), Torus(), 0.0, angles)
    np.testing.assert_allclose(div, jnp.sum(jnp.cos(angles), -1), atol=1e-5)


def _sphere_grid(n_theta=60, n_phi=120):
    theta = (jnp.arange(n_theta) + 0.5) * math.pi / n_theta
    phi = (jnp.arange(n_phi) + 0.5) * 2 * math.pi / n_phi
    t, p = [a.reshape(-1) for a in jnp.meshgrid(theta, phi, indexing="ij")]
    points = jnp.stack([jnp.sin(t) * jnp.cos(p), jnp.sin(t) * jnp.sin(p), jnp.cos(t)], -1)
    return points, jnp.sin(t) * (math.pi / n_theta) * (2 * math.pi / n_phi)


def _train_vmf_flow(iterations=2000):
    sphere = Sphere()
    target = VonMisesFisher(jnp.asarray([0.0, 0.6, 0.8]), jnp.asarray(20.0))
    base = Uniform(sphere, 3)
    graphdef, params = nnx.split(VectorField(sphere, (3,), hidden=64, layers=3, rngs=nnx.Rngs(0)))
    tx = optax.adam(2e-3)

    def loss_fn(params, key):
        k0, k1, kt = jax.random.split(key, 3)
        x0, x1 = base.sample(k0, (256,)), target.sample(k1, (256,))
        field = nnx.merge(graphdef, params)
        return rfm_loss(field, sphere, x0, x1, jax.random.uniform(kt, (256,)))

    @jax.jit
    def train(params, key):
        def step(carry, key):
            params, opt = carry
            grads = jax.grad(loss_fn)(params, key)
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), None

        carry = (params, tx.init(params))
        return jax.lax.scan(step, carry, jax.random.split(key, iterations))[0][0]

    return nnx.merge(graphdef, train(params, jax.random.key(0))), target, base


@pytest.fixture(scope="module")
def vmf_flow():
    return _train_vmf_flow()


def test_a_learned_flow_matches_a_von_mises_fisher_density(vmf_flow):
    """2,000 steps of flow matching in seconds; the test NLL within 0.05 nats of the entropy."""
    field, target, base = vmf_flow
    test = target.sample(jax.random.key(9), (500,))
    entropy = -float(jnp.mean(target.log_prob(test)))  # the NLL of the true density
    ll = jax.jit(lambda x: log_likelihood(field, Sphere(), base.log_prob, x, steps=40))(test)
    assert abs(-float(jnp.mean(ll)) - entropy) <= 0.05
    samples = jax.jit(lambda x: integrate(field, Sphere(), x, steps=40))(
        base.sample(jax.random.key(10), (2000,))
    )
    assert float(jnp.max(jnp.abs(jnp.linalg.norm(samples, axis=-1) - 1))) <= 2e-7
    assert float(jnp.mean(samples @ target.mu)) > 0.9  # E[mu^T x] = coth 20 - 1 / 20 = 0.95


def test_a_flow_density_integrates_to_one_on_the_sphere(vmf_flow):
    field, _, base = vmf_flow
    points, weights = _sphere_grid()
    ll = jax.jit(lambda x: log_likelihood(field, Sphere(), base.log_prob, x, steps=20))(points)
    assert abs(float(jnp.sum(jnp.exp(ll) * weights)) - 1) <= 1e-2
