"""`geo sweep`: a grid of configs, where configs that share shapes train as one program.

    geo sweep poincare_wordnet --workdir runs/sweep lr=0.1,0.3 seed=0-7

`key=v1,v2,...` lists values and `key=A-B` an inclusive integer range; the grid is their
product. Runs that differ only in the experiment's SWEEP_AXES (seeds, learning rates) are
batched into one compiled program; the other groups run in turn. The workdir receives one
folder per run, `sweep.csv` (one row per run) and `sweep.md` (mean +- std over seeds). A run
whose loss turns non-finite is named, marked in `sweep.csv` and its folder's `diverged.json`,
and its program trained again without it: one diverged learning rate does not end a sweep.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import sys
from pathlib import Path

import numpy as np

from geo.config import build_config, check_keys, settings_without, split_items
from geo.devices import ALL_DEVICES, DeviceRequest, runs_layout
from geo.experiment import call_with_devices
from geo.loop import DivergedRunsError
from geo.processes import is_primary
from geo.run_files import RunFiles

_RANGE = re.compile(r"^(-?\d+)-(-?\d+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


def expand_values(key: str, text: str, default) -> list[str]:
    """The values of one `key=...` item: a comma list, or A-B for an integer key."""
    values = []
    for part in text.split(","):
        part = part.strip()
        match = _RANGE.match(part)
        if match and isinstance(default, int) and not isinstance(default, bool):
            lo, hi = int(match.group(1)), int(match.group(2))
            if hi < lo:
                raise ValueError(f"{key}={part}: empty range, write it as low-high")
            values += [str(v) for v in range(lo, hi + 1)]
        elif part:
            values.append(part)
    if not values:
        raise ValueError(f"{key}= has no values")
    return values


def sweep_grid(module, items: list[str]) -> tuple[list[str], list[list[str]]]:
    """(swept keys, one override list per run) for `key=values` items."""
    defaults = module.get_config()
    pairs = split_items(items)
    check_keys(defaults, [k for k, _ in pairs])
    # A key given twice keeps its last values, as `geo run` does.
    options = [(k, expand_values(k, v, defaults[k])) for k, v in dict(pairs).items()]
    swept = [k for k, values in options if len(values) > 1]
    runs = [
        [f"{k}={v}" for (k, _), v in zip(options, combo, strict=True)]
        for combo in itertools.product(*(values for _, values in options))
    ]
    return swept, runs


def check_one_program(configs, axes) -> None:
    """ValueError unless the configs differ only in `axes` (so they can share a program)."""
    shared = settings_without(configs[0], axes)
    if any(settings_without(c, axes) != shared for c in configs[1:]):
        raise ValueError(f"runs of one program may differ only in {', '.join(axes)}")


def start_program(configs, workdirs, validate, axes) -> list[RunFiles]:
    """Validate every config, check they can share one program, write each config.json.

    Returns each run's `RunFiles`. Everything here runs before any training.
    """
    for config in configs:
        validate(config)
    check_one_program(configs, axes)
    return [RunFiles(w, c) for w, c in zip(workdirs, configs, strict=True)]


def _run_name(overrides: list[str], swept: list[str]) -> str:
    chosen = [o for o in overrides if o.split("=", 1)[0] in swept] or ["run"]
    return _UNSAFE.sub("_", ",".join(chosen))


def _program_groups(module, configs) -> list[list[int]]:
    """Indices of runs batched together: equal in everything but the module's SWEEP_AXES."""
    axes = module.SWEEP_AXES
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        shared = settings_without(config, axes)
        groups.setdefault(repr(sorted(shared.items())), []).append(i)
    return list(groups.values())


