"""Every registered experiment satisfies geo.experiment.Experiment; geo list / geo show."""

from __future__ import annotations

import pytest

from geo import cli
from geo.experiment import Experiment, experiment_modules, load_experiment

NAMES = sorted(experiment_modules())


def test_the_project_experiments_are_registered():
    assert {"poincare_wordnet", "hgcn", "spdnet", "grnet", "gcr"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_has_the_interface_and_helps_every_key(name):
    experiment = load_experiment(name)
    assert isinstance(experiment, Experiment)
    config = experiment.get_config()
    assert set(experiment.CONFIG_HELP) == set(config.keys())
    assert all(experiment.CONFIG_HELP.values())
    assert set(experiment.SWEEP_AXES) <= set(config.keys())
    assert set(experiment.PRESET_KEYS) <= set(config.keys())


@pytest.mark.parametrize("name", NAMES)
def test_geo_show_lists_every_key_with_default_and_help(name, capsys):
    assert cli.main(["show", name]) == 0
    out = capsys.readouterr().out
    experiment = load_experiment(name)
    for key, value in experiment.get_config().items():
        line = next(ln for ln in out.splitlines() if ln.split(" ")[0] == key)
        assert experiment.CONFIG_HELP[key] in line
        assert (repr(value) if isinstance(value, str) else str(value)) in line


def test_geo_show_takes_presets_and_rejects_other_keys(capsys):
    assert cli.main(["show", "poincare_wordnet", "dataset=nouns"]) == 0
    assert any(ln.split()[:2] == ["epochs", "1500"] for ln in capsys.readouterr().out.splitlines())
    assert cli.main(["show", "poincare_wordnet", "lr=0.1"]) == 2
    assert "only the preset keys (dataset), got lr" in capsys.readouterr().err


def test_an_unknown_experiment_names_the_known_ones(capsys):
    assert cli.main(["show", "nope"]) == 2
    assert "unknown experiment 'nope'; `geo list` shows: " in capsys.readouterr().err
