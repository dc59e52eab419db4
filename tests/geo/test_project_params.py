"""geo.optim.project_params: the NNX path's re-projection after nnx.Optimizer.update."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

import geo.optim as go
import models
from manifolds import PoincareBall


class _Model(nnx.Module):
    def __init__(self, ball, rngs):
        self.emb = go.ManifoldParam(ball.random(rngs.params(), (16, 3), std=1e-3), manifold=ball)
        self.w = nnx.Param(jnp.ones(3))


def test_project_params_keeps_manifold_params_on_the_manifold_and_leaves_the_rest():
    ball = PoincareBall(1.0)
    model = _Model(ball, nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, go.radam(0.1, go.manifolds_of(model)), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        def loss(m):  # pushes the embeddings to the boundary
            return -jnp.sum(ball.dist(m.emb[...], jnp.zeros(3))) + jnp.sum(m.w[...] ** 2)

        optimizer.update(model, nnx.grad(loss)(model))
        go.project_params(model)

    for _ in range(200):
        step(model, optimizer)
    emb = np.asarray(model.emb[...])
    assert ball.check(emb)[0] and np.max(np.linalg.norm(emb, axis=-1)) > 0.9999
    assert np.max(np.abs(np.asarray(model.w[...]))) < 1e-3  # Euclidean params just train

    outside = _Model(ball, nnx.Rngs(1))
    outside.emb[...] = jnp.full((16, 3), 0.9)  # |x| = 1.56, off the ball
    go.project_params(outside)
    assert ball.check(np.asarray(outside.emb[...]))[0]
    assert np.allclose(outside.w[...], 1.0)


def test_models_exports_its_layers():
    for name in ("MobiusLinear", "HGCNConv", "BiMap", "SPDBatchNorm", "GrassmannClassHead"):
        assert name in models.__all__ and hasattr(models, name)
