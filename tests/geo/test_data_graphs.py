"""HGCN graph data: the three archives, the paper's splits, and bad input before training."""

from __future__ import annotations

import numpy as np
import pytest

from geo.data.graphs import (
    check_graph,
    hgcn_code_node_split,
    link_split,
    load_graph,
    node_split,
)


@pytest.fixture
def hgcn(shared_data):
    return shared_data / "hgcn"


def test_archives_load_with_the_papers_shapes(hgcn):
    disease = load_graph("disease_lp", "lp", hgcn)
    assert (disease.num_nodes, len(disease.edges), disease.features.shape[1]) == (2665, 2664, 11)
    cora = load_graph("cora", "nc", hgcn)
    assert cora.features.shape == (2708, 1433) and cora.num_classes == 7
    assert [len(p) for p in cora.node_split] == [140, 500, 1000]
    airport_lp = load_graph("airport", "lp", hgcn)
    airport_nc = load_graph("airport", "nc", hgcn)
    assert airport_lp.features.shape == (3188, 5) and airport_nc.features.shape == (3188, 4)
    assert airport_nc.num_classes == 4
    assert len(airport_lp.edges) == 18631 - 1  # its one self-loop is dropped
    for g in (disease, cora, airport_lp):
        assert np.all(g.edges[:, 0] < g.edges[:, 1])


def test_link_split_is_seeded_disjoint_and_balanced(hgcn):
    graph = load_graph("cora", "lp", hgcn)
    split = link_split(graph, seed=3)
    e = len(graph.edges)
    assert len(split.val) == int(0.05 * e) and len(split.test) == int(0.10 * e)
    assert len(split.train) + len(split.val) + len(split.test) == e
    assert len(split.val_false) == len(split.val) and len(split.test_false) == len(split.test)
    codes = lambda pairs: set((pairs[:, 0] * 10_000 + pairs[:, 1]).tolist())  # noqa: E731
    assert not codes(split.train) & codes(split.test)
    assert not (codes(split.val_false) | codes(split.test_false)) & codes(graph.edges)
    assert not codes(split.val_false) & codes(split.test_false)
    again = link_split(graph, seed=3)
    assert np.array_equal(again.test, split.test) and np.array_equal(
        again.val_false, split.val_false
    )
    assert not np.array_equal(link_split(graph, seed=4).test, split.test)


def test_node_split_follows_the_papers_fractions_per_class(hgcn):
    graph = load_graph("airport", "nc", hgcn)
    train, val, test = node_split(graph, seed=0)
    assert len(train) + len(val) + len(test) == graph.num_nodes
    assert abs(len(val) / graph.num_nodes - 0.15) < 0.01
    assert abs(len(test) / graph.num_nodes - 0.15) < 0.01
    assert not set(train) & set(test) and not set(val) & set(test)


def test_bad_graphs_are_clear_errors():
    features = np.ones((4, 3), np.float32)
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    with pytest.raises(ValueError, match=r"edge \(2, 4\) is out of range for 4 nodes"):
        check_graph("g", features, np.array([[0, 1], [2, 4]]))
    with pytest.raises(ValueError, match="labels have shape \\(5,\\), expected \\(4,\\)"):
        check_graph("g", features, edges, labels=np.zeros(5))
    with pytest.raises(ValueError, match="every edge is a self-loop"):
        check_graph("g", features, np.array([[0, 0], [1, 1]]))
    nan = features.copy()
    nan[2, 1] = np.nan
    with pytest.raises(ValueError, match="1 node\\(s\\) have NaN or infinite features.*node 2"):
        check_graph("g", nan, edges)
    graph = check_graph("g", features, np.array([[1, 0], [0, 1], [2, 2], [2, 3]]))
    assert graph.edges.tolist() == [[0, 1], [2, 3]]  # ordered, deduplicated, no self-loops


def test_missing_archive_says_where_to_point(tmp_path):
    with pytest.raises(FileNotFoundError, match="set data_dir=.*GEO_HGCN_DATA"):
        load_graph("cora", "nc", tmp_path)
    with pytest.raises(FileNotFoundError, match="neither one of disease_lp, airport, cora"):
        load_graph(str(tmp_path / "mine.csv"))


def test_hgcn_code_split_overlaps_train_and_test_only_beyond_two_classes(hgcn):
    airport = load_graph("airport", "nc", hgcn)
    train, val, test = hgcn_code_node_split(airport, 1234)
    shared = np.intersect1d(train, test)
    assert len(shared) / len(np.unique(test)) > 0.3  # 44% for this seed
    assert set(airport.labels[shared].tolist()) <= {2, 3}  # in both "positive" and "negative"
    two = check_graph("two", np.ones((40, 2)), [(i, i + 1) for i in range(39)], np.arange(40) % 2)
    train, val, test = hgcn_code_node_split(two, 0)
    assert not np.intersect1d(train, test).size and not np.intersect1d(train, val).size
    cora = load_graph("cora", "nc", hgcn)
    assert hgcn_code_node_split(cora, 0) is cora.node_split
