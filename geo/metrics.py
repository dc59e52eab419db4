"""Evaluation metrics shared by the experiments: ranking (mean rank, MAP) of embeddings,
ROC AUC, average precision and F1 of scores and predictions."""

from __future__ import annotations

from functools import partial
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from geo.watchdog import beat


class RankingSpace(Protocol):
    """What `ranking_metrics` needs of an embedding space (e.g. `models.EmbeddingSpace`).

    Attributes:
        dist: rows (..., D), (..., D) -> distances (...).
        dist_lower_bound: (B, D), (N, D) -> (B, N) values <= dist of every pair through one
            matrix product, or None.
    """

    dist: object
    dist_lower_bound: object


def _closer_counts(s, d):
    """(B, W) number of entries of d (B, M) strictly below each sorted s (B, W).

    where = how many s values are <= d; an entry is below s_k iff where <= k, so one
    histogram of `where` and its cumulative sum give every count without a sort of d.
    """
    block, width = s.shape
    where = jax.vmap(
        lambda row_s, row_d: jnp.searchsorted(row_s, row_d, side="right", method="scan_unrolled")
    )(s, d)
    seg = (jnp.arange(block)[:, None] * (width + 1) + where).reshape(-1)
    hist = jax.ops.segment_sum(jnp.ones_like(seg), seg, num_segments=block * (width + 1))
    return jnp.cumsum(hist.reshape(block, width + 1), axis=1)[:, :width]


@partial(jax.jit, static_argnames=("space", "block", "capacity"))
def _metrics_block(space: RankingSpace, table, query, exclude, start, block: int, capacity: int):
    """(sum of ranks, number of ranks, sum of APs, children with queries) for one block."""
    n, width = table.shape[0], query.shape[1]
    u = start + jnp.arange(block)
    live = u < n
    uc = jnp.minimum(u, n - 1)
    rows = jnp.arange(block)[:, None]
    x = table[uc]
    q = jax.lax.dynamic_slice_in_dim(query, start, block)
    is_q = (q >= 0) & live[:, None]
    q_dist = space.dist(x[:, None, :], table[jnp.maximum(q, 0)]).astype(jnp.float32)
    s = jnp.sort(jnp.where(is_q, q_dist, jnp.inf), 1)
    s_max = jnp.max(jnp.where(is_q, q_dist, -jnp.inf), 1)
    ex = jax.lax.dynamic_slice_in_dim(exclude, start, block)
    drop = jnp.concatenate([uc[:, None], jnp.where(ex >= 0, ex, n)], 1)  # self + excluded

    def competitors(values):  # (B, N) with u and its excluded nodes at +inf
        return values.at[rows, drop].set(jnp.inf, mode="drop")

    def exact():
        d = space.dist(x[:, None, :], table[None, :, :]).astype(jnp.float32)
        return _closer_counts(s, competitors(d))

    if space.dist_lower_bound is None or not 0 < 8 * capacity <= n:  # small: exact is cheap
        closer = exact()
    else:
        # Only competitors with lower bound < s_max can be closer than a queried node. When
        # every child of the block has at most CAPACITY of them, their exact distances are
        # all that is needed; otherwise this block takes the exact pass over every node.
        bound = competitors(space.dist_lower_bound(x, table).astype(jnp.float32))
        need = jnp.max(jnp.sum(bound < s_max[:, None], axis=1))

        def screened():
            neg_bound, idx = jax.lax.top_k(-bound, capacity)
            d = space.dist(x[:, None, :], table[idx]).astype(jnp.float32)
            return _closer_counts(s, jnp.where(jnp.isinf(neg_bound), jnp.inf, d))

        closer = jax.lax.cond(need <= capacity, screened, exact)
    k = jnp.arange(width)[None, :]
    count = jnp.sum(is_q, axis=1)
    valid = k < count[:, None]
    ranks = jnp.where(valid, closer + 1, 0)
    precision = jnp.where(valid, (k + 1) / (closer + k + 1.0), 0.0)
    ap = jnp.sum(precision, 1) / jnp.maximum(count, 1)
    return jnp.stack(
        [jnp.sum(ranks), jnp.sum(count), jnp.sum(jnp.where(count > 0, ap, 0.0)), jnp.sum(count > 0)]
    ).astype(jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)


