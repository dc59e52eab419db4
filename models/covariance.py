"""Covariance pooling: a set of feature vectors -> one SPD matrix, with shrinkage.

Sample covariance of the valid time steps, shrunk towards a scaled identity as in Ledoit &
Wolf, "A well-conditioned estimator for large-dimensional covariance matrices" (J.
Multivariate Anal. 2004, eq. 14 with the target mu I, mu = tr(S) / n):
    S_a = (1 - a) S + a (tr(S) / n) I.
With `with_mean=True` the Gaussian N(m, S) is embedded as the (n + 1) x (n + 1) SPD matrix
[[S + m m^T, m], [m^T, 1]] (Lovric, Min-Oo & Ruh, "Multivariate normal distributions
parametrized as a Riemannian symmetric space", J. Multivariate Anal. 2000), which keeps
the mean that a plain covariance discards. Series are checked before pooling by
`geo.data.timeseries.check_series`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def covariance(
    x: jax.Array,
    lengths: jax.Array | None = None,
    *,
    shrinkage: float = 0.0,
    with_mean: bool = False,
) -> jax.Array:
    """Shrunk sample covariance of series x (..., T, C) -> (..., C, C) or (..., C+1, C+1).

    Args:
        x: time-major series; steps at or after `lengths` are padding and ignored.
        lengths: (...,) number of valid steps (None: all T).
        shrinkage: a in [0, 1], the weight of the identity target tr(S)/C I.
        with_mean: embed the mean too, [[S + m m^T, m], [m^T, 1]].
    """
    t, c = x.shape[-2:]
    if lengths is None:
        lengths = jnp.full(x.shape[:-2], t)
    mask = (jnp.arange(t) < lengths[..., None]).astype(x.dtype)[..., None]
    count = jnp.asarray(lengths, x.dtype)[..., None, None]
    mean = jnp.sum(x * mask, axis=-2, keepdims=True) / count
    centred = (x - mean) * mask
    cov = jnp.swapaxes(centred, -1, -2) @ centred / (count - 1)
    target = jnp.trace(cov, axis1=-2, axis2=-1)[..., None, None] / c * jnp.eye(c, dtype=x.dtype)
    cov = (1 - shrinkage) * cov + shrinkage * target
    if not with_mean:
        return cov
    m = jnp.swapaxes(mean, -1, -2)  # (..., C, 1)
    top = jnp.concatenate([cov + m @ jnp.swapaxes(m, -1, -2), m], axis=-1)
    bottom = jnp.concatenate([jnp.swapaxes(m, -1, -2), jnp.ones_like(m[..., :1, :])], axis=-1)
    return jnp.concatenate([top, bottom], axis=-2)


class CovariancePooling(nnx.Module):
    """Covariance pooling layer: features (..., T, C) -> SPD (..., C, C) (or C+1 with mean)."""

    def __init__(self, shrinkage: float = 1e-3, *, with_mean: bool = False):
        if not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f"CovariancePooling: shrinkage must lie in [0, 1], got {shrinkage}.")
        self.shrinkage = float(shrinkage)
        self.with_mean = with_mean

    def __call__(self, x: jax.Array, lengths: jax.Array | None = None) -> jax.Array:
        return covariance(x, lengths, shrinkage=self.shrinkage, with_mean=self.with_mean)
