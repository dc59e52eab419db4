"""make_epoch's lockstep Hogwild mode (parallel_batches = P): P batches' gradients at one
table, applied together, equal one batch of P times the edges at P times the learning rate."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import geo.optim as go
from geo.data.hierarchy import read_edge_file
from geo.hierarchy_training import make_epoch, training_data
from manifolds.hyperbolic import poincare_to_lorentz
from models.embeddings import embedding_space
from models.entailment_cones import PoincareAnnulus, entailment_space
from tests.toy_data import toy_hierarchy


@pytest.mark.parametrize(
    "space_name, optax_rsgd",
    [("poincare", False), ("lorentz", False), ("lorentz", True)],
    ids=["poincare", "lorentz", "lorentz-optax"],
)
def test_p_batches_per_step_are_one_batch_of_p_times_the_edges(tmp_path, space_name, optax_rsgd):
    h = read_edge_file(toy_hierarchy(tmp_path / "toy.tsv"))
    edges = h.edges[:36]  # a multiple of every step's 2 x 3 or 6 edges: no padded step
    data = training_data(h, edges)
    space = embedding_space(space_name)
    table = space.init(jax.random.PRNGKey(0), h.num_nodes, 3, 0.1, jnp.float64)[None]
    key, lr = jax.random.PRNGKey(1)[None], jnp.asarray([0.05])
    # The sort-free sparse RSGD, or an optax transform stepped row by row.
    make_tx = (lambda lr: go.rsgd(lr, space.manifold)) if optax_rsgd else None
    state = () if make_tx is None else jax.vmap(make_tx(lr[0]).init)(table)
    lockstep = make_epoch(space, make_tx, 3, 4, len(edges), parallel_batches=2)
    wide = make_epoch(space, make_tx, 6, 4, len(edges))
    start = np.asarray(table)
    copy = lambda tree: jax.tree.map(jnp.array, tree)  # noqa: E731 (the epoch donates them)
    got, _, got_loss = lockstep(copy(table), copy(state), data, key, lr, burnin=False)
    want, _, want_loss = wide(copy(table), copy(state), data, key, 2 * lr, burnin=False)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-12)  # both: mean over batches
    assert not np.allclose(got, start)


@pytest.mark.parametrize("model", ["embeddings", "cones"])
def test_the_sort_free_lorentz_epoch_is_the_optax_rsgd_epoch(tmp_path, model):
    """On the hyperboloid the sort-free sparse RSGD (row owners, no jnp.unique) gives the
    update of rsgd stepped through sparse_row_update, duplicates in a batch included: for
    the Nickel & Kiela embeddings and for the entailment cones' hyperboloid phase."""
    h = read_edge_file(toy_hierarchy(tmp_path / "toy.tsv"))
    start = jax.random.PRNGKey(0)
    if model == "embeddings":
        data = training_data(h)
        space = embedding_space("lorentz")
        table = space.init(start, h.num_nodes, 3, 0.3, jnp.float64)[None]
    else:  # (parent, child) rows, descendants excluded; rows moved from the ball's annulus
        data = training_data(h, np.ascontiguousarray(h.edges[:, ::-1]), sorted_exclusions=True)
        space = entailment_space("cones", "lorentz", parent_first=True)
        ball = jax.random.uniform(start, (h.num_nodes, 2), jnp.float64, -0.6, 0.6)
        table = poincare_to_lorentz(PoincareAnnulus(1.0, 0.1).proj(ball))[None]
    key, lr = jax.random.PRNGKey(1)[None], jnp.asarray([0.3])
    make_tx = lambda lr: go.rsgd(lr, space.manifold)  # noqa: E731
    optax_epoch = make_epoch(space, make_tx, 8, 6, h.num_edges)
    sort_free = make_epoch(space, None, 8, 6, h.num_edges)
    state = jax.vmap(make_tx(lr[0]).init)(table)
    want, _, want_loss = optax_epoch(jnp.array(table), state, data, key, lr, burnin=False)
    got, _, got_loss = sort_free(jnp.array(table), (), data, key, lr, burnin=False)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-12)
    assert np.abs(np.asarray(got) - np.asarray(table)).max() > 1e-2


def test_parallel_batches_must_be_positive():
    space = embedding_space("poincare")
    with pytest.raises(ValueError, match="parallel_batches must be >= 1, got 0"):
        make_epoch(space, None, 3, 4, 36, parallel_batches=0)


