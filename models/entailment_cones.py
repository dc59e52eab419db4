"""Hyperbolic entailment cones (Ganea, Becigneul & Hofmann, ICML 2018) and order embeddings
(Vendrov et al., ICLR 2016): "child is-a parent" as the child lying in the parent's cone.

Energies take (parent, child) rows and are 0 exactly when the relation holds:

- `cone_energy` on the Poincare ball: max(0, Xi(x, y) - psi(x)) (Ganea et al., eq. 33), with
  the half-aperture psi(x) = arcsin(K (1 - |x|^2) / |x|) (eq. 26) and Xi(x, y) the angle at
  x between the ray from the origin through x and the geodesic from x to y (eq. 28);
- `lorentz_cone_energy` on the hyperboloid: the same cones (MERU, Desai et al. 2023, eq. 7-8:
  psi = arcsin(2K / |x_space|), which is eq. 26 at the ball point x_space / (1 + x_0));
- `order_energy`: |max(0, parent - child)|^2 in R^n (Vendrov et al., eq. 2).

`EntailmentSpace` turns an energy into what `geo.hierarchy_training.make_epoch` trains: the
max-margin loss of Ganea et al., eq. 32, over (child, ancestor, K negative ancestors) rows.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from manifolds import Lorentz, Manifold, PoincareBall
from manifolds.base import manifold_dataclass
from manifolds.hyperbolic import lorentz_to_poincare
from manifolds.numerics import safe_norm

MODELS = ("cones", "order")


def inner_radius(k: float) -> float:
    """The radius where K (1 - r^2) / r = 1: psi reaches 90 degrees there and is undefined
    inside (Ganea et al., Sec. 5.2)."""
    return 2 * k / (1 + math.sqrt(1 + 4 * k * k))


def check_cone_parameters(k: float, min_radius: float) -> None:
    """ValueError unless K > 0 and inner_radius(K) < min_radius < 1."""
    if not k > 0:
        raise ValueError(f"the cones' K must be positive, got {k}")
    r0 = inner_radius(k)
    if not r0 < min_radius < 1:
        raise ValueError(
            f"min_radius={min_radius} must be in ({r0:.6f}, 1): below {r0:.6f} the half-aperture "
            f"arcsin(K (1 - r^2) / r) of K={k} is undefined"
        )


def half_aperture(x: jax.Array, k: float, min_radius: float) -> jax.Array:
    """psi(x) = arcsin(K (1 - r^2) / r), r = max(|x|, min_radius) (Ganea et al., eq. 26).

    Args:
        x: (..., n) ball points (the cones' apexes).
        k: the aperture constant K.
        min_radius: > inner_radius(K); points nearer the origin get the aperture at this
            radius, so psi and its gradient stay finite everywhere (checked by the caller).

    Returns:
        (...,) half-apertures in (0, pi / 2).
    """
    r = jnp.maximum(safe_norm(x), min_radius)
    return jnp.arcsin(jnp.minimum(k * (1 - r) * (1 + r) / r, 1.0))


def exterior_angle(x: jax.Array, y: jax.Array) -> jax.Array:
    """Xi(x, y): the angle at x between the radial direction x / |x| and the geodesic to y.

    Ganea et al., eq. 28, in a form without cancellation: the geodesic leaves x along
    w = (-x) (+) y (Mobius addition), whose direction is (1 - |x|^2) d - |d|^2 x with
    d = y - x, so Xi = atan2((1 - |x|^2) |d_perp|, (1 - |x|^2) <x^, d> - |d|^2 |x|), d_perp
    the part of d orthogonal to x. Accurate for small angles (an arccos is not), finite in
    float32 near the boundary; Xi(x, x) = 0, and at x = 0 the radial direction is taken as
    undefined, so Xi = pi / 2.

    Args:
        x: (..., n) ball points (the apexes).
        y: (..., n) ball points.

    Returns:
        (...,) angles in [0, pi].
    """
    norm_x = safe_norm(x, keepdims=True)
    unit = x / jnp.maximum(norm_x, jnp.finfo(x.dtype).tiny)
    d = y - x
    along = jnp.sum(unit * d, -1)
    a = (1 - norm_x[..., 0]) * (1 + norm_x[..., 0])
    perp = safe_norm(d - along[..., None] * unit)
    cos_part = a * along - jnp.sum(d * d, -1) * norm_x[..., 0]
    same = (perp == 0) & (cos_part == 0)
    return jnp.where(same, 0.0, jnp.arctan2(a * perp, jnp.where(same, 1.0, cos_part)))


def cone_energy(parent: jax.Array, child: jax.Array, k: float, min_radius: float) -> jax.Array:
    """max(0, Xi(parent, child) - psi(parent)) (Ganea et al., eq. 33): 0 iff the child is in
    the parent's cone. Shapes (..., n) -> (...)."""
    return jax.nn.relu(exterior_angle(parent, child) - half_aperture(parent, k, min_radius))


def lorentz_cone_energy(
    parent: jax.Array, child: jax.Array, k: float, min_radius: float
) -> jax.Array:
    """`cone_energy` of hyperboloid points (..., n + 1): the cones of MERU's eq. 7-8 (c = 1),
    evaluated at the ball points x_{1:} / (1 + x_0), which is exact and stable in float32."""
    return cone_energy(lorentz_to_poincare(parent), lorentz_to_poincare(child), k, min_radius)


def order_energy(parent: jax.Array, child: jax.Array) -> jax.Array:
    """|max(0, parent - child)|^2 (Vendrov et al., eq. 2): 0 iff child >= parent in every
    coordinate (the reversed product order, general concepts nearer the origin)."""
    return jnp.sum(jax.nn.relu(parent - child) ** 2, -1)


@manifold_dataclass(data_fields=("c",))
class PoincareAnnulus(PoincareBall):
    """The Poincare ball without the open ball of radius `min_norm`: `proj` also lifts rows
    nearer the origin to that radius (Ganea et al. train the cones there, Sec. 5.2)."""

    min_norm: float = 0.0

    def proj(self, x: jax.Array) -> jax.Array:
        x = super().proj(x)
        n = safe_norm(x, keepdims=True)
        return jnp.where(n < self.min_norm, x * (self.min_norm / jnp.maximum(n, 1e-30)), x)


@dataclasses.dataclass(frozen=True)
class EntailmentSpace:
    """An entailment energy as `make_epoch` trains it (`geo.hierarchy_training.TrainableSpace`).

    Attributes:
        name: "cones" on "poincare" or "lorentz", or "order".
        manifold: the rows' manifold (None: Euclidean rows).
        energy: (parent rows (..., C), child rows (..., C)) -> (...) energies, 0 iff is-a.
        margin: the negatives' margin gamma.
        to_ball: rows -> Poincare-ball points (plots), or None.
        parent_first: rows hold (parent, descendant, K sampled non-descendants) instead of
            (child, ancestor, K sampled non-ancestors): the negatives replace the other end
            of the edge (the release's `neg_edges_attach` parent / child).
    """

    name: str
    manifold: Manifold | None
    energy: Callable[[jax.Array, jax.Array], jax.Array]
    margin: float
    to_ball: Callable | None = None
    parent_first: bool = False

    def ranking_loss_and_grad(self, rows, valid, weight):
        """Ganea et al., eq. 32, and its gradient with respect to rows.

        Args:
            rows: (..., B, 2 + K, C): the child, its ancestor, K sampled non-ancestors (or
                with `parent_first` the parent, its descendant, K non-descendants).
            valid: (..., B, 1 + K) which ancestor / negative slots count.
            weight: (..., B) each edge's weight.

        Returns:
            (per-run sum over B of weight * (E(ancestor, child) + sum_k max(0, gamma -
            E(negative_k, child))) (...,), gradient with respect to rows).
        """

        def loss_fn(rows):
            first, others = rows[..., :1, :], rows[..., 1:, :]
            e = self.energy(first, others) if self.parent_first else self.energy(others, first)
            positive = jnp.arange(e.shape[-1]) == 0
            terms = jnp.where(positive, e, jax.nn.relu(self.margin - e))
            per_edge = jnp.sum(jnp.where(valid, terms, 0.0), -1)
            per_run = jnp.sum(weight.astype(rows.dtype) * per_edge, -1)
            return jnp.sum(per_run), per_run

        (_, per_run), grads = jax.value_and_grad(loss_fn, has_aux=True)(rows)
        return per_run, grads


@functools.cache
def entailment_space(
    model: str, manifold: str = "poincare", k: float = 0.1, min_radius: float = 0.1,
    margin: float = 0.01, parent_first: bool = False,
) -> EntailmentSpace:  # fmt: skip
    """One space per setting (so compiled epochs are reused); bad settings are ValueErrors.

    Args:
        model: "cones" or "order".
        manifold: the cones' model of hyperbolic space, "poincare" or "lorentz".
        k: the cones' aperture constant K.
        min_radius: the cones' minimum radius (> inner_radius(K)); on the ball, rows are
            kept at least this far from the origin.
        margin: gamma of the negatives' hinge.
        parent_first: rows are (parent, descendant, non-descendants); see EntailmentSpace.
    """
    if model not in MODELS:
        raise ValueError(f"model={model!r}; valid choices are {', '.join(MODELS)}")
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if model == "order":
        return EntailmentSpace("order", None, order_energy, margin, None, parent_first)
    check_cone_parameters(k, min_radius)
    if manifold == "poincare":
        energy = functools.partial(cone_energy, k=k, min_radius=min_radius)
        annulus = PoincareAnnulus(1.0, min_radius)
        return EntailmentSpace("cones", annulus, energy, margin, lambda x: x, parent_first)
    if manifold == "lorentz":
        energy = functools.partial(lorentz_cone_energy, k=k, min_radius=min_radius)
        hyperboloid = Lorentz(1.0)
        return EntailmentSpace(
            "cones", hyperboloid, energy, margin, lorentz_to_poincare, parent_first
        )
    raise ValueError(f"manifold={manifold!r} for the cones; valid choices are poincare, lorentz")
