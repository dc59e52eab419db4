"""Compiled hierarchy-embedding training: one epoch as one `lax.scan` (Nickel & Kiela 2017);
its metrics are in `geo.metrics`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax

import geo.optim as go
from geo.data.hierarchy import Hierarchy
from geo.devices import DataLayout, DeviceRequest, RunsLayout, data_layout, runs_layout
from geo.shuffle import permutation


class TrainableSpace(Protocol):
    """What `make_epoch` needs of an embedding space (e.g. `models.EmbeddingSpace`).

    Attributes:
        manifold: the manifold of the table's rows, or None (Euclidean parameters).
        ranking_loss_and_grad: (rows (..., B, 2 + K, C), valid (..., B, 1 + K), weight
            (..., B)) -> (per-run losses (...,), gradient with respect to rows).
    """

    manifold: object
    ranking_loss_and_grad: Callable


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
        excluded_starts, excluded_ids: with `sorted_exclusions`, the same sets as sorted
            segments (N + 1,) and (E,) searched by bisection, for sets too large to pad
            (a node's descendants); then `ancestors` is (N, 1) of -1.
        longest_segment: the largest sorted set (0: padded sets).
    """

    edges: jax.Array
    ancestors: jax.Array
    burnin_logits: jax.Array
    excluded_starts: jax.Array | None = None
    excluded_ids: jax.Array | None = None
    longest_segment: int = dataclasses.field(default=0, metadata=dict(static=True))

    @property
    def num_nodes(self) -> int:
        return int(self.ancestors.shape[0])

    @property
    def largest_exclusion(self) -> int:
        """The most nodes any one node's negatives exclude."""
        if self.excluded_ids is None:
            return int(self.ancestors.shape[1])
        return self.longest_segment


def excluded(data: TrainingData, nodes: jax.Array, candidates: jax.Array) -> jax.Array:
    """(B, M) whether candidate m is in the exclusion set of node b (its ancestors).

    Padded sets are compared one ancestor column at a time, (B, M) per column: XLA:CPU runs
    that loop several times faster than the (B, M, A) comparison reduced over A."""
    if data.excluded_ids is None:
        anc = data.ancestors[nodes]  # (B, A)

        def column(a, found):
            return found | (candidates == jax.lax.dynamic_slice_in_dim(anc, a, 1, axis=1))

        # The carry starts from the inputs, so it has their type under shard_map.
        first = candidates == anc[:, :1]
        width = anc.shape[1]
        return jax.lax.fori_loop(1, width, column, first, unroll=max(1, min(8, width - 1)))
    lo = jnp.broadcast_to(data.excluded_starts[nodes][:, None], candidates.shape)
    end = jnp.broadcast_to(data.excluded_starts[nodes + 1][:, None], candidates.shape)
    hi = end
    last = data.excluded_ids.shape[0] - 1
    for _ in range(max(1, data.longest_segment.bit_length())):  # lower bound in the segment
        mid = (lo + hi) // 2
        right = data.excluded_ids[jnp.minimum(mid, last)] < candidates
        open_ = lo < hi
        lo = jnp.where(open_ & right, mid + 1, lo)
        hi = jnp.where(open_ & ~right, mid, hi)
    return (lo < end) & (data.excluded_ids[jnp.minimum(lo, last)] == candidates)


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


