"""The unit sphere S^{n-1} in R^n with the round metric."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, Manifold, manifold_dataclass
from manifolds.numerics import MIN_NORM, clamp_min, safe_norm, sinc


def sphere_dist(x: Array, y: Array) -> Array:
    """Great-circle distance atan2(|y - <x,y> x|, <x,y>), accurate for near and far points."""
    cos = jnp.sum(x * y, axis=-1)
    sin = safe_norm(y - cos[..., None] * x)
    return jnp.arctan2(sin, cos)


def sphere_expmap(x: Array, u: Array) -> Array:
    """exp_x(u) = cos|u| x + sin|u| u / |u| (Absil et al. 2008, Ex. 5.4.1)."""
    n = safe_norm(u, keepdims=True)
    return jnp.cos(n) * x + sinc(n) * u


def sphere_logmap(x: Array, y: Array) -> Array:
    """log_x(y) = theta / sin(theta) (y - <x,y> x), theta = dist(x, y)."""
    w = y - jnp.sum(x * y, axis=-1, keepdims=True) * x
    theta = sphere_dist(x, y)[..., None]
    return w / sinc(theta)


def sphere_transp(x: Array, y: Array, v: Array) -> Array:
    """Parallel transport along the minimizing geodesic: v - <y,v> / (1 + <x,y>) (x + y)."""
    denom = clamp_min(1.0 + jnp.sum(x * y, axis=-1, keepdims=True), MIN_NORM)
    return v - jnp.sum(y * v, axis=-1, keepdims=True) / denom * (x + y)


@manifold_dataclass()
class Sphere(Manifold):
    """Unit sphere {x in R^n : |x| = 1}; points are vectors (..., n)."""

    def proj(self, x: Array) -> Array:
        return x / clamp_min(safe_norm(x, keepdims=True), MIN_NORM)

    def proju(self, x: Array, u: Array) -> Array:
        return u - jnp.sum(x * u, axis=-1, keepdims=True) * x

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return jnp.sum(u * v, axis=-1)

    def expmap(self, x: Array, u: Array) -> Array:
        return sphere_expmap(x, u)

    def logmap(self, x: Array, y: Array) -> Array:
        return sphere_logmap(x, y)

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        return sphere_transp(x, y, v)

    def dist(self, x: Array, y: Array) -> Array:
        return sphere_dist(x, y)

    def origin(self, shape, dtype=jnp.float32) -> Array:
        return jnp.zeros(shape, dtype).at[..., 0].set(1.0)

    def random(self, key: Array, shape, dtype=jnp.float32) -> Array:
        return self.proj(jax.random.normal(key, shape, dtype))

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        err = np.max(np.abs(np.linalg.norm(x, axis=-1) - 1.0))
        if err > atol:
            return f"off the unit sphere: | |x| - 1 | is {err:.3g} > atol {atol:.3g}"
        return None
