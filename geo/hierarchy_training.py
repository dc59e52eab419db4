"""Compiled pieces of hierarchy-embedding training: one epoch as one `lax.scan`, and the
reconstruction metrics of Nickel & Kiela (2017) computed in jitted blocks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

import geo.optim as go
from geo.data.hierarchy import Hierarchy
from geo.shuffle import permutation
from geo.watchdog import beat
from models.embeddings import EmbeddingSpace
from models.nickel_kiela import ranking_loss

_SPARES = 8
_MISS_RATE = 1e-3
_NEGATIVE_CHUNK = 128


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainingData:
    """Device arrays an epoch needs.

    Attributes:
        edges: (E, 2) int32 (child, ancestor) training pairs.
        ancestors: (N, A) int32, each node's ancestors padded with -1 (negatives exclude them).
        burnin_logits: (N,) log of degree^0.75, the burn-in negative distribution.
    """

    edges: jax.Array
    ancestors: jax.Array
    burnin_logits: jax.Array

    @property
    def num_nodes(self) -> int:
        return int(self.ancestors.shape[0])


def padded_ancestors(num_nodes: int, edges: np.ndarray) -> np.ndarray:
    """(N, A) ancestor ids per node, padded with -1, A = the largest ancestor count (>= 1)."""
    counts = np.bincount(edges[:, 0], minlength=num_nodes)
    width = max(1, int(counts.max(initial=0)))
    out = np.full((num_nodes, width), -1, np.int32)
    order = np.argsort(edges[:, 0], kind="stable")
    children, ancestors = edges[order, 0], edges[order, 1]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(children)) - starts[children]
    out[children, slot] = ancestors
    return out


def training_data(hierarchy: Hierarchy, edges: np.ndarray | None = None) -> TrainingData:
    """Training arrays for `edges` (default: the whole closure) of `hierarchy`."""
    edges = hierarchy.edges if edges is None else edges
    degree = np.bincount(edges.reshape(-1), minlength=hierarchy.num_nodes).astype(np.float64)
    return TrainingData(
        edges=jnp.asarray(edges, jnp.int32),
        ancestors=jnp.asarray(padded_ancestors(hierarchy.num_nodes, edges)),
        burnin_logits=jnp.asarray(0.75 * np.log(np.maximum(degree, 1.0)), jnp.float32),
    )


def sample_negatives(key, children, data: TrainingData, k: int, burnin: bool):
    """(B, K) nodes that are neither the child nor its ancestors, and a validity mask.

    Candidates are drawn uniformly (floor(n u) of a float32 uniform u; by degree^0.75 during
    burn-in, as Nickel & Kiela do, by inverse CDF): K per child plus a pool of 8 spares. Slot
    j takes its own candidate if it is acceptable, else the first acceptable of its next
    spares (j, j + 1, ... modulo the pool), so K + 8 draws replace K * rounds. The chains
    are long enough that a slot fails with probability <= 1e-3 for a node with as many
    ancestors as the deepest one (at most 9 candidates); a slot with no acceptable
    candidate is masked out of the loss.
    """
    n, width = data.ancestors.shape
    reject = min((width + 1) / n, 0.999)  # the deepest node's rejection probability
    rounds = int(np.clip(np.ceil(np.log(_MISS_RATE) / np.log(reject)), 2, 1 + _SPARES))
    shape = (children.shape[0], k + _SPARES)
    if burnin:
        cdf = jnp.cumsum(jax.nn.softmax(data.burnin_logits))
        u = jax.random.uniform(key, shape, cdf.dtype)
        cand = jnp.minimum(jnp.searchsorted(cdf, u * cdf[-1]), n - 1).astype(jnp.int32)
    else:  # floor(n u): half the random bits of randint; the bias is below n / 2^24
        u = jax.random.uniform(key, shape, jnp.float32)
        cand = jnp.minimum((u * n).astype(jnp.int32), n - 1)
    anc = data.ancestors[children]  # (B, A)
    bad = (cand == children[:, None]) | jnp.any(cand[..., None] == anc[:, None, :], axis=-1)
    slot = np.arange(k)[:, None]
    chains = np.concatenate(
        [slot, k + (slot + np.arange(rounds - 1)[None, :]) % _SPARES], axis=1
    )  # (K, rounds): each slot's own candidate, then its spares
    first_good = jnp.argmin(bad[:, chains], axis=-1)
    chosen_col = jnp.asarray(chains)[jnp.arange(k)[None, :], first_good]
    chosen = jnp.take_along_axis(cand, chosen_col, 1)
    valid = ~jnp.take_along_axis(bad, chosen_col, 1)
    return chosen, valid


def make_epoch(
    space: EmbeddingSpace,
    make_tx: Callable[[jax.Array], optax.GradientTransformation] | None,
    batch_size: int,
    negatives: int,
    num_edges: int,
):
    """epoch(tables, opt_states, data, keys, lrs, burnin) -> (tables, opt_states, losses), jitted.

    R independent runs (seeds, learning rates) that share `data` train in one program: tables
    (R, N, C), opt_states with leading axis R, keys (R, 2), lrs (R,), losses (R,) (each run's
    mean loss over the epoch). A run's result does not depend on the others.

    One epoch is a `lax.scan` over shuffled batches: gather the rows of (child, ancestor,
    negatives), take the gradient of the ranking loss with respect to those rows only, and
    step only those rows. The last batch is padded with an out-of-range index whose rows are
    dropped. Negatives are drawn for up to 128 steps at a time: one vectorized RNG call
    instead of many small ones, with memory bounded on any dataset.

    `make_tx` builds the optimizer from the (traced) learning rate, stepped with
    `geo.optim.sparse_row_update` (runs are `jax.vmap`ped). None selects
    `geo.optim.sparse_rsgd_step`, momentum-free RSGD without a sort (Nickel & Kiela's
    optimizer); then the R tables are stacked into one (R * N, C) table, so each step is one
    gather and one scatter for all runs and per-step overhead is shared.
    """
    real_steps = -(-num_edges // batch_size)
    num_chunks = -(-real_steps // _NEGATIVE_CHUNK)
    chunk = -(-real_steps // num_chunks)  # chunks of equal size, at most chunk - 1 padded steps
    steps = num_chunks * chunk

    def plan(key, data: TrainingData):
        """One run's shuffled edges as (chunks, chunk * B, 2), padded with child n, and keys."""
        perm_key, step_key = jax.random.split(key)
        order = permutation(perm_key, num_edges)
        pad = jnp.full((steps * batch_size - num_edges, 2), data.num_nodes, jnp.int32)
        batches = jnp.concatenate([data.edges[order], pad])
        return batches.reshape(num_chunks, chunk * batch_size, 2), jax.random.split(
            step_key, num_chunks
        )

    def chunk_inputs(chunk_batches, key, data: TrainingData, burnin: bool):
        """Per step of one run's chunk: row ids (chunk, B, 2 + K) with padding n, negative
        mask (chunk, B, 1 + K) and edge weights (chunk, B) that average over real edges."""
        n = data.num_nodes
        real = chunk_batches[:, 0] < n
        cands, valids = sample_negatives(
            key, jnp.where(real, chunk_batches[:, 0], 0), data, negatives, burnin
        )
        idx = jnp.concatenate([chunk_batches, jnp.where(real[:, None], cands, n)], axis=1)
        mask = jnp.concatenate([jnp.ones_like(valids[:, :1]), valids], axis=1)
        real = real.reshape(chunk, batch_size)
        weight = real / jnp.maximum(jnp.sum(real, axis=1, keepdims=True), 1)
        return (
            idx.reshape(chunk, batch_size, 2 + negatives),
            mask.reshape(chunk, batch_size, 1 + negatives),
            weight,
        )

    def loss_and_grads(rows, mask, weight):
        """Per-run losses (...,) and gradients for rows (..., B, 2 + K, C)."""
        if space.ranking_loss_and_grad is not None:  # closed form: fewer compiled operations
            return space.ranking_loss_and_grad(rows, mask, weight)

        def loss_fn(rows):
            dists = space.dist(rows[..., :1, :], rows[..., 1:, :])
            per_run = jnp.sum(weight.astype(rows.dtype) * ranking_loss(dists, mask), axis=-1)
            return jnp.sum(per_run), per_run

        (_, per_run), grads = jax.value_and_grad(loss_fn, has_aux=True)(rows)
        return per_run, grads

    def stacked_epoch(tables, opt_states, data: TrainingData, keys, lrs, burnin: bool):
        runs, n, width = tables.shape
        batches, chunk_keys = jax.vmap(plan, (0, None))(keys, data)  # (R, chunks, ...)
        offsets = (jnp.arange(runs, dtype=jnp.int32) * n)[:, None, None, None]
        lr_rows = jnp.broadcast_to(lrs[:, None, None, None], (runs, batch_size, 2 + negatives, 1))
        lr_rows = lr_rows.reshape(-1, 1).astype(tables.dtype)

        def step(table, inputs):
            idx, mask, weight = inputs  # (R, B, ...), idx into the stacked table
            rows = table.at[idx].get(mode="clip")
            per_run, grads = loss_and_grads(rows, mask, weight)
            table = go.sparse_rsgd_step(
                table,
                idx.reshape(-1),
                grads.reshape(-1, width),
                space.manifold,
                lr_rows,
                values=rows.reshape(-1, width),
            )
            return table, per_run

        def run_chunk(table, inputs):
            idx, mask, weight = jax.vmap(chunk_inputs, (0, 0, None, None))(*inputs, data, burnin)
            idx = jnp.where(idx < n, idx + offsets, runs * n)  # padding past every run's rows
            per_step = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), (idx, mask, weight))
            return jax.lax.scan(step, table, per_step)

        inputs = (jnp.swapaxes(batches, 0, 1), jnp.swapaxes(chunk_keys, 0, 1))
        table, losses = jax.lax.scan(run_chunk, tables.reshape(runs * n, width), inputs)
        return table.reshape(runs, n, width), opt_states, jnp.sum(losses, (0, 1)) / real_steps

    def tx_epoch(tables, opt_states, data: TrainingData, keys, lrs, burnin: bool):
        def one_run(table, opt_state, key, lr):
            tx = make_tx(lr)

            def step(carry, inputs):
                table, opt_state = carry
                idx, mask, weight = inputs
                loss, grads = loss_and_grads(table.at[idx].get(mode="clip"), mask, weight)
                table, opt_state = go.sparse_row_update(
                    tx,
                    table,
                    opt_state,
                    idx.reshape(-1),
                    grads.reshape(-1, table.shape[-1]),
                    space.manifold,
                )
                return (table, opt_state), loss

            def run_chunk(carry, inputs):
                return jax.lax.scan(step, carry, chunk_inputs(*inputs, data, burnin))

            carry, losses = jax.lax.scan(run_chunk, (table, opt_state), plan(key, data))
            return *carry, jnp.sum(losses) / real_steps

        if tables.shape[0] == 1:  # no batching overhead for a single run
            first = jax.tree.map(lambda a: a[0], (tables, opt_states, keys, lrs))
            return jax.tree.map(lambda a: a[None], one_run(*first))
        return jax.vmap(one_run)(tables, opt_states, keys, lrs)

    epoch = stacked_epoch if make_tx is None else tx_epoch
    return jax.jit(epoch, static_argnames="burnin", donate_argnums=(0, 1))


