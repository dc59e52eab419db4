"""Hyperbolic neural network layers (Flax NNX) on the Poincare ball and the hyperboloid.

- `Curvature`: c > 0 through a softplus, trainable or fixed (HGCN learns it per layer);
- `MobiusLinear`, `HyperbolicMLR`: Ganea, Becigneul & Hofmann, "Hyperbolic Neural
  Networks" (NeurIPS 2018), eq. 28 and eq. 25;
- `PoincareFC`, `PoincareMLR`: Shimizu, Mukuta & Harada, "Hyperbolic Neural Networks++"
  (ICLR 2021), eq. 6 and eq. 9-10;
- `LorentzLinear`: the fully hyperbolic linear layer of Chen et al., "Fully Hyperbolic
  Neural Networks" (HyboNet, ACL 2022), eq. 3.

Layers take the curvature c as a call argument (a model owns its `Curvature`s), so one
layer class serves fixed and learned curvatures; inputs must already be on the manifold
(map Euclidean features with `expmap0` first). With `checked=True` a layer checks, under
`jit` too, that c > 0 and that its input is on the ball (hyperboloid), with `checkify`
checks: run the model through `models.run_checked` (docs/manifolds.md).
Every parameter is Euclidean (biases and gyroplane offsets live in the tangent space at the
origin), so `optax.adam` trains them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import checkify

from manifolds import Lorentz, PoincareBall
from manifolds.checked import check_curvature, check_point
from manifolds.gyrovector import (
    expmap0,
    hyperbolic_mlr_logits,
    mobius_linear,
    poincare_fc,
    poincare_mlr_logits,
)
from manifolds.numerics import MIN_NORM, clamp_min, safe_norm

_glorot = nnx.initializers.xavier_uniform()


def run_checked(function):
    """`function` (of NNX modules and arrays, jitted with `nnx.jit` or not) with its checkify
    checks functionalized by `nnx.checkify`: a failed check raises after the call."""
    functionalized = nnx.checkify(function, errors=checkify.user_checks)

    def call(*args, **kwargs):
        error, out = functionalized(*args, **kwargs)
        error.throw()
        return out

    return call


def check_layer_input(x: jax.Array, c: jax.Array, where: str, *, lorentz: bool = False) -> None:
    """checkify checks of a hyperbolic layer's input: c > 0 and x on the ball (hyperboloid)."""
    manifold = Lorentz(1 / c) if lorentz else PoincareBall(c)
    check_curvature(manifold, where)
    check_point(manifold, x, f"{where}: the input")


class Curvature(nnx.Module):
    """A positive curvature magnitude c = softplus(raw) (the space has curvature -c).

    Args:
        value: initial c > 0.
        trainable: an `nnx.Param` (learned) or a fixed `nnx.Variable`.
    """

    def __init__(self, value: float = 1.0, *, trainable: bool = False):
        if not value > 0:
            raise ValueError(f"Curvature: c must be positive, got {value}")
        raw = jnp.asarray(np.log(np.expm1(value)), jnp.float32)  # softplus^-1
        self.raw = nnx.Param(raw) if trainable else nnx.Variable(raw)

    def __call__(self) -> jax.Array:
        return jax.nn.softplus(self.raw[...])


