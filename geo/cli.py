"""The `geo` command line.

geo list
geo run EXPERIMENT --workdir DIR [key=value ...]
geo sweep EXPERIMENT --workdir DIR [key=v1,v2,... key=A-B ...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

import ml_collections


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
    sweep = sub.add_parser(
        "sweep", help="run a grid of configs; runs that share shapes train as one program"
    )
    sweep.add_argument("experiment")
    sweep.add_argument("--workdir", required=True)
    sweep.add_argument("overrides", nargs="*", help="key=v1,v2,... or key=A-B (integers)")
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
    module = _experiment(args.experiment)
    try:
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
