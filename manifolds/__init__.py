"""Manifolds: geometry only (points, tangent vectors, metrics), pure jax.numpy.

Every manifold shares one vocabulary (see `manifolds.base.Manifold`): proj, proju,
egrad2rgrad, inner, norm, expmap, logmap, retr, transp, dist, origin, random, check.
Densities and samplers on them are in `manifolds.distributions`.
"""

from manifolds.base import Manifold
from manifolds.euclidean import Euclidean
from manifolds.frechet_mean import frechet_mean
from manifolds.grassmann import Grassmann
from manifolds.hyperbolic import (
    euclidean_param_dist,
    euclidean_param_to_lorentz,
    euclidean_param_to_poincare,
    klein_to_lorentz,
    klein_to_poincare,
    lorentz_to_euclidean_param,
    lorentz_to_klein,
    lorentz_to_poincare,
    poincare_to_euclidean_param,
    poincare_to_klein,
    poincare_to_lorentz,
)
from manifolds.lorentz import Lorentz
from manifolds.poincare import PoincareBall
from manifolds.product import Product
from manifolds.spd import SPD
from manifolds.special_orthogonal import SpecialOrthogonal
from manifolds.sphere import Sphere
from manifolds.stiefel import Stiefel
from manifolds.torus import Torus

__all__ = [
    "Euclidean",
    "Grassmann",
    "Lorentz",
    "Manifold",
    "PoincareBall",
    "Product",
    "SPD",
    "SpecialOrthogonal",
    "Sphere",
    "Stiefel",
    "Torus",
    "euclidean_param_dist",
    "euclidean_param_to_lorentz",
    "euclidean_param_to_poincare",
    "frechet_mean",
    "klein_to_lorentz",
    "klein_to_poincare",
    "lorentz_to_euclidean_param",
    "lorentz_to_klein",
    "lorentz_to_poincare",
    "poincare_to_euclidean_param",
    "poincare_to_klein",
    "poincare_to_lorentz",
]