def training_data(
    hierarchy: Hierarchy, edges: np.ndarray | None = None, sorted_exclusions: bool = False
) -> TrainingData:
    """Training arrays for `edges` (default: the whole closure) of `hierarchy`.

    `sorted_exclusions` stores each node's exclusion set (the second column's nodes of its
    edges) as sorted segments instead of padded rows: edges given as (parent, descendant)
    exclude a node's descendants, whose largest set would not fit padded.
    """
    edges = hierarchy.edges if edges is None else edges
    n = hierarchy.num_nodes
    degree = np.bincount(edges.reshape(-1), minlength=n).astype(np.float64)
    extra = {}
    if sorted_exclusions:
        order = np.lexsort((edges[:, 1], edges[:, 0]))
        counts = np.bincount(edges[:, 0], minlength=n)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        longest = int(counts.max(initial=0))
        extra = dict(
            excluded_starts=jnp.asarray(starts),
            excluded_ids=jnp.asarray(np.append(edges[order, 1], -1), jnp.int32),
            longest_segment=longest,
        )
        ancestors = np.full((n, 1), -1, np.int32)
    else:
        ancestors = padded_ancestors(n, edges)
    return TrainingData(
        edges=jnp.asarray(edges, jnp.int32),
        ancestors=jnp.asarray(ancestors),
        burnin_logits=jnp.asarray(0.75 * np.log(np.maximum(degree, 1.0)), jnp.float32),
        **extra,
    )


def draw_candidates(key, shape, data: TrainingData, burnin: bool) -> jax.Array:
    """`shape` int32 node ids: uniform (floor(n u) of a float32 uniform u: half the random
    bits of randint, a bias below n / 2^24), or by degree^0.75 during burn-in (Nickel &
    Kiela) by inverse CDF."""
    n = data.num_nodes
    if burnin:
        cdf = jnp.cumsum(jax.nn.softmax(data.burnin_logits))
        u = jax.random.uniform(key, shape, cdf.dtype)
        return jnp.minimum(jnp.searchsorted(cdf, u * cdf[-1]), n - 1).astype(jnp.int32)
    u = jax.random.uniform(key, shape, jnp.float32)
    return jnp.minimum((u * n).astype(jnp.int32), n - 1)


def shared_negative_mask(negatives, children, data: TrainingData) -> jax.Array:
    """(B, K) whether each of K shared negatives is neither child b nor one of its ancestors."""
    shared = jnp.broadcast_to(negatives[None, :], (children.shape[0], negatives.shape[0]))
    return ~((shared == children[:, None]) | excluded(data, children, shared))


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
    n = data.num_nodes
    reject = min((data.largest_exclusion + 1) / n, 0.999)  # the worst node's rejection rate
    rounds = int(np.clip(np.ceil(np.log(_MISS_RATE) / np.log(reject)), 2, 1 + _SPARES))
    cand = draw_candidates(key, (children.shape[0], k + _SPARES), data, burnin)
    bad = (cand == children[:, None]) | excluded(data, children, cand)
    slot = np.arange(k)[:, None]
    chains = np.concatenate(
        [slot, k + (slot + np.arange(rounds - 1)[None, :]) % _SPARES], axis=1
    )  # (K, rounds): each slot's own candidate, then its spares
    first_good = jnp.argmin(bad[:, chains], axis=-1)
    chosen_col = jnp.asarray(chains)[jnp.arange(k)[None, :], first_good]
    chosen = jnp.take_along_axis(cand, chosen_col, 1)
    valid = ~jnp.take_along_axis(bad, chosen_col, 1)
    return chosen, valid


