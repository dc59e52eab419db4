"""Pieces shared by the Riemannian optimizers."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from manifolds import Euclidean, Manifold


def euclidean_if_none(m: Manifold | None, p: Any) -> Manifold:
    """None stands for a Euclidean parameter."""
    if m is not None:
        return m
    return Euclidean(ndim=1)


def learning_rate_at(learning_rate: optax.ScalarOrSchedule, count: jnp.ndarray):
    """The learning rate of step `count` (a float, or an optax schedule called on the count)."""
    return learning_rate(count) if callable(learning_rate) else learning_rate


def require_params(name: str, params: Any) -> None:
    if params is None:
        raise ValueError(
            f"{name}: Riemannian steps need the current parameters: "
            f"call tx.update(grads, state, params)."
        )


def step_point(m: Manifold, p, direction, lr, exact: bool, stabilize) -> Any:
    """The new point R_p(-lr * direction) (or exp_p), re-projected when `stabilize` is true."""
    u = jax.tree.map(lambda d: -lr * d, direction)
    new_p = m.expmap(p, u) if exact else m.retr(p, u)
    if stabilize is False:
        return new_p
    return jax.tree.map(lambda a, b: jnp.where(stabilize, b, a), new_p, m.proj(new_p))
