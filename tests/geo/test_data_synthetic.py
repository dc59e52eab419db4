"""Synthetic trees (`dataset=tree:...`): closure counts, and bad specs rejected before work."""

from __future__ import annotations

import numpy as np
import pytest

from geo.data.synthetic import TreeSpec, complete_tree, parse_tree_spec


def _depths(nodes: int, branching: int) -> int:
    total = 0
    for i in range(nodes):
        while i > 0:
            i = (i - 1) // branching
            total += 1
    return total


@pytest.mark.parametrize("nodes, branching", [(2, 1), (40, 3), (1000, 8), (257, 2)])
def test_the_closure_has_every_node_ancestor_pair(nodes, branching):
    tree = complete_tree(TreeSpec(nodes, branching))
    assert tree.num_nodes == nodes
    assert tree.num_edges == _depths(nodes, branching)
    pairs = {tuple(p) for p in tree.edges.tolist()}
    assert len(pairs) == tree.num_edges  # no duplicates
    assert all(c > a for c, a in pairs)  # ancestors come first in breadth-first order
    children = np.bincount(tree.edges[tree.edges[:, 1] == 0, 0], minlength=nodes)
    assert children.sum() == nodes - 1  # every node descends from the root


def test_a_spec_parses_and_bad_ones_say_what_is_wrong():
    assert parse_tree_spec("tree:nodes=1000000,branching=8") == TreeSpec(1000000, 8)
    for spec, message in [
        ("tree:nodes=10,depth=3", "unknown field 'depth'"),
        ("tree:nodes=ten,branching=2", "nodes='ten' is not an integer"),
        ("tree:nodes=1,branching=2", r"nodes must be an integer in \[2,"),
        ("tree:nodes=10", "missing branching"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_tree_spec(spec)


def test_geo_run_rejects_a_bad_tree_before_any_work(tmp_path, capsys):
    from geo.cli import main

    workdir = tmp_path / "w"
    assert main(["run", "poincare_wordnet", "--workdir", str(workdir), "dataset=tree:n=5"]) == 2
    assert "unknown field 'n'" in capsys.readouterr().err
    assert not workdir.exists()
    big = ["run", "poincare_wordnet", "--workdir", str(workdir)]
    big.append("dataset=tree:nodes=300000,branching=8")
    assert main(big) == 2  # too large for an exact evaluation, and no sample size set
    assert "300,000 nodes: an exact evaluation" in capsys.readouterr().err
    assert main([*big, "eval_children=1000", "manifold=euclidean_param"]) == 2
    assert "eval_children needs float64 ranking keys" in capsys.readouterr().err
    assert not workdir.exists()


def test_a_small_tree_trains(tmp_path):
    from experiments import poincare_wordnet
    from geo.config import build_config

    config = build_config(
        poincare_wordnet,
        ["dataset=tree:nodes=60,branching=3", "epochs=4", "burnin_epochs=1", "progress=false"],
    )
    results = poincare_wordnet.train_and_evaluate(config, tmp_path)
    assert results["num_nodes"] == 60 and results["num_edges"] == _depths(60, 3)
    assert 0 < results["map"] <= 1
    config.eval_children = 20  # an estimate from 20 of the 59 children, with its intervals
    sampled = poincare_wordnet.train_and_evaluate(config, tmp_path / "sampled")
    assert sampled["eval_children"] == 20 and sampled["map_ci95"] > 0
    assert abs(sampled["map"] - results["map"]) <= 3 * sampled["map_ci95"]
