"""The files of one run's workdir: config.json, metrics.jsonl (one JSON object per
evaluation) and results.json (the final figures). In a job of several processes only
process 0 writes them (`geo.processes`); the others compute the same figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from geo.processes import is_primary


class RunFiles:
    """One run's workdir. Creating it writes config.json.

    Args:
        workdir: the run's folder (created).
        config: its ml_collections.ConfigDict.
    """

    def __init__(self, workdir, config):
        self.workdir = Path(workdir)
        self.metrics_path = self.workdir / "metrics.jsonl"
        self.writes = is_primary()
        if self.writes:
            self.workdir.mkdir(parents=True, exist_ok=True)
            (self.workdir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))

    def resume_metrics(self, step: int, key: str = "epoch") -> None:
        """Keep only the evaluations up to `step` (those of the checkpoint resumed from)."""
        if not self.writes:
            return
        kept = []
        if self.metrics_path.exists():
            lines = self.metrics_path.read_text().splitlines()
            kept = [ln for ln in lines if ln and json.loads(ln)[key] <= step]
        self.metrics_path.write_text("".join(ln + "\n" for ln in kept))

    def append_metrics(self, record: dict) -> None:
        """Add one evaluation as a line of metrics.jsonl."""
        if not self.writes:
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def write_results(self, results: dict) -> None:
        """results.json, the run's final figures."""
        if self.writes:
            (self.workdir / "results.json").write_text(json.dumps(results, indent=2))

    def save_array(self, name: str, array) -> None:
        """`name` (e.g. embeddings.npy) in the workdir, as `np.save` writes it."""
        if self.writes:
            np.save(self.workdir / name, np.asarray(array))

    def metrics(self) -> list[dict]:
        """The evaluations written so far."""
        if not self.metrics_path.exists():
            return []
        return [json.loads(ln) for ln in self.metrics_path.read_text().splitlines() if ln]
