"""geomstats (numpy backend) as the independent oracle, float64, relative error <= 1e-6."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

warnings.filterwarnings("ignore", category=UserWarning)
gs_poincare = pytest.importorskip("geomstats.geometry.poincare_ball")
from geomstats.geometry.grassmannian import Grassmannian  # noqa: E402
from geomstats.geometry.hyperboloid import Hyperboloid  # noqa: E402
from geomstats.geometry.hypersphere import Hypersphere  # noqa: E402
from geomstats.geometry.spd_matrices import (  # noqa: E402
    SPDBuresWassersteinMetric,
    SPDLogEuclideanMetric,
    SPDMatrices,
)
from geomstats.geometry.special_orthogonal import SpecialOrthogonal as GsSO  # noqa: E402
from geomstats.geometry.stiefel import Stiefel as GsStiefel  # noqa: E402
from geomstats.learning.frechet_mean import FrechetMean  # noqa: E402

from manifolds import (  # noqa: E402
    SPD,
    Grassmann,
    Lorentz,
    PoincareBall,
    SpecialOrthogonal,
    Sphere,
    Stiefel,
)
from tests.manifolds.registry import random_point, random_tangent  # noqa: E402

F64 = jnp.float64
RTOL = 1e-6


def assert_close(ours, theirs, what):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    err = np.max(np.abs(ours - theirs)) / max(1.0, np.max(np.abs(theirs)))
    assert err <= RTOL, f"{what}: relative error {err:.3g} > {RTOL}"


def sample(m, n_points, shape, seed=0, tangent_norm=0.8):
    kx, ky, ku, kv = jax.random.split(jax.random.PRNGKey(seed), 4)
    x = random_point(m, kx, (n_points, *shape), F64)
    y = random_point(m, ky, (n_points, *shape), F64)
    u = random_tangent(m, ku, x, jnp.asarray(tangent_norm, F64))
    v = random_tangent(m, kv, x, jnp.asarray(1.0, F64))
    return x, y, u, v


def check_exp_log_dist(ours, space, x, y, u, to_gs=lambda a: a, from_gs=lambda a: a, tvec=None):
    """Compare expmap, logmap and dist (and parallel transport of v along u if given)."""
    tvec = tvec or (lambda base, a: a)
    gx, gy = to_gs(np.asarray(x)), to_gs(np.asarray(y))
    gu = tvec(np.asarray(x), np.asarray(u))
    assert_close(to_gs(np.asarray(ours.expmap(x, u))), space.metric.exp(gu, gx), "expmap")
    assert_close(
        tvec(np.asarray(x), np.asarray(ours.logmap(x, y))), space.metric.log(gy, gx), "logmap"
    )
    assert_close(ours.dist(x, y), space.metric.dist(gx, gy), "dist")


def test_poincare_ball():
    m = PoincareBall(1.0)
    x, y, u, v = sample(m, 8, (4,))
    space = gs_poincare.PoincareBall(4)
    # geomstats has no closed-form Poincare transport; test_conversions checks ours against
    # the Lorentz transport through the isometry instead.
    check_exp_log_dist(m, space, x, y, u)


@pytest.mark.parametrize(
    "m,space",
    [(Lorentz(1.0), Hyperboloid(3)), (Sphere(), Hypersphere(3))],
    ids=["lorentz", "sphere"],
)
def test_vector_manifolds_with_transport(m, space):
    x, y, u, v = sample(m, 8, (4,))
    check_exp_log_dist(m, space, x, y, u)
    theirs = space.metric.parallel_transport(np.asarray(v), np.asarray(x), end_point=np.asarray(y))
    assert_close(m.transp(x, y, v), theirs, "transp")


def test_special_orthogonal_bi_invariant():
    """geomstats' bi-invariant metric on SO(3) measures the rotation angle, as ours does."""
    m = SpecialOrthogonal()
    x, y, u, v = sample(m, 8, (3, 3), tangent_norm=2.5)
    space = GsSO(3, equip=True)
    check_exp_log_dist(m, space, x, y, u)
    theirs = space.metric.parallel_transport(np.asarray(v), np.asarray(x), end_point=np.asarray(y))
    assert_close(m.transp(x, y, v), theirs, "transp")


