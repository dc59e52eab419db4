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
