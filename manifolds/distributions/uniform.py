"""The uniform (normalized Riemannian volume) distribution on a compact manifold."""

from __future__ import annotations

import math

import jax.numpy as jnp

from manifolds.base import Array, Manifold, manifold_dataclass
from manifolds.distributions.checks import check_points
from manifolds.special_orthogonal import SpecialOrthogonal
from manifolds.sphere import Sphere
from manifolds.torus import Torus


def log_volume(manifold: Manifold, dim: int) -> float:
    """log of the Riemannian volume of a compact manifold whose points have last axis `dim`:
    S^{d-1}: 2 pi^{d/2} / Gamma(d/2); T^n: (2 pi)^n; SO(3) with the angle metric: 8 pi^2
    (the 3-sphere of radius 2 modulo +-1)."""
    if isinstance(manifold, Sphere):
        return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)
    if isinstance(manifold, Torus):
        return dim * math.log(2 * math.pi)
    if isinstance(manifold, SpecialOrthogonal):
        return math.log(8 * math.pi**2)
    raise ValueError(
        f"Uniform: {type(manifold).__name__} is not compact (or its volume is not known); "
        "use Sphere, Torus or SpecialOrthogonal"
    )


@manifold_dataclass()
class Uniform:
    """Uniform on a compact manifold: log_prob = -log volume; `sample` is the manifold's
    Haar-uniform `random`.

    Attributes:
        manifold: Sphere, Torus or SpecialOrthogonal.
        dim: the size of a point's last axis (d for S^{d-1} in R^d, n for T^n, 3 for SO(3)).
    """

    manifold: Manifold
    dim: int

    def __post_init__(self):
        log_volume(self.manifold, self.dim)  # a clear error for a non-compact manifold

    @property
    def point_shape(self) -> tuple[int, ...]:
        return (3, 3) if isinstance(self.manifold, SpecialOrthogonal) else (self.dim,)

    def log_prob(self, x: Array) -> Array:
        """(...,) log density with respect to the Riemannian volume."""
        check_points(self.manifold, x, "Uniform.log_prob")
        batch = x.shape[: x.ndim - len(self.point_shape)]
        return jnp.full(batch, -log_volume(self.manifold, self.dim), x.dtype)

    def sample(self, key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        """(*shape, *point_shape) samples."""
        return self.manifold.random(key, (*shape, *self.point_shape), dtype)
