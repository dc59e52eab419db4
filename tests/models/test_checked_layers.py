"""The hyperbolic layers with checked=True: an input off the manifold, a bad curvature or a
NaN is an error under jit that names the layer (manifolds.checked through models)."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from flax import nnx
from jax.experimental import checkify

import models
from manifolds import Lorentz


@pytest.mark.parametrize(
    "layer, x, c, match",
    [
        ("MobiusLinear", jnp.array([[1.2, 0.0, 0.0]]), 1.0, "MobiusLinear: the input is not on"),
        ("PoincareMLR", jnp.array([[0.1, 0.0, 0.0]]), -1.0, "curvature parameter must be > 0"),
        ("HyperbolicMLR", jnp.array([[0.8, 0.8, 0.0]]), 1.0, "HyperbolicMLR: the input is not"),
        ("PoincareFC", jnp.array([[jnp.nan, 0.0, 0.0]]), 1.0, "input has NaN"),
        ("LorentzLinear", jnp.array([[1.0, 0.5, 0.0, 0.0]]), 1.0, "the input is not on Lorentz"),
    ],
)
def test_hyperbolic_layers_check_their_input_under_jit(layer, x, c, match):
    n = x.shape[-1] - (layer == "LorentzLinear")
    module = getattr(models, layer)(n, 2, rngs=nnx.Rngs(0), checked=True)

    @nnx.jit
    def forward(module, x, c):
        return module(x, c)

    run_checked = models.run_checked

    valid = jnp.array([[0.1, 0.2, 0.0]])
    if layer == "LorentzLinear":
        valid = Lorentz(1.0).expmap0(jnp.array([[0.0, 0.1, 0.2, 0.0]]))
    run_checked(forward)(module, valid, 1.0)
    with pytest.raises(checkify.JaxRuntimeError, match=match):
        run_checked(forward)(module, x, c)
