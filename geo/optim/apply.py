"""Applying Riemannian updates."""

from __future__ import annotations

from typing import Any

import optax

from geo.optim._step import euclidean_if_none
from geo.optim._tree import map_with_manifolds


def apply_updates(params: Any, updates: Any, manifolds: Any = None) -> Any:
    """params + updates, re-projected onto each parameter's manifold.

    The updates of `rsgd` / `radam` are `new_point - old_point`; adding them back in float32
    can leave the manifold by a rounding error, which the projection removes.
    """
    new = optax.apply_updates(params, updates)
    if manifolds is None:
        return new
    (out,) = map_with_manifolds(
        lambda m, p: (euclidean_if_none(m, p).proj(p),), manifolds, new, n_out=1
    )
    return out
