"""The Poincare ball of curvature -c: {x in R^n : c |x|^2 < 1}.

Formulas from Ganea, Becigneul & Hofmann, "Hyperbolic Neural Networks" (NeurIPS 2018) and
Ungar, "A Gyrovector Space Approach to Hyperbolic Geometry" (2008). The distance uses the
arcosh form of Nickel & Kiela (NeurIPS 2017, eq. 1), evaluated from |x - y|^2 directly so
that nearly equal points keep an accurate distance in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, Manifold, manifold_dataclass, require_positive
from manifolds.numerics import (
    MIN_NORM,
    arcosh1p,
    artanh_div,
    ball_margin,
    clamp_min,
    safe_norm,
    tanh_div,
)


def _dot(x, y):
    return jnp.sum(x * y, axis=-1, keepdims=True)


def conformal_factor(x: Array, c) -> Array:
    """lambda_x = 2 / (1 - c |x|^2), shape (..., 1) (Ganea et al. 2018, eq. 2)."""
    return 2.0 / clamp_min(1.0 - c * _dot(x, x), MIN_NORM)


def mobius_add(x: Array, y: Array, c) -> Array:
    """Mobius addition x (+)_c y (Ganea et al. 2018, eq. 3)."""
    xy, x2, y2 = _dot(x, y), _dot(x, x), _dot(y, y)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c**2 * x2 * y2
    return num / clamp_min(den, MIN_NORM)


def gyration(u: Array, v: Array, w: Array, c) -> Array:
    """gyr[u, v] w = -(u (+) v) (+) (u (+) (v (+) w)), closed form (Ungar 2008, eq. 1.20)."""
    uv, uw, vw = _dot(u, v), _dot(u, w), _dot(v, w)
    u2, v2 = _dot(u, u), _dot(v, v)
    a = -(c**2) * uw * v2 + c * vw + 2 * c**2 * uv * vw
    b = -(c**2) * vw * u2 - c * uw
    d = 1 + 2 * c * uv + c**2 * u2 * v2
    return w + 2 * (a * u + b * v) / clamp_min(d, MIN_NORM)


def project_to_ball(x: Array, c) -> Array:
    """Pull x inside the ball, to norm at most (1 - margin) / sqrt(c)."""
    max_norm = (1.0 - ball_margin(x.dtype)) / jnp.sqrt(c)
    n = clamp_min(safe_norm(x, keepdims=True), MIN_NORM)
    return jnp.where(n > max_norm, x / n * max_norm, x)


def poincare_dist(x: Array, y: Array, c) -> Array:
    """d(x, y) = arcosh(1 + 2c|x-y|^2 / ((1-c|x|^2)(1-c|y|^2))) / sqrt(c) (Nickel & Kiela 2017)."""
    diff2 = jnp.sum((x - y) ** 2, axis=-1)
    den = clamp_min((1 - c * jnp.sum(x * x, -1)) * (1 - c * jnp.sum(y * y, -1)), MIN_NORM)
    return arcosh1p(2 * c * diff2 / den) / jnp.sqrt(c)


def poincare_expmap(x: Array, u: Array, c) -> Array:
    """exp_x(u) = x (+) tanh(sqrt(c) lambda_x |u| / 2) u / (sqrt(c) |u|) (Ganea 2018, Lemma 2)."""
    lam = conformal_factor(x, c)
    s = jnp.sqrt(c) * lam * safe_norm(u, keepdims=True) / 2
    return project_to_ball(mobius_add(x, tanh_div(s) * lam / 2 * u, c), c)


def poincare_logmap(x: Array, y: Array, c) -> Array:
    """log_x(y) = 2 / (sqrt(c) lambda_x) artanh(sqrt(c)|w|) w / |w|, w = -x (+) y (Ganea 2018)."""
    w = mobius_add(-x, y, c)
    s = jnp.sqrt(c) * safe_norm(w, keepdims=True)
    return 2.0 / conformal_factor(x, c) * artanh_div(s) * w


def poincare_transp(x: Array, y: Array, v: Array, c) -> Array:
    """Parallel transport lambda_x / lambda_y gyr[y, -x] v (Ganea et al. 2018, Thm. 4).

    Ungar's closed form of the gyration (2008, eq. 1.20) divides by
    1 - 2c<x, y> + c^2|x|^2|y|^2, which is ~(1 - c|x|^2)^2 for nearby points and cancels
    catastrophically near the boundary in float32. Here it is rewritten in d = y - x, with
    s_x = 1 - c|x|^2: the denominator is ((s_x + s_y + c|d|^2) / 2)^2 + c^2 |x|^2 |d_perp|^2
    (d_perp: d without its component along x), the gyration is
    v + 2((c s_x <d, v> - c^2 |d|^2 <x, v>) x + a d) / den with
    a = -c s_x <x, v> - c^2 |x|^2 <d, v> + 2 c^2 <x, d> <x, v>, and lambda_x / lambda_y =
    s_y / s_x = 1 - c(2<x, d> + |d|^2) / s_x. No term cancels, and the float32 error stays
    below eps / (1 - c|x|^2) of the exact transport (docs/numerics.md).
    """
    d = y - x
    x2, xd, d2 = _dot(x, x), _dot(x, d), _dot(d, d)
    xv, dv = _dot(x, v), _dot(d, v)
    s_x = clamp_min(1 - c * x2, MIN_NORM)
    s_y = clamp_min(1 - c * _dot(y, y), MIN_NORM)
    d_perp = d - xd / clamp_min(x2, MIN_NORM) * x
    den = ((s_x + s_y + c * d2) / 2) ** 2 + c**2 * x2 * _dot(d_perp, d_perp)
    a = -c * s_x * xv - c**2 * x2 * dv + 2 * c**2 * xd * xv
    gyrated = v + 2 * ((c * s_x * dv - c**2 * d2 * xv) * x + a * d) / den  # den >= s_x^2 / 4
    return gyrated * (1 - c * (2 * xd + d2) / s_x)


@manifold_dataclass(data_fields=("c",))
class PoincareBall(Manifold):
    """Poincare ball of curvature -c (c > 0); points are vectors (..., n)."""

    c: float = 1.0

    def __post_init__(self):
        require_positive("curvature magnitude c", self.c, "PoincareBall")

    def _c(self, x):
        return jnp.asarray(self.c, x.dtype)

    def proj(self, x: Array) -> Array:
        return project_to_ball(x, self._c(x))

    def proju(self, x: Array, u: Array) -> Array:
        return u

    def egrad2rgrad(self, x: Array, g: Array) -> Array:
        return g / conformal_factor(x, self._c(x)) ** 2

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return conformal_factor(x, self._c(x))[..., 0] ** 2 * jnp.sum(u * v, axis=-1)

    def component_inner(self, x: Array, u: Array) -> Array:
        return conformal_factor(x, self._c(x)) ** 2 * u * u

    def expmap(self, x: Array, u: Array) -> Array:
        return poincare_expmap(x, u, self._c(x))

    def logmap(self, x: Array, y: Array) -> Array:
        return poincare_logmap(x, y, self._c(x))

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        return poincare_transp(x, y, v, self._c(x))

    def dist(self, x: Array, y: Array) -> Array:
        return poincare_dist(x, y, self._c(x))

    def mobius_add(self, x: Array, y: Array) -> Array:
        return mobius_add(x, y, self._c(x))

    def expmap0(self, u: Array) -> Array:
        """exp_0(u) = tanh(sqrt(c)|u|) u / (sqrt(c)|u|) (Ganea et al. 2018, eq. 13): (..., n)."""
        return self.expmap(jnp.zeros_like(u), u)

    def logmap0(self, y: Array) -> Array:
        """log_0(y) = artanh(sqrt(c)|y|) y / (sqrt(c)|y|) (Ganea et al. 2018, eq. 13): (..., n)."""
        return self.logmap(jnp.zeros_like(y), y)

    def origin(self, shape, dtype=jnp.float32) -> Array:
        return jnp.zeros(shape, dtype)

    def random(self, key: Array, shape, dtype=jnp.float32, std: float = 1.0) -> Array:
        """exp_0 of a Gaussian tangent vector with standard deviation `std` per coordinate."""
        u = std * jax.random.normal(key, shape, dtype)
        return self.expmap(self.origin(shape, dtype), u)

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        radius = 1.0 / np.sqrt(np.asarray(self.c, np.float64))
        norms = np.linalg.norm(x.astype(np.float64), axis=-1)
        worst = np.max(norms / radius)
        if worst >= 1.0:
            return (
                f"outside the ball of radius 1/sqrt(c) = {float(np.max(radius)):.6g}: "
                f"largest |x| is {worst:.6g} times the radius (must be < 1); use proj(x)"
            )
        return None
