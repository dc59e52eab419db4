"""Pairing a `manifolds` pytree prefix with the parameters it describes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from manifolds import Manifold


def is_manifold_leaf(x: Any) -> bool:
    """A manifold object or None (Euclidean) ends the `manifolds` prefix."""
    return x is None or isinstance(x, Manifold)


class _Outputs(tuple):
    """Several outputs of one parameter's step; an unregistered type, so JAX keeps it a leaf."""


def map_with_manifolds(
    fn: Callable[..., tuple], manifolds: Any, params: Any, *trees: Any, n_out: int
) -> tuple:
    """Apply fn(manifold, param, *others) per parameter; return `n_out` trees shaped like params.

    `manifolds` is a pytree prefix of `params`: a manifold (or None) covers the subtree under it.
    A `Product` manifold receives its whole subtree (the tuple of factor arrays) at once; any
    other manifold is applied leaf by leaf.
    """
    from manifolds import Product

    def per_subtree(m, p, *others):
        if isinstance(m, Product):
            return _Outputs(fn(m, p, *others))
        outs = jax.tree.map(lambda *leaves: _Outputs(fn(m, *leaves)), p, *others)
        return _Outputs(
            jax.tree.map(lambda o, i=i: o[i], outs, is_leaf=lambda o: isinstance(o, _Outputs))
            for i in range(n_out)
        )

    try:
        grouped = jax.tree.map(per_subtree, manifolds, params, *trees, is_leaf=is_manifold_leaf)
    except ValueError as err:
        raise ValueError(
            "geo.optim: `manifolds` must be a pytree prefix of the parameters (a manifold or "
            "None per parameter or subtree), as built by geo.optim.manifolds_of(model). "
            f"JAX said: {err}"
        ) from None
    is_group = lambda o: isinstance(o, _Outputs)  # noqa: E731
    return tuple(jax.tree.map(lambda o, i=i: o[i], grouped, is_leaf=is_group) for i in range(n_out))
