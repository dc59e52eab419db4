"""Experiment configs from the command line: `key=value` overrides of `get_config()`, checked.

One place for the parsing and the "unknown config key" error that `geo run`, `geo sweep` and
`geo show` share.
"""

from __future__ import annotations

import ml_collections


def parse_value(key: str, text: str, default):
    """`text` as the type of `default` (bool, int, float or str); a ValueError names the key."""
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


def check_keys(config: ml_collections.ConfigDict, keys) -> None:
    """ValueError naming the valid keys if any of `keys` is not in `config`."""
    for key in keys:
        if key not in config:
            raise ValueError(
                f"unknown config key {key!r}; valid keys: {', '.join(sorted(config.keys()))}"
            )


def settings_without(config: ml_collections.ConfigDict, keys) -> dict:
    """The config as a dict, without `keys`: what the runs of one program must share, and
    what a resumed run must match."""
    return {k: v for k, v in config.to_dict().items() if k not in keys}


def build_config(experiment, overrides: list[str]) -> ml_collections.ConfigDict:
    """`experiment.get_config()` (with the presets first) plus key=value overrides, checked.

    The presets are chosen by the overrides of the experiment's `PRESET_KEYS` (e.g. dataset),
    passed to `get_config` as keyword arguments.
    """
    pairs = split_items(overrides)
    config = experiment.get_config(**{k: v for k, v in pairs if k in experiment.PRESET_KEYS})
    check_keys(config, [k for k, _ in pairs])
    for key, value in pairs:
        config[key] = parse_value(key, value, config[key])
    return config
