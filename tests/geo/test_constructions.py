"""Constructions without training: Sarkar's tree embedding at the precision it claims, h-MDS
on a known hyperbolic configuration, the exact fixed-point distances, and bad input."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from experiments import constructions as ex
from geo.constructions.fixed_point import store
from geo.constructions.hmds import hmds
from geo.constructions.quality import average_precision, embedding_quality
from geo.constructions.sarkar import bits_needed, combinatorial_embedding, scaling_factor
from geo.constructions.trees import (
    adjacency_matrix,
    graph_distances,
    hierarchy_tree,
    tree_from_edges,
)
from geo.data.synthetic import complete_tree, parse_tree_spec


def _binary_tree():
    h = complete_tree(parse_tree_spec("tree:nodes=31,branching=2"))
    return hierarchy_tree(h.num_nodes, h.edges)


def _quality(tree, stored, tau):
    return embedding_quality(
        stored.distances_from, tree.adjacency(),
        lambda s: graph_distances(tree.num_nodes, tree.edges(), s), tau, np.arange(tree.num_nodes),
    )  # fmt: skip


@pytest.mark.parametrize("dim", [2, 3])
def test_the_construction_has_the_distortion_it_was_built_for(dim):
    tree = _binary_tree()
    eps = 0.1
    tau = scaling_factor(int(tree.degrees().max()), eps)
    bits = bits_needed(tree, tau)
    stored = store(combinatorial_embedding(tree, dim, tau), "fixed", bits)
    q = _quality(tree, stored, tau)
    assert stored.collapsed() == 0
    assert q["map"] == 1.0
    assert q["distortion_worst"] <= 1 + eps


def test_fixed_point_distances_match_mpmath_to_the_precision_claimed():
    tree = _binary_tree()
    tau = scaling_factor(3, 0.1)
    bits = bits_needed(tree, tau)
    points = combinatorial_embedding(tree, 2, tau)
    stored = store(points, "fixed", bits)
    row = stored.distances_from(30)
    with mpmath.workprec(2 * bits + 64):
        for j in (0, 1, 15, 29):
            x, y = points[30], points[j]
            num = 2 * sum((a - b) ** 2 for a, b in zip(x, y, strict=True))
            den = (1 - sum(a * a for a in x)) * (1 - sum(b * b for b in y))
            exact = float(mpmath.acosh(1 + num / den))
            assert row[j] == pytest.approx(exact, rel=1e-12)
    # each edge is tau long, to float64 accuracy
    for child, parent in tree.edges()[:10]:
        assert stored.distances_from(int(child))[parent] == pytest.approx(tau, rel=1e-12)


def test_floats_collapse_a_deep_tree_and_fit_tau_rescues_float64():
    tree = _binary_tree()
    tau = scaling_factor(3, 0.1)  # about 50 nats per edge, 4 levels deep
    points = combinatorial_embedding(tree, 2, tau)
    assert store(points, "float64").collapsed() > 0
    assert store(points, "fixed", 64).collapsed() > 0  # fixed point with too few bits
    fit = 49 * math.log(2) / tree.depth()
    stored = store(combinatorial_embedding(tree, 2, fit), "float64")
    assert stored.collapsed() == 0 and _quality(tree, stored, fit)["map"] == 1.0


def test_hmds_recovers_a_hyperbolic_configuration():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 3)) * 0.8
    x0 = np.sqrt(1 + np.sum(z * z, 1))
    inner = np.outer(x0, x0) - z @ z.T
    d = np.arccosh(np.maximum(inner, 1.0))
    np.fill_diagonal(d, 0.0)
    ball = hmds(d, 3)
    sq = np.sum(ball * ball, 1)
    diff = np.sum((ball[:, None] - ball[None]) ** 2, -1)
    recovered = np.arccosh(1 + 2 * diff / np.outer(1 - sq, 1 - sq))
    np.testing.assert_allclose(recovered, d, atol=1e-6)


def test_average_precision_counts_ties_like_sklearn():
    rng = np.random.default_rng(1)
    for _ in range(30):
        d = rng.integers(0, 5, 25).astype(float)
        neighbours = rng.choice(np.arange(1, 25), rng.integers(1, 6), replace=False)
        labels = np.zeros(25, bool)
        labels[neighbours] = True
        expected = average_precision_score(labels[1:], -d[1:])
        assert average_precision(d, neighbours, 0) == pytest.approx(expected)


def test_a_hierarchy_keeps_each_nodes_deepest_parent():
    # 3 has parents 1 (depth 1) and 2 (depth 2: 2 -> 1 -> 0)
    closure = np.array([[1, 0], [2, 1], [2, 0], [3, 1], [3, 2], [3, 0]])
    assert hierarchy_tree(4, closure).parent.tolist() == [-1, 0, 1, 2]


def test_bad_graphs_are_clear_errors():
    with pytest.raises(ValueError, match="has a cycle"):
        tree_from_edges(4, np.array([[0, 1], [1, 2], [2, 0], [2, 3]]))
    with pytest.raises(ValueError, match="not connected to the root"):
        tree_from_edges(4, np.array([[0, 1], [2, 3]]))
    d = graph_distances(4, np.array([[0, 1], [2, 3]]))
    with pytest.raises(ValueError, match="disconnected"):
        hmds(d, 2)
    with pytest.raises(ValueError, match="overflows float32"):
        hmds(graph_distances(30, np.stack([np.arange(29), np.arange(1, 30)], 1)), 2, 4.0,
             np.float32)  # fmt: skip
    assert adjacency_matrix(3, np.array([[0, 1]])).nnz == 2


def test_the_experiment_runs_and_rejects_bad_settings_first(tmp_path, shared_data):
    c = ex.get_config()
    c.update(dataset="tree:nodes=40,branching=3", eps=0.5)
    r = ex.train_and_evaluate(c, tmp_path / "comb")
    assert r["map"] == 1.0 and r["collapsed"] == 0 and r["distortion_worst"] <= 1.5
    c = ex.get_config()
    c.update(dataset="disease_lp", data_dir=str(shared_data / "hgcn"), method="hmds", dim=5,
             precision="float64", eval_sources=50)  # fmt: skip
    r = ex.train_and_evaluate(c, tmp_path / "hmds")
    assert 0 < r["map"] <= 1 and r["sources"] == 50 and "map_ci95" in r
    for overrides, message in [
        (dict(method="hmds"), "h-MDS runs in float64 or float32"),
        (dict(dataset="tree:nodes=30000,branching=4", method="hmds", precision="float64",
              eval_sources=10), "beyond the 20,000 nodes"),
        (dict(dataset="tree:nodes=30000,branching=4"), "set eval_sources=200"),
        (dict(fit_tau=True), "needs bits > 0"),
        (dict(dim=1), "dim must be >= 2"),
    ]:  # fmt: skip
        c = ex.get_config()
        c.update(overrides)
        with pytest.raises(ValueError, match=message):
            ex.validate(c)
