"""The shared vocabulary of every manifold (geoopt's names, point first).

Each manifold is a frozen dataclass registered as a JAX pytree: array-valued parameters
(curvature) are leaves, so they can be traced and learned; sizes and metric names are static.
Every method broadcasts over leading batch axes; a point has `ndim` trailing axes.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.frechet_mean import frechet_mean, weighted_sum
from manifolds.numerics import safe_sqrt

Array = jnp.ndarray


def manifold_dataclass(data_fields: tuple[str, ...] = ()):
    """Make a frozen dataclass and register it as a pytree with `data_fields` as leaves.

    Unflattening bypasses `__init__`, so validation in `__post_init__` only runs on
    user-built objects, never on the placeholders JAX passes while tracing.
    """

    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True)(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        meta_fields = tuple(n for n in names if n not in data_fields)

        def flatten(obj):
            children = tuple(getattr(obj, n) for n in data_fields)
            aux = tuple(getattr(obj, n) for n in meta_fields)
            return children, aux

        def unflatten(aux, children):
            obj = object.__new__(cls)
            for n, v in zip(data_fields, children, strict=True):
                object.__setattr__(obj, n, v)
            for n, v in zip(meta_fields, aux, strict=True):
                object.__setattr__(obj, n, v)
            return obj

        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        return cls

    return wrap


# Public methods whose first `count` arguments are points or tangent vectors: their trailing
# shape is checked when the method is traced or called, so that a wrong shape is a
# ValueError naming the expected one (jit-safe: shapes are static).
_SHAPE_CHECKED = {
    "proj": 1,
    "proju": 2,
    "egrad2rgrad": 2,
    "inner": 3,
    "norm": 2,
    "expmap": 2,
    "retr": 2,
    "logmap": 2,
    "transp": 3,
    "dist": 2,
    "expmap0": 1,
    "logmap0": 1,
}


def _shape_checked(method, name: str, count: int):
    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        for arg in args[:count]:
            if hasattr(arg, "shape"):
                reason = self.point_shape_error(tuple(arg.shape))
                if reason is not None:
                    raise ValueError(f"{type(self).__name__}.{name}: {reason}")
        return method(self, *args, **kwargs)

    return checked


def require_positive(name: str, value: Any, cls_name: str) -> None:
    """Raise a ValueError if a concrete `value` is not a positive finite number."""
    if isinstance(value, jax.core.Tracer):
        return
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{cls_name}: {name} must be a positive finite number, got {value!r}.")


def require_curvature(c: Any, where: str) -> None:
    """The functional API's check of a concrete curvature magnitude c > 0 (curvature -c)."""
    require_positive("curvature magnitude c (the curvature is -c; c > 0)", c, where)


class Manifold:
    """Base class: default implementations shared by the manifolds.

    Subclasses define `ndim` (trailing axes of a point), `proj`, `proju`, `inner`, `expmap`,
    `logmap`, `transp`, `dist`, `origin`, `random` and `_check_point`.
    """

    ndim: ClassVar[int] = 1
    # False where `transp` is a vector transport that does not preserve inner products.
    transp_is_isometry: ClassVar[bool] = True
    # True where `component_inner` is one scale per point, so Riemannian Adam's direction
    # stays tangent without a re-projection.
    adapts_per_point: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, count in _SHAPE_CHECKED.items():
            if name in cls.__dict__:
                setattr(cls, name, _shape_checked(cls.__dict__[name], name, count))

    def egrad2rgrad(self, x: Array, g: Array) -> Array:
        """Euclidean gradient of a function at x to its Riemannian gradient."""
        return self.proju(x, g)

    def norm(self, x: Array, u: Array) -> Array:
        """Riemannian norm of tangent vector u at x, shape batch."""
        return safe_sqrt(self.inner(x, u, u))

    def retr(self, x: Array, u: Array) -> Array:
        """A cheap retraction: proj(x + u)."""
        return self.proj(x + u)

    def component_inner(self, x: Array, u: Array) -> Array:
        """Per-coordinate contribution to <u, u>_x, shaped like u (Riemannian Adam's 2nd moment).

        u * u suits metrics that are (conformally) Euclidean in the ambient coordinates, where
        scaling coordinates by positive factors keeps a descent direction. Manifolds with other
        metrics return `squared_norm_per_coordinate`: Becigneul & Ganea's adaptivity per factor.
        """
        return u * u

    def squared_norm_per_coordinate(self, x: Array, u: Array) -> Array:
        """<u, u>_x broadcast to u's shape: one adaptive scale for the whole point."""
        sq = self.inner(x, u, u)
        return jnp.broadcast_to(sq.reshape(sq.shape + (1,) * self.ndim), u.shape)

    def frechet_mean(self, x, weights=None, **kwargs):
        """Weighted Frechet (Karcher) mean over the axis before the point axes; see frechet_mean."""
        return frechet_mean(self, x, weights, **kwargs)

    # Hooks of `frechet_mean` (w: normalized weights (..., N); the N points on `point_axis`).
    def mean_closed_form(self, x: Array, w: Array) -> Array | None:
        """The mean in closed form, or None to run the Karcher flow."""
        return None

    def karcher_start(self, x: Array, w: Array, point_axis: int) -> Array:
        """The Karcher flow's first iterate: the first point."""
        return jnp.take(x, 0, axis=point_axis)

    def karcher_step(self, m: Array, x: Array, w: Array, point_axis: int, memory):
        """(m <- exp_m(sum_i w_i log_m(x_i)), the largest gradient norm, memory) (Pennec 2006,
        Alg. 1); `memory` is what `karcher_memory` started and the last step returned."""
        v = weighted_sum(w, self.logmap(jnp.expand_dims(m, point_axis), x), self.ndim)
        return self.expmap(m, v), jnp.max(self.norm(m, v)), memory

    def karcher_memory(self, m0: Array):
        """The state a `karcher_step` carries between steps (None: none)."""
        return None

    def point_shape_error(self, shape: tuple[int, ...]) -> str | None:
        """A reason if `shape`'s trailing axes cannot hold a point, else None."""
        if len(shape) < self.ndim:
            return f"expected at least {self.ndim} axes, got shape {shape}"
        return None

    def check(self, x: Array, atol: float | None = None) -> tuple[bool, str]:
        """(ok, reason) for a concrete array: shape, finiteness, then the manifold's constraint.

        For use outside jit, to turn bad input into a clear error before any work is done.
        """
        x = np.asarray(x)
        reason = self.point_shape_error(x.shape)
        if reason is not None:
            return False, f"{type(self).__name__}: wrong trailing shape: {reason}"
        if not np.issubdtype(x.dtype, np.floating):
            return False, f"{type(self).__name__}: expected a floating dtype, got {x.dtype}"
        if not np.all(np.isfinite(x)):
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            return False, f"{type(self).__name__}: {bad} entries are NaN or infinite"
        if atol is None:
            atol = 1e-4 if x.dtype == np.float32 else 1e-8
        reason = self._check_point(x, atol)
        if reason is not None:
            return False, f"{type(self).__name__}: {reason}"
        return True, ""

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        raise NotImplementedError

    def assert_point(self, x: Array, atol: float | None = None) -> None:
        """Raise ValueError with the reason if `check(x)` fails."""
        ok, reason = self.check(x, atol)
        if not ok:
            raise ValueError(reason)
