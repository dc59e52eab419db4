"""Sparse row updates for embedding tables: gather the batch's rows, step, scatter back.

Only the rows a batch touches are read, moved and written; no dense N x d gradient is ever
formed. Rows that occur several times in a batch get one step with their summed gradient,
exactly as the dense step would give them. Momentum and Adam moments of untouched rows are
left as they are ("lazy" updates, like PyTorch's sparse optimizers).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from manifolds import Euclidean, Manifold, PoincareBall, Sphere


def sparse_row_update(
    tx: optax.GradientTransformation,
    table: jnp.ndarray,
    state: Any,
    rows: jnp.ndarray,
    row_grads: jnp.ndarray,
    manifold: Manifold | None = None,
) -> tuple[jnp.ndarray, Any]:
    """One optimizer step on the rows of `table` that appear in `rows`.

    Args:
        tx: a geo.optim transformation (rsgd or radam) built for a single table; its state
            leaves shaped like the table are treated as per-row state.
        table: (N, *row_shape) embedding table.
        state: `tx.init(table)`.
        rows: (B,) integer row indices, duplicates allowed.
        row_grads: (B, *row_shape) gradients of the loss with respect to `table[rows]`.
        manifold: if given, re-project the moved rows onto it (recommended in float32).

    Returns:
        (new_table, new_state).
    """
    n, b = table.shape[0], rows.shape[0]
    if row_grads.shape != (b, *table.shape[1:]):
        raise ValueError(
            f"sparse_row_update: row_grads has shape {row_grads.shape}, expected "
            f"{(b, *table.shape[1:])} for {b} rows of a table shaped {table.shape}."
        )
    # The other slots step a row with zero gradient and are dropped when scattering.
    grads, target = summed_at_owners(rows, row_grads, n)

    def is_row_state(leaf):
        return hasattr(leaf, "shape") and leaf.shape == table.shape

    def gather(leaf):
        return leaf.at[rows].get(mode="clip") if is_row_state(leaf) else leaf

    sub_table = gather(table)
    updates, sub_state = tx.update(grads, jax.tree.map(gather, state), sub_table)
    moved = sub_table + updates
    if manifold is not None:
        moved = manifold.proj(moved)
    new_table = table.at[target].set(moved, mode="drop")

    def scatter(leaf, new_leaf):
        return leaf.at[target].set(new_leaf, mode="drop") if is_row_state(leaf) else new_leaf

    return new_table, jax.tree.map(scatter, state, sub_state)


def sparse_rsgd_step(
    table: jnp.ndarray,
    rows: jnp.ndarray,
    row_grads: jnp.ndarray,
    manifold: Manifold | None,
    learning_rate,
    values: jnp.ndarray | None = None,
) -> jnp.ndarray:
    """Momentum-free Riemannian SGD on the rows of a table, without sorting the batch.

    A row that occurs several times gets one step with the sum of its occurrences'
    gradients, as the dense step would give it: x <- R_x(-lr * rgrad(x, sum_i g_i)). For
    manifolds whose retraction is proj(x + u) (Euclidean, Sphere, PoincareBall: Nickel &
    Kiela's update) each occurrence's step is scatter-added into its row and the touched rows
    are re-projected (rgrad is linear in g). For any other manifold (e.g. Lorentz, Nickel &
    Kiela 2018) the occurrences of a row find one owner among them (`row_owners`), the
    owner's slot sums their gradients, and the owner writes the retracted row.
    Indices >= N are dropped.

    Args:
        table: (N, *row_shape); rows: (B,) ints; row_grads: (B, *row_shape).
        manifold: the rows' manifold, or None for Euclidean rows.
        learning_rate: a scalar, or (B, 1) per occurrence (may be traced); the occurrences of
            one row must share it.
        values: `table[rows]` if the caller already gathered it (saves a gather).
    """
    x = table.at[rows].get(mode="clip") if values is None else values
    if manifold is not None and not isinstance(manifold, Euclidean | Sphere | PoincareBall):
        summed, target = summed_at_owners(rows, row_grads, table.shape[0])
        moved = manifold.retr(x, -learning_rate * manifold.egrad2rgrad(x, summed))
        return table.at[target].set(moved.astype(table.dtype), mode="drop")
    step = -learning_rate * (row_grads if manifold is None else manifold.egrad2rgrad(x, row_grads))
    table = table.at[rows].add(step.astype(table.dtype), mode="drop")
    if manifold is None:
        return table
    return table.at[rows].set(manifold.proj(table.at[rows].get(mode="clip")), mode="drop")


def row_owners(rows: jnp.ndarray, num_rows: int) -> jnp.ndarray:
    """(B,) for each entry of `rows` (B,), the position of one entry with the same row, the
    same for all of them, found without a sort: positions are scattered into a (num_rows,)
    int32 scratch array (one write wins per row) and read back. Rows outside
    [0, num_rows) own themselves."""
    positions = jnp.arange(rows.shape[0], dtype=jnp.int32)
    scratch = jnp.zeros((num_rows,), jnp.int32).at[rows].set(positions, mode="drop")
    inside = (rows >= 0) & (rows < num_rows)
    return jnp.where(inside, scratch.at[rows].get(mode="clip"), positions)


def summed_at_owners(
    rows: jnp.ndarray, row_grads: jnp.ndarray, num_rows: int
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(summed (B, ...), target (B,)): each row's summed gradient in the slot of its owner
    (`row_owners`), zeros in the other slots, and the row id to write for owners (num_rows,
    dropped by a scatter with mode="drop", for the others)."""
    owner = row_owners(rows, num_rows)
    summed = jax.ops.segment_sum(row_grads, owner, num_segments=rows.shape[0])
    return summed, jnp.where(owner == jnp.arange(rows.shape[0]), rows, num_rows)
