"""Marking Flax NNX parameters that live on a manifold, and finding them once."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from manifolds import Manifold


class ManifoldParam(nnx.Param):
    """An `nnx.Param` whose value is a point of `manifold`.

    Example: `self.emb = ManifoldParam(ball.random(key, (n, d)), manifold=ball)`.
    """

    def __init__(self, value: Any, *, manifold: Manifold, **metadata: Any):
        if not isinstance(manifold, Manifold):
            raise ValueError(
                "ManifoldParam: manifold must be a manifolds.Manifold, "
                f"got {type(manifold).__name__}."
            )
        super().__init__(value, manifold=manifold, **metadata)


def manifolds_of(model: nnx.Module, wrt: Any = nnx.Param) -> Any:
    """The `manifolds` pytree for a model: each ManifoldParam's manifold, None elsewhere.

    Read once, when the optimizer is built (`radam(lr, manifolds_of(model))`); it matches the
    structure of `nnx.state(model, wrt)`, which is what `nnx.Optimizer` hands to `tx.update`.
    """
    state = nnx.state(model, wrt)
    return jax.tree.map(
        lambda v: v.get_metadata().get("manifold") if isinstance(v, ManifoldParam) else None,
        state,
        is_leaf=lambda v: isinstance(v, nnx.Variable),
    )