def summarize(rows: list[dict], swept: list[str], metrics: list[str]) -> str:
    """A markdown table of mean +- std of `metrics` over seeds, per setting of the other keys."""
    by = [k for k in swept if k != "seed"]
    table: dict[tuple, list[dict]] = {}
    for row in rows:
        table.setdefault(tuple(row[k] for k in by), []).append(row)
    header = [*by, "runs", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for setting, group in table.items():
        cells = [str(v) for v in setting] + [str(len(group))]
        for m in metrics:
            values = np.asarray([r[m] for r in group], float)
            cells.append(
                f"{values.mean():.4g} +- {values.std(ddof=1) if len(values) > 1 else 0:.2g}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _train_program(module, configs, members, names, workdir: Path, g: int, devices, diverged):
    """{run index: results} of program `g`. A run whose loss turns non-finite is recorded in
    `diverged` (and its folder's diverged.json), and the program is trained again from the
    start without it, in `programs/program-g-without-...`: the other runs' results do not
    depend on it. Raises when every run of the program diverged."""
    live, state_dir = list(members), workdir / "programs" / f"program-{g:03d}"
    while True:
        try:
            outs = call_with_devices(
                module.train_and_evaluate_many,
                [configs[i] for i in live],
                [workdir / names[i] for i in live],
                state_dir,
                devices=devices,
            )
            return dict(zip(live, outs, strict=True))
        except DivergedRunsError as err:
            if len(err.runs) == len(live):
                raise
            struck = [live[r] for r in err.runs]
            for i in struck:
                diverged[i] = f"non-finite loss after epoch {err.epoch}"
                if is_primary():
                    record = {"epoch": err.epoch, "error": str(err)}
                    (workdir / names[i] / "diverged.json").write_text(json.dumps(record, indent=2))
            print(f"geo sweep: {err}\ngeo sweep: training the program's other runs again "
                  "without it", file=sys.stderr)  # fmt: skip
            live = [i for i in live if i not in struck]
            state_dir = state_dir.with_name(
                state_dir.name + "-without-" + "+".join(str(i) for i in struck)
            )


def run_sweep(
    module, workdir: str | Path, items: list[str], devices: DeviceRequest = ALL_DEVICES
) -> str:
    """Run the grid, write sweep.csv and sweep.md under `workdir`; returns the markdown.

    `devices` (default: all of them) splits each program's runs over the devices."""
    swept, grid = sweep_grid(module, items)
    configs = [build_config(module, overrides) for overrides in grid]
    for config in configs:  # every bad value is reported before any training
        module.validate(config)
    names = [_run_name(o, swept) for o in grid]
    workdir = Path(workdir)
    results: list[dict | None] = [None] * len(configs)
    groups = _program_groups(module, configs)
    if devices.split == "runs":
        for members in groups:  # a program that cannot be split is reported before any work
            runs_layout(len(members), devices)
    diverged: dict[int, str] = {}
    for g, members in enumerate(groups):
        outs = _train_program(module, configs, members, names, workdir, g, devices, diverged)
        for i, out in outs.items():
            results[i] = out

    finished = [out for out in results if out is not None]
    metrics = [k for k, v in finished[0].items() if isinstance(v, float)]
    rows = [
        {"run": name, **{k: config[k] for k in swept},
         **(out if out is not None else dict.fromkeys(metrics, float("nan"))),
         "diverged": diverged.get(i, "")}
        for i, (name, config, out) in enumerate(zip(names, configs, results, strict=True))
    ]  # fmt: skip
    shown = [m for m in metrics if m in ("map", "mean_rank", "link_map", "link_mean_rank")]
    markdown = summarize([r for r in rows if not r["diverged"]], swept, shown or metrics)
    if diverged:
        markdown += "\nDiverged, left out of the table above:\n" + "".join(
            f"- {names[i]}: {message}\n" for i, message in sorted(diverged.items())
        )
    if is_primary():
        with open(workdir / "sweep.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(next(r for r in rows if not r["diverged"])))
            writer.writeheader()
            writer.writerows(rows)
        (workdir / "sweep.md").write_text(markdown)
    return markdown
