"""An opt-in checked mode for any manifold, valid under `jit` (through `jax.experimental.checkify`).

`Checked(manifold)` has the manifold's whole vocabulary; every method first checks, on traced
values, that its point arguments lie on the manifold (within `atol` of their projection), that
its tangent arguments are finite and that the curvature is positive, and afterwards that its
result is finite. A failed check names the method, the argument and the measured violation.

The checks are `checkify.check`s: called eagerly they raise at once; under `jit` the function
has to be functionalized, which `run_checked` does::

    ball = Checked(PoincareBall(1.0))
    dist = run_checked(jax.jit(ball.dist))
    dist(x, y)  # raises JaxRuntimeError "PoincareBall.dist: argument 1 is not on ..."

Without `Checked` nothing is checked and nothing is paid: this is for debugging a model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.experimental import checkify

from manifolds.base import Manifold, manifold_dataclass

Array = jnp.ndarray

# Method -> (positions of point arguments, positions of tangent arguments).
_ARGUMENTS = {
    "proju": ((0,), (1,)),
    "egrad2rgrad": ((0,), (1,)),
    "inner": ((0,), (1, 2)),
    "norm": ((0,), (1,)),
    "component_inner": ((0,), (1,)),
    "expmap": ((0,), (1,)),
    "retr": ((0,), (1,)),
    "logmap": ((0, 1), ()),
    "transp": ((0, 1), (2,)),
    "dist": ((0, 1), ()),
    "expmap0": ((), (0,)),
    "logmap0": ((0,), ()),
    "frechet_mean": ((0,), ()),
}


def _default_atol(dtype) -> float:
    return 1e-4 if jnp.dtype(dtype) == jnp.float32 else 1e-8


def point_violation(manifold: Manifold, x: Any) -> Array:
    """max |proj(x) - x| / max(1, max |x|), a traceable scalar: 0 on the manifold.

    Works for every manifold, since `proj` is the identity exactly on its points (a tuple of
    arrays for a `Product`).
    """
    ratios = jax.tree.map(
        lambda p, q: jnp.max(jnp.abs(p - q)) / jnp.maximum(1.0, jnp.max(jnp.abs(q))),
        manifold.proj(x),
        x,
    )
    return jnp.max(jnp.stack(jax.tree.leaves(ratios)))


def _all_finite(tree: Any) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(tree)]))


def check_curvature(manifold: Manifold, where: str) -> None:
    """checkify checks that every array parameter of `manifold` (its curvature) is > 0."""
    for leaf in jax.tree.leaves(manifold):
        checkify.check(
            jnp.all(jnp.asarray(leaf) > 0),
            f"{where}: the curvature parameter must be > 0, got {{value}}",
            value=jnp.min(jnp.asarray(leaf)),
        )


def check_point(manifold: Manifold, x: Any, where: str, atol: float | None = None) -> None:
    """checkify checks that x is finite and on `manifold` within `atol` (see point_violation)."""
    if atol is None:
        atol = _default_atol(jax.tree.leaves(x)[0].dtype)
    checkify.check(_all_finite(x), f"{where} has NaN or infinite entries")
    violation = point_violation(manifold, x)
    checkify.check(
        violation <= atol,
        f"{where} is not on {type(manifold).__name__}: |proj(x) - x| / max(1, |x|) = "
        f"{{violation}} > atol {atol:g} (check() gives the reason eagerly)",
        violation=violation,
    )


@manifold_dataclass(data_fields=("manifold",))
class Checked(Manifold):
    """`manifold` with every method checked (points on it, finite tangents, c > 0, finite result).

    Attributes:
        manifold: the manifold to check.
        atol: allowed `point_violation`; default 1e-4 in float32 and 1e-8 in float64.
    """

    manifold: Manifold = None
    atol: float | None = None

    def __post_init__(self):
        if not isinstance(self.manifold, Manifold) or isinstance(self.manifold, Checked):
            raise ValueError(
                f"Checked: expected an (unchecked) manifold, got {type(self.manifold).__name__}."
            )

    @property
    def ndim(self) -> int:  # type: ignore[override]
        return self.manifold.ndim

    def __getattr__(self, name: str):
        # Everything not wrapped below (origin, random, check, transp_is_isometry, ...).
        if name.startswith("__") or name == "manifold":
            raise AttributeError(name)
        attribute = getattr(self.manifold, name)
        if name in _ARGUMENTS and callable(attribute):
            return self._wrap(name, attribute)
        return attribute

    def _name(self, method: str) -> str:
        return f"{type(self.manifold).__name__}.{method}"

    def _check_inputs(self, method: str, args: tuple) -> None:
        where = self._name(method)
        check_curvature(self.manifold, where)
        points, tangents = _ARGUMENTS[method]
        for i in points:
            if i < len(args):
                check_point(self.manifold, args[i], f"{where}: argument {i}", self.atol)
        for i in tangents:
            if i < len(args):
                checkify.check(
                    _all_finite(args[i]),
                    f"{where}: argument {i} (a tangent vector) has NaN or infinite entries",
                )

    def _wrap(self, method: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def checked(*args, **kwargs):
            self._check_inputs(method, args)
            out = function(*args, **kwargs)
            checkify.check(_all_finite(out), f"{self._name(method)}: the result is not finite")
            return out

        return checked

    # The base class defines these; route them through the checks as well.
    def egrad2rgrad(self, x, g):
        return self._wrap("egrad2rgrad", self.manifold.egrad2rgrad)(x, g)

    def norm(self, x, u):
        return self._wrap("norm", self.manifold.norm)(x, u)

    def retr(self, x, u):
        return self._wrap("retr", self.manifold.retr)(x, u)

    def component_inner(self, x, u):
        return self._wrap("component_inner", self.manifold.component_inner)(x, u)

    def frechet_mean(self, x, weights=None, **kwargs):
        return self._wrap("frechet_mean", self.manifold.frechet_mean)(x, weights, **kwargs)

    def point_shape_error(self, shape):
        return self.manifold.point_shape_error(shape)

    def check(self, x: Array, atol: float | None = None) -> tuple[bool, str]:
        return self.manifold.check(x, atol)


def run_checked(function: Callable) -> Callable:
    """`function` functionalized by checkify: a failed `Checked` check raises after the call.

    Wraps jitted functions too (checkify goes outside `jit`). Only the checks written with
    `checkify.check` (the user checks) are enabled, so the cost is that of the checks alone.
    """
    functionalized = checkify.checkify(function, errors=checkify.user_checks)

    @functools.wraps(function)
    def call(*args, **kwargs):
        error, out = functionalized(*args, **kwargs)
        error.throw()
        return out

    return call
