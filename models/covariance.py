"""Covariance pooling: a set of feature vectors -> one SPD matrix, with shrinkage.

Sample covariance of the valid time steps, shrunk towards a scaled identity as in Ledoit &
Wolf, "A well-conditioned estimator for large-dimensional covariance matrices" (J.
Multivariate Anal. 2004, eq. 14 with the target mu I, mu = tr(S) / n):
    S_a = (1 - a) S + a (tr(S) / n) I.
With `with_mean=True` the Gaussian N(m, S) is embedded as the (n + 1) x (n + 1) SPD matrix
[[S + m m^T, m], [m^T, 1]] (Lovric, Min-Oo & Ruh, "Multivariate normal distributions
parametrized as a Riemannian symmetric space", J. Multivariate Anal. 2000), which keeps
the mean that a plain covariance discards.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def check_series(x: np.ndarray, lengths: np.ndarray | None, shrinkage: float, where: str) -> None:
    """Clear errors, before any work, for series that would give a bad covariance.

    Args:
        x: (N, T, C) series, time-major, padded after each series' length.
        lengths: (N,) valid steps per series (None: all T).
        shrinkage: the shrinkage that will be applied.
        where: names the data in the messages.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{where}: series must be (N, T, C), got shape {x.shape}.")
    n, t, c = x.shape
    lengths = np.full(n, t) if lengths is None else np.asarray(lengths)
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"{where}: shrinkage must lie in [0, 1], got {shrinkage}.")
    valid = np.arange(t)[None, :] < lengths[:, None]
    bad = np.flatnonzero(np.any(~np.isfinite(x) & valid[..., None], axis=(1, 2)))
    if bad.size:
        raise ValueError(
            f"{where}: series {bad[:5].tolist()} contain NaN or infinite samples "
            f"({bad.size} series in all); impute or drop them first."
        )
    short = np.flatnonzero(lengths < 2)
    if short.size:
        raise ValueError(f"{where}: series {short[:5].tolist()} have fewer than 2 time steps.")
    singular = np.flatnonzero(lengths <= c)
    if shrinkage == 0.0 and singular.size:
        raise ValueError(
            f"{where}: {singular.size} series have no more time steps than their {c} channels "
            f"(e.g. series {int(singular[0])} has {int(lengths[singular[0]])}), so their sample "
            "covariance is singular. Set shrinkage > 0 (e.g. shrinkage=0.1)."
        )


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
