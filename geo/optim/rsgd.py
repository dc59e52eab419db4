"""Riemannian SGD with momentum as an optax transformation.

Bonnabel, "Stochastic Gradient Descent on Riemannian Manifolds" (IEEE TAC 2013), with the
momentum of Becigneul & Ganea, "Riemannian Adaptive Optimization Methods" (ICLR 2019) as
geoopt's RiemannianSGD implements it: the momentum buffer is parallel-transported to the
new point after every step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from geo.optim._step import euclidean_if_none, learning_rate_at, require_params, step_point
from geo.optim._tree import map_with_manifolds


class RSGDState(NamedTuple):
    """count: steps taken; momentum: transported buffer shaped like params (None if unused)."""

    count: jnp.ndarray
    momentum: Any


def rsgd(
    learning_rate: optax.ScalarOrSchedule,
    manifolds: Any = None,
    momentum: float = 0.0,
    nesterov: bool = False,
    *,
    exact: bool = False,
    stabilize: int | None = None,
) -> optax.GradientTransformation:
    """Riemannian SGD: x <- R_x(-lr * rgrad), buffer m <- momentum * m + rgrad, transported.

    Args:
        learning_rate: a float or an optax schedule of the step count.
        manifolds: a pytree prefix of the params: a manifold per parameter (or subtree), or
            None for Euclidean parameters. Fixed here, at construction.
        momentum: momentum coefficient (0 disables the buffer).
        nesterov: use Nesterov momentum, rgrad + momentum * m.
        exact: step with the exponential map instead of the manifold's retraction.
        stabilize: every `stabilize` steps, re-project points and buffers onto the manifold.

    Returns:
        An optax GradientTransformation whose updates are `new_point - old_point`.
    """
    if momentum < 0:
        raise ValueError(f"rsgd: momentum must be >= 0, got {momentum}.")
    if nesterov and momentum <= 0:
        raise ValueError("rsgd: nesterov=True needs momentum > 0.")

    def init_fn(params):
        buf = jax.tree.map(jnp.zeros_like, params) if momentum > 0 else None
        return RSGDState(count=jnp.zeros([], jnp.int32), momentum=buf)

    def update_fn(updates, state, params=None):
        require_params("rsgd", params)
        count = state.count + 1
        lr = learning_rate_at(learning_rate, state.count)
        do_stabilize = (count % stabilize == 0) if stabilize else False

        def step(m, p, g, buf):
            m = euclidean_if_none(m, p)
            rgrad = m.egrad2rgrad(p, g)
            if momentum > 0:
                buf = jax.tree.map(lambda b, r: momentum * b + r, buf, rgrad)
                direction = (
                    jax.tree.map(lambda r, b: r + momentum * b, rgrad, buf) if nesterov else buf
                )
            else:
                direction = rgrad
            new_p = step_point(m, p, direction, lr, exact, do_stabilize)
            if momentum > 0:
                buf = m.transp(p, new_p, buf)
                if stabilize:
                    buf = jax.tree.map(
                        lambda b, pb: jnp.where(do_stabilize, pb, b), buf, m.proju(new_p, buf)
                    )
            return jax.tree.map(jnp.subtract, new_p, p), buf

        if momentum > 0:
            new_updates, new_buf = map_with_manifolds(
                step, manifolds, params, updates, state.momentum, n_out=2
            )
            return new_updates, RSGDState(count=count, momentum=new_buf)
        (new_updates,) = map_with_manifolds(
            lambda m, p, g: step(m, p, g, None)[:1], manifolds, params, updates, n_out=1
        )
        return new_updates, RSGDState(count=count, momentum=None)

    return optax.GradientTransformation(init_fn, update_fn)
