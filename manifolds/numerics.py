"""Numerics shared by every manifold: per-dtype margins, safe norms and clamped inverses.

Rules that keep float32 finite (values and gradients):
- a norm has gradient 0 (not NaN) at the zero vector (`safe_norm`);
- functions like tanh(s)/s are evaluated through a series near 0 behind a double `where`,
  so the masked branch never sees 0/0 and never leaks NaN into a gradient;
- arcosh(1 + d) is evaluated from d itself (`arcosh1p`), never from 1 + d, so that
  nearly equal points keep their distance in float32.
"""

from __future__ import annotations

import jax.numpy as jnp

# Margin kept from the Poincare ball's boundary, relative to its radius 1/sqrt(c).
# geoopt uses 4e-3 in float32; 1e-5 still leaves 1 - |x|^2 ~ 2e-5 with ~0.5% relative error.
_BALL_MARGIN = {jnp.dtype("float32"): 1e-5, jnp.dtype("float64"): 1e-10}
# Smallest norm used as a denominator.
MIN_NORM = 1e-15
# Below this |s| the series branch of the smooth functions is used.
_SERIES_CUTOFF = 1e-3


def ball_margin(dtype) -> float:
    """Relative distance from the Poincare ball's boundary that `proj` keeps, per dtype."""
    return _BALL_MARGIN.get(jnp.dtype(dtype), 1e-5)


def tiny(dtype) -> float:
    """Smallest positive normal number of a floating dtype."""
    return float(jnp.finfo(dtype).tiny)


def eps(dtype) -> float:
    """Machine epsilon of a floating dtype."""
    return float(jnp.finfo(dtype).eps)


def safe_sqrt(a: jnp.ndarray) -> jnp.ndarray:
    """sqrt(max(a, 0)) with gradient 0 instead of inf at a <= 0 (double-where); NaN stays NaN.

    NaN must pass through: it is how invalid input (an indefinite "SPD" matrix) shows.
    """
    positive = a > tiny(a.dtype)
    out = jnp.where(positive, jnp.sqrt(jnp.where(positive, a, 1.0)), 0.0)
    return jnp.where(jnp.isnan(a), a, out)


def safe_norm(x: jnp.ndarray, axis=-1, keepdims: bool = False) -> jnp.ndarray:
    """Euclidean norm over `axis` whose gradient at the zero vector is 0, not NaN."""
    return safe_sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))


def _smooth(s, direct, series):
    small = jnp.abs(s) < _SERIES_CUTOFF
    return jnp.where(small, series(s), direct(jnp.where(small, 1.0, s)))


def tanh_div(s: jnp.ndarray) -> jnp.ndarray:
    """tanh(s) / s, smooth at 0."""
    return _smooth(s, lambda t: jnp.tanh(t) / t, lambda t: 1 - t**2 / 3 + 2 * t**4 / 15)


def artanh_div(s: jnp.ndarray) -> jnp.ndarray:
    """artanh(s) / s for |s| < 1, smooth at 0 (argument clamped below 1)."""
    s = jnp.clip(s, -1 + eps(s.dtype), 1 - eps(s.dtype))
    return _smooth(s, lambda t: jnp.arctanh(t) / t, lambda t: 1 + t**2 / 3 + t**4 / 5)


def sinhc(s: jnp.ndarray) -> jnp.ndarray:
    """sinh(s) / s, smooth at 0."""
    return _smooth(s, lambda t: jnp.sinh(t) / t, lambda t: 1 + t**2 / 6 + t**4 / 120)


def sinc(s: jnp.ndarray) -> jnp.ndarray:
    """sin(s) / s (unnormalized), smooth at 0."""
    return _smooth(s, lambda t: jnp.sin(t) / t, lambda t: 1 - t**2 / 6 + t**4 / 120)


def arcosh1p(d: jnp.ndarray) -> jnp.ndarray:
    """arcosh(1 + d) for d >= 0, accurate for tiny d: log1p(d + sqrt(d (d + 2)))."""
    d = jnp.maximum(d, 0.0)
    return jnp.log1p(d + safe_sqrt(d * (d + 2.0)))


def clamp_min(x: jnp.ndarray, minimum: float) -> jnp.ndarray:
    """max(x, minimum); the gradient is 0 where clamped."""
    return jnp.maximum(x, minimum)
