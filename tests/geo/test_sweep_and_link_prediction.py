"""`geo sweep` (runs batched into one program, grouping, sweep.csv/.md) and link prediction
on held-out edges (the split, the filtered ranking metrics, bad evaluation lists)."""

from __future__ import annotations

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import poincare_wordnet
from geo.cli import main
from geo.data.hierarchy import read_edge_file
from geo.data.splits import listed_edge_split, random_edge_split
from geo.hierarchy_training import padded_ancestors
from geo.metrics import ranking_metrics
from geo.sweep import expand_values, sweep_grid
from models.embeddings import embedding_space
from tests.toy_data import toy_hierarchy

TOY = [
    "dim=2",
    "epochs=30",
    "burnin_epochs=5",
    "batch_size=8",
    "negatives=10",
    "eval_every=0",
    "checkpoint_every=0",
    "progress=false",
]


def test_values_and_grid():
    assert expand_values("seed", "0-3", 0) == ["0", "1", "2", "3"]
    assert expand_values("lr", "0.1,0.3", 0.3) == ["0.1", "0.3"]
    assert expand_values("dataset", "my-file.tsv", "mammals") == ["my-file.tsv"]
    with pytest.raises(ValueError, match="empty range"):
        expand_values("seed", "3-1", 0)
    swept, runs = sweep_grid(poincare_wordnet, ["seed=0-1", "lr=0.1,0.3", "dim=2"])
    assert swept == ["seed", "lr"] and len(runs) == 4
    assert runs[1] == ["seed=0", "lr=0.3", "dim=2"]
    with pytest.raises(ValueError, match="unknown config key 'sed'"):
        sweep_grid(poincare_wordnet, ["sed=0-1"])


def test_sweep_batches_seeds_and_lrs_into_one_program(tmp_path, capsys):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    data = [f"dataset={edges}", *TOY]
    sweep_dir = tmp_path / "sweep"
    assert main(["sweep", "poincare_wordnet", "--workdir", str(sweep_dir), *data,
                 "seed=0-1", "lr=0.1,0.3"]) == 0  # fmt: skip
    assert "| lr | runs | map | mean_rank |" in capsys.readouterr().out
    assert len(list((sweep_dir / "programs").iterdir())) == 1  # one compiled program
    rows = list(csv.DictReader((sweep_dir / "sweep.csv").read_text().splitlines()))
    assert [r["run"] for r in rows] == [
        "seed=0,lr=0.1",
        "seed=0,lr=0.3",
        "seed=1,lr=0.1",
        "seed=1,lr=0.3",
    ]
    assert all(r["runs_in_program"] == "4" for r in rows)
    assert "0.1 | 2 |" in (sweep_dir / "sweep.md").read_text()

    # A run's result does not depend on the other runs of its program: seed 0 at lr 0.3
    # trains bit-identically next to different company.
    other = tmp_path / "other"
    assert main(["sweep", "poincare_wordnet", "--workdir", str(other), *data,
                 "seed=0,5", "lr=0.3"]) == 0  # fmt: skip
    np.testing.assert_array_equal(
        np.load(sweep_dir / "seed=0,lr=0.3" / "embeddings.npy"),
        np.load(other / "seed=0" / "embeddings.npy"),
    )
    # And it is the run `geo run` trains, up to float rounding of the batched program.
    single = tmp_path / "single"
    assert main(["run", "poincare_wordnet", "--workdir", str(single), *data, "lr=0.3"]) == 0
    np.testing.assert_allclose(
        np.load(sweep_dir / "seed=0,lr=0.3" / "embeddings.npy"),
        np.load(single / "embeddings.npy"),
        atol=1e-4,
    )


def test_a_diverged_run_is_marked_and_the_sweep_goes_on(tmp_path, capsys):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    data = [f"dataset={edges}", *TOY, "epochs=10", "manifold=euclidean"]
    sweep_dir = tmp_path / "sweep"
    argv = ["sweep", "poincare_wordnet", "--workdir", str(sweep_dir), *data]
    assert main([*argv, "lr=0.3,1e30"]) == 0
    captured = capsys.readouterr()
    assert f"the loss of {sweep_dir / 'lr=1e30'} is nan" in captured.err
    assert "Diverged, left out of the table above:\n- lr=1e30: non-finite loss" in captured.out
    rows = {r["run"]: r for r in csv.DictReader((sweep_dir / "sweep.csv").open())}
    assert rows["lr=0.3"]["diverged"] == "" and float(rows["lr=0.3"]["map"]) > 0
    assert rows["lr=1e30"]["diverged"].startswith("non-finite loss after epoch")
    assert rows["lr=1e30"]["map"] == "nan"
    assert json.loads((sweep_dir / "lr=1e30" / "diverged.json").read_text())["epoch"] >= 1
    assert not (sweep_dir / "lr=1e30" / "results.json").exists()
    # The run that went on is the one a sweep without the diverged run trains.
    alone = tmp_path / "alone"
    assert main(["sweep", "poincare_wordnet", "--workdir", str(alone), *data, "lr=0.3"]) == 0
    np.testing.assert_array_equal(
        np.load(sweep_dir / "lr=0.3" / "embeddings.npy"), np.load(alone / "run" / "embeddings.npy")
    )
    # When every run of a program diverges, the sweep ends with the error and no traceback.
    capsys.readouterr()
    all_dir = str(tmp_path / "all")
    assert main(["sweep", "poincare_wordnet", "--workdir", all_dir, *data, "lr=1e30,1e31"]) == 1
    assert "geo: error: " in capsys.readouterr().err


