"""The experiment interface that `geo run`, `geo sweep`, `geo list` and `geo show` rely on.

An experiment is a module (or any object) with the members of `Experiment`. It is found by
name through the `geo.experiments` entry points of the installed packages (this project
declares its own in pyproject.toml; another package adds experiments the same way), or
through `register(name, "package.module")` at run time. `geo` never imports `experiments`
itself, so the layers stay one-way: experiments -> models -> geo -> manifolds.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import jax
import ml_collections

from geo.devices import ONE_DEVICE, DeviceRequest

ENTRY_POINT_GROUP = "geo.experiments"
_registered: dict[str, str] = {}


@runtime_checkable
class Experiment(Protocol):
    """What every experiment provides.

    Attributes:
        DESCRIPTION: one line for `geo list`.
        PRESET_KEYS: config keys passed to `get_config` as keyword arguments (e.g. dataset),
            so that they select a preset before the other overrides apply.
        SWEEP_AXES: keys whose values may differ between the runs of one compiled program.
        CONFIG_HELP: one line of help per config key, for `geo show`.
    """

    DESCRIPTION: str
    PRESET_KEYS: tuple[str, ...]
    SWEEP_AXES: tuple[str, ...]
    CONFIG_HELP: dict[str, str]

    def get_config(self, **presets: str) -> ml_collections.ConfigDict:
        """The defaults, with the presets selected by `PRESET_KEYS`."""

    def validate(self, config: ml_collections.ConfigDict) -> None:
        """Raise ValueError on any bad setting, before any work is done."""

    def train_and_evaluate(self, config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
        """Run one config; write the workdir's files; return the results. May take a
        `devices` keyword (a `geo.devices.DeviceRequest`) to use several devices."""

    def train_and_evaluate_many(
        self, configs: list, workdirs: list, state_dir: str | Path
    ) -> list[dict]:
        """Runs that differ only in `SWEEP_AXES`, as one compiled program (`geo sweep`).
        May take a `devices` keyword, as `train_and_evaluate`."""


def call_with_devices(fn: Callable, *args, devices: DeviceRequest):
    """`fn(*args, devices=devices)`, or `fn(*args)` for an experiment without the keyword
    when the request needs no more than one device (a ValueError otherwise)."""
    if "devices" in inspect.signature(fn).parameters:
        return fn(*args, devices=devices)
    if (devices.count or jax.device_count()) > 1:
        raise ValueError(
            f"{fn.__module__}.{fn.__name__} takes no `devices`, so it runs on one device: "
            "pass --devices 1"
        )
    return fn(*args)


def single_run(train_and_evaluate_many: Callable) -> Callable:
    """An experiment's `train_and_evaluate` from its `train_and_evaluate_many`: one config as
    a program of one run, whose checkpoints go to its own workdir."""

    def train_and_evaluate(
        config: ml_collections.ConfigDict, workdir: str | Path, devices: DeviceRequest = ONE_DEVICE
    ) -> dict:
        """Run one config; write the workdir's files; return the results dict."""
        return train_and_evaluate_many([config], [workdir], workdir, devices)[0]

    train_and_evaluate.__module__ = train_and_evaluate_many.__module__
    return train_and_evaluate


def register(name: str, module: str) -> None:
    """Make the experiment module `module` (an import path) available as `name`."""
    _registered[name] = module


def experiment_modules() -> dict[str, str]:
    """name -> import path of every experiment: the entry points, then `register`ed ones."""
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return dict(sorted({**found, **_registered}.items()))


def load_experiment(name: str) -> Experiment:
    """The experiment called `name`; a ValueError lists the known ones or the missing members."""
    modules = experiment_modules()
    if name not in modules:
        raise ValueError(
            f"unknown experiment {name!r}; `geo list` shows: {', '.join(modules) or 'none'} "
            "(run `pip install -e .` if this list is empty)"
        )
    experiment = importlib.import_module(modules[name])
    if not isinstance(experiment, Experiment):
        missing = [m for m in _members() if getattr(experiment, m, None) is None]
        raise ValueError(
            f"experiment {name!r} ({modules[name]}) lacks {', '.join(missing)} of the "
            "interface geo.experiment.Experiment"
        )
    return experiment


def _members() -> list[str]:
    """The members of `Experiment`: its annotated constants and its methods."""
    methods = [n for n, v in vars(Experiment).items() if callable(v) and not n.startswith("_")]
    return [*Experiment.__annotations__, *methods]


def show(experiment: Experiment, presets: dict[str, str] | None = None) -> str:
    """Every config key with its default and its help line, one per line."""
    config = experiment.get_config(**(presets or {}))
    rows = [("key", "default", "help")]
    for key in config:
        default = config[key]
        rows.append((key, repr(default) if isinstance(default, str) else str(default),
                     experiment.CONFIG_HELP.get(key, "")))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{k:{widths[0]}}  {d:{widths[1]}}  {h}".rstrip() for k, d, h in rows]
    axes = ", ".join(experiment.SWEEP_AXES) or "none"
    preset_keys = ", ".join(experiment.PRESET_KEYS) or "none"
    lines += ["", f"presets chosen by: {preset_keys}; one-program sweep axes: {axes}"]
    return "\n".join(lines) + "\n"
