"""Time-series data, the SPDNet and Grassmann experiments, and the Karcher mean vs pyriemann."""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from experiments import gcr, grnet, spdnet
from geo.classifier_training import train_classifiers
from geo.cli import build_config
from geo.data.timeseries import check_series, load_series
from manifolds import SPD, frechet_mean
from models.covariance import covariance


def test_uea_sets_load_with_their_standard_splits():
    train, test = load_series("japanese_vowels")
    assert train.x.shape[0] == 270 and test.x.shape[0] == 370
    assert train.x.shape[-1] == 12 and len(train.classes) == 9
    assert train.lengths.min() == 7 and test.lengths.max() == 29
    # Padding is zero and lies after each series' length.
    t = int(train.lengths[0])
    assert np.all(train.x[0, t:] == 0) and np.any(train.x[0, t - 1] != 0)
    train, test = load_series("basic_motions")
    assert train.x.shape == (40, 100, 6) and test.x.shape == (40, 100, 6)
    assert train.classes == ("badminton", "running", "standing", "walking")


def test_missing_aeon_and_unknown_data_sets_are_clear_errors(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    with pytest.raises(ImportError, match=r"pip install -e \"\.\[spd\]\""):
        load_series("basic_motions")
    with pytest.raises(ValueError, match="unknown data set 'vowels'"):
        load_series("vowels")
    with pytest.raises(FileNotFoundError):
        load_series(str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 3, 5)), y_train=np.array([0, 1]))
    with pytest.raises(ValueError, match="missing arrays"):
        load_series(str(bad))


def test_bad_series_are_rejected_before_any_work():
    x = np.random.default_rng(0).standard_normal((4, 10, 3)).astype(np.float32)
    lengths = np.array([10, 10, 3, 10])
    with pytest.raises(ValueError, match=r"no more time steps than their 3 channels.*shrinkage"):
        check_series(x, lengths, 0.0, "toy")
    check_series(x, lengths, 0.1, "toy")  # shrinkage makes them well defined
    x[1, 4, 2] = np.nan
    with pytest.raises(ValueError, match=r"toy: series \[1\] contain NaN"):
        check_series(x, lengths, 0.1, "toy")
    x[1, 4, 2] = 0.0
    x[2, 5, 0] = np.nan  # after series 2's length: padding, ignored
    check_series(x, lengths, 0.1, "toy")
    with pytest.raises(ValueError, match="fewer than 2 time steps"):
        check_series(x, np.array([10, 1, 3, 10]), 0.1, "toy")


def test_user_npz_series_with_nan_padding(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 9))
    x[0, :, 7:] = np.nan  # series 0 has 7 steps
    path = tmp_path / "mine.npz"
    np.savez(
        path,
        x_train=x,
        y_train=np.array(list("abcabc")),
        x_test=x[:3],
        y_test=np.array(list("abc")),
    )
    train, test = load_series(str(path))
    assert train.lengths.tolist() == [7, 9, 9, 9, 9, 9]
    assert train.classes == ("a", "b", "c") and test.labels.tolist() == [0, 1, 2]


def _two_class_covariances(n_per_class, seed):
    """Series whose channel correlations differ by class: +0.8 or -0.8 between channels 0 and 1."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label, rho in enumerate((0.8, -0.8)):
        cov = np.eye(4)
        cov[0, 1] = cov[1, 0] = rho
        xs.append(rng.multivariate_normal(np.zeros(4), cov, size=(n_per_class, 40)))
        ys += [label] * n_per_class
    x = jnp.asarray(np.concatenate(xs), jnp.float32)
    return np.asarray(covariance(x, shrinkage=0.01)), np.asarray(ys, np.int32)


def test_tiny_spdnet_trains_in_seconds():
    train = _two_class_covariances(24, 0)
    test = _two_class_covariances(24, 1)
    config = spdnet.get_config("basic_motions")
    config.batchnorm = "rbn"

    def make_model(key):
        return spdnet.SPDNet(4, [3], 2, config, rngs=nnx.Rngs(params=key))

    run = train_classifiers(
        make_model, [0, 1], train, test, optimizer="radam", lr=0.05, epochs=30,
        batch_size=16, progress=False,
    )  # fmt: skip
    assert run["loss"].shape == (2,) and np.all(run["loss"] < 0.3)
    assert np.all(run["accuracy"] >= 0.9)


def test_spdnet_experiment_sweep_writes_results(tmp_path):
    from geo.sweep import run_sweep

    run_sweep(
        spdnet, tmp_path,
        ["dataset=basic_motions", "batchnorm=bw_rbn", "epochs=2", "seed=0-1", "progress=false"],
    )  # fmt: skip
    rows = (tmp_path / "sweep.csv").read_text().splitlines()
    assert len(rows) == 3
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*/results.json"))]
    assert len(results) == 2 and all(r["runs_in_program"] == 2 for r in results)
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["matrix_size"] == 7 for r in results)
    assert set(results[0]["baselines"]) == {"mdm", "ts_lr"}
    assert results[0]["baselines"]["mdm"]["accuracy"] >= 0.9  # the easy set


def test_spdnet_and_grassmann_config_errors():
    for items, message in (
        (["batchnorm=bn"], "batchnorm='bn'; valid choices"),
        (["dims=10,x"], "dims='10,x'"),
        (["lr=0"], "lr must be positive"),
    ):
        with pytest.raises(ValueError, match=message):
            spdnet.validate(build_config(spdnet, items))
    with pytest.raises(ValueError, match="must not grow"):
        spdnet.SPDNet(4, [5], 2, spdnet.get_config(), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="head='svm'"):
        gcr.validate(build_config(gcr, ["head=svm"]))
    with pytest.raises(ValueError, match="frmap_dim=2 must be >= subspace_dim=3"):
        grnet.validate(build_config(grnet, ["dataset=basic_motions", "frmap_dim=2"]))


@pytest.mark.parametrize(
    "experiment, items",
    [
        (gcr, ["head=gcr", "epochs=2"]),
        (grnet, ["dataset=basic_motions", "epochs=2", "frmap_dim=5", "filters=2", "batch_size=10"]),
    ],
)
def test_grassmann_experiment_smoke(tmp_path, experiment, items):
    config = build_config(experiment, [*items, "progress=false"])
    result = experiment.train_and_evaluate(config, tmp_path)
    assert 0.0 <= result["accuracy"] <= 1.0 and np.isfinite(result["loss"])
    assert json.loads((tmp_path / "results.json").read_text())["accuracy"] == result["accuracy"]


def test_karcher_mean_matches_pyriemann_float64():
    pytest.importorskip("pyriemann")
    from benchmarks.karcher_mean import pyriemann_mean_riemann as mean_riemann

    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 8, 16))
    x = a @ a.transpose(0, 2, 1) / 16 + 0.1 * np.eye(8)
    ours = jax.jit(lambda x: frechet_mean(SPD(8), x, tol=1e-10))(jnp.asarray(x))
    theirs = mean_riemann(x, tol=1e-10, maxiter=100)
    assert np.max(np.abs(np.asarray(ours) - theirs)) / np.max(np.abs(theirs)) < 1e-6
