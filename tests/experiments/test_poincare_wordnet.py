"""The WordNet experiment: smoke run on a toy hierarchy, metrics against a naive computation,
bad input before any work, and resuming after SIGKILL with identical results."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import poincare_wordnet
from geo.cli import build_config, main
from geo.data.hierarchy import read_edge_file
from geo.hierarchy_training import training_data
from geo.metrics import reconstruction_metrics
from models.embeddings import embedding_space
from tests.toy_data import toy_hierarchy


def _config(edge_file, **overrides):
    config = poincare_wordnet.get_config()
    config.dataset = str(edge_file)
    config.update(
        dict(
            dim=2,
            epochs=30,
            burnin_epochs=5,
            batch_size=8,
            negatives=10,
            lr=0.3,
            eval_every=10,
            checkpoint_every=5,
            progress=False,
        )
    )
    config.update(overrides)
    return config


def test_smoke_run_on_toy_hierarchy(tmp_path):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    assert read_edge_file(edges).num_nodes == 30
    results = poincare_wordnet.train_and_evaluate(
        _config(edges, epochs=300, batch_size=4, eval_every=60), tmp_path / "run"
    )
    for name in ("config.json", "metrics.jsonl", "results.json", "poincare_disk.png"):
        assert (tmp_path / "run" / name).is_file(), name
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(saved) >= {
        "map",
        "mean_rank",
        "train_seconds",
        "edges_per_second",
        "compile_seconds",
    }
    assert saved["map"] == results["map"] and results["map"] > 0.95
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 5


def _naive_metrics(dists: np.ndarray, edges: np.ndarray):
    n = dists.shape[0]
    neighbours = [set() for _ in range(n)]
    for c, a in edges:
        neighbours[c].add(a)
    ranks, aps = [], []
    for u in range(n):
        if not neighbours[u]:
            continue
        others = [w for w in range(n) if w != u]
        order = sorted(others, key=lambda w: dists[u, w])
        hits, precisions = 0, []
        for pos, w in enumerate(order, start=1):
            if w in neighbours[u]:
                hits += 1
                precisions.append(hits / pos)
                ranks.append(1 + sum(1 for x in order[:pos] if x not in neighbours[u]))
        aps.append(np.mean(precisions))
    return np.mean(ranks), np.mean(aps)


@pytest.mark.parametrize("space_name", ["poincare", "lorentz", "euclidean_param"])
def test_reconstruction_metrics_match_naive_definition(tmp_path, space_name):
    h = read_edge_file(toy_hierarchy(tmp_path / "toy.tsv"))
    space = embedding_space(space_name)
    table = space.init(jax.random.PRNGKey(0), h.num_nodes, 3, 0.5, jnp.float64)
    data = training_data(h)
    got = reconstruction_metrics(space, table, data.ancestors, block=7)
    dists = np.asarray(space.dist(table[:, None], table[None]))
    mean_rank, mean_ap = _naive_metrics(dists, h.edges)
    assert got["mean_rank"] == pytest.approx(mean_rank)
    assert got["map"] == pytest.approx(mean_ap)


def test_cli_rejects_bad_config_before_work(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown config key 'dimm'; valid keys: .*dim"):
        build_config(poincare_wordnet, ["dimm=3"])
    with pytest.raises(ValueError, match="lr='fast' is not a number"):
        build_config(poincare_wordnet, ["lr=fast"])
    with pytest.raises(ValueError, match="dim='two' is not an integer"):
        build_config(poincare_wordnet, ["dim=two"])
    assert build_config(poincare_wordnet, ["dataset=nouns"]).lr == 1.0
    assert (
        main(["run", "poincare_wordnet", "--workdir", str(tmp_path / "w"), "manifold=klein"]) == 2
    )
    assert (
        "valid choices are poincare, lorentz, euclidean, euclidean_param" in capsys.readouterr().err
    )
    assert not (tmp_path / "w").exists()  # nothing written for a bad config
    missing = tmp_path / "no_wordnet"
    assert (
        main(
            [
                "run",
                "poincare_wordnet",
                "--workdir",
                str(tmp_path / "x"),
                "dataset=nouns",
                f"wordnet_dir={missing}",
            ]
        )
        == 2
    )
    assert "apt-get install wordnet-base" in capsys.readouterr().err


def test_lr_decay_schedule_and_its_use_in_training(tmp_path):
    config = poincare_wordnet.get_config("nouns")
    config.update(epochs=120, burnin_epochs=20, lr_decay="cosine", lr_final=0.01)
    factor = poincare_wordnet.lr_factor(config)
    values = [factor(e) for e in range(20, 120)]
    assert factor(0) == factor(20) == 1.0 and values[-1] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert factor(70) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * 50 / 99)))
    config.update(lr_decay="linear")
    assert poincare_wordnet.lr_factor(config)(70) == pytest.approx(1 - 0.99 * 50 / 99)
    for bad, message in (({"lr_decay": "step"}, "valid choices are none, linear, cosine"),
                         ({"lr_final": 0.0}, "lr_final must be in")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            poincare_wordnet.validate(_config("x.tsv", **bad))
    # The schedule reaches the update: a last epoch at lr x 1e-12 leaves the table as it was.
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    short = dict(burnin_epochs=0, eval_every=0, checkpoint_every=0)
    poincare_wordnet.train_and_evaluate(_config(edges, epochs=1, **short), tmp_path / "one")
    decayed = _config(edges, epochs=2, lr_decay="linear", lr_final=1e-12, **short)
    poincare_wordnet.train_and_evaluate(decayed, tmp_path / "two")
    one, two = (np.load(tmp_path / d / "embeddings.npy") for d in ("one", "two"))
    np.testing.assert_allclose(two, one, atol=1e-6)
    constant = _config(edges, epochs=2, **short)
    poincare_wordnet.train_and_evaluate(constant, tmp_path / "constant")
    assert np.abs(np.load(tmp_path / "constant" / "embeddings.npy") - one).max() > 1e-3
