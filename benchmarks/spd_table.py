"""SPD and Grassmann results over seeds: every SPDNet batch-norm variant beside pyriemann's
MDM and tangent space + logistic regression on the same covariances, GrNet, and the GCR head
against the softmax head on digits. One vmapped program per row.

    python benchmarks/spd_table.py --workdir runs/spd_table [--seeds 10] [--only spdnet,gcr]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from experiments import gcr, grnet, spdnet
from geo.sweep import run_sweep

SPDNET_DATASETS = ("japanese_vowels", "basic_motions")
BATCHNORMS = ("none", "rbn", "bw_rbn", "gbw_rbn")


def _sweep(module, workdir: Path, items: list[str], seeds: int) -> tuple[list[dict], float]:
    start = time.perf_counter()
    run_sweep(module, workdir, [*items, "progress=false", f"seed=0-{seeds - 1}"])
    wall = time.perf_counter() - start
    return list(csv.DictReader((workdir / "sweep.csv").read_text().splitlines())), wall


def _row(name: str, dataset: str, runs: list[dict], wall: float) -> dict:
    acc = 100 * np.asarray([float(r["accuracy"]) for r in runs])
    return dict(
        model=name,
        dataset=dataset,
        mean=acc.mean(),
        std=acc.std(ddof=1) if len(acc) > 1 else 0.0,
        seeds=len(acc),
        wall=wall,
        train=float(runs[0]["train_seconds"]),
        compile=float(runs[0]["compile_seconds"]),
    )


def _baseline_rows(workdir: Path, dataset: str) -> list[dict]:
    """pyriemann's figures, as the SPDNet run recorded them (one deterministic fit each)."""
    result = json.loads(next(workdir.glob("*/results.json")).read_text())
    rows = []
    for name, b in result["baselines"].items():
        if isinstance(b, dict):
            seconds = b["seconds"]
            rows.append(
                dict(model=f"pyriemann {name}", dataset=dataset, mean=100 * b["accuracy"],
                     std=0.0, seeds=1, wall=seconds, train=seconds, compile=0.0)
            )  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", default="spdnet,grnet,gcr")
    args = parser.parse_args()
    root, parts, rows = Path(args.workdir), args.only.split(","), []
    jobs = []  # (row name, data set, module, workdir, items)
    if "spdnet" in parts:
        for dataset in SPDNET_DATASETS:
            for bn in BATCHNORMS:
                name = "SPDNet" if bn == "none" else f"SPDNet + {bn}"
                items = [f"dataset={dataset}", f"batchnorm={bn}", f"baselines={bn == 'none'}"]
                jobs.append((name, dataset, spdnet, root / f"spdnet_{dataset}_{bn}", items))
        # The plain 12 x 12 sample covariances (no mean embedded), as pyriemann users use them.
        jobs.append(("SPDNet (with_mean=false)", "japanese_vowels", spdnet,
                     root / "spdnet_japanese_vowels_nomean",
                     ["dataset=japanese_vowels", "with_mean=false", "baselines=true"]))  # fmt: skip
    if "grnet" in parts:
        jobs.append(("GrNet", "japanese_vowels", grnet, root / "grnet_japanese_vowels",
                     ["dataset=japanese_vowels"]))  # fmt: skip
        jobs.append(("GrNet", "basic_motions", grnet, root / "grnet_basic_motions",
                     ["dataset=basic_motions", "frmap_dim=6", "batch_size=10"]))  # fmt: skip
    if "gcr" in parts:
        for head in ("softmax", "gcr"):
            jobs.append((f"MLP + {head} head", "digits", gcr, root / f"digits_{head}",
                         [f"head={head}"]))  # fmt: skip
    for name, dataset, module, workdir, items in jobs:
        runs, wall = _sweep(module, workdir, items, args.seeds)
        rows.append(_row(name, dataset, runs, wall))
        print(json.dumps(rows[-1]), flush=True)
        if name.startswith("SPDNet") and "+" not in name:
            rows += _baseline_rows(workdir, dataset)
    lines = [
        "| model | data set | test accuracy % | seeds | wall s (all seeds) | train s | compile s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['dataset']} | {r['mean']:.1f} +- {r['std']:.1f} | {r['seeds']} "
            f"| {r['wall']:.1f} | {r['train']:.1f} | {r['compile']:.1f} |"
        )
    table = "\n".join(lines) + "\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "table.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
