"""CO-SNE: t-SNE into the Poincare disk (Guo, Guo, Yu et al., "CO-SNE: Dimensionality
Reduction and Visualization for Hyperbolic Data", CVPR 2022), and trustworthiness.

Input affinities are t-SNE's Gaussian ones on the points' hyperbolic distances (each row's
bandwidth set by a perplexity); output affinities use the heavy-tailed kernel
1 / (1 + d_H(y_i, y_j)^2) of hyperbolic distances in the disk; a second term keeps each
point's distance to the origin (its depth in a hierarchy), CO-SNE's norm-preserving term,
here written with hyperbolic radii. The disk points are trained with Riemannian Adam.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import geo.optim as go
from manifolds import PoincareBall


def gaussian_affinities(distances: np.ndarray, perplexity: float = 30.0) -> np.ndarray:
    """(N, N) symmetric t-SNE affinities p_ij (sum 1) from distances, each row's bandwidth
    found by bisection so that its entropy is log(perplexity) (van der Maaten & Hinton 2008)."""
    d2 = np.asarray(distances, np.float64) ** 2
    n = len(d2)
    if not 1 < perplexity < n:
        raise ValueError(f"perplexity must be in (1, {n}), got {perplexity}")
    target = np.log(perplexity)
    lo, hi = np.full(n, -50.0), np.full(n, 50.0)  # log precision per row
    mask = ~np.eye(n, dtype=bool)
    for _ in range(64):
        beta = np.exp((lo + hi) / 2)[:, None]
        shifted = np.where(mask, d2 - np.min(np.where(mask, d2, np.inf), 1, keepdims=True), 0)
        w = np.where(mask, np.exp(-beta * shifted), 0.0)
        p = w / w.sum(1, keepdims=True)
        entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), 1)
        too_wide = entropy > target
        lo = np.where(too_wide, (lo + hi) / 2, lo)
        hi = np.where(too_wide, hi, (lo + hi) / 2)
    p = (p + p.T) / (2 * n)
    return p


def cosne(
    distances: np.ndarray,
    radii: np.ndarray,
    init: np.ndarray,
    *,
    perplexity: float = 30.0,
    radius_weight: float = 0.1,
    steps: int = 1000,
    lr: float = 0.05,
    exaggeration: float = 4.0,
) -> np.ndarray:
    """(N, 2) Poincare-disk points for N points with pairwise hyperbolic `distances`.

    Args:
        distances: (N, N) hyperbolic distances of the original points.
        radii: (N,) their distances to the origin (kept in the disk, with `radius_weight`).
        init: (N, 2) disk points to start from.
        perplexity: the t-SNE perplexity.
        radius_weight: weight of mean (d(0, y_i) - radii_i)^2 against the KL divergence.
        steps: Riemannian Adam steps (the first quarter with P multiplied by `exaggeration`).
        lr: Adam's learning rate.
    """
    p = jnp.asarray(gaussian_affinities(distances, perplexity), jnp.float32)
    radii = jnp.asarray(radii, jnp.float32)
    ball = PoincareBall(1.0)
    n = p.shape[0]
    off = 1.0 - jnp.eye(n, dtype=jnp.float32)

    def loss(y, factor):
        d = ball.dist(y[:, None, :], y[None, :, :])
        kernel = off / (1 + d * d)
        q = kernel / jnp.sum(kernel)
        kl = jnp.sum(factor * p * (jnp.log(jnp.maximum(factor * p, 1e-30)) - jnp.log(
            jnp.maximum(q, 1e-30))))  # fmt: skip
        depth = ball.dist(jnp.zeros_like(y), y)
        return kl + radius_weight * jnp.mean((depth - radii) ** 2)

    tx = go.radam(lr, ball)

    @jax.jit
    def run(y):
        state = tx.init(y)

        def step(carry, i):
            y, state = carry
            factor = jnp.where(i < steps // 4, exaggeration, 1.0)
            grads = jax.grad(loss)(y, factor)
            updates, state = tx.update(grads, state, y)
            return (go.apply_updates(y, updates, ball), state), None

        (y, _), _ = jax.lax.scan(step, (y, state), jnp.arange(steps))
        return ball.proj(y)

    return np.asarray(run(jnp.asarray(init, jnp.float32)))


def trustworthiness(high: np.ndarray, low: np.ndarray, k: int = 10) -> float:
    """Trustworthiness T(k) (Venna & Kaski 2001) from two (N, N) distance matrices: 1 minus
    the normalized rank excess, in the original space, of each point's k nearest neighbours
    in the embedding that are not among its k nearest originally. 1 is perfect."""
    n = len(high)
    if not 0 < k < n / 2:
        raise ValueError(f"k must be in (0, {n / 2}), got {k}")
    big = np.inf
    h = np.where(np.eye(n, dtype=bool), big, high)
    lo = np.where(np.eye(n, dtype=bool), big, low)
    rank = np.empty((n, n), np.int64)
    order = np.argsort(h, axis=1, kind="stable")
    rank[np.arange(n)[:, None], order] = np.arange(1, n + 1)[None, :]
    near_low = np.argsort(lo, axis=1, kind="stable")[:, :k]
    excess = np.maximum(rank[np.arange(n)[:, None], near_low] - k, 0)
    return float(1 - 2 / (n * k * (2 * n - 3 * k - 1)) * excess.sum())
