"""Multivariate time-series classification sets of the UEA archive, as shipped by aeon.

`japanese_vowels` (9 speakers, 12 LPC channels, 7-29 steps; Kudo, Toyama & Shimbo 1999)
and `basic_motions` (4 activities, 6 accelerometer/gyroscope channels, 100 steps) come
inside the `aeon` package (`aeon.datasets.load_classification`), with their standard
train/test splits. aeon is an optional dependency: `pip install -e ".[spd]"`.
A user's data set is an `.npz` with `x_train`, `y_train`, `x_test`, `y_test`, each x an
(N, C, T) array (NaN-padded after shorter series).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

DATASETS = {"japanese_vowels": "JapaneseVowels", "basic_motions": "BasicMotions"}


@dataclasses.dataclass(frozen=True)
class SeriesSet:
    """Padded series with their lengths and integer labels.

    Attributes:
        x: (N, T, C) float32, time-major; zero after each series' length.
        lengths: (N,) int32 valid steps.
        labels: (N,) int32 class ids into `classes`.
        classes: the original class names, sorted.
    """

    x: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]


def _aeon_split(name: str, split: str):
    try:
        from aeon.datasets import load_classification
    except ImportError as err:
        raise ImportError(
            f"the {name} data set ships inside the optional `aeon` package, which is not "
            'installed; install it with `pip install -e ".[spd]"` (or `pip install aeon`).'
        ) from err
    return load_classification(DATASETS[name], split=split)


def _pad(series: list[np.ndarray], where: str) -> tuple[np.ndarray, np.ndarray]:
    """(C, T_i) arrays -> (N, T_max, C) zero-padded and (N,) lengths."""
    channels = {s.shape[0] for s in series}
    if len(channels) != 1:
        raise ValueError(f"{where}: series have different channel counts {sorted(channels)}.")
    lengths = []
    for s in series:
        # Trailing all-NaN steps are padding (how .npz files and aeon mark unequal lengths).
        finite_steps = np.flatnonzero(~np.all(np.isnan(s), axis=0))
        lengths.append(int(finite_steps[-1]) + 1 if finite_steps.size else 0)
    x = np.zeros((len(series), max(max(lengths), 1), channels.pop()), np.float32)
    for i, (s, t) in enumerate(zip(series, lengths, strict=True)):
        x[i, :t] = s[:, :t].T
    return x, np.asarray(lengths, np.int32)


def _as_set(series, labels, classes, where: str) -> SeriesSet:
    x, lengths = _pad(list(series), where)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(y) for y in labels} - set(index))
    if unknown:
        raise ValueError(f"{where}: test labels {unknown} never occur in training.")
    ids = np.asarray([index[str(y)] for y in labels], np.int32)
    return SeriesSet(x, lengths, ids, classes)


def load_series(name: str) -> tuple[SeriesSet, SeriesSet]:
    """The (train, test) sets of `japanese_vowels`, `basic_motions` or a user's `.npz` path."""
    if name in DATASETS:
        raw = {split: _aeon_split(name, split) for split in ("train", "test")}
        parts = {f"x_{s}": list(raw[s][0]) for s in raw} | {f"y_{s}": raw[s][1] for s in raw}
    elif name.endswith(".npz"):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"no series file {path}")
        with np.load(path, allow_pickle=False) as f:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
            if missing:
                raise ValueError(f"{path}: missing arrays {sorted(missing)}")
            parts = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    else:
        raise ValueError(
            f"unknown data set {name!r}; choose {', '.join(DATASETS)} or a PATH.npz "
            "holding x_train, y_train, x_test, y_test"
        )
    classes = tuple(sorted({str(y) for y in parts["y_train"]}))
    train = _as_set(parts["x_train"], parts["y_train"], classes, f"{name} (train)")
    test = _as_set(parts["x_test"], parts["y_test"], classes, f"{name} (test)")
    return train, test


def check_series(x: np.ndarray, lengths: np.ndarray | None, shrinkage: float, where: str) -> None:
    """Clear errors, before any work, for series that would give a bad covariance.

    Args:
        x: (N, T, C) series, time-major, padded after each series' length.
        lengths: (N,) valid steps per series (None: all T).
        shrinkage: the shrinkage that will be applied.
        where: names the data in the messages.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{where}: series must be (N, T, C), got shape {x.shape}.")
    n, t, c = x.shape
    lengths = np.full(n, t) if lengths is None else np.asarray(lengths)
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"{where}: shrinkage must lie in [0, 1], got {shrinkage}.")
    valid = np.arange(t)[None, :] < lengths[:, None]
    bad = np.flatnonzero(np.any(~np.isfinite(x) & valid[..., None], axis=(1, 2)))
    if bad.size:
        raise ValueError(
            f"{where}: series {bad[:5].tolist()} contain NaN or infinite samples "
            f"({bad.size} series in all); impute or drop them first."
        )
    short = np.flatnonzero(lengths < 2)
    if short.size:
        raise ValueError(f"{where}: series {short[:5].tolist()} have fewer than 2 time steps.")
    singular = np.flatnonzero(lengths <= c)
    if shrinkage == 0.0 and singular.size:
        raise ValueError(
            f"{where}: {singular.size} series have no more time steps than their {c} channels "
            f"(e.g. series {int(singular[0])} has {int(lengths[singular[0]])}), so their sample "
            "covariance is singular. Set shrinkage > 0 (e.g. shrinkage=0.1)."
        )


def standardize(train: SeriesSet, test: SeriesSet) -> tuple[SeriesSet, SeriesSet]:
    """Scale every channel by the training set's mean and standard deviation (valid steps)."""
    valid = np.arange(train.x.shape[1])[None, :] < train.lengths[:, None]
    values = train.x[valid]  # (steps, C)
    mean, std = values.mean(axis=0), values.std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def apply(s: SeriesSet) -> SeriesSet:
        mask = (np.arange(s.x.shape[1])[None, :] < s.lengths[:, None])[..., None]
        x = np.where(mask, (s.x - mean) / std, 0.0).astype(np.float32)
        return dataclasses.replace(s, x=x)

    return apply(train), apply(test)


def load_checked_series(name: str, shrinkage: float) -> tuple[SeriesSet, SeriesSet]:
    """`load_series`, every series checked for `shrinkage` (`check_series`), standardized."""
    train, test = load_series(name)
    for part, split in ((train, "train"), (test, "test")):
        check_series(part.x, part.lengths, shrinkage, f"{name} ({split})")
    return standardize(train, test)
