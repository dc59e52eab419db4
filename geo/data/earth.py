"""The earth-science event sets on the sphere S^2 (volcanic eruptions, earthquakes, floods,
fires; Mathieu & Nickel 2020), read from plain CSV files of latitude, longitude in degrees.

`data_dir` (or the GEO_EARTH_DATA variable) points at the folder of the four files, by
default `../shared/data/earth`; docs/data.md says where they come from.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FILES = {
    "volcano": "volerup.csv",
    "earthquake": "quakes_all.csv",
    "flood": "flood.csv",
    "fire": "fire.csv",
}


def default_data_dir() -> Path:
    """GEO_EARTH_DATA, else ../shared/data/earth."""
    return Path(os.environ.get("GEO_EARTH_DATA", "../shared/data/earth"))


def read_events(path: str | os.PathLike) -> np.ndarray:
    """(N, 2) float64 (latitude, longitude) in degrees from a CSV file.

    Lines starting with `#` are comments; a first line that is not numeric is a header.
    A ValueError names the file and line of a malformed line, a NaN, a latitude outside
    [-90, 90] or a longitude outside [-180, 360]."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    rows, header_seen = [], False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = [p.strip() for p in text.split(",")]
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            if not rows and not header_seen:
                header_seen = True
                continue
            raise ValueError(
                f"{path}:{number}: expected 'latitude, longitude' in degrees, got {text!r}"
            ) from None
        if not (np.isfinite(lat) and np.isfinite(lon)):
            raise ValueError(f"{path}:{number}: coordinates must be finite numbers, got {text!r}")
        if not -90.0 <= lat <= 90.0:
            raise ValueError(f"{path}:{number}: latitude {lat} lies outside [-90, 90]")
        if not -180.0 <= lon <= 360.0:
            raise ValueError(f"{path}:{number}: longitude {lon} lies outside [-180, 360]")
        rows.append((lat, lon))
    if not rows:
        raise ValueError(f"{path}: no events")
    return np.asarray(rows, np.float64)


def to_unit_vectors(lat_lon: np.ndarray) -> np.ndarray:
    """(N, 3) points x = cos(lat) cos(lon), y = cos(lat) sin(lon), z = sin(lat)."""
    lat, lon = np.radians(lat_lon[:, 0]), np.radians(lat_lon[:, 1])
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def to_lat_lon(points: np.ndarray) -> np.ndarray:
    """(N, 2) degrees of unit vectors (N, 3)."""
    lat = np.degrees(np.arcsin(np.clip(points[:, 2], -1, 1)))
    lon = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    return np.stack([lat, lon], -1)


def load_events(name: str, data_dir: str | os.PathLike | None = None) -> np.ndarray:
    """(N, 3) unit vectors of the events of `name` (one of FILES) or of a CSV path."""
    if name in FILES:
        root = Path(data_dir) if data_dir else default_data_dir()
        path = root / FILES[name]
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: set data_dir=... (or GEO_EARTH_DATA) to the folder holding "
                f"{', '.join(FILES.values())} (docs/data.md)"
            )
    elif name.endswith(".csv"):
        path = Path(name)
    else:
        raise ValueError(f"unknown earth data set {name!r}; use {', '.join(FILES)} or a .csv path")
    return to_unit_vectors(read_events(path))


def random_split(count: int, seed: int, fractions=(0.8, 0.1, 0.1)) -> tuple[np.ndarray, ...]:
    """(train, validation, test) index arrays of a random split of `count` items."""
    order = np.random.default_rng(seed).permutation(count)
    n_train = int(round(fractions[0] * count))
    n_val = int(round(fractions[1] * count))
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
