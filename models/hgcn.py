"""Hyperbolic graph convolution (Chami, Ying, Re & Leskovec, "Hyperbolic Graph Convolutional
Neural Networks", NeurIPS 2019) on the Poincare ball or the hyperboloid, with Flax NNX.

One HGCN layer (Sec. 4): a hyperbolic linear map, aggregation of the neighbours in the
tangent space at the origin (a normalized mean, or attention weights), and a nonlinearity
that may change the curvature: x' = exp_0^{c'}(sigma(log_0^c(.))). The graph is an edge list
(senders, receivers, weights); aggregation is a `segment_sum`, never a dense N x N matrix.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from manifolds.gyrovector import expmap0 as ball_expmap0
from manifolds.gyrovector import logmap0 as ball_logmap0
from manifolds.gyrovector import mobius_linear
from manifolds.lorentz import lorentz_dist, lorentz_translate
from manifolds.numerics import arcosh1p, ball_margin, safe_norm, sinhc
from manifolds.poincare import poincare_dist


@dataclasses.dataclass(frozen=True)
class PoincareGeometry:
    """Origin-based maps of the Poincare ball of curvature -c; points (..., n).

    Tangent vectors at the origin are n coordinates in the ball's chart (Ganea et al.'s exp_0,
    where the metric at 0 is 4 x Euclidean). The three geometries share this interface (exp0,
    log0, linear, sq_dist; c > 0 passed to each call), so one layer serves them all.
    """

    model: str = "poincare"

    def exp0(self, u: jax.Array, c) -> jax.Array:
        return ball_expmap0(u, c)

    def log0(self, x: jax.Array, c) -> jax.Array:
        return ball_logmap0(x, c)

    def linear(self, x: jax.Array, weight: jax.Array, bias: jax.Array, c) -> jax.Array:
        """Mobius W (x) x (+) exp_0(b) (Ganea et al. 2018, eq. 28)."""
        return mobius_linear(x, weight, ball_expmap0(bias, c), c)

    def sq_dist(self, x: jax.Array, y: jax.Array, c) -> jax.Array:
        return poincare_dist(x, y, c) ** 2


@dataclasses.dataclass(frozen=True)
class LorentzGeometry:
    """The hyperboloid <x, x>_L = -1/c; points (..., n + 1).

    Tangent vectors at the origin are the spatial part of the ball's under the isometry's
    differential, 2u, so `exp0`, `log0` and `linear` correspond exactly to the ball's through
    `poincare_to_lorentz`.
    """

    model: str = "lorentz"

    def exp0(self, u: jax.Array, c) -> jax.Array:
        k = 1 / c
        w = 2 * u  # the hyperboloid tangent vector at the origin
        theta = safe_norm(w, keepdims=True) / jnp.sqrt(k)
        # Saturate where the ball does: `project_to_ball` keeps points within its margin of
        # the boundary, i.e. theta <= 2 artanh(1 - margin). Unbounded, cosh overflows float32
        # to inf. That far out, float32 keeps x_0 and the direction of x_{1:} but not
        # <x, x>_L = -k; `log0` and `linear` (`lorentz_translate`) rely on nothing else.
        limit = float(2 * np.arctanh(1 - ball_margin(w.dtype)))
        scale = limit / jnp.maximum(theta, limit)
        theta, w = theta * scale, w * scale
        return jnp.concatenate([jnp.sqrt(k) * jnp.cosh(theta), sinhc(theta) * w], -1)

    def log0(self, x: jax.Array, c) -> jax.Array:
        k = 1 / c
        theta = arcosh1p(jnp.maximum(x[..., :1] / jnp.sqrt(k) - 1, 0.0))
        return x[..., 1:] / (2 * sinhc(theta))

    def linear(self, x: jax.Array, weight: jax.Array, bias: jax.Array, c) -> jax.Array:
        """exp_x(P_{0->x} b) of x = exp_0(W log_0 x), the image of the ball's Mobius linear
        map on the hyperboloid (HGCN, eq. 4-5)."""
        h = self.exp0(self.log0(x, c) @ weight.T, c)
        return lorentz_translate(h, 2 * bias, 1 / c)

    def sq_dist(self, x: jax.Array, y: jax.Array, c) -> jax.Array:
        return lorentz_dist(x, y, 1 / c) ** 2


@dataclasses.dataclass(frozen=True)
class EuclideanGeometry:
    """Every map the identity: the GCN and MLP baselines in the same code path."""

    model: str = "euclidean"

    def exp0(self, u: jax.Array, c) -> jax.Array:
        return u

    def log0(self, x: jax.Array, c) -> jax.Array:
        return x

    def linear(self, x: jax.Array, weight: jax.Array, bias: jax.Array, c) -> jax.Array:
        return x @ weight.T + bias

    def sq_dist(self, x: jax.Array, y: jax.Array, c) -> jax.Array:
        return jnp.sum((x - y) ** 2, -1)


GEOMETRIES = {
    "poincare": PoincareGeometry(),
    "lorentz": LorentzGeometry(),
    "euclidean": EuclideanGeometry(),
}
MODELS = tuple(GEOMETRIES)


def geometry(model: str) -> PoincareGeometry | LorentzGeometry | EuclideanGeometry:
    """The geometry called `model` (poincare | lorentz | euclidean)."""
    if model not in GEOMETRIES:
        raise ValueError(f"unknown model {model!r}; valid choices are {MODELS}")
    return GEOMETRIES[model]


def graph_operator(edges: np.ndarray, num_nodes: int) -> tuple[jax.Array, ...]:
    """(senders, receivers, weights) of D^-1 (A + I) for undirected (E, 2) edges: each node
    averages itself and its neighbours (HGCN's row-normalized adjacency)."""
    both = np.concatenate([edges, edges[:, ::-1], np.stack([np.arange(num_nodes)] * 2, 1)])
    degree = np.bincount(both[:, 1], minlength=num_nodes).astype(np.float32)
    return (
        jnp.asarray(both[:, 0], jnp.int32),
        jnp.asarray(both[:, 1], jnp.int32),
        jnp.asarray(1.0 / degree[both[:, 1]], jnp.float32),
    )


def aggregate(t: jax.Array, graph) -> jax.Array:
    """(N, D) -> (N, D): row i becomes sum_j w_ij t_j over its neighbourhood, for `graph` =
    (senders, receivers, weights); with `graph_operator`'s weights, the mean over the node
    and its neighbours (the row-normalized D^-1 (A + I) of HGCN's code)."""
    senders, receivers, weights = graph
    return jax.ops.segment_sum(weights[:, None] * t[senders], receivers, t.shape[0])


class HGCNConv(nnx.Module):
    """One HGCN layer: linear, aggregation, activation with a change of curvature.

    Shapes: (N, in) -> (N, out) Poincare points, or (N, in + 1) -> (N, out + 1) on the
    hyperboloid.

    Args:
        in_features: spatial dimension of the input.
        out_features: spatial dimension of the output.
        model: "poincare" or "lorentz".
        attention: aggregate with attention weights softmax_j(MLP([log_0 x_i, log_0 x_j]))
            over each node's neighbourhood (HGCN eq. 8) instead of the normalized mean.
        activation: applied in the tangent space at the origin; None for identity.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        model: str,
        rngs: nnx.Rngs,
        attention: bool = False,
        dropout: float = 0.0,
        activation=jax.nn.relu,
    ):
        self.geometry = geometry(model)
        init = nnx.initializers.xavier_uniform()
        self.weight = nnx.Param(init(rngs.params(), (out_features, in_features), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32))
        self.attention = (
            nnx.Param(init(rngs.params(), (2 * out_features, 1), jnp.float32))
            if attention
            else None
        )
        self.dropout = nnx.Dropout(dropout)  # its key comes with each call
        self.activation = activation

    def __call__(self, x: jax.Array, graph, c_in, c_out, rngs: nnx.Rngs | None = None) -> jax.Array:
        """x: (N, in) points; graph: `graph_operator(...)`, or None for no aggregation (the
        HNN and MLP baselines); c_in, c_out: curvatures before and after the activation;
        rngs: the dropout key's stream in training (passed per call, so a pure training
        step can draw it from its own key)."""
        geo = self.geometry
        h = geo.linear(x, self.dropout(self.weight[...], rngs=rngs), self.bias[...], c_in)
        t = geo.log0(h, c_in)  # (N, out) tangent vectors at the origin
        if graph is not None:
            t = self._aggregate(t, graph)
        if self.activation is not None:
            t = self.activation(t)
        return geo.exp0(t, c_out)

    def _aggregate(self, t, graph):
        senders, receivers, weights = graph
        n = t.shape[0]
        if self.attention is not None:
            a = self.attention[...][:, 0]
            half = a.shape[0] // 2
            score = t[receivers] @ a[:half] + t[senders] @ a[half:]
            score = score - jax.ops.segment_max(score, receivers, n)[receivers]
            w = jnp.exp(score)
            weights = w / jax.ops.segment_sum(w, receivers, n)[receivers]
        return aggregate(t, (senders, receivers, weights))


def fermi_dirac(sq_dist: jax.Array, r: float = 2.0, t: float = 1.0) -> jax.Array:
    """Edge probability 1 / (exp((d^2 - r) / t) + 1) (HGCN, eq. 10), from squared distances."""
    return jax.nn.sigmoid((r - sq_dist) / t)
