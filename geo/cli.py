"""The `geo` command line.

geo list
geo run EXPERIMENT --workdir DIR [key=value ...]
geo sweep EXPERIMENT --workdir DIR [key=v1,v2,... key=A-B ...]

`run` and `sweep` take `--watchdog SECONDS` (default 300; 0 turns it off): a run in which no
compilation, chunk of epochs or evaluation block completes for that long is stopped with a
message naming the likely cause (geo/watchdog.py), instead of hanging silently.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys

import ml_collections

from geo import watchdog


def _experiment(name: str):
    from experiments import EXPERIMENTS

    if name not in EXPERIMENTS:
        raise SystemExit(
            f"geo: unknown experiment {name!r}; `geo list` shows: {', '.join(EXPERIMENTS)}"
        )
    return importlib.import_module(f"experiments.{name}")


def _parse_value(key: str, text: str, default):
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key}={text!r} is not a boolean (use true or false)")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{key}={text!r} is not an integer") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{key}={text!r} is not a number") from None
    return text


def split_items(items: list[str]) -> list[tuple[str, str]]:
    """`key=value` strings as (key, value) pairs; anything else is a ValueError."""
    pairs = []
    for item in items:
        if "=" not in item:
            raise ValueError(f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        pairs.append((key.strip(), value.strip()))
    return pairs


def build_config(module, overrides: list[str]) -> ml_collections.ConfigDict:
    """get_config() (with the presets first) plus key=value overrides, checked.

    The presets are chosen by the overrides of the module's `PRESET_KEYS` (default: dataset),
    passed to `get_config` as keyword arguments.
    """
    pairs = split_items(overrides)
    preset_keys = getattr(module, "PRESET_KEYS", ("dataset",))
    config = module.get_config(**{k: v for k, v in pairs if k in preset_keys})
    for key, value in pairs:
        if key not in config:
            raise ValueError(
                f"unknown config key {key!r}; valid keys: {', '.join(sorted(config.keys()))}"
            )
        config[key] = _parse_value(key, value, config[key])
    return config


def _add_watchdog_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--watchdog",
        type=float,
        default=watchdog.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="stop with a clear error when no work completes for this long (0: off; "
        f"default {watchdog.DEFAULT_TIMEOUT:g})",
    )


def _watching(seconds: float, name: str):
    return watchdog.Watchdog(seconds, name) if seconds > 0 else contextlib.nullcontext()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="geo", description="Geometric representation learning experiments."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments")
    run = sub.add_parser("run", help="run an experiment")
    run.add_argument("experiment")
    run.add_argument("--workdir", required=True)
    run.add_argument("overrides", nargs="*", help="key=value config overrides")
    _add_watchdog_option(run)
    sweep = sub.add_parser(
        "sweep", help="run a grid of configs; runs that share shapes train as one program"
    )
    sweep.add_argument("experiment")
    sweep.add_argument("--workdir", required=True)
    sweep.add_argument("overrides", nargs="*", help="key=v1,v2,... or key=A-B (integers)")
    _add_watchdog_option(sweep)
    # Overrides may follow --workdir, which argparse's positional matching does not allow.
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if "=" not in a or a.startswith("-")]
    if unknown or (extra and args.command == "list"):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if args.command != "list":
        args.overrides = list(args.overrides) + extra

    if args.command == "list":
        from experiments import EXPERIMENTS

        for name, text in EXPERIMENTS.items():
            print(f"{name:20s} {text}")
        return 0
    if args.watchdog < 0:
        raise SystemExit(f"geo: error: --watchdog must be >= 0 seconds, got {args.watchdog:g}")
    module = _experiment(args.experiment)
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
        with _watching(args.watchdog, name):
            if args.command == "sweep":
                from geo.sweep import run_sweep

                print(run_sweep(module, args.workdir, args.overrides))
                return 0
            config = build_config(module, args.overrides)
            results = module.train_and_evaluate(config, args.workdir)
    except (ValueError, FileNotFoundError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"geo: error: {message}", file=sys.stderr)
        return 2
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