def _pad_rows(ids: jax.Array, rows: int) -> jax.Array:
    return jnp.concatenate([ids, jnp.full((rows - ids.shape[0], ids.shape[1]), -1, jnp.int32)])


def ranking_metrics(
    space: RankingSpace,
    table: jax.Array,
    query: jax.Array,
    exclude: jax.Array | None = None,
    block: int = 512,
    capacity: int = 512,
) -> dict[str, float]:
    """Mean rank and MAP of each node's `query` nodes among the nodes it is not linked to.

    Nickel & Kiela (2017), Sec. 4.1: for child u and each queried ancestor v, rank(v) = 1 + the
    number of competitors w (w != u, w not in exclude[u]) with d(u, w) < d(u, v); the
    precision at v is (queried nodes no farther than v) / (those + competitors closer than v);
    MAP averages the mean precision over nodes with queries. Reconstruction queries every
    ancestor and excludes them all; link prediction queries the held-out ancestors and
    excludes all true ancestors (the filtered setting). Per block of children: distances to
    every node, the sorted query distances, and one histogram of where every competitor falls
    among them give every count without a full sort. On large tables (N >= 8 capacity),
    where the space has a cheap lower bound of its distance (one matrix product), a block
    first screens the nodes: if no child has more than `capacity` nodes whose bound is below
    its farthest queried node, only those get exact distances (the same counts, computed on
    far fewer nodes); otherwise the block takes the exact pass over every node. The block
    function compiles once per (space, shapes), not once per call.

    Args:
        table: (N, D) embeddings.
        query: (N, Q) ids to rank, padded with -1.
        exclude: (N, X) ids that are not competitors, padded with -1 (default: `query`).
        block: children per compiled block.
        capacity: competitors per child kept by the screen (0: always the exact pass).
    """
    exclude = query if exclude is None else exclude
    n = query.shape[0]
    num_blocks = -(-n // block)
    query, exclude = _pad_rows(query, num_blocks * block), _pad_rows(exclude, num_blocks * block)
    totals = np.zeros(4)
    for b in range(num_blocks):
        part = _metrics_block(space, table, query, exclude, b * block, block, capacity)
        totals += np.asarray(part, np.float64)
        beat(f"evaluation block {b + 1} of {num_blocks}")
    rank_sum, num_ranks, ap_sum, num_children = totals
    return {"mean_rank": rank_sum / max(num_ranks, 1), "map": ap_sum / max(num_children, 1)}


def reconstruction_metrics(
    space: RankingSpace, table: jax.Array, ancestors: jax.Array, block: int = 512
) -> dict[str, float]:
    """`ranking_metrics` of every ancestor among the non-ancestors (Nickel & Kiela 2017).

    Args:
        table: (N, D) embeddings; ancestors: (N, A) ids padded with -1.
    """
    return ranking_metrics(space, table, ancestors, ancestors, block)


def roc_auc(pos: jax.Array, neg: jax.Array) -> jax.Array:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney U)."""
    greater = jnp.mean(pos[:, None] > neg[None, :])
    return greater + 0.5 * jnp.mean(pos[:, None] == neg[None, :])


def average_precision(pos: jax.Array, neg: jax.Array) -> jax.Array:
    """Mean over positives of the precision at their rank (scikit-learn's definition)."""
    scores = jnp.concatenate([pos, neg])
    labels = jnp.concatenate([jnp.ones_like(pos), jnp.zeros_like(neg)])
    order = jnp.argsort(-scores, stable=True)
    hits = jnp.cumsum(labels[order])
    precision = hits / jnp.arange(1, len(scores) + 1)
    return jnp.sum(precision * labels[order]) / jnp.sum(labels)


def f1_score(pred: jax.Array, labels: jax.Array, num_classes: int) -> jax.Array:
    """Micro F1 (accuracy) for several classes, F1 of class 1 for two (the HGCN code's)."""
    if num_classes > 2:
        return jnp.mean(pred == labels)
    tp = jnp.sum((pred == 1) & (labels == 1))
    return 2 * tp / jnp.maximum(jnp.sum(pred == 1) + jnp.sum(labels == 1), 1)
