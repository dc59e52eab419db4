"""Distributions on manifolds: scipy's vMF, densities that integrate to 1 by quadrature, and
samples that match log_prob (chi-square on a statistic whose bin probabilities are
integrated from log_prob itself), float64."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from manifolds import Lorentz, PoincareBall, SpecialOrthogonal, Sphere, Torus
from manifolds.distributions import Mixture, Uniform, VonMisesFisher, WrappedNormal
from manifolds.special_orthogonal import hat

F64 = jnp.float64
SAMPLES = 20_000


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _unit(v):
    v = jnp.asarray(v, F64)
    return v / jnp.linalg.norm(v)


def _compiled(grid):
    """A grid builder run as one compiled program of its array arguments (the others, such
    as sizes and manifolds, fixed): op-by-op dispatch would compile each operation."""

    def build(*args, **settings):
        where = [i for i, a in enumerate(args) if isinstance(a, jax.Array)]

        def run(*arrays):
            full = list(args)
            for i, a in zip(where, arrays, strict=True):
                full[i] = a
            return grid(*full, **settings)

        return jax.jit(run)(*[args[i] for i in where])

    return build


@_compiled
def _sphere_grid(n_theta=400, n_phi=800):
    """Midpoints of a (polar, azimuth) grid of S^2 with their area weights."""
    theta = (jnp.arange(n_theta, dtype=F64) + 0.5) * math.pi / n_theta
    phi = (jnp.arange(n_phi, dtype=F64) + 0.5) * 2 * math.pi / n_phi
    t, p = jnp.meshgrid(theta, phi, indexing="ij")
    points = jnp.stack([jnp.sin(t) * jnp.cos(p), jnp.sin(t) * jnp.sin(p), jnp.cos(t)], -1)
    weights = jnp.sin(t) * (math.pi / n_theta) * (2 * math.pi / n_phi)
    return points.reshape(-1, 3), weights.reshape(-1)


def _vmf_mixture():
    mus = jnp.stack([_unit([1, 2, 3]), _unit([-1, 0, 0.5]), _unit([0, -1, -1])])
    return Mixture(
        VonMisesFisher(mus, jnp.asarray([3.0, 30.0, 0.5], F64)), jnp.asarray([0.0, 1.0, -1.0])
    )


def _hyperbolic_frame(manifold, loc):
    """Orthonormal e_1, e_2 at loc: the origin's frame moved by parallel transport."""
    o = manifold.origin(loc.shape, F64)
    if isinstance(manifold, Lorentz):
        basis = jnp.asarray([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], F64)
    else:
        basis = 0.5 * jnp.eye(2, dtype=F64)  # the conformal factor at 0 is 2
    return [manifold.transp(o, loc, b) for b in basis]


@_compiled
def _hyperbolic_grid(manifold, loc, r_max=14.0, n_r=1400, n_phi=256):
    """Points exp_loc(r (cos phi e_1 + sin phi e_2)) with weights sinh(r) dr dphi."""
    e1, e2 = _hyperbolic_frame(manifold, loc)
    r = (jnp.arange(n_r, dtype=F64) + 0.5) * r_max / n_r
    phi = (jnp.arange(n_phi, dtype=F64) + 0.5) * 2 * math.pi / n_phi
    rr, pp = [a.reshape(-1) for a in jnp.meshgrid(r, phi, indexing="ij")]
    u = (rr * jnp.cos(pp))[:, None] * e1 + (rr * jnp.sin(pp))[:, None] * e2
    points = manifold.expmap(jnp.broadcast_to(loc, u.shape), u)
    return points, jnp.sinh(rr) * (r_max / n_r) * (2 * math.pi / n_phi), rr


