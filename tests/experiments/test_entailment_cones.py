"""The entailment_cones experiment: tiny runs of each model on the mammal splits."""

from __future__ import annotations

import pytest

from experiments import entailment_cones as ec
from geo.cli import main


def _config(shared_data, **overrides):
    c = ec.get_config(overrides.pop("model", "cones"))
    c.update(dict(splits_dir=str(shared_data / "entailment_cones"), progress=False,
                  eval_every=2, checkpoint_every=0))  # fmt: skip
    c.update(overrides)
    return c


@pytest.mark.parametrize(
    "overrides",
    [
        dict(init_epochs=4, burnin_epochs=2, epochs=4),
        dict(init_epochs=4, burnin_epochs=2, epochs=4, manifold="lorentz", replace="parent"),
        dict(model="order", epochs=4),
        dict(model="poincare", init_epochs=4, burnin_epochs=2),
    ],
    ids=["cones", "lorentz-cones", "order", "poincare"],
)
def test_tiny_runs_write_a_thresholded_test_f1(tmp_path, shared_data, overrides):
    config = _config(shared_data, train_percent=10, **overrides)
    results = ec.train_and_evaluate(config, tmp_path)
    assert 0.0 < results["test_f1"] <= 1.0 and 0.0 < results["valid_f1"] <= 1.0
    assert results["epochs"] == config.init_epochs * (config.model != "order") + config.epochs
    if config.model == "cones":
        assert 0.0 < results["init_test_f1"] <= 1.0
    if config.model == "poincare":
        assert results["alpha"] in ec.ALPHAS
    assert (tmp_path / "embeddings.npy").exists()


def test_cones_beat_their_poincare_start_on_the_mammals(tmp_path, shared_data):
    config = _config(shared_data, train_percent=25, init_epochs=100, epochs=100, eval_every=20)
    results = ec.train_and_evaluate(config, tmp_path)
    assert results["test_f1"] > results["init_test_f1"] + 0.05


def test_bad_settings_are_errors_before_any_work(tmp_path, shared_data):
    for overrides, message in [
        (dict(train_percent=30), "train_percent=30"),
        (dict(min_radius=0.01), "min_radius=0.01 must be in"),
        (dict(model="poincare", epochs=5), "set epochs=0"),
        (dict(init_epochs=0, burnin_epochs=0), "set init_epochs > 0"),
        (dict(burnin_epochs=200), "exceeds init_epochs"),
        (dict(replace="both"), "replace='both'"),
    ]:
        with pytest.raises(ValueError, match=message):
            ec.validate(_config(shared_data, **overrides))
    assert main(["run", "entailment_cones", "--workdir", str(tmp_path / "x"), "dataset=plants"])
    assert not (tmp_path / "x" / "results.json").exists()
