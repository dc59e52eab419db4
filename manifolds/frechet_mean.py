"""Weighted Frechet (Karcher) mean on any manifold, batched and jit-able.

Closed forms where they exist (Euclidean; SPD under the log-Euclidean and log-Cholesky
metrics, Lin 2019 Prop. 11); otherwise the Karcher flow m <- exp_m(sum_i w_i log_m(x_i))
(Karcher 1977; Pennec 2006, Alg. 1), which is the Riemannian gradient descent on
sum_i w_i d(m, x_i)^2 / 2 with unit step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from manifolds.base import Array, Manifold
from manifolds.euclidean import Euclidean


def _normalized(weights, x, ndim):
    n = x.shape[-ndim - 1]
    if weights is None:
        weights = jnp.ones(x.shape[:-ndim], x.dtype)
    weights = jnp.asarray(weights, x.dtype)
    if weights.shape[-1] != n:
        raise ValueError(f"frechet_mean: weights have {weights.shape[-1]} entries for {n} points.")
    return weights / jnp.sum(weights, axis=-1, keepdims=True)


def _weighted_sum(w, v, ndim):
    return jnp.sum(w.reshape(w.shape + (1,) * ndim) * v, axis=-ndim - 1)


def frechet_mean(
    manifold: Manifold,
    x: Array,
    weights: Array | None = None,
    *,
    tol: float | None = None,
    max_iter: int = 100,
    differentiable: bool = False,
    init: Array | None = None,
) -> Array:
    """Weighted Frechet mean of points x (..., N, *point) with weights (..., N) -> (..., *point).

    Args:
        manifold: the manifold the points live on.
        x: points, the axis before the point axes indexes the N points to average.
        weights: non-negative weights, normalized to sum to one (default: uniform).
        tol: stop when every batch entry's step norm is below this (default 50 * dtype eps),
            or once steps are below sqrt(eps) and no longer shrink (the rounding floor).
        max_iter: iteration cap of the Karcher flow.
        differentiable: run exactly `max_iter` steps with `fori_loop`, so reverse-mode
            gradients flow through the mean (a `while_loop` does not allow that).
        init: the starting point of the flow, shaped like one mean (default: the weighted
            arithmetic mean on SPD, the first point elsewhere).
    """
    from manifolds.spd import SPD, expm_sym, logm

    ndim = manifold.ndim
    w = _normalized(weights, x, ndim)
    if isinstance(manifold, Euclidean):
        return _weighted_sum(w, x, ndim)
    if isinstance(manifold, SPD) and manifold.metric == "log_euclidean":
        return expm_sym(_weighted_sum(w, logm(x), ndim))
    if isinstance(manifold, SPD) and manifold.metric == "log_cholesky":
        return _log_cholesky_mean(x, w)

    tol = 50 * float(jnp.finfo(x.dtype).eps) if tol is None else tol
    point_axis = x.ndim - ndim - 1

    def step(m):
        if isinstance(manifold, SPD) and manifold.metric == "affine":
            return _affine_karcher_step(m, x, w, point_axis)
        logs = manifold.logmap(jnp.expand_dims(m, point_axis), x)
        v = _weighted_sum(w, logs, ndim)
        return manifold.expmap(m, v), jnp.max(manifold.norm(m, v))

    if init is not None:
        m0 = jnp.asarray(init, x.dtype)
    elif isinstance(manifold, SPD):
        m0 = _weighted_sum(w, x, ndim)  # SPD, and far closer than any one point
    else:
        m0 = jnp.take(x, 0, axis=point_axis)
    if differentiable:
        return jax.lax.fori_loop(0, max_iter, lambda _, m: step(m)[0], m0)

    floor = float(jnp.finfo(x.dtype).eps) ** 0.5

    def cond(carry):
        i, _, err, previous = carry
        # Stop at the tolerance, or once steps are small and no longer shrink (rounding).
        stalled = (err < floor) & (err >= previous)
        return (i < max_iter) & (err > tol) & ~stalled

    def body(carry):
        i, m, err, _ = carry
        m, new_err = step(m)
        return i + 1, m, new_err, err

    inf = jnp.asarray(jnp.inf, x.dtype)
    _, m, _, _ = jax.lax.while_loop(cond, body, (0, m0, jnp.asarray(jnp.finfo(x.dtype).max), inf))
    return m


def _affine_karcher_step(m, x, w, point_axis):
    """One affine Karcher step in whitened coordinates (Pennec 2006, eq. 9).

    J = sum_i w_i logm(M^-1/2 X_i M^-1/2), M <- M^1/2 expm(J) M^1/2; ||J||_F is the step's
    affine norm. Whitening once per step saves the per-point M^1/2 (.) M^1/2 of logmap.
    """
    from manifolds._linalg import sym
    from manifolds.spd import expm_sym, invsqrtm, logm, sqrtm

    root, inv_root = sqrtm(m), invsqrtm(m)
    whitened = jnp.expand_dims(inv_root, point_axis) @ x @ jnp.expand_dims(inv_root, point_axis)
    j = _weighted_sum(w, logm(sym(whitened)), 2)
    new = root @ expm_sym(j) @ root
    err = jnp.max(jnp.sqrt(jnp.sum(j * j, axis=(-2, -1))))
    return sym(new), err


def _log_cholesky_mean(x, w):
    chol = jnp.linalg.cholesky(x)
    lower = jnp.tril(chol, -1)
    log_diag = jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1))
    mean_lower = _weighted_sum(w, lower, 2)
    mean_diag = jnp.exp(jnp.sum(w[..., None] * log_diag, axis=-2))
    mean = mean_lower + mean_diag[..., None, :] * jnp.eye(x.shape[-1], dtype=x.dtype)
    return mean @ jnp.swapaxes(mean, -1, -2)
