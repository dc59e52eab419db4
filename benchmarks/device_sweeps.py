"""Sweeps and tables on 1, 2, 4 devices: `python benchmarks/device_sweeps.py`.

Each row runs one `geo` command in a fresh process with that many devices (on a CPU, XLA's
host platform split into N devices by XLA_FLAGS=--xla_force_host_platform_device_count=N;
on a GPU machine pass `--platform gpu`, which uses the first N GPUs):

- `mammals`: `geo sweep poincare_wordnet dataset=mammals seed=0-7` (the paper's settings),
  the 8 runs split over the devices;
- `spdnet`: `geo sweep spdnet dataset=japanese_vowels seed=0-7 baselines=false`;
- `rows`: `geo run poincare_wordnet dataset=tree:nodes=N,branching=8 --split data`, one
  nouns-sized table split by rows, `--rows-epochs` epochs, evaluated on sampled children.

Prints a markdown table: devices, wall seconds of the command, compile and training seconds
(from results.json), the training speed-up over one device, and the runs' mean figure.
`--epochs` shortens the sweeps (default: the experiments' own). Run it on an idle machine;
the figures are the ones docs/devices.md reports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_geo(args: list[str], devices: int, platform: str) -> float:
    """Run `geo ARGS` with `devices` devices; its wall seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if platform == "cpu":
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
        env["JAX_PLATFORMS"] = "cpu"
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "geo.cli", *args, "--devices", str(devices)],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"geo {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def results(workdir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(workdir.glob("**/results.json"))]


def jobs(args) -> dict[str, tuple[list[str], str]]:
    """name -> (geo arguments without --workdir, the figure to average)."""
    epochs = [f"epochs={args.epochs}"] if args.epochs else []
    mammals = ["sweep", "poincare_wordnet", "dataset=mammals", f"wordnet_dir={args.wordnet}",
               "seed=0-7", "progress=false", "eval_every=0", *epochs]  # fmt: skip
    spd = ["sweep", "spdnet", "dataset=japanese_vowels", "seed=0-7", "baselines=false",
           "progress=false", *epochs]  # fmt: skip
    rows = ["run", "poincare_wordnet", f"dataset=tree:nodes={args.rows_nodes},branching=8",
            "dim=10", "lr=1.0", "batch_size=50",
            f"epochs={args.rows_epochs}", "burnin_epochs=0", "eval_every=0",
            "checkpoint_every=0", "eval_children=2000", "progress=false",
            "--split", "data"]  # fmt: skip
    chosen = {"mammals": (mammals, "map"), "spdnet": (spd, "accuracy"), "rows": (rows, "map")}
    return {name: chosen[name] for name in args.jobs.split(",")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--jobs", default="mammals,spdnet,rows")
    parser.add_argument("--epochs", type=int, default=0, help="0: the experiments' own")
    parser.add_argument("--rows-nodes", type=int, default=100_000)
    parser.add_argument("--rows-epochs", type=int, default=3)
    parser.add_argument("--wordnet", default=str(ROOT.parent / "shared" / "data" / "wordnet"))
    parser.add_argument("--platform", default="cpu", choices=("cpu", "gpu"))
    args = parser.parse_args()
    counts = [int(d) for d in args.devices.split(",")]
    lines = [
        "| job | devices | wall s | compile s | train s | train speed-up | mean figure |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (geo_args, figure) in jobs(args).items():
        base = None
        for count in counts:
            with tempfile.TemporaryDirectory() as tmp:
                command = [*geo_args[:2], "--workdir", tmp, *geo_args[2:]]
                wall = run_geo(command, count, args.platform)
                rows = results(Path(tmp))
            train = rows[0]["train_seconds"]
            base = base or train
            mean = sum(r[figure] for r in rows) / len(rows)
            lines.append(
                f"| {name} | {count} | {wall:.1f} | {rows[0]['compile_seconds']:.1f} | "
                f"{train:.1f} | {base / train:.2f}x | {figure} {mean:.4f} ({len(rows)} runs) |"
            )
            print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