def readable_ids(ids: jax.Array, total_rows: int) -> jax.Array:
    """The ids to gather for `ids` (R, ...) into R runs' stacked (total_rows, C) table, where
    ids >= total_rows are the last batch's padding (dropped when scattering): padding reads
    its own run's first row, so no other run's values, a diverged run's NaN among them,
    enter a run's loss (weight 0 does not cancel a NaN)."""
    runs = ids.shape[0]
    own = (jnp.arange(runs, dtype=ids.dtype) * (total_rows // runs)).reshape(
        (runs,) + (1,) * (ids.ndim - 1)
    )
    return jnp.where(ids < total_rows, ids, own)


def shared_negatives_step(space: TrainableSpace, table, pos, negs, mask, weight, lr_rows):
    """One sparse RSGD step of R runs' edges against negatives shared by each run's batch.

    Args:
        table: (T, C) the runs' stacked rows.
        pos: (R, B, 2) (child, ancestor) ids into the table.
        negs: (R, K) each run's shared negatives.
        mask: (R, B, 1 + K) the ancestor and the negatives each edge uses.
        weight: (R, B) each edge's weight.
        lr_rows: (R (2 B + K), 1) each row's learning rate.

    Returns:
        (table, per-run losses (R,)). A negative's gradient is the sum over the edges of its
        batch, so the step is that of the summed loss, row by row.
    """
    runs, batch, _ = pos.shape
    negatives, width = negs.shape[1], table.shape[1]
    pos_rows = table.at[readable_ids(pos, table.shape[0])].get(mode="clip")  # (R, B, 2, C)
    neg_rows = table.at[negs].get(mode="clip")  # (R, K, C)
    shared = jnp.broadcast_to(neg_rows[:, None], (runs, batch, negatives, width))
    per_run, grads = space.ranking_loss_and_grad(
        jnp.concatenate([pos_rows, shared], axis=2), mask, weight
    )
    idx = jnp.concatenate([pos.reshape(runs, -1), negs], 1).reshape(-1)
    row_grads = jnp.concatenate(
        [grads[:, :, :2].reshape(runs, -1, width), jnp.sum(grads[:, :, 2:], 1)], 1
    )
    values = jnp.concatenate([pos_rows.reshape(runs, -1, width), neg_rows], 1)
    table = go.sparse_rsgd_step(
        table, idx, row_grads.reshape(-1, width), space.manifold, lr_rows,
        values=values.reshape(-1, width),
    )  # fmt: skip
    return table, per_run


def make_epoch(
    space: TrainableSpace,
    make_tx: Callable[[jax.Array], optax.GradientTransformation] | None,
    batch_size: int,
    negatives: int,
    num_edges: int,
    parallel_batches: int = 1,
    shared_negatives: bool = False,
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

    `parallel_batches` = P > 1 changes the algorithm: each compiled step takes P batches of
    `batch_size` edges, computes their gradients at the same table and applies their sum,
    the lockstep version of P Hogwild workers (the reference code trains with 5 threads): one
    gather, loss and scatter for P batches, at the price of gradients up to P - 1 steps
    stale. Each batch's loss is still its mean over its edges; the epoch's loss is the mean
    over batches.

    `shared_negatives` also changes the algorithm: the edges of a step share one draw of K
    negatives (each edge masks those that are its child or its ancestors) instead of K each,
    so a step gathers and scatters 2 B + K rows instead of B (2 + K); the loss still compares
    every edge with K negatives. Sparse RSGD only (`make_tx` None).
    """
    if parallel_batches < 1:
        raise ValueError(f"parallel_batches must be >= 1, got {parallel_batches}")
    if shared_negatives and make_tx is not None:
        raise ValueError("shared_negatives needs the sparse RSGD (make_tx None, optimizer=rsgd)")
    batches_per_epoch = -(-num_edges // batch_size)
    group = parallel_batches
    batch_size *= group  # edges per compiled step
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

    def edge_weights(real):
        """(chunk, B) weights from the (chunk * B,) real-edge mask: each batch of a step
        averages over its real edges."""
        real = real.reshape(chunk, group, batch_size // group)
        return (real / jnp.maximum(jnp.sum(real, axis=2, keepdims=True), 1)).reshape(
            chunk, batch_size
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
        return (
            idx.reshape(chunk, batch_size, 2 + negatives),
            mask.reshape(chunk, batch_size, 1 + negatives),
            edge_weights(real),
        )

    def shared_chunk_inputs(chunk_batches, key, data: TrainingData, burnin: bool):
        """Per step of one run's chunk: positive row ids (chunk, B, 2) with padding n, the
        step's shared negatives (chunk, K), their mask (chunk, B, 1 + K) and edge weights."""
        n = data.num_nodes
        real = chunk_batches[:, 0] < n
        children = jnp.where(real, chunk_batches[:, 0], 0).reshape(chunk, batch_size)
        negs = draw_candidates(key, (chunk, negatives), data, burnin)
        valid = jax.vmap(shared_negative_mask, (0, 0, None))(negs, children, data)
        mask = jnp.concatenate([jnp.ones_like(valid[..., :1]), valid], axis=-1)
        pos = jnp.where(real[:, None], chunk_batches, n).reshape(chunk, batch_size, 2)
        return pos, negs, mask, edge_weights(real)

    def shared_epoch(tables, opt_states, data: TrainingData, keys, lrs, burnin: bool):
        runs, n, width = tables.shape
        batches, chunk_keys = jax.vmap(plan, (0, None))(keys, data)
        offsets = (jnp.arange(runs, dtype=jnp.int32) * n)[:, None, None]
        lr_rows = jnp.broadcast_to(lrs[:, None, None], (runs, 2 * batch_size + negatives, 1))
        lr_rows = lr_rows.reshape(-1, 1).astype(tables.dtype)

        def step(table, inputs):
            pos, negs, mask, weight = inputs  # (R, B, 2), (R, K), ...: ids into the stack
            return shared_negatives_step(space, table, pos, negs, mask, weight, lr_rows)

        def run_chunk(table, inputs):
            pos, negs, mask, weight = jax.vmap(shared_chunk_inputs, (0, 0, None, None))(
                *inputs, data, burnin
            )
            pos = jnp.where(pos < data.num_nodes, pos + offsets[..., None], runs * n)
            negs = negs + offsets
            per_step = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), (pos, negs, mask, weight))
            return jax.lax.scan(step, table, per_step)

        inputs = (jnp.swapaxes(batches, 0, 1), jnp.swapaxes(chunk_keys, 0, 1))
        table, losses = jax.lax.scan(run_chunk, tables.reshape(runs * n, width), inputs)
        losses = jnp.sum(losses, (0, 1)) / batches_per_epoch
        return table.reshape(runs, n, width), opt_states, losses

    def stacked_epoch(tables, opt_states, data: TrainingData, keys, lrs, burnin: bool):
        runs, n, width = tables.shape
        batches, chunk_keys = jax.vmap(plan, (0, None))(keys, data)  # (R, chunks, ...)
        offsets = (jnp.arange(runs, dtype=jnp.int32) * n)[:, None, None, None]
        lr_rows = jnp.broadcast_to(lrs[:, None, None, None], (runs, batch_size, 2 + negatives, 1))
        lr_rows = lr_rows.reshape(-1, 1).astype(tables.dtype)

        def step(table, inputs):
            idx, mask, weight = inputs  # (R, B, ...), idx into the stacked table
            rows = table.at[readable_ids(idx, table.shape[0])].get(mode="clip")
            per_run, grads = space.ranking_loss_and_grad(rows, mask, weight)
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
            # padding past every run's rows (n may exceed num_nodes: a row-sharded table)
            idx = jnp.where(idx < data.num_nodes, idx + offsets, runs * n)
            per_step = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), (idx, mask, weight))
            return jax.lax.scan(step, table, per_step)

        inputs = (jnp.swapaxes(batches, 0, 1), jnp.swapaxes(chunk_keys, 0, 1))
        table, losses = jax.lax.scan(run_chunk, tables.reshape(runs * n, width), inputs)
        losses = jnp.sum(losses, (0, 1)) / batches_per_epoch
        return table.reshape(runs, n, width), opt_states, losses

    def tx_epoch(tables, opt_states, data: TrainingData, keys, lrs, burnin: bool):
        def one_run(table, opt_state, key, lr):
            tx = make_tx(lr)

            def step(carry, inputs):
                table, opt_state = carry
                idx, mask, weight = inputs
                loss, grads = space.ranking_loss_and_grad(
                    table.at[idx].get(mode="clip"), mask, weight
                )
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
            return *carry, jnp.sum(losses) / batches_per_epoch

        if tables.shape[0] == 1:  # no batching overhead for a single run
            first = jax.tree.map(lambda a: a[0], (tables, opt_states, keys, lrs))
            return jax.tree.map(lambda a: a[None], one_run(*first))
        return jax.vmap(one_run)(tables, opt_states, keys, lrs)

    epoch = tx_epoch if make_tx is not None else shared_epoch if shared_negatives else stacked_epoch
    return jax.jit(epoch, static_argnames="burnin", donate_argnums=(0, 1))