def test_sweep_over_shapes_runs_programs_in_turn(tmp_path):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    overrides = [f"dataset={edges}", *TOY, "epochs=5", "dim=2,3", "optimizer=radam"]
    assert main(["sweep", "poincare_wordnet", "--workdir", str(tmp_path / "s"), *overrides]) == 0
    assert len(list((tmp_path / "s" / "programs").iterdir())) == 2
    assert (tmp_path / "s" / "dim=3" / "results.json").is_file()


def test_sweep_checks_every_config_before_work(tmp_path, capsys):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    argv = ["sweep", "poincare_wordnet", "--workdir", str(tmp_path / "s"), f"dataset={edges}"]
    assert main(argv + ["lr=0.1,-1"]) == 2
    assert "lr must be positive, got -1.0" in capsys.readouterr().err
    assert main(argv + ["dim=2,two"]) == 2
    assert "dim='two' is not an integer" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_resuming_with_other_settings_is_an_error(tmp_path):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    config = poincare_wordnet.get_config()
    config.update(dataset=str(edges), dim=2, epochs=3, burnin_epochs=0, progress=False)
    poincare_wordnet.train_and_evaluate(config, tmp_path / "w")
    config.dim = 3
    with pytest.raises(ValueError, match="holds checkpoints of different runs .*dim: 2 -> 3"):
        poincare_wordnet.train_and_evaluate(config, tmp_path / "w")


def test_random_split_keeps_test_nodes_in_training(tmp_path):
    h = read_edge_file(toy_hierarchy(tmp_path / "toy.tsv"))
    train, test = random_edge_split(h, 0.3, seed=0)
    assert len(train) + len(test) == h.num_edges and len(test) > 0
    in_train = set(train.reshape(-1).tolist())
    assert set(test.reshape(-1).tolist()) <= in_train
    again = random_edge_split(h, 0.3, seed=0)
    assert np.array_equal(again[1], test)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        random_edge_split(h, 1.5, seed=0)


def _naive_filtered(dists, query_edges, all_edges):
    """Rank of each held-out ancestor among nodes that are not true ancestors (filtered)."""
    query, exclude = {}, {}
    for c, a in query_edges:
        query.setdefault(c, set()).add(a)
    for c, a in all_edges:
        exclude.setdefault(c, set()).add(a)
    ranks, aps = [], []
    for u, targets in query.items():
        competitors = [w for w in range(len(dists)) if w != u and w not in exclude[u]]
        precisions = []
        for k, v in enumerate(sorted(targets, key=lambda v: dists[u, v])):
            closer = sum(dists[u, w] < dists[u, v] for w in competitors)
            ranks.append(1 + closer)
            precisions.append((k + 1) / (k + 1 + closer))
        aps.append(np.mean(precisions))
    return np.mean(ranks), np.mean(aps)


def test_link_prediction_metrics_match_naive_filtered_ranking(tmp_path):
    h = read_edge_file(toy_hierarchy(tmp_path / "toy.tsv"))
    _, test = random_edge_split(h, 0.4, seed=1)
    space = embedding_space("poincare")
    table = space.init(jax.random.PRNGKey(0), h.num_nodes, 3, 0.5, jnp.float64)
    got = ranking_metrics(
        space,
        table,
        jnp.asarray(padded_ancestors(h.num_nodes, test)),
        jnp.asarray(padded_ancestors(h.num_nodes, h.edges)),
        block=7,
    )
    dists = np.asarray(space.dist(table[:, None], table[None]))
    mean_rank, mean_ap = _naive_filtered(dists, test, h.edges)
    assert got["mean_rank"] == pytest.approx(mean_rank)
    assert got["map"] == pytest.approx(mean_ap)


def test_link_prediction_run_reports_held_out_metrics(tmp_path):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    workdir = tmp_path / "lp"
    assert main(["run", "poincare_wordnet", "--workdir", str(workdir), f"dataset={edges}",
                 *TOY, "epochs=100", "test_fraction=0.2"]) == 0  # fmt: skip
    results = json.loads((workdir / "results.json").read_text())
    h = read_edge_file(edges)
    assert 0 < results["num_test_edges"] < h.num_edges
    assert results["num_edges"] + results["num_test_edges"] == h.num_edges
    assert 0 < results["link_map"] <= 1 and results["link_mean_rank"] >= 1


def test_evaluation_list_with_unknown_node_names_file_and_node(tmp_path, capsys):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    h = read_edge_file(edges)
    listed = tmp_path / "held_out.tsv"
    listed.write_text("n4\tn1\nzebra\tn0\n")
    with pytest.raises(KeyError, match="held_out.tsv: 1 unknown node.*'zebra'"):
        listed_edge_split(h, listed)
    argv = ["run", "poincare_wordnet", "--workdir", str(tmp_path / "w"), f"dataset={edges}"]
    assert main(argv + [f"test_edges={listed}"]) == 2
    assert "unknown node(s) in the hierarchy: 'zebra'" in capsys.readouterr().err
    listed.write_text("n4\tn2\n")  # both nodes exist, but n2 is not an ancestor of n4
    with pytest.raises(ValueError, match="not in the hierarchy's closure, e.g. 'n4' -> 'n2'"):
        listed_edge_split(h, listed)
    listed.write_text("n4\tn1\n")
    train, test = listed_edge_split(h, listed)
    names = h.names
    assert [(names[c], names[a]) for c, a in test] == [("n4", "n1")]
    assert len(train) == h.num_edges - 1
