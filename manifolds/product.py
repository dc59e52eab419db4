"""Cartesian product of manifolds; a point is a tuple with one array per factor."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from manifolds.base import Manifold, manifold_dataclass
from manifolds.numerics import safe_sqrt


@manifold_dataclass(data_fields=("factors",))
class Product(Manifold):
    """M_1 x ... x M_k with the sum metric; points and tangent vectors are tuples of arrays.

    Example: `Product(PoincareBall(1.0), Sphere())` has points `(ball_point, sphere_point)`.
    """

    factors: tuple = ()

    def __init__(self, *factors: Manifold):
        if not factors:
            raise ValueError("Product: give at least one factor manifold.")
        for m in factors:
            if not isinstance(m, Manifold):
                raise ValueError(f"Product: factors must be manifolds, got {type(m).__name__}.")
        object.__setattr__(self, "factors", tuple(factors))

    @property
    def transp_is_isometry(self) -> bool:
        return all(m.transp_is_isometry for m in self.factors)

    def _map(self, name, *args):
        return tuple(getattr(m, name)(*a) for m, *a in zip(self.factors, *args, strict=True))

    def proj(self, x):
        return self._map("proj", x)

    def proju(self, x, u):
        return self._map("proju", x, u)

    def egrad2rgrad(self, x, g):
        return self._map("egrad2rgrad", x, g)

    def inner(self, x, u, v):
        return sum(self._map("inner", x, u, v))

    def component_inner(self, x, u):
        return self._map("component_inner", x, u)

    def expmap(self, x, u):
        return self._map("expmap", x, u)

    def retr(self, x, u):
        return self._map("retr", x, u)

    def logmap(self, x, y):
        return self._map("logmap", x, y)

    def transp(self, x, y, v):
        return self._map("transp", x, y, v)

    def dist(self, x, y):
        return safe_sqrt(sum(d**2 for d in self._map("dist", x, y)))

    def origin(self, shapes, dtype=jnp.float32):
        return tuple(m.origin(s, dtype) for m, s in zip(self.factors, shapes, strict=True))

    def random(self, key, shapes, dtype=jnp.float32):
        keys = jax.random.split(key, len(self.factors))
        return tuple(
            m.random(k, s, dtype) for m, k, s in zip(self.factors, keys, shapes, strict=True)
        )

    def frechet_mean(self, x, weights=None, **kwargs):
        """The mean of a product is the tuple of the factors' means (the squared distance adds)."""
        return tuple(
            m.frechet_mean(xi, weights, **kwargs) for m, xi in zip(self.factors, x, strict=True)
        )

    def check(self, x, atol=None):
        if not isinstance(x, tuple | list) or len(x) != len(self.factors):
            return (
                False,
                f"Product: expected a tuple of {len(self.factors)} arrays, got {type(x).__name__}",
            )
        for i, (m, xi) in enumerate(zip(self.factors, x, strict=True)):
            ok, reason = m.check(xi, atol)
            if not ok:
                return False, f"Product factor {i}: {reason}"
        return True, ""