@_compiled
def _so3_grid(loc, n_theta=240, n_axis=(48, 96)):
    """Points loc exp(hat(theta a)) with weights 2 (1 - cos theta) dtheta dA(a)."""
    axes, area = _sphere_grid(*n_axis)
    theta = (jnp.arange(n_theta, dtype=F64) + 0.5) * math.pi / n_theta
    t = jnp.repeat(theta, axes.shape[0])
    a = jnp.tile(axes, (n_theta, 1))
    so3 = SpecialOrthogonal()
    points = loc @ so3.expmap(jnp.eye(3, dtype=F64), hat(t[:, None] * a))
    weights = 2 * (1 - jnp.cos(t)) * (math.pi / n_theta) * jnp.tile(area, n_theta)
    return points, weights, t


def _so3_wrapped(loc_seed=3):
    loc = SpecialOrthogonal().random(jax.random.key(loc_seed), (3, 3), F64)
    return WrappedNormal(SpecialOrthogonal(), loc, jnp.asarray([0.3, 0.6, 1.0], F64))


def _density(log_prob, points):
    return jnp.exp(jax.jit(log_prob)(points))


def _integral(log_prob, points, weights):
    return float(jnp.sum(_density(log_prob, points) * weights))


@pytest.mark.parametrize("d,kappa", [(3, 0.5), (3, 12.0), (3, 300.0), (5, 4.0), (2, 7.0)])
def test_von_mises_fisher_matches_scipy(d, kappa):
    mu = _unit(np.arange(1, d + 1))
    x = Sphere().random(jax.random.key(0), (50, d), F64)
    ours = VonMisesFisher(mu, jnp.asarray(kappa, F64)).log_prob(x)
    theirs = stats.vonmises_fisher(np.asarray(mu), kappa).logpdf(np.asarray(x))
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-9, atol=1e-9)


def test_densities_on_the_sphere_and_torus_integrate_to_one():
    points, weights = _sphere_grid()
    for dist in (VonMisesFisher(_unit([1, -2, 0.5]), jnp.asarray(40.0, F64)), _vmf_mixture(),
                 Uniform(Sphere(), 3)):  # fmt: skip
        assert abs(_integral(dist.log_prob, points, weights) - 1) < 1e-4
    angles = Torus().random(jax.random.key(1), (10, 2), F64)
    assert np.allclose(np.exp(Uniform(Torus(), 2).log_prob(angles)) * 4 * math.pi**2, 1)


@pytest.mark.parametrize("manifold", [Lorentz(1.0), PoincareBall(1.0)], ids=["lorentz", "poincare"])
def test_hyperbolic_wrapped_normals_integrate_to_one(manifold):
    loc = manifold.random(jax.random.key(2), (3,) if isinstance(manifold, Lorentz) else (2,), F64)
    wrapped = WrappedNormal(manifold, loc, jnp.asarray([0.4, 1.1], F64))
    points, weights, _ = _hyperbolic_grid(manifold, loc)
    assert abs(_integral(wrapped.log_prob, points, weights) - 1) < 1e-4
    mixture = Mixture(
        WrappedNormal(manifold, jnp.stack([loc, manifold.origin(loc.shape, F64)]),
                      jnp.asarray([[0.4, 1.1], [0.7, 0.7]], F64)),
        jnp.asarray([0.3, -0.2]),
    )  # fmt: skip
    points, weights, _ = _hyperbolic_grid(manifold, manifold.origin(loc.shape, F64), r_max=16.0)
    assert abs(_integral(mixture.log_prob, points, weights) - 1) < 1e-3


def test_so3_densities_integrate_to_one():
    wrapped = _so3_wrapped()
    points, weights, _ = _so3_grid(wrapped.loc)
    assert abs(_integral(wrapped.log_prob, points, weights) - 1) < 1e-3
    # The grid's axes (a 48 x 96 midpoint rule on S^2) carry a relative error of 2e-4.
    points, weights, _ = _so3_grid(jnp.eye(3, dtype=F64))
    assert abs(_integral(Uniform(SpecialOrthogonal(), 3).log_prob, points, weights) - 1) < 1e-3
    assert abs(float(jnp.sum(weights)) / (8 * math.pi**2) - 1) < 1e-3  # the volume of SO(3)


