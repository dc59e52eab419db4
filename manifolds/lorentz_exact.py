"""The hyperboloid Lorentz(1)'s distance and log map in `mpmath`, at the working precision
(`mpmath.workdps`): the exact values the float forms of `manifolds.lorentz` are measured
against (tests/manifolds/test_lorentz_far_out.py, benchmarks/lorentz_distance.py).

A point is read from its space-like part, and x_0 = sqrt(1 + |x_{1:}|^2) is recomputed, so
a float point a rounding off the sheet is taken at the sheet point above its space part.
"""

from __future__ import annotations

import mpmath
import numpy as np


def _lift(x) -> list:
    """[x_0, x_1, ...] in mpmath, x_0 recomputed from the space-like part of `x`."""
    space = [mpmath.mpf(float(t)) for t in np.asarray(x).reshape(-1)[1:]]
    return [mpmath.sqrt(1 + mpmath.fsum(t * t for t in space)), *space]


def _inner(p: list, q: list):
    return -p[0] * q[0] + mpmath.fsum(s * t for s, t in zip(p[1:], q[1:], strict=True))


def exact_lorentz_dist(x, y) -> float:
    """arcosh(-<x, y>_L) of the sheet points of x, y (shape (n + 1,)), rounded to a float."""
    return float(mpmath.acosh(-_inner(_lift(x), _lift(y))))


def exact_lorentz_logmap(x, y) -> np.ndarray:
    """log_x(y) = theta / sinh(theta) (y + <x, y>_L x), theta = arcosh(-<x, y>_L), of the
    sheet points of x, y (shape (n + 1,)), rounded to float64."""
    p, q = _lift(x), _lift(y)
    inner = _inner(p, q)
    theta = mpmath.acosh(-inner)
    scale = theta / mpmath.sinh(theta) if theta else mpmath.mpf(1)
    return np.asarray([float(scale * (t + inner * s)) for s, t in zip(p, q, strict=True)])
