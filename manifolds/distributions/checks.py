"""Clear errors for points given to a density: concrete arrays are checked, traced ones
(under jit) are left to the caller."""

from __future__ import annotations

import jax

from manifolds.base import Array, Manifold


def check_points(manifold: Manifold, x: Array, where: str, atol: float | None = None) -> None:
    """ValueError naming `where` if a concrete `x` is not on `manifold` (NaN, wrong shape,
    off the manifold); nothing under tracing."""
    if isinstance(x, jax.core.Tracer):
        return
    ok, reason = manifold.check(x, atol)
    if not ok:
        raise ValueError(f"{where}: {reason}")