@dataclasses.dataclass(frozen=True)
class TablePlacement:
    """Where the (R, N, C) tables and optimizer states of a hierarchy program lie.

    With a `runs` mesh each device trains its own runs; with a `rows` mesh every table (and
    each (R, N, ...) optimizer leaf) is split by rows over the devices, its N rows padded to
    a multiple of the device count with copies of the last row, which no edge or negative
    touches, and XLA partitions the gathers and the scatter-adds of the sparse update.

    Attributes:
        runs: the runs' layout.
        rows: the rows' layout.
        num_nodes: N, the table's real rows.
    """

    runs: RunsLayout
    rows: DataLayout
    num_nodes: int

    def _is_rows(self, a) -> bool:
        return np.ndim(a) >= 2 and a.shape[1] == self.num_nodes

    @staticmethod
    def _is_padded(a, padded: int) -> bool:
        return np.ndim(a) >= 2 and a.shape[1] == padded

    def place(self, tree):
        """Tables and optimizer states (R, N, ...) in the program's layout."""
        tree = self.runs.place(tree)
        if self.rows.mesh is None:
            return tree
        extra = self.rows.rows(self.num_nodes) - self.num_nodes

        def put(a):
            if not self._is_rows(a):
                return self.rows.replicate(a)
            a = jnp.pad(a, [(0, 0), (0, extra)] + [(0, 0)] * (a.ndim - 2), mode="edge")
            return self.rows.split(a, axis=1)

        return jax.tree.map(put, tree)

    def program(self, fn, run_args, donate=()):
        """`fn` (placed state -> placed state) jitted for this placement: each device's runs
        on that device, or with its outputs' tables kept split by rows."""
        if self.rows.mesh is None:
            return self.runs.over_runs(fn, run_args, donate)
        padded = self.rows.rows(self.num_nodes)

        def constrain(a):
            rows = self._is_padded(a, padded)
            return self.rows.constrain(a, axis=1) if rows else self.rows.constrain_replicated(a)

        return jax.jit(lambda *args: jax.tree.map(constrain, fn(*args)), donate_argnums=donate)

    def shared(self, tree):
        """Data every run and device reads (e.g. `TrainingData`), on every device."""
        return self.rows.replicate(self.runs.replicate(tree))

    def real(self, tree):
        """The real runs and rows of placed state (host copies when placed on a mesh)."""
        tree = self.runs.real(tree)
        if self.rows.mesh is None:
            return tree
        n, padded = self.num_nodes, self.rows.rows(self.num_nodes)
        host = self.runs.fetch(tree) if self.runs.mesh is None else tree
        return jax.tree.map(lambda a: a[:, :n] if self._is_padded(a, padded) else a, host)

    def fetch(self, tree):
        """Host copies of per-run values (R', ...) of the real runs."""
        return self.runs.fetch(tree)


def table_placement(runs: int, devices: DeviceRequest, num_nodes: int) -> TablePlacement:
    """The runs split over the devices, or ("data") each table's rows."""
    if devices.split == "runs":
        return TablePlacement(runs_layout(runs, devices), DataLayout(), num_nodes)
    return TablePlacement(RunsLayout(runs), data_layout(devices, "nodes"), num_nodes)
