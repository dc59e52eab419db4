"""HNN / HNN++ / HyboNet / HGCN layers: outputs on their manifold, finite float32 gradients,
Poincare and hyperboloid versions agreeing through the isometry, and a tiny graph training."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from manifolds import Lorentz, PoincareBall
from manifolds.hyperbolic import poincare_to_lorentz
from manifolds.lorentz import lorentz_expmap, lorentz_translate, lorentz_transp
from models.hgcn import HGCNConv, fermi_dirac, geometry, graph_operator
from models.hnn import (
    Curvature,
    HyperbolicMLR,
    LorentzLinear,
    MobiusLinear,
    PoincareFC,
    PoincareMLR,
)


def _ball_points(key, n, dim, c, dtype=jnp.float32):
    inner = PoincareBall(c).random(key, (n, dim), dtype, std=0.8)
    edge = PoincareBall(c).proj(jax.random.normal(key, (4, dim), dtype) * 100)
    return jnp.concatenate([inner, edge, jnp.zeros((1, dim), dtype)])


def _tree_graph(n=30):
    edges = np.array([[i, (i - 1) // 3] for i in range(1, n)])
    return edges, graph_operator(edges, n)


def test_curvature_is_positive_and_trainable_only_when_asked():
    assert float(Curvature(0.7)()) == pytest.approx(0.7, rel=1e-6)
    assert len(jax.tree.leaves(nnx.state(Curvature(1.0, trainable=True), nnx.Param))) == 1
    assert len(jax.tree.leaves(nnx.state(Curvature(1.0), nnx.Param))) == 0
    with pytest.raises(ValueError, match="c must be positive"):
        Curvature(0.0)


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_ball_layers_land_on_the_ball_with_finite_gradients(c):
    x = _ball_points(jax.random.PRNGKey(0), 16, 6, c)
    ball = PoincareBall(c)
    rngs = nnx.Rngs(0)
    # Jitted: one compilation per layer costs less than op-by-op dispatch of its gradient.
    layer_and_grads = nnx.jit(lambda m: (m(x, c), nnx.grad(lambda m: jnp.sum(m(x, c) ** 2))(m)))
    for layer in (MobiusLinear(6, 4, rngs=rngs), PoincareFC(6, 4, rngs=rngs)):
        out, grads = layer_and_grads(layer)
        ok, reason = ball.check(out)
        assert ok, (type(layer).__name__, reason)
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    head_and_grads = nnx.jit(
        lambda m: (m(x, c), nnx.grad(lambda m: jnp.sum(jax.nn.log_softmax(m(x, c))))(m))
    )
    for head in (HyperbolicMLR(6, 3, rngs=rngs), PoincareMLR(6, 3, rngs=rngs)):
        logits, grads = head_and_grads(head)
        assert logits.shape == (x.shape[0], 3) and bool(jnp.all(jnp.isfinite(logits)))
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_lorentz_linear_lands_on_the_hyperboloid(c):
    x = poincare_to_lorentz(_ball_points(jax.random.PRNGKey(1), 16, 5, c), c)
    layer = LorentzLinear(5, 3, rngs=nnx.Rngs(0))
    out = layer(x, c)
    ok, reason = Lorentz(1 / c).check(out)
    assert ok, reason
    grads = nnx.grad(lambda m: jnp.sum(m(x, c)[..., 1:] ** 2))(layer)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_geometry_origin_maps(c):
    u = 0.7 * jax.random.normal(jax.random.PRNGKey(2), (10, 4), jnp.float64)
    k = 1 / c
    for model in ("poincare", "lorentz"):
        geo = geometry(model)
        np.testing.assert_allclose(geo.log0(geo.exp0(u, c), c), u, rtol=1e-9, atol=1e-12)
    origin = jnp.zeros((10, 5)).at[:, 0].set(jnp.sqrt(k))
    tangent = jnp.concatenate([jnp.zeros((10, 1)), u], -1)
    np.testing.assert_allclose(  # ball-chart tangent u is 2u on the hyperboloid
        geometry("lorentz").exp0(u, c), Lorentz(k).expmap(origin, 2 * tangent), rtol=1e-9
    )
    # exp_0 commutes with the ball -> hyperboloid isometry.
    np.testing.assert_allclose(
        poincare_to_lorentz(geometry("poincare").exp0(u, c), c),
        geometry("lorentz").exp0(u, c),
        rtol=1e-9,
    )


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_lorentz_exp0_saturates_where_the_ball_does_in_float32(c):
    """Long tangent vectors (deep stacks) give finite points and gradients, not cosh overflow."""
    u = jnp.asarray([[300.0, -400.0, 0.0], [3.0, 4.0, 0.0], [1e-3, 0.0, 0.0]], jnp.float32)
    x = geometry("lorentz").exp0(u, c)
    assert x.dtype == jnp.float32
    ok, reason = Lorentz(1 / c).check(np.asarray(x))
    assert ok, reason
    ball = PoincareBall(c).proj(geometry("poincare").exp0(u, c))
    np.testing.assert_allclose(x, poincare_to_lorentz(ball, c), rtol=2e-3, atol=1e-5)
    grads = jax.jit(jax.grad(lambda u: jnp.sum(geometry("lorentz").exp0(u, c))))(u)
    assert bool(jnp.all(jnp.isfinite(grads)))


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_lorentz_bias_translation_is_exact_and_holds_far_out_in_float32(c):
    """exp_x(P_{o->x}(0, b)) in closed form: equal to the generic maps in float64, and in
    float32 still right for points far out (x_0 ~ 1e4), where the transported vector's
    Minkowski norm, taken from its components, has no correct digit left."""
    k = 1 / c
    u = 5 * jnp.sqrt(k) * jnp.asarray([[0.6, -0.8, 0.0], [0.0, 0.6, 0.8]], jnp.float64)
    b = jnp.asarray([[0.05, -0.1, 0.02], [0.3, 0.2, -0.1]], jnp.float64)
    x = geometry("lorentz").exp0(u, c)  # at distance 10 sqrt(k) from the origin
    origin = jnp.zeros_like(x).at[:, 0].set(jnp.sqrt(k))
    tangent = jnp.concatenate([jnp.zeros_like(b[:, :1]), b], -1)
    generic = lorentz_expmap(x, lorentz_transp(origin, x, tangent, k), k)
    np.testing.assert_allclose(lorentz_translate(x, b, k), generic, rtol=1e-10)

    def moved(x, b):  # the displacement in the tangent space at the origin
        lorentz = geometry("lorentz")
        return lorentz.log0(lorentz_translate(x, b, k), c) - lorentz.log0(x, c)

    expected = moved(x, b)
    got = moved(x.astype(jnp.float32), b.astype(jnp.float32))
    assert got.dtype == jnp.float32 and float(jnp.max(x[:, 0])) > 1e4
    # The generic maps in float32 are 6% off here; the closed form 1e-4.
    assert float(jnp.max(jnp.abs(got - expected)) / jnp.max(jnp.abs(expected))) < 1e-3


@pytest.mark.parametrize("attention", [False, True])
def test_hgcn_layer_agrees_on_both_models(attention):
    """The same weights on the ball and on the hyperboloid give corresponding points."""
    c_in, c_out = 0.8, 1.3
    _, graph = _tree_graph()
    x_ball = PoincareBall(c_in).random(jax.random.PRNGKey(3), (30, 5), jnp.float64, std=0.6)
    ball_layer = HGCNConv(5, 4, model="poincare", attention=attention, rngs=nnx.Rngs(0))
    lorentz_layer = HGCNConv(5, 4, model="lorentz", attention=attention, rngs=nnx.Rngs(0))
    for layer in (ball_layer, lorentz_layer):  # float64 parameters, to compare at 1e-8
        layer.weight = nnx.Param(jnp.asarray(layer.weight[...], jnp.float64))
        layer.bias = nnx.Param(0.1 * jnp.arange(4.0, dtype=jnp.float64))
        if attention:
            layer.attention = nnx.Param(jnp.asarray(layer.attention[...], jnp.float64))
    out_ball = ball_layer(x_ball, graph, c_in, c_out)
    out_lorentz = lorentz_layer(poincare_to_lorentz(x_ball, c_in), graph, c_in, c_out)
    np.testing.assert_allclose(poincare_to_lorentz(out_ball, c_out), out_lorentz, rtol=1e-8)
    ok, reason = Lorentz(1 / c_out).check(out_lorentz)
    assert ok, reason


class _TinyHGCN(nnx.Module):
    def __init__(self, features, rngs):
        self.c = Curvature(1.0, trainable=True)
        self.conv1 = HGCNConv(features, 8, model="poincare", rngs=rngs)
        self.conv2 = HGCNConv(8, 4, model="poincare", rngs=rngs, activation=None)

    def __call__(self, features, graph):
        c = self.c()
        x = geometry("poincare").exp0(features, c)
        return self.conv2(self.conv1(x, graph, c, c), graph, c, c), c


def test_tiny_graph_link_prediction_loss_drops():
    edges, graph = _tree_graph()
    features = jax.random.normal(jax.random.PRNGKey(4), (30, 6), jnp.float32)
    rng = np.random.default_rng(0)
    model = _TinyHGCN(6, nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(0.01), wrt=nnx.Param)

    def loss_fn(model, neg):
        x, c = model(features, graph)
        ball = PoincareBall(c)
        pos = fermi_dirac(ball.dist(x[edges[:, 0]], x[edges[:, 1]]) ** 2)
        neg = fermi_dirac(ball.dist(x[neg[:, 0]], x[neg[:, 1]]) ** 2)
        return -jnp.mean(jnp.log(pos + 1e-7)) - jnp.mean(jnp.log(1 - neg + 1e-7))

    @nnx.jit
    def step(model, optimizer, neg):
        loss, grads = nnx.value_and_grad(loss_fn)(model, neg)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer, rng.integers(0, 30, (29, 2)))) for _ in range(150)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10]), (losses[:3], losses[-3:])
