"""A time-dependent vector field on a manifold (Flax NNX): an MLP of bounded features of the
point and of time, its output projected on the tangent space (Chen & Lipman 2024,
Sec. 4: v(t, x) = proj_x(MLP(x, t))). On the hyperboloid ambient coordinates grow
exponentially with the distance from the origin, so there the MLP reads the point's
Poincare-ball coordinates (bounded) and gives the field's coordinates in the orthonormal
frame moved from the origin (`geo.flows.tangent_frame`): the speed stays bounded, and an
ODE through the field cannot run off to infinity, far from the data too."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from geo.flows import tangent_frame
from manifolds import Lorentz, Manifold, Torus, lorentz_to_poincare


def point_features(manifold: Manifold, x: jax.Array, point_ndim: int) -> jax.Array:
    """(..., F) network inputs of points x, all bounded: their ambient coordinates flattened
    (sphere, SO(3)), (cos, sin) of each angle on the torus (continuous across the angles'
    seam), the Poincare-ball coordinates x_{1:} / (1 + sqrt(c) x_0) on the hyperboloid."""
    if isinstance(manifold, Torus):
        return jnp.concatenate([jnp.cos(x), jnp.sin(x)], -1)
    if isinstance(manifold, Lorentz):
        return lorentz_to_poincare(x, 1.0 / manifold.k)
    return x.reshape(*x.shape[: x.ndim - point_ndim], -1)


def time_features(t: jax.Array, frequencies: int) -> jax.Array:
    """(..., 1 + 2 F) features of times t (...,): t, and sin / cos of 2^k pi t."""
    scales = jnp.pi * 2.0 ** jnp.arange(frequencies, dtype=t.dtype)
    angles = t[..., None] * scales
    return jnp.concatenate([t[..., None], jnp.sin(angles), jnp.cos(angles)], -1)


class VectorField(nnx.Module):
    """v(t, x) in T_x M: an MLP (SiLU) of (features(x), features(t)), projected by proju.

    Args:
        manifold: the manifold M.
        point_shape: the shape of one point (e.g. (3,) on S^2, (3, 3) on SO(3)).
        hidden: width of the hidden layers.
        layers: number of hidden layers.
        frequencies: Fourier features of time.
        rngs: the parameters' random numbers.
    """

    def __init__(
        self,
        manifold: Manifold,
        point_shape: tuple[int, ...],
        hidden: int = 256,
        layers: int = 4,
        frequencies: int = 4,
        *,
        rngs: nnx.Rngs,
    ):
        self.manifold = manifold
        self.point_shape = tuple(point_shape)
        self.frequencies = frequencies
        probe = jnp.zeros(self.point_shape)
        inputs = point_features(manifold, probe, len(self.point_shape)).shape[-1]
        inputs += 1 + 2 * frequencies
        self.in_frame = isinstance(manifold, Lorentz)
        outputs = self.point_shape[-1] - 1 if self.in_frame else int(jnp.size(probe))
        sizes = [inputs] + [hidden] * layers
        self.hidden = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.out = nnx.Linear(hidden, outputs, rngs=rngs)

    def __call__(self, t: jax.Array, x: jax.Array) -> jax.Array:
        """t (...,) or scalar, x (..., *point_shape) -> tangent vectors (..., *point_shape)."""
        batch = x.shape[: x.ndim - len(self.point_shape)]
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), batch)
        h = jnp.concatenate(
            [
                point_features(self.manifold, x, len(self.point_shape)),
                time_features(t, self.frequencies),
            ],
            -1,
        )
        for layer in self.hidden:
            h = jax.nn.silu(layer(h))
        if self.in_frame:
            return jnp.einsum("...i,...ij->...j", self.out(h), tangent_frame(self.manifold, x))
        out = self.out(h).reshape(*batch, *self.point_shape)
        return self.manifold.proju(x, out)