def _closer_counts(s, d):
    """(B, W) number of entries of d (B, M) strictly below each sorted s (B, W).

    where = how many s values are <= d; an entry is below s_k iff where <= k, so one
    histogram of `where` and its cumulative sum give every count without a sort of d.
    """
    block, width = s.shape
    where = jax.vmap(lambda row_s, row_d: jnp.searchsorted(row_s, row_d, side="right"))(s, d)
    seg = (jnp.arange(block)[:, None] * (width + 1) + where).reshape(-1)
    hist = jax.ops.segment_sum(jnp.ones_like(seg), seg, num_segments=block * (width + 1))
    return jnp.cumsum(hist.reshape(block, width + 1), axis=1)[:, :width]


@partial(jax.jit, static_argnames=("space", "block", "capacity"))
def _metrics_block(space: EmbeddingSpace, table, query, exclude, start, block: int, capacity: int):
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
    space: EmbeddingSpace,
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
    space: EmbeddingSpace, table: jax.Array, ancestors: jax.Array, block: int = 512
) -> dict[str, float]:
    """`ranking_metrics` of every ancestor among the non-ancestors (Nickel & Kiela 2017).

    Args:
        table: (N, D) embeddings; ancestors: (N, A) ids padded with -1.
    """
    return ranking_metrics(space, table, ancestors, ancestors, block)