def _chi_square(statistic, edges, expected_probabilities) -> float:
    counts = np.histogram(np.asarray(statistic), edges)[0]
    expected = np.asarray(expected_probabilities) / np.sum(expected_probabilities) * len(statistic)
    return float(stats.chisquare(counts, expected).pvalue)


def _binned(values, weights, density, edges):
    index = np.digitize(np.asarray(values), edges) - 1
    mass = np.asarray(density * weights)
    inside = (index >= 0) & (index < len(edges) - 1)
    return np.bincount(index[inside], mass[inside], minlength=len(edges) - 1)


def _samples(dist, key):
    """SAMPLES draws as one compiled program (op-by-op dispatch compiles hundreds)."""
    return jax.jit(lambda k: dist.sample(k, (SAMPLES,), F64))(key)


def _distances(manifold, loc, points):
    return np.asarray(jax.jit(manifold.dist)(loc, points))


def test_samples_match_log_prob():
    """Chi-square p-values of 20,000 samples over 20 bins of a statistic, with the bins'
    probabilities integrated from log_prob on the quadrature grids above."""
    key = jax.random.key(11)
    points, weights = _sphere_grid()
    vmf = VonMisesFisher(_unit([0.2, -1, 0.4]), jnp.asarray(6.0, F64))
    for dist in (vmf, _vmf_mixture()):
        samples = _samples(dist, key)
        assert np.allclose(np.linalg.norm(samples, axis=-1), 1)
        edges = np.linspace(-1, 1, 21)
        expected = _binned(points @ vmf.mu, weights, _density(dist.log_prob, points), edges)
        assert _chi_square(samples @ vmf.mu, edges, expected) > 1e-3

    for manifold in (Lorentz(1.0), PoincareBall(1.0)):
        loc = manifold.random(
            jax.random.key(4), (3,) if isinstance(manifold, Lorentz) else (2,), F64
        )
        wrapped = WrappedNormal(manifold, loc, jnp.asarray([0.4, 1.1], F64))
        samples = _samples(wrapped, key)
        grid, w, r = _hyperbolic_grid(manifold, loc)
        distances = _distances(manifold, loc, samples)
        edges = np.quantile(distances, np.linspace(0, 1, 21))
        edges[0], edges[-1] = 0.0, 14.0
        expected = _binned(r, w, _density(wrapped.log_prob, grid), edges)
        assert _chi_square(distances, edges, expected) > 1e-3

    so3 = SpecialOrthogonal()
    for dist in (_so3_wrapped(), Uniform(so3, 3)):
        loc = getattr(dist, "loc", jnp.eye(3, dtype=F64))
        samples = _samples(dist, key)
        assert so3.check(np.asarray(samples))[0]
        grid, w, theta = _so3_grid(loc)
        edges = np.linspace(0, math.pi, 21)
        expected = _binned(theta, w, _density(dist.log_prob, grid), edges)
        assert _chi_square(_distances(so3, loc, samples), edges, expected) > 1e-3


def test_points_off_the_manifold_are_clear_errors():
    vmf = VonMisesFisher(_unit([1, 0, 0]), jnp.asarray(2.0, F64))
    with pytest.raises(ValueError, match="VonMisesFisher.log_prob: Sphere: off the unit sphere"):
        vmf.log_prob(jnp.asarray([[1.0, 1.0, 0.0]], F64))
    with pytest.raises(ValueError, match="NaN or infinite"):
        vmf.log_prob(jnp.asarray([[jnp.nan, 0.0, 0.0]], F64))
    with pytest.raises(ValueError, match="not orthogonal"):
        _so3_wrapped().log_prob(2 * jnp.eye(3, dtype=F64))
    with pytest.raises(ValueError, match="Uniform: Lorentz is not compact"):
        Uniform(Lorentz(), 3)
    assert np.isfinite(float(jax.jit(vmf.log_prob)(jnp.asarray([1.0, 0.0, 0.0], F64))))
