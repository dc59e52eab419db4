"""Sparse row updates, Flax NNX integration, and the optimizer state through orbax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx

import geo.optim as go
from geo.optim.sparse import row_owners
from manifolds import Lorentz, PoincareBall, Sphere

F64 = jnp.float64


def _table(m, n=10, d=3):
    return m.random(
        jax.random.PRNGKey(0), (n, d), F64, **({"std": 0.5} if isinstance(m, PoincareBall) else {})
    )


@pytest.mark.parametrize("m", [PoincareBall(1.0), Sphere()], ids=["poincare", "sphere"])
def test_sparse_rsgd_equals_dense_step_with_duplicates(m):
    table = _table(m)
    rows = jnp.array([1, 4, 1, 7, 4, 1])  # duplicates: their gradients add up
    row_grads = jax.random.normal(jax.random.PRNGKey(1), (6, 3), F64)
    tx = go.rsgd(0.1, m)
    sparse_table, _ = go.sparse_row_update(tx, table, tx.init(table), rows, row_grads)
    dense_grad = jnp.zeros_like(table).at[rows].add(row_grads)
    updates, _ = tx.update(dense_grad, tx.init(table), table)
    np.testing.assert_allclose(sparse_table, table + updates, atol=1e-14)
    untouched = np.setdiff1d(np.arange(10), np.asarray(rows))
    np.testing.assert_array_equal(sparse_table[untouched], table[untouched])


@pytest.mark.parametrize(
    "m", [PoincareBall(1.0), Sphere(), Lorentz(1.0), None], ids=["ball", "sphere", "lorentz", "r"]
)
def test_sort_free_sparse_rsgd_step_equals_dense_step_with_duplicates(m):
    """Both of sparse_rsgd_step's forms (scatter-add then project; row owners): the dense
    step with summed gradients on touched rows, untouched rows bitwise kept, index N
    dropped."""
    table = jax.random.normal(jax.random.PRNGKey(0), (10, 3), F64) if m is None else _table(m)
    rows = jnp.array([1, 4, 1, 7, 4, 1, 10])  # 10: padding
    row_grads = jax.random.normal(jax.random.PRNGKey(1), (7, 3), F64)
    got = go.sparse_rsgd_step(table, rows, row_grads, m, 0.1)
    tx = go.rsgd(0.1, m)
    updates, _ = tx.update(jnp.zeros_like(table).at[rows].add(row_grads, mode="drop"),
                           tx.init(table), table)  # fmt: skip
    touched = np.asarray([1, 4, 7])
    np.testing.assert_allclose(got[touched], (table + updates)[touched], atol=1e-14)
    untouched = np.setdiff1d(np.arange(10), touched)
    np.testing.assert_array_equal(got[untouched], table[untouched])


def test_row_owners_name_one_occurrence_per_row():
    rows = jnp.array([3, 0, 3, 5, 0, 3, 9, 9])  # 9 and above: outside a 9-row table
    owner = np.asarray(row_owners(rows, 9))
    for i, r in enumerate(np.asarray(rows)):
        if r < 9:
            assert rows[owner[i]] == r and owner[owner[i]] == owner[i]
            assert len({owner[j] for j in np.flatnonzero(np.asarray(rows) == r)}) == 1
        else:
            assert owner[i] == i


def test_sparse_radam_matches_dense_on_touched_rows_and_keeps_state_per_row():
    m = PoincareBall(1.0)
    table = _table(m)
    tx = go.radam(0.05, m)
    state = tx.init(table)
    dense_state = tx.init(table)
    dense_table = table
    sparse_table = table
    for step in range(3):
        rows = jnp.array([2, 5, 2]) if step != 1 else jnp.array([5, 9, 9])
        row_grads = jax.random.normal(jax.random.PRNGKey(step), (3, 3), F64)
        sparse_table, state = go.sparse_row_update(tx, sparse_table, state, rows, row_grads)
        if step == 0:  # from a zero state, the dense step moves exactly the touched rows
            grad = jnp.zeros_like(table).at[rows].add(row_grads)
            updates, dense_state = tx.update(grad, dense_state, dense_table)
            dense_table = dense_table + updates
            np.testing.assert_allclose(sparse_table, dense_table, atol=1e-14)
    assert int(state.count) == 3
    # Rows never touched keep zero moments; touched rows have moments.
    assert float(jnp.abs(state.exp_avg[0]).sum()) == 0.0
    assert float(jnp.abs(state.exp_avg_sq[9]).sum()) > 0.0
    assert m.check(np.asarray(sparse_table))[0]


def test_sparse_row_update_rejects_wrong_gradient_shape():
    m = PoincareBall(1.0)
    table = _table(m)
    tx = go.rsgd(0.1, m)
    with pytest.raises(ValueError, match=r"row_grads has shape \(2, 4\), expected \(2, 3\)"):
        go.sparse_row_update(tx, table, tx.init(table), jnp.array([0, 1]), jnp.zeros((2, 4)))


def test_sparse_update_jits_inside_scan():
    m = Lorentz(1.0)
    table = m.random(jax.random.PRNGKey(0), (50, 4), jnp.float32)
    tx = go.radam(0.01, m)
    batches = jax.random.randint(jax.random.PRNGKey(1), (20, 8), 0, 50)

    @jax.jit
    def epoch(table, state):
        def body(carry, rows):
            table, state = carry
            grads = jax.grad(lambda e: jnp.sum(m.dist(e, m.origin((4,), jnp.float32)) ** 2))(
                table[rows]
            )
            return go.sparse_row_update(tx, table, state, rows, grads, manifold=m), None

        return jax.lax.scan(body, (table, state), batches)[0]

    table2, _ = epoch(table, tx.init(table))
    assert m.check(np.asarray(table2))[0]
    assert float(jnp.mean(table2[:, 0])) < float(jnp.mean(table[:, 0]))  # moved toward the origin


class Embedding(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.ball = PoincareBall(1.0)
        self.points = go.ManifoldParam(
            self.ball.random(rngs.params(), (6, 2), std=0.3), manifold=self.ball
        )
        self.linear = nnx.Linear(2, 1, rngs=rngs)

    def __call__(self, target):
        return jnp.sum(self.ball.dist(self.points[...], target) ** 2) + jnp.sum(
            self.linear(self.points[...]) ** 2
        )


def test_nnx_optimizer_with_manifold_params():
    model = Embedding(nnx.Rngs(0))
    manifolds = go.manifolds_of(model)
    assert isinstance(manifolds["points"], PoincareBall)
    assert manifolds["linear"]["kernel"] is None
    optimizer = nnx.Optimizer(model, go.radam(0.05, manifolds), wrt=nnx.Param)
    target = jnp.array([0.6, -0.2])

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda mdl: mdl(target))(model)
        optimizer.update(model, grads)
        return loss

    first = float(step(model, optimizer))
    for _ in range(300):
        last = float(step(model, optimizer))
    assert last < 0.05 * first
    assert model.ball.check(np.asarray(model.points[...]))[0]


def test_manifold_param_rejects_non_manifold():
    with pytest.raises(ValueError, match="must be a manifolds.Manifold"):
        go.ManifoldParam(jnp.zeros(3), manifold="poincare")


@pytest.mark.parametrize(
    "make_tx", [lambda m: go.radam(0.05, m, amsgrad=True), lambda m: go.rsgd(0.1, m, momentum=0.9)]
)
def test_optimizer_state_round_trips_through_orbax(tmp_path, make_tx):
    m = Sphere()
    tx = make_tx(m)
    x = m.random(jax.random.PRNGKey(0), (4, 3), F64)
    loss = lambda x: jnp.sum(x[:, 0])  # noqa: E731
    step = jax.jit(
        lambda x, s: (lambda u, s: (optax.apply_updates(x, u), s))(
            *tx.update(jax.grad(loss)(x), s, x)
        )
    )
    state = tx.init(x)
    for _ in range(5):
        x, state = step(x, state)
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(tmp_path / "opt", {"params": x, "opt_state": state})
        ckpt.wait_until_finished()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, {"params": x, "opt_state": state})
        restored = ckpt.restore(tmp_path / "opt", abstract)
    assert type(restored["opt_state"]) is type(state)
    for a, b in zip(
        jax.tree.leaves(restored), jax.tree.leaves({"params": x, "opt_state": state}), strict=False
    ):
        np.testing.assert_array_equal(a, b)
    # Continuing from the restored state is identical to continuing uninterrupted.
    x1, s1 = step(x, state)
    x2, s2 = step(restored["params"], restored["opt_state"])
    np.testing.assert_array_equal(x1, x2)