def test_the_shared_negatives_step_is_the_rsgd_step_of_the_summed_loss():
    """Dense reference: autodiff of the batch's loss over the whole table, one Riemannian
    step x <- proj(x - lr rgrad(x, g)) of every row."""
    from geo.hierarchy_training import shared_negatives_step
    from models.nickel_kiela import ranking_loss

    space = embedding_space("poincare")
    n, b, k = 30, 4, 5
    table = space.init(jax.random.PRNGKey(0), n, 3, 0.3, jnp.float64)
    pos = jnp.asarray([[[5, 0], [6, 1], [5, 2], [7, 0]]])  # child 5 twice, ancestor 0 twice
    negs = jnp.asarray([[9, 10, 7, 11, 12]])  # 7 is also a child
    mask = jnp.ones((1, b, 1 + k), bool).at[0, 3, 3].set(False)  # 7 is not its own negative
    weight = jnp.full((1, b), 1 / b)
    lr = 0.3
    got, loss = shared_negatives_step(
        space, table, pos, negs, mask, weight, jnp.full((2 * b + k, 1), lr)
    )

    def total(t):
        u, v = (
            t[pos[0, :, 0]][:, None],
            t[jnp.concatenate([pos[0, :, 1:], jnp.tile(negs, (b, 1))], 1)],
        )
        return jnp.sum(weight[0] * ranking_loss(space.dist(u, v), mask[0]))

    g = jax.grad(total)(table)
    want = space.manifold.proj(table - lr * space.manifold.egrad2rgrad(table, g))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss[0], total(table), rtol=1e-12)


def test_shared_negatives_mask_each_edge_s_child_and_ancestors(tmp_path):
    from geo.hierarchy_training import shared_negative_mask

    h = read_edge_file(toy_hierarchy(tmp_path / "toy.tsv"))
    data = training_data(h)
    children = jnp.asarray([4, 13, 0])
    negs = jnp.arange(h.num_nodes)
    valid = np.asarray(shared_negative_mask(negs, children, data))
    anc = np.asarray(data.ancestors)
    for row, c in zip(valid, np.asarray(children), strict=True):
        banned = {int(c), *[int(a) for a in anc[c] if a >= 0]}
        assert {int(w) for w in np.flatnonzero(~row)} == banned
    space = embedding_space("poincare")
    table = space.init(jax.random.PRNGKey(0), h.num_nodes, 3, 1e-3, jnp.float32)[None]
    start = np.asarray(table)
    epoch = make_epoch(space, None, 5, 4, h.num_edges, shared_negatives=True)
    for burnin in (True, False):
        table, _, loss = epoch(table, (), data, jax.random.PRNGKey(2)[None],
                               jnp.asarray([0.1]), burnin=burnin)  # fmt: skip
        assert np.isfinite(np.asarray(loss)).all()
    assert not np.allclose(table, start)
    with pytest.raises(ValueError, match="shared_negatives needs the sparse RSGD"):
        make_epoch(space, lambda lr: go.rsgd(lr, space.manifold), 5, 4, 36, shared_negatives=True)


@pytest.mark.parametrize("shared", [False, True], ids=["per-edge", "shared-negatives"])
def test_a_diverged_run_does_not_reach_the_other_runs_of_its_program(tmp_path, shared):
    """Runs stacked in one program (a sweep) are independent: the last batch's padded slots
    must not read another run's rows, so one run's non-finite row (a diverged learning rate)
    leaves every other run's loss and table as they are alone."""
    h = read_edge_file(toy_hierarchy(tmp_path / "toy.tsv"))  # 72 edges: batches of 5 pad
    data = training_data(h)
    space = embedding_space("lorentz")
    table = space.init(jax.random.PRNGKey(0), h.num_nodes, 2, 0.3, jnp.float32)
    epoch = make_epoch(space, None, 5, 4, h.num_edges, shared_negatives=shared)
    keys, lrs = jax.random.split(jax.random.PRNGKey(1)), jnp.asarray([0.1, 0.1])
    alone, _, alone_loss = epoch(jnp.stack([table, table]), (), data, keys, lrs, burnin=False)
    diverged = jnp.stack([table, table.at[:].set(jnp.nan)])
    got, _, got_loss = epoch(diverged, (), data, keys, lrs, burnin=False)
    assert np.isfinite(np.asarray(got_loss[0])), "the diverged run's rows reached run 0"
    np.testing.assert_array_equal(got[0], alone[0])
    np.testing.assert_array_equal(got_loss[0], alone_loss[0])
