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
from models.embeddings import embedding_space
from tests.toy_data import toy_hierarchy


@pytest.mark.parametrize("space_name", ["poincare", "lorentz"])
def test_p_batches_per_step_are_one_batch_of_p_times_the_edges(tmp_path, space_name):
    h = read_edge_file(toy_hierarchy(tmp_path / "toy.tsv"))
    edges = h.edges[:36]  # a multiple of every step's 2 x 3 or 6 edges: no padded step
    data = training_data(h, edges)
    space = embedding_space(space_name)
    table = space.init(jax.random.PRNGKey(0), h.num_nodes, 3, 0.1, jnp.float64)[None]
    key, lr = jax.random.PRNGKey(1)[None], jnp.asarray([0.05])
    # The sparse RSGD of the ball, or an optax transform stepped row by row (hyperboloid).
    make_tx = None if space_name == "poincare" else (lambda lr: go.rsgd(lr, space.manifold))
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


def test_parallel_batches_must_be_positive():
    space = embedding_space("poincare")
    with pytest.raises(ValueError, match="parallel_batches must be >= 1, got 0"):
        make_epoch(space, None, 3, 4, 36, parallel_batches=0)
