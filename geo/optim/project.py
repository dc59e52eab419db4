"""Re-projecting a Flax NNX model's manifold parameters after an optimizer step."""

from __future__ import annotations

import jax
from flax import nnx

from geo.optim.params import ManifoldParam


def project_params(model: nnx.Module) -> None:
    """Project every `ManifoldParam` of `model` onto its manifold, in place.

    `nnx.Optimizer.update` adds the updates with `optax.apply_updates`; in float32 a point
    can then leave its manifold by a rounding error. Call this after each update (inside
    the same `nnx.jit`), the NNX counterpart of `geo.optim.apply_updates`:

        optimizer.update(model, grads)
        geo.optim.project_params(model)
    """
    state = nnx.state(model, ManifoldParam)

    def project(var):
        return var.replace(var.get_metadata()["manifold"].proj(var[...]))

    nnx.update(model, jax.tree.map(project, state, is_leaf=lambda v: isinstance(v, nnx.Variable)))
