"""The `geo` command line.

geo list
geo show EXPERIMENT [preset=value ...]
geo run EXPERIMENT --workdir DIR [key=value ...]
geo sweep EXPERIMENT --workdir DIR [key=v1,v2,... key=A-B ...]

`run` and `sweep` take `--watchdog SECONDS` (default 300; 0 turns it off): a run in which no
compilation, chunk of epochs or evaluation block completes for that long is stopped with a
message naming the likely cause (geo/watchdog.py), instead of hanging silently.

They also take `--devices N` and `--split runs|data` (geo/devices.py): a sweep splits each
program's runs over all devices by default; `geo run` uses one device unless `--devices`
asks for more, and then splits the run's data (its batch, or its embedding table's rows).
In a job of several processes (geo/processes.py: JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES
and JAX_PROCESS_ID, or GEO_DISTRIBUTED=1 on SLURM and TPU pods) every process runs the same
command and process 0 writes the files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from geo import watchdog
from geo.config import build_config, split_items
from geo.devices import SPLITS, DeviceRequest
from geo.experiment import (
    Experiment,
    call_with_devices,
    experiment_modules,
    load_experiment,
    show,
)
from geo.processes import initialize_from_environment, is_primary
from geo.sweep import run_sweep


def _add_watchdog_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--watchdog",
        type=float,
        default=watchdog.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="stop with a clear error when no work completes for this long (0: off; "
        f"default {watchdog.DEFAULT_TIMEOUT:g})",
    )


def _add_device_options(parser: argparse.ArgumentParser, default: str, split: str) -> None:
    parser.add_argument(
        "--devices",
        default=None,
        metavar="N",
        help=f"devices to use: a number or 'all' (default {default})",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help=f"what the devices split: the runs of a program or one run's data (default {split})",
    )


def device_request(command: str, devices: str | None, split: str | None) -> DeviceRequest:
    """The `--devices` / `--split` request of `geo run` or `geo sweep`."""
    if devices is None:
        count = None if command == "sweep" else 1
    elif devices == "all":
        count = None
    else:
        try:
            count = int(devices)
        except ValueError:
            raise ValueError(f"--devices takes a number or 'all', got {devices!r}") from None
    default_split = "runs" if command == "sweep" else "data"
    return DeviceRequest(count, split or default_split)


def _watching(seconds: float, name: str):
    return watchdog.Watchdog(seconds, name) if seconds > 0 else contextlib.nullcontext()


def plot_module(workdir: str) -> Experiment:
    """The experiment that wrote WORKDIR (its config.json has that experiment's keys) and can
    draw it (has `plot`)."""
    path = Path(workdir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: WORKDIR must be a run's folder")
    keys = set(json.loads(path.read_text()))  # a run from an older version may lack some
    for name in experiment_modules():
        module = load_experiment(name)
        if hasattr(module, "plot") and keys <= set(module.get_config().to_dict()):
            return module
    raise ValueError(f"{workdir} was not written by an experiment that geo plot can draw")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="geo", description="Geometric representation learning experiments."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments")
    show_parser = sub.add_parser(
        "show", help="every config key of an experiment: its default and what it does"
    )
    show_parser.add_argument("experiment")
    show_parser.add_argument("presets", nargs="*", help="preset keys, e.g. dataset=nouns")
    run = sub.add_parser("run", help="run an experiment")
    run.add_argument("experiment")
    run.add_argument("--workdir", required=True)
    run.add_argument("overrides", nargs="*", help="key=value config overrides")
    _add_watchdog_option(run)
    _add_device_options(run, "1", "data")
    sweep = sub.add_parser(
        "sweep", help="run a grid of configs; runs that share shapes train as one program"
    )
    sweep.add_argument("experiment")
    sweep.add_argument("--workdir", required=True)
    sweep.add_argument("overrides", nargs="*", help="key=v1,v2,... or key=A-B (integers)")
    _add_watchdog_option(sweep)
    _add_device_options(sweep, "all", "runs")
    plot = sub.add_parser(
        "plot", help="draw a trained run's embedding (an experiment with a plot function)"
    )
    plot.add_argument("workdir")
    plot.add_argument("--out", help="PNG path (default: the experiment's, in WORKDIR)")
    plot.add_argument("--points", type=int, default=2000, help="nodes drawn at most")
    plot.add_argument("--seed", type=int, default=0, help="seed of the drawn nodes")
    # Overrides may follow --workdir, which argparse's positional matching does not allow.
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if "=" not in a or a.startswith("-")]
    if unknown or (extra and args.command in ("list", "show", "plot")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    try:
        if args.command == "plot":
            figures = plot_module(args.workdir).plot(args.workdir, args.out, args.points, args.seed)
            print(json.dumps(figures, indent=2))
            return 0
        if args.command == "list":
            for name in experiment_modules():
                print(f"{name:20s} {load_experiment(name).DESCRIPTION}")
            return 0
        module = load_experiment(args.experiment)
        if args.command == "show":
            presets = dict(split_items(args.presets))
            bad = sorted(set(presets) - set(module.PRESET_KEYS))
            if bad:
                raise ValueError(
                    f"geo show takes only the preset keys ({', '.join(module.PRESET_KEYS)}), "
                    f"got {', '.join(bad)}"
                )
            print(show(module, presets), end="")
            return 0
    except (ValueError, FileNotFoundError) as err:
        print(f"geo: error: {err}", file=sys.stderr)
        return 2
    args.overrides = list(args.overrides) + extra
    if args.watchdog < 0:
        raise SystemExit(f"geo: error: --watchdog must be >= 0 seconds, got {args.watchdog:g}")
    broken = watchdog.broken_jaxlib()
    if broken:
        print(
            f"geo: warning: jaxlib {broken} can hang on CPU when batched Cholesky or "
            "triangular solves run at once; `pip install -e .` installs a safe release "
            "(docs/known_issues.md).",
            file=sys.stderr,
        )
    name = f"geo {args.command} {args.experiment} --workdir {args.workdir}"
    try:
        devices = device_request(args.command, args.devices, args.split)
        initialize_from_environment()
        with _watching(args.watchdog, name):
            if args.command == "sweep":
                markdown = run_sweep(module, args.workdir, args.overrides, devices)
                if is_primary():
                    print(markdown)
                return 0
            config = build_config(module, args.overrides)
            results = call_with_devices(
                module.train_and_evaluate, config, args.workdir, devices=devices
            )
    except (ValueError, FileNotFoundError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"geo: error: {message}", file=sys.stderr)
        return 2
    except FloatingPointError as err:  # a diverged run: said plainly, no traceback
        print(f"geo: error: {err}", file=sys.stderr)
        return 1
    if is_primary():
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
