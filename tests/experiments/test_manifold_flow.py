"""The manifold_flow experiment: earth data with clear errors, tiny runs on the sphere, SO(3)
and H^2 that write results, a density plot and a flow whose density can be evaluated."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import manifold_flow
from geo.cli import build_config
from geo.data.earth import FILES, load_events, read_events

TINY = ["iterations=40", "eval_every=20", "hidden=16", "layers=1", "ode_steps=4",
        "batch_size=64", "progress=false"]  # fmt: skip


def test_earth_sets_load_and_bad_files_are_clear_errors(tmp_path, shared_data):
    sizes = {name: len(load_events(name, shared_data / "earth")) for name in FILES}
    assert sizes == {"volcano": 827, "earthquake": 6120, "flood": 4875, "fire": 12809}
    points = load_events("volcano", shared_data / "earth")
    assert np.allclose(np.linalg.norm(points, axis=-1), 1)
    bad = tmp_path / "bad.csv"
    for text, message in (
        ("# source\nlat,lon\n10,20\n10;20\n", r"bad.csv:4: expected 'latitude, longitude'"),
        ("10,20\n95,20\n", r"bad.csv:2: latitude 95.0 lies outside \[-90, 90\]"),
        ("10,20\nnan,20\n", r"bad.csv:2: coordinates must be finite"),
        ("10,400\n", r"bad.csv:1: longitude 400.0 lies outside"),
        ("# only comments\n", "no events"),
    ):
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_events(bad)
    with pytest.raises(FileNotFoundError, match="set data_dir"):
        load_events("volcano", tmp_path)


def test_config_errors_come_before_any_work():
    for items, message in (
        (["dataset=moon"], "dataset='moon'"),
        (["iterations=50", "eval_every=20"], "multiple of eval_every"),
        (["lr=0"], "lr must be positive"),
    ):
        with pytest.raises(ValueError, match=message):
            manifold_flow.validate(build_config(manifold_flow, items))


def test_a_tiny_run_on_the_sphere_writes_results_a_map_and_a_density(tmp_path, shared_data):
    config = build_config(
        manifold_flow, ["dataset=volcano", f"data_dir={shared_data / 'earth'}", *TINY]
    )
    results = manifold_flow.train_and_evaluate(config, tmp_path)
    assert np.isfinite(results["test_nll"]) and results["points"] == {
        "train": 662, "val": 83, "test": 82}  # fmt: skip
    assert (tmp_path / "density.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "results.json").read_text())["test_nll"] == results["test_nll"]
    points = load_events("volcano", shared_data / "earth")[:5]
    log_prob = manifold_flow.flow_log_prob(tmp_path, points)
    assert log_prob.shape == (5,) and np.all(np.isfinite(log_prob))
    with pytest.raises(ValueError, match="off the unit sphere"):
        manifold_flow.flow_log_prob(tmp_path, 2 * points)


@pytest.mark.parametrize("dataset", ["so3_mixture", "hyperbolic_mixture"])
def test_tiny_runs_on_synthetic_mixtures(tmp_path, dataset):
    config = build_config(manifold_flow, [f"dataset={dataset}", "synthetic_points=400", *TINY])
    results = manifold_flow.train_and_evaluate(config, tmp_path)
    assert np.isfinite(results["test_nll"]) and np.isfinite(results["true_test_nll"])
    assert results["points"]["test"] == 40
    assert (tmp_path / "density.png").exists() == (dataset == "hyperbolic_mixture")


def test_a_non_finite_validation_nll_is_reported_not_kept(tmp_path, monkeypatch):
    """A likelihood ODE that diverges gives a warning naming the run at each evaluation, and
    a run with no finite validation NLL is an error, not a test NLL of untrained weights."""
    import geo.flow_training

    def diverged(field, manifold, base_log_prob, x, steps):
        return jnp.full(x.shape[:1], jnp.nan, x.dtype)

    monkeypatch.setattr(geo.flow_training, "log_likelihood", diverged)
    config = build_config(manifold_flow, ["dataset=hyperbolic_mixture", "synthetic_points=400",
                                          *TINY])  # fmt: skip
    with (
        pytest.warns(
            RuntimeWarning, match=r"validation NLL at iteration \d+ is not finite"
        ) as seen,
        pytest.raises(FloatingPointError, match="no evaluation gave a finite validation NLL"),
    ):
        manifold_flow.train_and_evaluate(config, tmp_path)
    warned = {int(str(w.message).split("iteration ")[1].split()[0]) for w in seen}
    assert warned == set(range(config.eval_every, config.iterations + 1, config.eval_every))


def test_the_progress_bar_counts_non_finite_validation_nlls():
    from geo.flow_training import _mean_of_finite

    assert _mean_of_finite(np.asarray([1.0, 2.0])) == "1.500"
    assert _mean_of_finite(np.asarray([1.0, np.nan, 3.0])) == "2.000 (1 of 3 non-finite)"
    assert _mean_of_finite(np.asarray([np.nan])) == "none finite (1 of 1 non-finite)"
