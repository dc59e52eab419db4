"""Isometries between the models of hyperbolic space of curvature -c (k = 1/c).

Poincare ball (radius 1/sqrt c) <-> Lorentz hyperboloid (<x,x>_L = -k) <-> Klein ball, and the
Euclidean parametrization of Mishne et al., "The Numerical Stability of Hyperbolic
Representation Learning" (ICML 2023): a point is stored as its tangent vector v in R^n at the
hyperboloid's origin, x = exp_o(v), so |v| is the distance to the origin and no point is ever
rounded onto the boundary.
"""

from __future__ import annotations

import jax.numpy as jnp

from manifolds.base import Array, require_curvature
from manifolds.numerics import (
    MIN_NORM,
    arcosh1p,
    artanh_div,
    clamp_min,
    safe_norm,
    sinhc,
    tanh_div,
)


def _sq(x):
    return jnp.sum(x * x, axis=-1, keepdims=True)


def poincare_to_lorentz(p: Array, c=1.0) -> Array:
    """Ball point -> hyperboloid point sqrt(k)(1 + c|p|^2, 2 sqrt(c) p) / (1 - c|p|^2)."""
    require_curvature(c, "poincare_to_lorentz")
    den = clamp_min(1 - c * _sq(p), MIN_NORM)
    return jnp.concatenate([(1 + c * _sq(p)) / (jnp.sqrt(c) * den), 2 * p / den], axis=-1)


def lorentz_to_poincare(x: Array, c=1.0) -> Array:
    """(n + 1,) hyperboloid point -> (n,) ball point: x_{1:} / (sqrt(c) x_0 + 1)."""
    require_curvature(c, "lorentz_to_poincare")
    return x[..., 1:] / (jnp.sqrt(c) * x[..., :1] + 1)


def poincare_to_klein(p: Array, c=1.0) -> Array:
    """Ball point -> Klein point 2p / (1 + c|p|^2)."""
    require_curvature(c, "poincare_to_klein")
    return 2 * p / (1 + c * _sq(p))


def klein_to_poincare(q: Array, c=1.0) -> Array:
    """Klein point -> ball point q / (1 + sqrt(1 - c|q|^2))."""
    require_curvature(c, "klein_to_poincare")
    return q / (1 + jnp.sqrt(clamp_min(1 - c * _sq(q), 0.0)))


def lorentz_to_klein(x: Array, c=1.0) -> Array:
    """Hyperboloid point -> Klein point x_{1:} / (sqrt(c) x_0)."""
    require_curvature(c, "lorentz_to_klein")
    return x[..., 1:] / (jnp.sqrt(c) * x[..., :1])


def klein_to_lorentz(q: Array, c=1.0) -> Array:
    """Klein point -> hyperboloid point (1, sqrt(c) q) / (sqrt(c) sqrt(1 - c|q|^2))."""
    require_curvature(c, "klein_to_lorentz")
    gamma = 1 / jnp.sqrt(clamp_min(1 - c * _sq(q), MIN_NORM))
    return jnp.concatenate([gamma / jnp.sqrt(c), gamma * q], axis=-1)


def euclidean_param_to_lorentz(v: Array, c=1.0) -> Array:
    """Mishne et al. 2023: v -> exp_o(v) = sqrt(k) (cosh(sqrt(c)|v|), sinh(sqrt(c)|v|) v / |v|)."""
    require_curvature(c, "euclidean_param_to_lorentz")
    r = jnp.sqrt(c) * safe_norm(v, keepdims=True)
    return jnp.concatenate([jnp.cosh(r) / jnp.sqrt(c), sinhc(r) * v], axis=-1)


def lorentz_to_euclidean_param(x: Array, c=1.0) -> Array:
    """Inverse of euclidean_param_to_lorentz: log_o(x) = r x_{1:} / sinh(r), r = d(o, x) sqrt(c)."""
    require_curvature(c, "lorentz_to_euclidean_param")
    space = x[..., 1:]
    # sinh(r) / sqrt(c) = |x_{1:}|, so r = arsinh(sqrt(c) |x_{1:}|), accurate for small and large r.
    r = jnp.arcsinh(jnp.sqrt(c) * safe_norm(space, keepdims=True))
    return space / sinhc(r)


def euclidean_param_to_poincare(v: Array, c=1.0) -> Array:
    """Mishne et al. 2023 parameter -> ball point tanh(sqrt(c)|v| / 2) v / (sqrt(c)|v|)."""
    require_curvature(c, "euclidean_param_to_poincare")
    r = jnp.sqrt(c) * safe_norm(v, keepdims=True)
    return tanh_div(r / 2) * v / 2


def poincare_to_euclidean_param(p: Array, c=1.0) -> Array:
    """Ball point -> Mishne et al. 2023 parameter 2 artanh(sqrt(c)|p|) p / (sqrt(c)|p|)."""
    require_curvature(c, "poincare_to_euclidean_param")
    return 2 * artanh_div(jnp.sqrt(c) * safe_norm(p, keepdims=True)) * p


def euclidean_param_dist(u: Array, v: Array, c=1.0) -> Array:
    """Distance between points given by Mishne et al. parameters u, v in R^n, shape batch.

    cosh d = 1 + delta with delta = 2 sinh^2((a - b)/2) + 2 sinh(a) sinh(b) sin^2(t/2), where
    a = sqrt(c)|u|, b = sqrt(c)|v| and t is the angle between u and v. To reach the
    parametrization's capacity (distances in the hundreds, float32 included) delta is
    factored as e^(a+b) r with
        r = e^(D-M) expm1(-D)^2 / 2 + expm1(-2a) expm1(-2b) sin^2(t/2) / 2,  M = a+b, D = |a-b|,
    which neither overflows nor cancels, and d = log 2 + log(delta) + 1/delta once delta > 1e4.
    """
    require_curvature(c, "euclidean_param_dist")
    sc = jnp.sqrt(c)
    a, b = sc * safe_norm(u), sc * safe_norm(v)
    uh = u / clamp_min(safe_norm(u, keepdims=True), MIN_NORM)
    vh = v / clamp_min(safe_norm(v, keepdims=True), MIN_NORM)
    sin2 = jnp.sum((uh - vh) ** 2, axis=-1) / 4  # sin^2(t / 2)
    big_m, diff = a + b, jnp.abs(a - b)
    r = 0.5 * jnp.exp(diff - big_m) * jnp.expm1(-diff) ** 2
    r = r + 0.5 * jnp.expm1(-2 * a) * jnp.expm1(-2 * b) * sin2
    positive = r > 0  # r == 0: identical points (or closer than the dtype resolves)
    # Double-where: log only ever sees positive r, so no inf reaches a gradient.
    log_delta = big_m + jnp.log(jnp.where(positive, r, 1.0))
    large = positive & (log_delta > jnp.log(1e4))
    far = jnp.log(2.0) + log_delta + jnp.exp(-jnp.where(large, log_delta, 0.0))
    delta = jnp.where(positive, jnp.exp(jnp.minimum(log_delta, jnp.log(1e4))), 0.0)
    return jnp.where(large, far, arcosh1p(delta)) / sc
