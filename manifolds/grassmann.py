"""The Grassmann manifold Gr(n, p) of p-dimensional subspaces of R^n.

A subspace is represented by an n x p matrix with orthonormal columns; tangent vectors are
horizontal (X^T U = 0). Geodesics, logarithm and parallel transport from Edelman, Arias &
Smith, "The Geometry of Algorithms with Orthogonality Constraints" (1998, Thm. 2.3, eq. 2.68)
and Absil, Mahony & Sepulchre (2004). They are written as smooth functions of the p x p
matrix G = U^T U (e.g. cos(sqrt G)), never through an SVD, so gradients stay finite for
equal subspaces and repeated principal angles.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from manifolds.base import Array, manifold_dataclass
from manifolds.linalg import matrix_function, trace_function, transpose
from manifolds.numerics import safe_sqrt
from manifolds.stiefel import Stiefel, polar

_CUTOFF = 1e-3


def _of_sqrt(direct, series):
    """A function of lam = s^2 >= 0 given through s, with a series near 0 (double-where)."""

    def f(lam):
        small = lam < _CUTOFF
        safe = jnp.where(small, 1.0, jnp.maximum(lam, 0.0))
        return jnp.where(small, series(lam), direct(jnp.sqrt(safe), safe))

    return f


_cos_sqrt = _of_sqrt(lambda s, lam: jnp.cos(s), lambda l: 1 - l / 2 + l**2 / 24 - l**3 / 720)
_sinc_sqrt = _of_sqrt(lambda s, lam: jnp.sin(s) / s, lambda l: 1 - l / 6 + l**2 / 120 - l**3 / 5040)
_cosm1_div = _of_sqrt(
    lambda s, lam: (jnp.cos(s) - 1) / lam, lambda l: -0.5 + l / 24 - l**2 / 720 + l**3 / 40320
)
_atan_div_sqrt = _of_sqrt(
    lambda s, lam: jnp.arctan(s) / s, lambda l: 1 - l / 3 + l**2 / 5 - l**3 / 7
)
_atan_sq = _of_sqrt(lambda s, lam: jnp.arctan(s) ** 2, lambda l: l - 2 * l**2 / 3 + 23 * l**3 / 45)


def grassmann_expmap(x: Array, u: Array) -> Array:
    """exp_X(U) = X V cos(S) V^T + W sin(S) V^T (U = W S V^T) = X cos(sqrt G) + U sinc(sqrt G)."""
    g = transpose(u) @ u
    return x @ matrix_function(g, _cos_sqrt, 1.0) + u @ matrix_function(g, _sinc_sqrt, 1.0)


def _tangent_of_angles(x: Array, y: Array) -> Array:
    """M = (I - X X^T) Y (X^T Y)^{-1}, whose singular values are tan(principal angles)."""
    xty = transpose(x) @ y
    residual = y - x @ xty
    return transpose(jnp.linalg.solve(transpose(xty), transpose(residual)))


def grassmann_logmap(x: Array, y: Array) -> Array:
    """log_X(Y) = W atan(T) V^T for M = W T V^T, i.e. M atan(sqrt(M^T M)) / sqrt(M^T M)."""
    m = _tangent_of_angles(x, y)
    return m @ matrix_function(transpose(m) @ m, _atan_div_sqrt, 1.0)


def grassmann_dist(x: Array, y: Array) -> Array:
    """sqrt(sum_i theta_i^2) over the principal angles theta_i = atan(tan theta_i)."""
    m = _tangent_of_angles(x, y)
    return safe_sqrt(trace_function(transpose(m) @ m, _atan_sq))


def grassmann_transp(x: Array, y: Array, v: Array) -> Array:
    """Parallel transport of v from X to Y along the geodesic (Edelman et al. 1998, eq. 2.68).

    tau v = v - X sinc(sqrt G) U^T v + U (cos(sqrt G) - 1) / G U^T v with U = log_X(Y), G = U^T U,
    then re-expressed for the representative Y (times (exp_X U)^T Y).
    """
    u = grassmann_logmap(x, y)
    g = transpose(u) @ u
    utv = transpose(u) @ v
    moved = v - x @ (matrix_function(g, _sinc_sqrt, 1.0) @ utv)
    moved = moved + u @ (matrix_function(g, _cosm1_div, 1.0) @ utv)
    return moved @ (transpose(grassmann_expmap(x, u)) @ y)


@manifold_dataclass()
class Grassmann(Stiefel):
    """Gr(n, p) with orthonormal n x p representatives; points (..., n, p)."""

    ndim: ClassVar[int] = 2
    transp_is_isometry: ClassVar[bool] = True

    def __post_init__(self):
        if not (isinstance(self.n, int) and isinstance(self.p, int)) or self.p < 1:
            raise ValueError(
                f"Grassmann: n and p must be positive integers, got n={self.n!r}, p={self.p!r}."
            )
        if self.p > self.n:
            raise ValueError(f"Grassmann: need p <= n, got n={self.n}, p={self.p}.")

    def proj(self, x: Array) -> Array:
        return polar(x)

    def proju(self, x: Array, u: Array) -> Array:
        return u - x @ (transpose(x) @ u)

    def egrad2rgrad(self, x: Array, g: Array) -> Array:
        return self.proju(x, g)

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return jnp.sum(u * v, axis=(-2, -1))

    def expmap(self, x: Array, u: Array) -> Array:
        return grassmann_expmap(x, u)

    def logmap(self, x: Array, y: Array) -> Array:
        return grassmann_logmap(x, y)

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        return grassmann_transp(x, y, v)

    def dist(self, x: Array, y: Array) -> Array:
        return grassmann_dist(x, y)

    def projector(self, x: Array) -> Array:
        """The orthogonal projector X X^T onto the subspace, (..., n, n): representative-free."""
        return x @ transpose(x)
