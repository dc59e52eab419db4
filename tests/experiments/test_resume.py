"""Every experiment resumes: killed with SIGKILL right after a checkpoint is on disk
(GEO_KILL_AFTER_CHECKPOINT, geo/checkpoint.py) and started again on the same workdir, a run
ends with the results and the metrics.jsonl of an uninterrupted run, to the last bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geo.checkpoint import KILL_AFTER_VARIABLE
from tests.toy_data import toy_hierarchy

TIMING = {"train_seconds", "compile_seconds", "eval_seconds", "edges_per_second",
          "seconds_to_best", "test_seconds", "iterations_per_second"}  # fmt: skip


def _geo(args: list[str], kill_after: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop(KILL_AFTER_VARIABLE, None)
    if kill_after is not None:
        env[KILL_AFTER_VARIABLE] = str(kill_after)
    return subprocess.run(
        [sys.executable, "-m", "geo.cli", *args], env=env, capture_output=True, text=True
    )


def _without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


def _files(workdir: Path) -> tuple[dict, list[dict]]:
    results = json.loads((workdir / "results.json").read_text())
    metrics = [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]
    return _without_timing(results), [_without_timing(m) for m in metrics]


def _check_resume(tmp_path: Path, experiment: str, overrides: list[str], kill_after: int):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = _geo(["run", experiment, "--workdir", str(straight), *overrides])
    assert done.returncode == 0, done.stderr[-3000:]
    stopped = _geo(["run", experiment, "--workdir", str(killed), *overrides], kill_after)
    assert stopped.returncode == -signal.SIGKILL, stopped.stderr[-3000:]
    assert not (killed / "results.json").exists(), "the run finished before it was killed"
    assert (killed / "metrics.jsonl").exists()
    resumed = _geo(["run", experiment, "--workdir", str(killed), *overrides])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _files(killed) == _files(straight)
    return straight, killed


def test_poincare_wordnet_resumes(tmp_path):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    overrides = [f"dataset={edges}", "dim=2", "epochs=40", "burnin_epochs=5", "batch_size=4"]
    overrides += ["negatives=10", "eval_every=10", "checkpoint_every=10", "progress=false"]
    straight, killed = _check_resume(tmp_path, "poincare_wordnet", overrides, kill_after=2)
    np.testing.assert_array_equal(
        np.load(straight / "embeddings.npy"), np.load(killed / "embeddings.npy")
    )


def test_manifold_flow_resumes(tmp_path, shared_data):
    overrides = ["dataset=volcano", f"data_dir={shared_data / 'earth'}", "iterations=60"]
    overrides += ["eval_every=20", "hidden=16", "layers=1", "ode_steps=3", "progress=false"]
    _check_resume(tmp_path, "manifold_flow", overrides, kill_after=1)


def test_hgcn_resumes(tmp_path, shared_data):
    overrides = ["task=lp", "dataset=disease_lp", f"data_dir={shared_data / 'hgcn'}"]
    overrides += ["epochs=30", "chunk=10", "dim=8", "progress=false"]
    _check_resume(tmp_path, "hgcn", overrides, kill_after=1)


def test_hgcn_resumes_in_the_second_phase_of_a_pretrained_run(tmp_path, shared_data):
    overrides = ["task=nc", "dataset=airport", "pretrain=lp", f"data_dir={shared_data / 'hgcn'}"]
    overrides += ["epochs=20", "chunk=10", "dim=8", "num_layers=2", "progress=false"]
    # The link prediction saves twice (epochs 10, 20); the third save is the classifier's.
    straight, killed = _check_resume(tmp_path, "hgcn", overrides, kill_after=3)
    assert _files(killed / "pretrain_lp") == _files(straight / "pretrain_lp")


@pytest.mark.parametrize(
    "experiment, overrides",
    [
        ("spdnet", ["dataset=basic_motions", "epochs=12", "batch_size=10", "baselines=false"]),
        ("grnet", ["dataset=basic_motions", "epochs=12", "batch_size=10", "frmap_dim=6"]),
        ("gcr", ["epochs=12", "head=gcr"]),
    ],
)
def test_classifier_experiments_resume(tmp_path, experiment, overrides):
    _check_resume(tmp_path, experiment, [*overrides, "progress=false"], kill_after=1)


@pytest.mark.parametrize(
    "experiment, overrides",
    [
        ("spdnet", ["dataset=basic_motions", "epochs=12", "batch_size=10", "baselines=false"]),
        ("poincare_wordnet", ["dim=2", "epochs=20", "burnin_epochs=2", "checkpoint_every=5"]),
    ],
)
def test_sweeps_resume(tmp_path, experiment, overrides):
    if experiment == "poincare_wordnet":
        overrides = [f"dataset={toy_hierarchy(tmp_path / 'toy.tsv')}", *overrides]
    overrides = [*overrides, "progress=false", "seed=0-1"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _geo(["sweep", experiment, "--workdir", str(straight), *overrides]).returncode == 0
    stopped = _geo(["sweep", experiment, "--workdir", str(killed), *overrides], kill_after=1)
    assert stopped.returncode == -signal.SIGKILL, stopped.stderr[-3000:]
    assert not (killed / "sweep.csv").exists()
    resumed = _geo(["sweep", experiment, "--workdir", str(killed), *overrides])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for seed in (0, 1):
        assert _files(killed / f"seed={seed}") == _files(straight / f"seed={seed}")


def test_entailment_cones_resume_in_the_cones_phase(tmp_path, shared_data):
    """Killed in the cones' phase (checkpoint 8, after the Poincare phase's 6 epochs, with
    hyperboloid rows of another shape than the Poincare ones), a run ends as an
    uninterrupted one."""
    overrides = ["dataset=mammals", f"splits_dir={shared_data / 'entailment_cones'}"]
    overrides += ["train_percent=10", "init_epochs=6", "burnin_epochs=2", "epochs=6"]
    overrides += ["eval_every=2", "checkpoint_every=4", "manifold=lorentz", "progress=false"]
    straight, killed = _check_resume(tmp_path, "entailment_cones", overrides, kill_after=2)
    np.testing.assert_array_equal(
        np.load(straight / "embeddings.npy"), np.load(killed / "embeddings.npy")
    )