class MobiusLinear(nnx.Module):
    """W (x)_c x (+)_c exp_0(b) on the Poincare ball (Ganea et al. 2018, eq. 28).

    Shapes: (..., in_features) -> (..., out_features). Dropout acts on W, as in HGCN.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rngs: nnx.Rngs,
        use_bias: bool = True,
        dropout: float = 0.0,
        checked: bool = False,
    ):
        self.checked = checked
        self.weight = nnx.Param(_glorot(rngs.params(), (out_features, in_features), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32)) if use_bias else None
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array, c: jax.Array) -> jax.Array:
        if self.checked:
            check_layer_input(x, c, "MobiusLinear")
        weight = self.dropout(self.weight[...])
        bias = jnp.zeros(weight.shape[0], x.dtype) if self.bias is None else self.bias[...]
        return mobius_linear(x, weight, expmap0(bias, c), c)


class HyperbolicMLR(nnx.Module):
    """Class logits from gyroplanes p_k (+) {a_k}^perp (Ganea et al. 2018, eq. 25).

    p_k = exp_0(p_tangent_k) and a_k are Euclidean parameters. Shapes: (..., n) -> (..., K).
    """

    def __init__(
        self, in_features: int, num_classes: int, *, rngs: nnx.Rngs, checked: bool = False
    ):
        self.checked = checked
        self.p_tangent = nnx.Param(jnp.zeros((num_classes, in_features), jnp.float32))
        self.a = nnx.Param(_glorot(rngs.params(), (num_classes, in_features), jnp.float32))

    def __call__(self, x: jax.Array, c: jax.Array) -> jax.Array:
        if self.checked:
            check_layer_input(x, c, "HyperbolicMLR")
        return hyperbolic_mlr_logits(x, expmap0(self.p_tangent[...], c), self.a[...], c)


class PoincareMLR(nnx.Module):
    """The unidirectional MLR of HNN++ (Shimizu et al. 2021, eq. 6): (..., n) -> (..., K)."""

    def __init__(
        self, in_features: int, num_classes: int, *, rngs: nnx.Rngs, checked: bool = False
    ):
        self.checked = checked
        std = (2 * in_features * num_classes) ** -0.5  # the paper's initialization
        self.z = nnx.Param(
            std * jax.random.normal(rngs.params(), (in_features, num_classes), jnp.float32)
        )
        self.r = nnx.Param(jnp.zeros((num_classes,), jnp.float32))

    def __call__(self, x: jax.Array, c: jax.Array) -> jax.Array:
        if self.checked:
            check_layer_input(x, c, type(self).__name__)
        return poincare_mlr_logits(x, self.z[...], self.r[...], c)


class PoincareFC(PoincareMLR):
    """The Poincare fully connected layer of HNN++ (eq. 9-10): the output's signed
    distances to the standard gyroplanes are the input's MLR logits. (..., n) -> (..., m)."""

    def __call__(self, x: jax.Array, c: jax.Array) -> jax.Array:
        if self.checked:
            check_layer_input(x, c, "PoincareFC")
        return poincare_fc(x, self.z[...], self.r[...], c)


class LorentzLinear(nnx.Module):
    """HyboNet's fully hyperbolic linear layer (Chen et al. 2022, eq. 3) on the hyperboloid
    <x, x>_L = -1/c.

    y = [sqrt(|phi|^2 + 1/c), phi], phi = lambda sigmoid(v.x + b') (W x + b) / |W x + b|:
    the direction comes from a Lorentz-to-Euclidean linear map, the distance from the origin
    from a learned, bounded scale (lambda = exp(log_scale)), so y is on the hyperboloid by
    construction, with no exp or log map. Shapes: (..., in + 1) -> (..., out + 1).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rngs: nnx.Rngs,
        dropout: float = 0.0,
        init_scale: float = 10.0,
        checked: bool = False,
    ):
        self.checked = checked
        shape = (out_features, in_features + 1)
        self.weight = nnx.Param(_glorot(rngs.params(), shape, jnp.float32))
        self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32))
        self.v = nnx.Param(jnp.zeros((in_features + 1,), jnp.float32))
        self.v_bias = nnx.Param(jnp.zeros((), jnp.float32))
        self.log_scale = nnx.Param(jnp.asarray(np.log(init_scale), jnp.float32))
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array, c: jax.Array) -> jax.Array:
        if self.checked:
            check_layer_input(x, c, "LorentzLinear", lorentz=True)
        h = self.dropout(x) @ self.weight[...].T + self.bias[...]
        radius = jnp.exp(self.log_scale[...]) * jax.nn.sigmoid(x @ self.v[...] + self.v_bias[...])
        direction = h / clamp_min(safe_norm(h, keepdims=True), MIN_NORM)
        space = radius[..., None] * direction
        time = jnp.sqrt(jnp.sum(space * space, -1, keepdims=True) + 1 / c)
        return jnp.concatenate([time, space], -1)
