"""Weighted Frechet (Karcher) mean on any manifold, batched and jit-able.

Closed forms where they exist (Euclidean; SPD under the log-Euclidean and log-Cholesky
metrics, Lin 2019 Prop. 11); otherwise the Karcher flow m <- exp_m(sum_i w_i log_m(x_i))
(Karcher 1977; Pennec 2006, Alg. 1), which is the Riemannian gradient descent on
sum_i w_i d(m, x_i)^2 / 2 with unit step. On SPD under the affine metric the steps after the
first have the Barzilai-Borwein length (Iannazzo & Porcelli 2018), unless `differentiable`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:  # the manifolds import this module; it only calls their methods
    from manifolds.base import Manifold

Array = jnp.ndarray


def _normalized(weights, x, ndim):
    n = x.shape[-ndim - 1]
    if weights is None:
        weights = jnp.ones(x.shape[:-ndim], x.dtype)
    weights = jnp.asarray(weights, x.dtype)
    if weights.shape[-1] != n:
        raise ValueError(f"frechet_mean: weights have {weights.shape[-1]} entries for {n} points.")
    return weights / jnp.sum(weights, axis=-1, keepdims=True)


def weighted_sum(w: Array, v: Array, ndim: int) -> Array:
    """sum_i w_i v_i over the axis before the `ndim` point axes; w (..., N)."""
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
        tol: stop when every batch entry's gradient norm ||sum_i w_i log_m(x_i)|| (the unit
            step's length) is below this (default 50 * dtype eps), or once it is below
            sqrt(eps) and no longer shrinks (the rounding floor).
        max_iter: iteration cap of the Karcher flow.
        differentiable: run exactly `max_iter` steps with `fori_loop`, so reverse-mode
            gradients flow through the mean (a `while_loop` does not allow that).
        init: the starting point of the flow, shaped like one mean (default: the weighted
            arithmetic mean on SPD, the first point elsewhere).

    Called outside `jax.jit`, it compiles once per manifold, shape and options, not on every
    call (the iterations are one compiled `while_loop`).
    """
    x = jnp.asarray(x)
    ndim = manifold.ndim
    name = type(manifold).__name__
    reason = manifold.point_shape_error(x.shape)
    if reason is not None:
        raise ValueError(f"frechet_mean: the points do not fit {name}: {reason}")
    if x.ndim < ndim + 1:
        raise ValueError(
            f"frechet_mean: x must be (..., N, *point) with the N points to average on the "
            f"axis before the point axes; got shape {x.shape}, which is one {name} point "
            "(add that axis, e.g. x[None])"
        )
    w = _normalized(weights, x, ndim)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(w.dtype)
    tol = 50 * float(jnp.finfo(x.dtype).eps) if tol is None else float(tol)
    return _compiled_mean(manifold, x, w, init, tol, max_iter, differentiable)


@functools.partial(jax.jit, static_argnames=("tol", "max_iter", "differentiable"))
def _compiled_mean(manifold, x, w, init, tol, max_iter, differentiable):
    closed_form = manifold.mean_closed_form(x, w)
    if closed_form is not None:
        return closed_form
    point_axis = x.ndim - manifold.ndim - 1
    m0 = manifold.karcher_start(x, w, point_axis) if init is None else jnp.asarray(init, x.dtype)

    def step(m, memory=None):
        """(next m, the largest gradient norm, memory for the next step)."""
        return manifold.karcher_step(m, x, w, point_axis, memory)

    if differentiable:
        return jax.lax.fori_loop(0, max_iter, lambda _, m: step(m)[0], m0)

    floor = float(jnp.finfo(x.dtype).eps) ** 0.5

    def cond(carry):
        i, _, err, previous, _ = carry
        # Stop at the tolerance, or once gradients are small and no longer shrink (rounding).
        stalled = (err < floor) & (err >= previous)
        return (i < max_iter) & (err > tol) & ~stalled

    def body(carry):
        i, m, err, _, memory = carry
        m, new_err, memory = step(m, memory)
        return i + 1, m, new_err, err, memory

    inf = jnp.asarray(jnp.inf, x.dtype)
    start = (0, m0, jnp.asarray(jnp.finfo(x.dtype).max), inf, manifold.karcher_memory(m0))
    return jax.lax.while_loop(cond, body, start)[1]
