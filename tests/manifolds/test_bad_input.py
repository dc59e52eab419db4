"""Bad input: check() says what is wrong and by how much; constructors reject bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from manifolds import SPD, Euclidean, Grassmann, Lorentz, PoincareBall, Product, Sphere, Stiefel


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: PoincareBall(0.0), "positive finite"),
        (lambda: PoincareBall(-1.0), "positive finite"),
        (lambda: PoincareBall(float("nan")), "positive finite"),
        (lambda: Lorentz(0.0), "positive finite"),
        (lambda: Stiefel(3, 5), "p <= n"),
        (lambda: Grassmann(2, 4), "p <= n"),
        (lambda: Stiefel(3, 0), "positive integers"),
        (
            lambda: SPD(3, "riemannian"),
            "valid choices are affine, log_euclidean, bures_wasserstein, log_cholesky",
        ),
        (lambda: SPD(0), "positive integer"),
        (lambda: Euclidean(3), "ndim must be 1 or 2"),
        (lambda: Product(), "at least one factor"),
    ],
)
def test_constructors_reject_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_poincare_check_says_how_far_outside():
    ok, reason = PoincareBall(1.0).check(np.array([[0.6, 0.9]], np.float32))
    assert not ok
    assert "outside the ball" in reason and "1.08" in reason and "proj" in reason


def test_sphere_check_reports_distance_from_sphere():
    ok, reason = Sphere().check(np.array([0.0, 2.0]))
    assert not ok and "off the unit sphere" in reason and "| |x| - 1 | is 1" in reason


def test_lorentz_check():
    ok, reason = Lorentz(1.0).check(np.array([1.0, 1.0, 0.0]))
    assert not ok and "off the hyperboloid" in reason and "is 1 >" in reason
    ok, reason = Lorentz(1.0).check(np.array([-1.0, 0.0, 0.0]))
    assert not ok and "upper sheet" in reason


def test_wrong_trailing_shape():
    ok, reason = Stiefel(5, 3).check(np.zeros((5, 2)))
    assert not ok and "wrong trailing shape" in reason and "(..., 5, 3)" in reason
    ok, reason = SPD(3).check(np.eye(4))
    assert not ok and "wrong trailing shape" in reason and "(..., 3, 3)" in reason


def test_spd_check_names_the_problem():
    ok, reason = SPD(2).check(np.array([[1.0, 0.5], [0.0, 1.0]]))
    assert not ok and "not symmetric" in reason
    ok, reason = SPD(2).check(np.diag([1.0, -0.5]))
    assert not ok and "not positive definite" in reason and "-0.5" in reason


def test_stiefel_check_reports_orthonormality_error():
    ok, reason = Stiefel(3, 2).check(np.array([[1.0, 0.0], [0.0, 1.1], [0.0, 0.0]]))
    assert not ok and "not orthonormal" in reason and "0.21" in reason


def test_nan_and_integer_input():
    ok, reason = Sphere().check(np.array([np.nan, 1.0]))
    assert not ok and "1 entries are NaN or infinite" in reason
    ok, reason = Sphere().check(np.array([1, 0]))
    assert not ok and "floating dtype" in reason


def test_assert_point_raises():
    with pytest.raises(ValueError, match="outside the ball"):
        PoincareBall(1.0).assert_point(np.array([2.0, 0.0]))


def test_product_check_names_the_factor():
    m = Product(PoincareBall(1.0), Sphere())
    ok, reason = m.check((np.array([0.1, 0.1]), np.array([0.0, 3.0])))
    assert not ok and reason.startswith("Product factor 1: Sphere")


# ---- no silent answers: invalid values give NaN, wrong shapes a ValueError ---------------

INDEFINITE = np.diag([2.0, 2.0, 2.0, 2.0, 2.0, -0.1])


@pytest.mark.parametrize("metric", ["affine", "log_euclidean", "bures_wasserstein", "log_cholesky"])
def test_an_indefinite_matrix_has_no_distance(metric):
    # The square roots used to map the NaN of an impossible factorization to 0.0.
    assert np.isnan(float(SPD(6, metric).dist(INDEFINITE, np.eye(6))))


def test_the_frechet_mean_of_an_indefinite_matrix_is_nan():
    from manifolds import frechet_mean

    assert np.all(np.isnan(np.asarray(frechet_mean(SPD(6), np.stack([INDEFINITE, np.eye(6)])))))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: SPD(6).dist(np.eye(5), np.eye(5)), r"SPD.dist: expected \(\.\.\., 6, 6\)"),
        (lambda: SPD(6).logmap(np.eye(6), np.eye(5)), r"SPD.logmap: expected \(\.\.\., 6, 6\)"),
        (
            lambda: PoincareBall().dist(np.float32(0.1), np.float32(0.5)),
            "PoincareBall.dist: expected at least 1 axes, got shape",
        ),
        (lambda: Stiefel(5, 2).expmap(np.zeros((5, 3)), np.zeros((5, 3))), r"\(\.\.\., 5, 2\)"),
        (lambda: SPD(6).random(_key(), (200, 3)), r"full array shape \(\.\.\., 6, 6\)"),
        (lambda: SPD(6).origin((4,)), r"full array shape \(\.\.\., 6, 6\)"),
    ],
)
def test_wrong_shapes_name_the_expected_one(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_shape_errors_hold_under_jit():
    import jax

    with pytest.raises(ValueError, match=r"SPD.dist: expected \(\.\.\., 6, 6\)"):
        jax.jit(SPD(6).dist)(np.eye(5), np.eye(5))


def test_random_takes_the_full_shape_on_every_manifold():
    key = _key()
    assert SPD(6).random(key, (200, 6, 6)).shape == (200, 6, 6)
    assert SPD(6).random(key).shape == (6, 6)
    assert Stiefel(6, 2).random(key, (200, 6, 2)).shape == (200, 6, 2)
    assert PoincareBall().random(key, (200, 6)).shape == (200, 6)


def test_frechet_mean_of_one_point_says_to_add_the_axis():
    from manifolds import frechet_mean

    with pytest.raises(ValueError, match=r"got shape \(6, 6\), which is one SPD point.*x\[None\]"):
        frechet_mean(SPD(6), np.eye(6))
    with pytest.raises(ValueError, match=r"frechet_mean: the points do not fit SPD"):
        frechet_mean(SPD(6), np.stack([np.eye(5)] * 3))


def test_frechet_mean_compiles_once_when_called_eagerly():
    from manifolds import frechet_mean
    from manifolds.frechet_mean import _compiled_mean

    m = SPD(3)
    before = _compiled_mean._cache_size()
    for seed in range(3):
        frechet_mean(m, m.random(_key(seed), (5, 3, 3)))
    assert _compiled_mean._cache_size() == before + 1


def test_the_stiefel_logarithm_compiles_once_when_called_eagerly():
    from manifolds import Stiefel
    from manifolds.stiefel import stiefel_logmap

    m = Stiefel(5, 2)
    before = stiefel_logmap._cache_size()
    for seed in range(3):
        x = m.random(_key(seed), (4, 5, 2))
        m.logmap(x, m.retr(x, 0.1 * m.proju(x, m.random(_key(seed + 10), (4, 5, 2)))))
    assert stiefel_logmap._cache_size() == before + 1


def _key(seed: int = 0):
    import jax

    return jax.random.key(seed)


@pytest.mark.parametrize(
    "call",
    [
        lambda: __import__("manifolds").poincare_to_lorentz(np.zeros(3), c=-1.0),
        lambda: __import__("manifolds.gyrovector").gyrovector.expmap0(np.zeros(3), -1.0),
        lambda: __import__("manifolds.gyrovector").gyrovector.mobius_matvec(
            np.eye(3), np.zeros(3), 0.0
        ),
    ],
)
def test_the_functional_api_checks_a_concrete_curvature(call):
    with pytest.raises(ValueError, match=r"curvature magnitude c .* must be a positive finite"):
        call()


def test_a_hyperbolic_layer_rejects_a_negative_curvature():
    from flax import nnx

    from models import MobiusLinear

    with pytest.raises(ValueError, match="must be a positive finite number, got -1.0"):
        MobiusLinear(3, 2, rngs=nnx.Rngs(0))(np.zeros(3, np.float32), -1.0)


def test_expmap0_and_logmap0_are_methods_of_the_hyperbolic_manifolds():
    from manifolds.gyrovector import expmap0

    u = np.array([0.3, -0.2])
    ball = PoincareBall(0.7)
    assert np.allclose(ball.expmap0(u), expmap0(u, 0.7))
    assert np.allclose(ball.logmap0(ball.expmap0(u)), u, atol=1e-12)
    hyperboloid = Lorentz(2.0)
    v = np.array([0.0, 0.3, -0.2])
    assert np.allclose(hyperboloid.logmap0(hyperboloid.expmap0(v)), v, atol=1e-12)
    assert np.isclose(float(hyperboloid.dist(hyperboloid.origin((3,)), hyperboloid.expmap0(v))),
                      float(np.linalg.norm(v)), rtol=1e-6)  # fmt: skip
