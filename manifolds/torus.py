"""The flat torus T^n = (S^1)^n, points as angles in [-pi, pi)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, Manifold, manifold_dataclass
from manifolds.numerics import safe_norm


def wrap_angle(a: Array) -> Array:
    """a modulo 2 pi, in [-pi, pi)."""
    return jnp.mod(a + jnp.pi, 2 * jnp.pi) - jnp.pi


@manifold_dataclass()
class Torus(Manifold):
    """The flat torus: n angles (..., n) in [-pi, pi), the product metric of n unit circles.

    The exponential map is x + u wrapped; the logarithm is the shortest signed angle to each
    coordinate of y (the cut locus is where a coordinate differs by pi); transport is the
    identity.
    """

    def proj(self, x: Array) -> Array:
        return wrap_angle(x)

    def proju(self, x: Array, u: Array) -> Array:
        return u

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return jnp.sum(u * v, axis=-1)

    def expmap(self, x: Array, u: Array) -> Array:
        return wrap_angle(x + u)

    def logmap(self, x: Array, y: Array) -> Array:
        return wrap_angle(y - x)

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        return v

    def dist(self, x: Array, y: Array) -> Array:
        return safe_norm(wrap_angle(y - x))

    def origin(self, shape, dtype=jnp.float32) -> Array:
        return jnp.zeros(shape, dtype)

    def random(self, key: Array, shape, dtype=jnp.float32) -> Array:
        """Uniform (Haar) angles."""
        return jax.random.uniform(key, shape, dtype, -jnp.pi, jnp.pi)

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        err = float(np.max(np.abs(x), initial=0.0)) - np.pi
        if err > atol:
            return f"angles must lie in [-pi, pi]; the largest |angle| exceeds pi by {err:.3g}"
        return None