def test_stiefel_canonical():
    m = Stiefel(5, 3)
    x, _, u, _ = sample(m, 6, (5, 3))
    y = m.expmap(x, random_tangent(m, jax.random.PRNGKey(5), x, jnp.asarray(1.2, F64)))
    space = GsStiefel(5, 3)
    check_exp_log_dist(m, space, x, y, u)


def test_grassmann_projectors():
    """geomstats represents subspaces by projectors P = X X^T, tangents by U X^T + X U^T."""
    m = Grassmann(5, 2)
    x, y, u, _ = sample(m, 6, (5, 2))
    space = Grassmannian(5, 2)
    xn, un = np.asarray(x), np.asarray(u)
    proj = lambda a: a @ np.swapaxes(a, -1, -2)  # noqa: E731
    lift = lambda base, t: t @ np.swapaxes(base, -1, -2) + base @ np.swapaxes(t, -1, -2)  # noqa: E731
    assert_close(
        proj(np.asarray(m.expmap(x, u))), space.metric.exp(lift(xn, un), proj(xn)), "expmap"
    )
    log = np.asarray(m.logmap(x, y))
    assert_close(lift(xn, log), space.metric.log(proj(np.asarray(y)), proj(xn)), "logmap")
    # geomstats' metric tr(A B) on projector tangents gives |lift(U)|^2 = 2 |U|^2, so its
    # distance is sqrt(2) times the principal-angle distance sqrt(sum theta_i^2) we use.
    theirs = space.metric.dist(proj(xn), proj(np.asarray(y)))
    assert_close(np.sqrt(2) * np.asarray(m.dist(x, y)), theirs, "dist")


@pytest.mark.parametrize(
    "metric,gs_metric",
    [
        ("affine", None),
        ("log_euclidean", SPDLogEuclideanMetric),
        ("bures_wasserstein", SPDBuresWassersteinMetric),
    ],
)
def test_spd(metric, gs_metric):
    m = SPD(4, metric)
    x, y, u, v = sample(m, 6, (4, 4), tangent_norm=0.2)
    space = SPDMatrices(4)
    if gs_metric is not None:
        space.equip_with_metric(gs_metric)
    check_exp_log_dist(m, space, x, y, u)
    if metric == "affine":
        theirs = space.metric.parallel_transport(
            np.asarray(v), np.asarray(x), end_point=np.asarray(y)
        )
        assert_close(m.transp(x, y, v), theirs, "transp")


@pytest.mark.parametrize(
    "ours,space_fn,shape",
    [
        (PoincareBall(1.0), lambda: gs_poincare.PoincareBall(3), (3,)),
        (Lorentz(1.0), lambda: Hyperboloid(2), (3,)),
        (Sphere(), lambda: Hypersphere(2), (3,)),
        (SPD(3, "affine"), lambda: SPDMatrices(3), (3, 3)),
        (
            SPD(3, "log_euclidean"),
            lambda: SPDMatrices(3).equip_with_metric(SPDLogEuclideanMetric),
            (3, 3),
        ),
        (
            SPD(3, "bures_wasserstein"),
            lambda: SPDMatrices(3).equip_with_metric(SPDBuresWassersteinMetric),
            (3, 3),
        ),
    ],
    ids=[
        "poincare",
        "lorentz",
        "sphere",
        "spd_affine",
        "spd_log_euclidean",
        "spd_bures_wasserstein",
    ],
)
def test_karcher_mean(ours, space_fn, shape):
    x = random_point(ours, jax.random.PRNGKey(11), (12, *shape), F64)
    if isinstance(ours, Sphere):  # a hemisphere cap, where the mean is unique
        x = ours.proj(x.at[..., 0].set(jnp.abs(x[..., 0]) + 2.0))
    w = jax.random.uniform(jax.random.PRNGKey(12), (12,), F64, 0.2, 1.0)
    mean = jax.jit(lambda a, b: ours.frechet_mean(a, b, tol=1e-13, max_iter=500))(x, w)
    estimator = FrechetMean(space_fn())
    estimator.set(max_iter=1000, epsilon=1e-14, init_step_size=1.0) if hasattr(
        estimator, "set"
    ) else None
    theirs = estimator.fit(np.asarray(x), weights=np.asarray(w)).estimate_
    assert_close(mean, theirs, "frechet_mean")
