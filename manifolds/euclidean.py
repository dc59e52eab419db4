"""Flat Euclidean space R^n (or R^{n x m} with ndim=2)."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, Manifold, manifold_dataclass
from manifolds.frechet_mean import weighted_sum


@manifold_dataclass()
class Euclidean(Manifold):
    """Euclidean space; `ndim` trailing axes form a point (1 for vectors, 2 for matrices)."""

    ndim: int = 1
    transp_is_isometry: ClassVar[bool] = True

    def __post_init__(self):
        if self.ndim not in (1, 2):
            raise ValueError(f"Euclidean: ndim must be 1 or 2, got {self.ndim!r}.")

    def _axes(self):
        return tuple(range(-self.ndim, 0))

    def proj(self, x: Array) -> Array:
        return x

    def mean_closed_form(self, x: Array, w: Array) -> Array:
        return weighted_sum(w, x, self.ndim)

    def proju(self, x: Array, u: Array) -> Array:
        return u

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return jnp.sum(u * v, axis=self._axes())

    def expmap(self, x: Array, u: Array) -> Array:
        return x + u

    def logmap(self, x: Array, y: Array) -> Array:
        return y - x

    def retr(self, x: Array, u: Array) -> Array:
        return x + u

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        return jnp.broadcast_to(v, jnp.broadcast_shapes(v.shape, y.shape))

    def dist(self, x: Array, y: Array) -> Array:
        return self.norm(x, y - x)

    def origin(self, shape, dtype=jnp.float32) -> Array:
        return jnp.zeros(shape, dtype)

    def random(self, key: Array, shape, dtype=jnp.float32) -> Array:
        return jax.random.normal(key, shape, dtype)

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        return None
