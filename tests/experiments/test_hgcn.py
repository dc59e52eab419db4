"""The HGCN experiment: smoke runs of both tasks on a tiny
user graph (a single run and a vmapped sweep of seeds), and bad input before any training."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import hgcn
from experiments.hgcn_tasks import TASKS
from geo.cli import main


def _tiny_graph(path, nodes=300):
    """Two communities of a tree each, features that hint at the community."""
    rng = np.random.default_rng(0)
    half = nodes // 2
    edges = [(i, (i - 1) // 2) for i in range(1, half)]
    edges += [(half + i, half + (i - 1) // 2) for i in range(1, half)]
    edges += [(0, half)]
    labels = np.repeat([0, 1], half)
    features = rng.normal(0, 1, (nodes, 6)) + labels[:, None] * 1.5
    np.savez(path, features=features, edges=np.asarray(edges), labels=labels)
    return path


def test_presets_follow_the_data_set_and_the_task():
    from geo.cli import build_config

    generic = hgcn.get_config(dataset="my_graph.npz")  # no data set preset applies
    for (dataset, task), preset in hgcn.TASK_PRESETS.items():
        config = build_config(hgcn, [f"task={task}", f"dataset={dataset}"])
        assert all(config[k] == v for k, v in preset.items()), (dataset, task)
        other = "lp" if task == "nc" else "nc"
        config = build_config(hgcn, [f"dataset={dataset}", f"task={other}"])
        for k in preset:  # the other task keeps the data set's preset or the default
            expected = hgcn.PRESETS.get(dataset, {}).get(k, generic[k])
            assert config[k] == expected, (dataset, other, k)
        config = build_config(hgcn, [f"dataset={dataset}", f"task={task}", "num_layers=2"])
        assert config.num_layers == 2  # an explicit key wins over the preset
    assert build_config(hgcn, ["dataset=cora"]).dropout == 0.5


def test_only_the_gcn_classifier_looks_at_the_neighbours():
    """As in the HGCN code: GCN classifies with a graph convolution, the others per node."""
    from flax import nnx

    from models.hgcn import graph_operator

    graph = graph_operator(np.asarray([[0, 1], [1, 2]]), 4)  # node 3 is isolated
    x = 0.1 * jnp.arange(16, dtype=jnp.float32).reshape(4, 4)
    moved = x.at[1].add(0.2)  # a neighbour of nodes 0 and 2
    for model in hgcn.MODELS:
        config = hgcn.get_config("cora")
        config.update(task="nc", model=model, dim=4)
        net = hgcn.GraphNet(config, TASKS[config.task], 4, 3, nnx.Rngs(0))
        net.eval()
        change = jnp.abs(net.classify(moved, 1.0, graph) - net.classify(x, 1.0, graph))
        assert float(change[1].max()) > 0  # a node's own logits follow its embedding
        assert float(change[3].max()) == 0  # an isolated node's do not move
        assert (float(change[0].max()) > 0) == (model == "gcn"), model


def test_the_classifier_drops_out_logits_as_the_hgcn_code_does():
    """The HGCN code's decoders apply dropout after their linear map: about half the logits
    are exactly zero at dropout 0.5 (dropout on the input would leave almost none zero)."""
    from flax import nnx

    x = 0.1 * jnp.ones((200, 4), jnp.float32)
    for model in ("hgcn", "mlp"):
        config = hgcn.get_config("cora")
        config.update(task="nc", model=model, dim=4, dropout=0.5)
        net = hgcn.GraphNet(config, TASKS[config.task], 4, 3, nnx.Rngs(0))
        logits = net.classify(x, 1.0, None, nnx.Rngs(dropout=1))
        zero = float(jnp.mean(logits == 0))
        assert 0.4 < zero < 0.6, (model, zero)
        net.eval()
        assert float(jnp.mean(net.classify(x, 1.0, None) == 0)) == 0, model


@pytest.mark.parametrize(
    "task,model,manifold",
    [("lp", "hgcn", "poincare"), ("lp", "hgcn", "lorentz"), ("nc", "hgcn", "poincare"),
     ("nc", "mlp", "poincare")],
)  # fmt: skip
def test_smoke_runs_learn_on_a_tiny_graph(tmp_path, task, model, manifold):
    graph = _tiny_graph(tmp_path / "tiny.npz")
    argv = ["run", "hgcn", "--workdir", str(tmp_path / "w"), f"task={task}", f"model={model}",
            f"manifold={manifold}", f"dataset={graph}", "epochs=150", "chunk=50",
            "patience=150", "progress=false"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((tmp_path / "w" / "results.json").read_text())
    metric = "roc_auc" if task == "lp" else "f1"
    assert results[metric] > 0.6, results
    assert results["epochs"] == 150 and 1 <= results["best_epoch"] <= 150


def test_seeds_train_as_one_program_and_stop_early(tmp_path, capsys):
    graph = _tiny_graph(tmp_path / "tiny.npz")
    argv = ["sweep", "hgcn", "--workdir", str(tmp_path / "s"), "task=nc", f"dataset={graph}",
            "epochs=400", "chunk=20", "patience=10", "dropout=0.3", "progress=false",
            "seed=0-2"]  # fmt: skip
    assert main(argv) == 0
    assert "| 3 |" in capsys.readouterr().out
    results = [json.loads((tmp_path / "s" / f"seed={s}" / "results.json").read_text())
               for s in range(3)]  # fmt: skip
    assert all(r["runs_in_program"] == 3 for r in results)
    assert all(r["epochs"] < 400 for r in results)  # patience 10 stopped every run
    assert all(r["epochs"] - r["best_epoch"] == 10 for r in results)
    assert len({r["loss"] for r in results}) == 3  # three seeds, three different runs


def test_bad_input_is_reported_before_training(tmp_path, capsys):
    graph = _tiny_graph(tmp_path / "tiny.npz")
    run = ["run", "hgcn", "--workdir", str(tmp_path / "w")]
    assert main(run + ["model=gat"]) == 2
    assert "model='gat'; valid choices are hgcn, hnn, gcn, mlp" in capsys.readouterr().err
    assert main(run + ["task=nc", "dataset=disease_lp"]) == 2
    assert "no node-classification split" in capsys.readouterr().err
    with np.load(graph) as f:
        arrays = dict(f)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{**arrays, "edges": np.vstack([arrays["edges"], [[3, 999]]])})
    assert main(run + [f"dataset={bad}"]) == 2
    assert "edge (3, 999) is out of range for 300 nodes" in capsys.readouterr().err
    features = arrays["features"].copy()
    features[5, 2] = np.nan
    np.savez(bad, **{**arrays, "features": features})
    assert main(run + [f"dataset={bad}"]) == 2
    assert "NaN or infinite features" in capsys.readouterr().err
    assert not (tmp_path / "w" / "results.json").exists()


def test_degree_features_are_one_hot_capped_degrees_and_a_constant():
    features = np.arange(8, dtype=np.float32).reshape(4, 2)
    star = np.array([[0, 1], [0, 2], [0, 3]])  # node 0 has degree 3, the others 1
    out = hgcn.with_degree_features(features, star, cap=2)
    assert out.shape == (4, 2 + 3 + 1)
    np.testing.assert_array_equal(out[:, :2], features)
    np.testing.assert_array_equal(out[:, 2:5], [[0, 0, 1], [0, 1, 0], [0, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(out[:, 5], 1.0)


def test_pretrain_lp_classifies_from_link_prediction_embeddings(tmp_path, capsys):
    graph = _tiny_graph(tmp_path / "tiny.npz")
    argv = ["sweep", "hgcn", "--workdir", str(tmp_path / "p"), "task=nc", "pretrain=lp",
            f"dataset={graph}", "epochs=200", "chunk=50", "patience=200", "progress=false",
            "seed=0-1"]  # fmt: skip
    assert main(argv) == 0
    for s in range(2):
        run = tmp_path / "p" / f"seed={s}"
        lp = json.loads((run / "pretrain_lp" / "results.json").read_text())
        nc = json.loads((run / "results.json").read_text())
        assert lp["roc_auc"] > 0.6 and nc["f1"] > 0.6, (lp, nc)
        assert lp["runs_in_program"] == nc["runs_in_program"] == 2
    assert main(["run", "hgcn", "--workdir", str(tmp_path / "x"), "task=lp", "pretrain=lp"]) == 2
    assert "use it with task=nc" in capsys.readouterr().err
