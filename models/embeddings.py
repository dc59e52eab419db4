"""Embedding tables of a hierarchy's nodes in hyperbolic or Euclidean space (Flax NNX).

- "poincare": the Poincare ball (Nickel & Kiela, NeurIPS 2017);
- "lorentz": the hyperboloid, dim + 1 coordinates (Nickel & Kiela, ICML 2018);
- "euclidean": R^dim with the Euclidean distance (the papers' baseline);
- "euclidean_param": R^dim read as tangent vectors at the hyperboloid's origin (Mishne et al.,
  ICML 2023), trained with Euclidean optimizers; |v| is the distance to the origin.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from geo.optim import ManifoldParam
from manifolds import Lorentz, Manifold, PoincareBall, euclidean_param_dist
from manifolds.hyperbolic import euclidean_param_to_poincare, lorentz_to_poincare
from manifolds.numerics import safe_norm
from models.nickel_kiela import poincare_ranking_loss_and_grad, ranking_loss

SPACES = ("poincare", "lorentz", "euclidean", "euclidean_param")


@dataclasses.dataclass(frozen=True)
class EmbeddingSpace:
    """How one kind of embedding stores, initializes, compares and draws its points.

    Attributes:
        name: one of SPACES.
        manifold: the manifold of the table's rows (None: Euclidean parameters).
        coordinates: stored coordinates per node for a `dim`-dimensional embedding.
        dist: distance between rows (..., coordinates) -> (...).
        to_poincare: rows -> Poincare-ball points (for plots).
        ranking_features: float64 table (N, C) -> rows (N, F), columns (N, F) whose products
            rows[u] . cols[w] increase with d(u, w) for each u (exact evaluation, geo.ranking),
            or None.
        ranking_loss_and_grad: the Nickel & Kiela loss of rows and its gradient,
            (rows, valid, weight) -> (loss, grad) as in
            `models.nickel_kiela.poincare_ranking_loss_and_grad` (closed form); None builds
            it by autodiff of `dist`.
    """

    name: str
    manifold: Manifold | None
    coordinates: Callable[[int], int]
    dist: Callable[[jax.Array, jax.Array], jax.Array]
    to_poincare: Callable[[jax.Array], jax.Array]
    ranking_features: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    ranking_loss_and_grad: Callable | None = None

    def __post_init__(self):
        if self.ranking_loss_and_grad is None:
            object.__setattr__(self, "ranking_loss_and_grad", autodiff_ranking_loss(self.dist))

    def init(self, key: jax.Array, num_nodes: int, dim: int, scale: float, dtype) -> jax.Array:
        """Nickel & Kiela's initialization: uniform in [-scale, scale] near the origin."""
        rows = jax.random.uniform(key, (num_nodes, dim), dtype, -scale, scale)
        if self.name == "lorentz":
            rows = self.manifold.proj(jnp.concatenate([jnp.zeros((num_nodes, 1), dtype), rows], -1))
        return rows


def autodiff_ranking_loss(dist: Callable) -> Callable:
    """(rows, valid, weight) -> (per-run losses, gradient) of the ranking loss of `dist`, by
    autodiff: rows (..., B, 2 + K, C) hold (child, ancestor, K negatives), valid (..., B, 1 + K)
    marks real candidates, weight (..., B) averages over the real edges."""

    def loss_and_grad(rows, valid, weight):
        def loss_fn(rows):
            dists = dist(rows[..., :1, :], rows[..., 1:, :])
            per_run = jnp.sum(weight.astype(rows.dtype) * ranking_loss(dists, valid), axis=-1)
            return jnp.sum(per_run), per_run

        (_, per_run), grads = jax.value_and_grad(loss_fn, has_aux=True)(rows)
        return per_run, grads

    return loss_and_grad


def _euclidean_dist(x, y):
    return safe_norm(x - y)


def _squared_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("nd,nd->n", x, x)[:, None]


def _poincare_ranking_features(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys (|u|^2 + |w|^2 - 2 u.w) / (1 - |w|^2): d(u, w) = arcosh(1 + 2 key / (1 - |u|^2))
    (Nickel & Kiela 2017, eq. 1) increases with them for each u."""
    sq = _squared_norms(table)
    if np.any(sq >= 1):
        raise ValueError(f"{int(np.sum(sq >= 1))} rows are not inside the unit ball")
    inv = 1 / (1 - sq)
    rows = np.concatenate([sq, np.ones_like(sq), -2 * table], 1)
    return rows, np.concatenate([inv, sq * inv, table * inv], 1)


def _lorentz_ranking_features(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys -<u, w>_L = cosh d(u, w) on the hyperboloid (Nickel & Kiela 2018, eq. 2)."""
    return np.concatenate([table[:, :1], -table[:, 1:]], 1), table


def _euclidean_ranking_features(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys |u|^2 + |w|^2 - 2 u.w = |u - w|^2."""
    sq = _squared_norms(table)
    rows = np.concatenate([sq, np.ones_like(sq), -2 * table], 1)
    return rows, np.concatenate([np.ones_like(sq), sq, table], 1)


@functools.cache
def embedding_space(name: str) -> EmbeddingSpace:
    """The EmbeddingSpace called `name` (one object per name, so compiled code is reused);
    an unknown name is a ValueError listing the choices."""
    ball, hyperboloid = PoincareBall(1.0), Lorentz(1.0)
    spaces = {
        "poincare": EmbeddingSpace(
            "poincare",
            ball,
            lambda d: d,
            ball.dist,
            lambda x: x,
            _poincare_ranking_features,
            poincare_ranking_loss_and_grad,
        ),
        "lorentz": EmbeddingSpace(
            "lorentz",
            hyperboloid,
            lambda d: d + 1,
            hyperboloid.dist,
            lorentz_to_poincare,
            _lorentz_ranking_features,
        ),
        "euclidean": EmbeddingSpace(
            "euclidean",
            None,
            lambda d: d,
            _euclidean_dist,
            lambda x: x / (1 + jnp.linalg.norm(x, axis=-1, keepdims=True)),
            _euclidean_ranking_features,
        ),
        "euclidean_param": EmbeddingSpace(
            "euclidean_param", None, lambda d: d, euclidean_param_dist, euclidean_param_to_poincare
        ),
    }
    if name not in spaces:
        raise ValueError(f"unknown manifold {name!r}; valid choices are {', '.join(SPACES)}")
    return spaces[name]


class HierarchyEmbedding(nnx.Module):
    """A table of node embeddings, shape (num_nodes, coordinates).

    Args:
        num_nodes: rows of the table.
        dim: dimension of the embedding (the hyperboloid stores dim + 1 coordinates).
        space: one of SPACES.
        rngs: random streams; `rngs.params()` draws the initialization.
        init_scale: half-width of the uniform initialization.
        dtype: float32 or float64.
    """

    def __init__(
        self,
        num_nodes: int,
        dim: int,
        space: str,
        *,
        rngs: nnx.Rngs,
        init_scale: float = 1e-3,
        dtype=jnp.float32,
    ):
        self.space = embedding_space(space)
        rows = self.space.init(rngs.params(), num_nodes, dim, init_scale, dtype)
        if self.space.manifold is None:
            self.table = nnx.Param(rows)
        else:
            self.table = ManifoldParam(rows, manifold=self.space.manifold)

    def __call__(self, i: jax.Array, j: jax.Array) -> jax.Array:
        """Distances between nodes i and j (broadcasting integer arrays)."""
        return self.space.dist(self.table[...][i], self.table[...][j])
