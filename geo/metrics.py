"""Evaluation metrics shared by the experiments: ranking (mean rank, MAP) of embeddings,
ROC AUC, average precision and F1 of scores and predictions."""

from __future__ import annotations

from functools import partial
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from geo.ranking import ranking_values
from geo.watchdog import beat


class RankingSpace(Protocol):
    """What `ranking_metrics` needs of an embedding space (e.g. `models.EmbeddingSpace`).

    Attributes:
        dist: rows (..., D), (..., D) -> distances (...).
        ranking_features: float64 table (N, D) -> float64 rows (N, F) and columns (N, F)
            whose products rows[u] . cols[w] increase with d(u, w) for each u, or None.
    """

    dist: object
    ranking_features: object


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


@partial(jax.jit, static_argnames=("space", "block"))
def _metrics_block(space: RankingSpace, table, query, exclude, start, block: int):
    """(sum of ranks, number of ranks, sum of APs, children with queries) for one block."""
    n, width = table.shape[0], query.shape[1]
    u = start + jnp.arange(block)
    live = u < n
    uc = jnp.minimum(u, n - 1)
    x = table[uc]
    q = jax.lax.dynamic_slice_in_dim(query, start, block)
    is_q = (q >= 0) & live[:, None]
    q_dist = space.dist(x[:, None, :], table[jnp.maximum(q, 0)])
    s = jnp.sort(jnp.where(is_q, q_dist, jnp.inf), 1)
    ex = jax.lax.dynamic_slice_in_dim(exclude, start, block)
    drop = jnp.concatenate([uc[:, None], jnp.where(ex >= 0, ex, n)], 1)  # self + excluded
    d = space.dist(x[:, None, :], table[None, :, :])
    closer = _closer_counts(s, d.at[jnp.arange(block)[:, None], drop].set(jnp.inf, mode="drop"))
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


def _compiled_sums(space, table, query, exclude, block):
    """Yields (blocks done, blocks, sums) of the compiled pass over every node."""
    num_blocks = -(-query.shape[0] // block)
    query, exclude = _pad_rows(query, num_blocks * block), _pad_rows(exclude, num_blocks * block)
    for b in range(num_blocks):
        part = _metrics_block(space, table, query, exclude, b * block, block)
        yield b + 1, num_blocks, np.asarray(part, np.float64)


def _check_finite(table: np.ndarray) -> None:
    if not np.all(np.isfinite(table)):
        bad = int(np.sum(~np.all(np.isfinite(table), axis=1)))
        raise ValueError(
            f"{bad} of {table.shape[0]} embedding rows are not finite (the training diverged: "
            "try a smaller lr or dtype=float64); no ranking metrics for such a table"
        )


def sampled_estimate(values: np.ndarray, population: int) -> dict[str, float]:
    """Mean rank and MAP of all `population` children estimated from a uniform sample
    without replacement, with 95% confidence half-widths (normal approximation, finite
    population correction; the mean rank as a ratio estimator with its delta-method
    variance, Cochran, Sampling Techniques, 3rd ed., eq. 6.13).

    Args:
        values: (m, 3) sum of ranks, number of ranks and AP of each sampled child.
    """
    m = len(values)
    ranks, counts, aps = values.T
    fpc = 1 - m / population
    mean_rank = ranks.sum() / counts.sum()
    spread = max(m - 1, 1)
    var_rank = fpc * np.sum((ranks - mean_rank * counts) ** 2) / spread / (m * counts.mean() ** 2)
    var_map = fpc * np.var(aps, ddof=1 if m > 1 else 0) / m
    return {
        "mean_rank": float(mean_rank),
        "map": float(aps.mean()),
        "mean_rank_ci95": float(1.96 * np.sqrt(var_rank)),
        "map_ci95": float(1.96 * np.sqrt(var_map)),
        "eval_children": m,
    }


def ranking_metrics(
    space: RankingSpace,
    table: jax.Array,
    query: jax.Array,
    exclude: jax.Array | None = None,
    block: int = 512,
    sample: int = 0,
    seed: int = 0,
) -> dict[str, float]:
    """Mean rank and MAP of each node's `query` nodes among the nodes it is not linked to.

    Nickel & Kiela (2017), Sec. 4.1: for child u and each queried ancestor v, rank(v) = 1 + the
    number of competitors w (w != u, w not in exclude[u]) with d(u, w) < d(u, v); the
    precision at v is (queried nodes no farther than v) / (those + competitors closer than v);
    MAP averages the mean precision over nodes with queries. Reconstruction queries every
    ancestor and excludes them all; link prediction queries the held-out ancestors and
    excludes all true ancestors (the filtered setting). Exact counts, ties included, and no
    N x N array: where the space has `ranking_features`, the distances are ordered by float64
    keys of the table on the host (geo.ranking); otherwise by `space.dist` in the table's
    dtype, one compiled block of children at a time against every node.

    Args:
        table: (N, D) embeddings.
        query: (N, Q) ids to rank, padded with -1.
        exclude: (N, X) ids that are not competitors, padded with -1 (default: `query`).
        block: children per compiled block (the compiled pass only).
        sample: > 0: estimate from this many children drawn uniformly (seeded by `seed`),
            each still ranked exactly against every node; adds `mean_rank_ci95`, `map_ci95`
            (95% confidence half-widths, `sampled_estimate`) and `eval_children`.

    Raises:
        ValueError: the table has non-finite entries (a diverged training), or `sample` is
            set for a space without `ranking_features`.
    """
    exclude = query if exclude is None else exclude
    host = np.asarray(table, np.float64)
    _check_finite(host)
    features = getattr(space, "ranking_features", None)
    if features is None:
        if sample:
            raise ValueError(
                "a sampled evaluation needs a space with ranking_features "
                "(poincare, lorentz, euclidean)"
            )
        parts = _compiled_sums(space, table, jnp.asarray(query), jnp.asarray(exclude), block)
        totals = np.zeros(4)
        for done, total, sums in parts:
            totals += sums
            beat(f"evaluation block {done} of {total}")
        rank_sum, num_ranks, ap_sum, num_children = totals
        return {"mean_rank": rank_sum / max(num_ranks, 1), "map": ap_sum / max(num_children, 1)}
    query, exclude = np.asarray(query), np.asarray(exclude)
    children = np.flatnonzero(np.any(query >= 0, axis=1))
    population = len(children)
    if sample and sample < population:
        rng = np.random.default_rng(seed)
        children = np.sort(rng.choice(children, sample, replace=False))
    values = np.zeros((len(children), 3))
    filled = 0
    for done, total, chunk, part in ranking_values(features(host), query, exclude, children):
        values[filled : filled + len(chunk)] = part
        filled += len(chunk)
        if done % 256 == 0 or done == total:
            beat(f"evaluation chunk {done} of {total}")
    if sample:
        return sampled_estimate(values, population)
    ranks, counts, aps = values.sum(0)
    return {"mean_rank": ranks / max(counts, 1), "map": aps / max(population, 1)}


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
