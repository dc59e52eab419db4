"""Ball points stored at a given precision, and their exact hyperbolic distances.

`fixed:<P>` stores each coordinate as the integer round(x 2^P) (Python integers, any size),
so 1 - |x|^2 and |x - y|^2 are exact integers and a distance needs one logarithm of each:
    d(x, y) = arcosh(1 + s), log s = log 2 + log |X - Y|^2 + 2P log 2 - log A_x - log A_y,
A_x = 4^P - |X|^2 (Nickel & Kiela 2017, eq. 1, in integers). This evaluates embeddings whose
points a float64 cannot hold (WordNet's nouns in 2-D sit thousands of nats from the origin).
`float64` and `float32` store rounded floats and compute distances in that precision, as a
user of such arrays would.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import mpmath
import numpy as np

PRECISIONS = ("float32", "float64", "fixed")


@dataclasses.dataclass(frozen=True)
class StoredPoints:
    """N ball points of one precision.

    Attributes:
        precision: "float32", "float64" or "fixed".
        values: (N, d) float array, or (N, d) object array of Python ints for "fixed".
        bits: P of "fixed" (the significand bits of a float precision otherwise).
    """

    precision: str
    values: np.ndarray
    bits: int

    @property
    def num_points(self) -> int:
        return len(self.values)

    @classmethod
    def of_floats(cls, values: np.ndarray) -> StoredPoints:
        """Float points (N, d) as stored: their dtype is the precision."""
        dtype = np.asarray(values).dtype
        return cls(dtype.name, np.asarray(values), int(np.finfo(dtype).nmant) + 1)

    def collapsed(self) -> int:
        """Points on or outside the unit sphere after rounding (no finite distances)."""
        return int(np.sum(~np.isfinite(self.log_room)))

    @functools.cached_property
    def log_room(self) -> np.ndarray:
        """(N,) log(1 - |x|^2) (with the 4^P scale for fixed point); NaN where <= 0."""
        if self.precision == "fixed":
            full = 1 << (2 * self.bits)
            rooms = [full - sum(int(c) * int(c) for c in row) for row in self.values]
            return np.asarray([math.log(r) if r > 0 else np.nan for r in rooms])
        x = self.values
        room = (1 - np.sum(x * x, axis=1)).astype(np.float64)
        return np.where(room > 0, np.log(np.where(room > 0, room, 1.0)), np.nan)

    def distances_from(self, source: int) -> np.ndarray:
        """(N,) float64 distances from point `source` to every point (inf where collapsed)."""
        log_room = self.log_room
        if self.precision == "fixed":
            diff = self.values - self.values[source]
            squares = np.sum(diff * diff, axis=1)
            log_sq = np.asarray([math.log(int(q)) if q else -np.inf for q in squares])
            log_s = math.log(2) + log_sq + 2 * self.bits * math.log(2)
            log_s = log_s - log_room - log_room[source]
            return arcosh1p_of_log(log_s)
        x = self.values
        dtype = x.dtype
        d2 = np.sum((x - x[source]) ** 2, axis=1, dtype=dtype)
        room = np.exp(log_room).astype(dtype)
        s = (2 * d2 / (room * room[source])).astype(dtype)
        d = np.arccosh(1 + s, dtype=dtype).astype(np.float64)
        return np.where(np.isfinite(log_room) & np.isfinite(log_room[source]), d, np.inf)


def arcosh1p_of_log(log_s: np.ndarray) -> np.ndarray:
    """arcosh(1 + e^L) for any L (e^L may overflow a float64): log(1 + s + sqrt(s (s + 2)))
    below L = 300, L + log 2 beyond (the rest, about 1 / s, is below 1e-130). NaN (a
    collapsed point) becomes inf."""
    log_s = np.asarray(log_s, np.float64)
    small = log_s < 300
    s = np.exp(np.where(small, log_s, 0.0))
    direct = np.log1p(s + np.sqrt(s * (s + 2)))
    out = np.where(small, direct, log_s + math.log(2))
    return np.where(np.isnan(log_s), np.inf, out)


def store(points: list[list], precision: str, bits: int = 0) -> StoredPoints:
    """Round mpf coordinates (N lists of d) to `precision` ("fixed" needs `bits` >= 8)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; valid choices are {', '.join(PRECISIONS)}")
    if precision == "fixed":
        if bits < 8:
            raise ValueError(f"fixed point needs bits >= 8, got {bits}")
        scale = mpmath.mpf(2) ** bits
        with mpmath.workprec(bits + 64):
            ints = [[int(mpmath.nint(c * scale)) for c in row] for row in points]
        return StoredPoints("fixed", np.asarray(ints, dtype=object), bits)
    values = np.asarray([[float(c) for c in row] for row in points], np.float64)
    return StoredPoints.of_floats(values.astype(np.dtype(precision)))
