"""SPD and Grassmann layers: outputs on their manifolds, batch-norm means, finite gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from geo.optim import apply_updates, manifolds_of, radam
from manifolds import SPD, frechet_mean
from models.covariance import CovariancePooling
from models.grassmann import FRMap, GrassmannClassHead, OrthMap, ProjMap, ProjPooling, reorth
from models.spd import BiMap, ExpEig, LogEig, ReEig, check_spd
from models.spd_batchnorm import SPDBatchNorm

F32 = jnp.float32
GEOMETRIES = ("affine", "bures_wasserstein", "generalized_bw")


def random_spd(key, batch, n, dtype=F32, std=0.7):
    return SPD(n).random(jax.random.key(key), (batch, n, n), dtype, std=std)


def min_eig(x):
    return float(np.min(np.linalg.eigvalsh(np.asarray(x, np.float64))))


def test_bimap_reeig_logeig_expeig_float32():
    x = random_spd(0, 16, 8)
    bimap = BiMap(8, 5, rngs=nnx.Rngs(0))
    y = bimap(x)
    assert y.shape == (16, 5, 5) and y.dtype == F32
    assert min_eig(y) > 0
    w = np.asarray(bimap.weight[...], np.float64)
    np.testing.assert_allclose(w.T @ w, np.eye(5), atol=1e-6)
    z = ReEig(1e-2)(y)
    assert min_eig(z) >= 1e-2 * (1 - 1e-4)
    # ReEig keeps the eigenvalues above eps and raises the ones below it to eps.
    np.testing.assert_allclose(
        np.linalg.eigvalsh(np.asarray(z)),
        np.maximum(np.linalg.eigvalsh(np.asarray(y)), 1e-2),
        rtol=1e-4,
        atol=1e-5,
    )
    log = LogEig(flatten=False)(z)
    np.testing.assert_allclose(ExpEig()(log), z, rtol=2e-4, atol=2e-5)
    flat = LogEig()(z)
    assert flat.shape == (16, 15)
    # The flattening is an isometry from the Frobenius norm.
    np.testing.assert_allclose(
        np.linalg.norm(flat, axis=-1), np.linalg.norm(log, axis=(-2, -1)), rtol=1e-5
    )


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_batchnorm_output_is_spd_and_centred_at_the_bias(geometry):
    x = random_spd(1, 24, 5, jnp.float64, std=0.6)
    bn = SPDBatchNorm(5, geometry=geometry, karcher_steps=40)
    bn.bias[...] = SPD(5).random(jax.random.key(2), (5, 5), F32, std=0.4)
    if geometry == "generalized_bw":
        bn.metric_param[...] = SPD(5).random(jax.random.key(3), (5, 5), F32, std=0.4)
        bn.power[...] = jnp.asarray(0.6, F32)
    y = bn(x)
    assert min_eig(y) > 0
    # Frechet mean of the output in the layer's own geometry (and coordinates) is the bias.
    metric = "affine" if geometry == "affine" else "bures_wasserstein"
    mean = frechet_mean(SPD(5, metric), bn._to_coords(y), max_iter=300)
    np.testing.assert_allclose(mean, bn.bias[...], atol=1e-6)
    # The running mean moved from the identity towards the batch mean, and stayed SPD.
    running = np.asarray(bn.running_mean[...])
    assert min_eig(running) > 0 and not np.allclose(running, np.eye(5))


def test_batchnorm_float32_output_is_spd_and_eval_uses_the_running_mean():
    x = random_spd(4, 32, 6)
    for geometry in GEOMETRIES:
        bn = SPDBatchNorm(6, geometry=geometry)
        assert min_eig(bn(x)) > 0
        bn.eval()
        before = np.asarray(bn.running_mean[...])
        y = bn(x)
        np.testing.assert_array_equal(bn.running_mean[...], before)
        assert min_eig(y) > 0


def _grad_finite(fn, x):
    g = jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(fn(x)))))(x)
    return bool(jnp.all(jnp.isfinite(g))), g


def _batchnorm_grads(bn, x):
    """Gradients of sum(sin(bn(x))) w.r.t. the layer's params and x, in training mode."""
    graphdef, params, rest = nnx.split(bn, nnx.Param, ...)

    @jax.jit
    def grads(params, x):
        def loss(params, x):
            return jnp.sum(jnp.sin(nnx.merge(graphdef, params, rest, copy=True)(x)))

        return jax.grad(loss, argnums=(0, 1))(params, x)

    return grads(params, x)


@pytest.mark.parametrize("dtype", [F32, jnp.float64])
def test_gradients_finite_for_repeated_eigenvalues(dtype):
    eye = jnp.broadcast_to(jnp.eye(6, dtype=dtype), (4, 6, 6))
    repeated = eye.at[:, :3, :3].multiply(2.0)  # eigenvalues 2, 2, 2, 1, 1, 1
    for x in (eye, repeated):
        for layer in (ReEig(1.0), LogEig(), ExpEig()):
            ok, _ = _grad_finite(layer, x)
            assert ok, type(layer).__name__
    for geometry in GEOMETRIES:
        bn = SPDBatchNorm(6, geometry=geometry, karcher_steps=2)

        grads_p, grads_x = _batchnorm_grads(bn, repeated)
        assert bool(jnp.all(jnp.isfinite(grads_x))), geometry
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads_p)), geometry


def test_relu_eig_gradient_matches_finite_differences():
    x = random_spd(5, 1, 5, jnp.float64)[0]
    d = jax.random.normal(jax.random.key(6), (5, 5), jnp.float64)
    d = d + d.T
    layer = ReEig(float(np.median(np.linalg.eigvalsh(np.asarray(x)))))
    _, tangent = jax.jvp(layer, (x,), (d,))
    h = 1e-6
    numeric = (layer(x + h * d) - layer(x - h * d)) / (2 * h)
    np.testing.assert_allclose(tangent, numeric, atol=1e-5)


def test_frmap_reorth_orthonormal_float32():
    x = jax.random.normal(jax.random.key(0), (10, 12, 3), F32)
    frmap = FRMap(12, 7, rngs=nnx.Rngs(1), filters=4)
    y = reorth(frmap(x))
    assert y.shape == (10, 4, 7, 3) and y.dtype == F32
    gram = jnp.swapaxes(y, -1, -2) @ y
    assert float(jnp.max(jnp.abs(gram - jnp.eye(3)))) < 1e-5
    # ReOrth keeps the span: the projection of FRMap's output onto it is the output itself.
    z = frmap(x)
    np.testing.assert_allclose(y @ jnp.swapaxes(y, -1, -2) @ z, z, atol=1e-4)
    single = reorth(FRMap(12, 7, rngs=nnx.Rngs(1))(x))
    assert single.shape == (10, 7, 3)


def test_projmap_pooling_orthmap_and_their_gradients():
    x = reorth(jax.random.normal(jax.random.key(2), (6, 3, 8, 2), F32))
    proj = ProjMap()(x)
    np.testing.assert_allclose(proj @ proj, proj, atol=1e-5)  # projectors
    pooled = ProjPooling()(proj)
    assert pooled.shape == (6, 8, 8)
    u = OrthMap(2)(pooled)
    assert float(jnp.max(jnp.abs(jnp.swapaxes(u, -1, -2) @ u - jnp.eye(2)))) < 1e-5
    # On a projection matrix the kept eigenvalues are all 1: JAX's eigh gradient is NaN there.
    ok, _ = _grad_finite(lambda p: ProjMap()(OrthMap(2)(p)), proj[:, 0])
    assert ok
    # The subspace derivative agrees with finite differences (float64).
    s = pooled[0].astype(jnp.float64)
    d = jax.random.normal(jax.random.key(3), (8, 8), jnp.float64)
    d = d + d.T

    def projector(s):
        return ProjMap()(OrthMap(2)(s))

    _, tangent = jax.jit(lambda s, d: jax.jvp(projector, (s,), (d,)))(s, d)
    h = 1e-6
    numeric = (projector(s + h * d) - projector(s - h * d)) / (2 * h)
    np.testing.assert_allclose(tangent, numeric, atol=1e-5)


def test_gcr_head_logits_and_riemannian_step_stays_on_grassmann():
    head = GrassmannClassHead(6, 4, 2, gamma=10.0, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (9, 6), F32)
    logits = head(x)
    assert logits.shape == (9, 4)
    assert float(jnp.min(logits)) >= 0 and float(jnp.max(logits)) <= 10.0 + 1e-4
    # A feature inside class 0's subspace gets the largest possible logit, gamma.
    inside = head.subspaces[...][0] @ jnp.asarray([0.6, 0.8], F32)
    assert float(head(inside)[0]) == pytest.approx(10.0, abs=1e-4)
    params = nnx.state(head, nnx.Param)
    manifolds = manifolds_of(head)
    tx = radam(0.1, manifolds)
    labels = jnp.arange(9) % 4

    def loss(params):
        model = nnx.merge(nnx.graphdef(head), params)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(model(x), labels))

    @jax.jit
    def step(params, state):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        return apply_updates(params, updates, manifolds), state

    state = tx.init(params)
    before = loss(params)
    for _ in range(20):
        params, state = step(params, state)
    assert float(loss(params)) < float(before)
    s = np.asarray(jax.tree.leaves(params)[0], np.float64)
    np.testing.assert_allclose(
        np.swapaxes(s, -1, -2) @ s, np.broadcast_to(np.eye(2), (4, 2, 2)), atol=1e-5
    )


def test_covariance_pooling_with_lengths_and_mean():
    key = jax.random.key(3)
    x = jax.random.normal(key, (2, 20, 3), jnp.float64)
    lengths = jnp.asarray([20, 11])
    cov = CovariancePooling(0.0)(x, lengths)
    np.testing.assert_allclose(cov[0], np.cov(np.asarray(x[0]).T), atol=1e-12)
    np.testing.assert_allclose(cov[1], np.cov(np.asarray(x[1, :11]).T), atol=1e-12)
    shrunk = CovariancePooling(0.5)(x, lengths)
    target = np.trace(np.asarray(cov[1])) / 3 * np.eye(3)
    np.testing.assert_allclose(shrunk[1], 0.5 * cov[1] + 0.5 * target, atol=1e-12)
    gauss = CovariancePooling(0.0, with_mean=True)(x, lengths)
    assert gauss.shape == (2, 4, 4) and min_eig(gauss) > 0
    mean = np.asarray(x[1, :11]).mean(axis=0)
    np.testing.assert_allclose(gauss[1, :3, 3], mean, atol=1e-12)


def test_checked_mode_rejects_non_spd_input_eagerly_and_under_jit():
    good = random_spd(7, 3, 4)
    BiMap(4, 3, rngs=nnx.Rngs(0), checked=True)(good)  # no error
    asym = good.at[0, 0, 1].add(1.0)
    indefinite = good.at[1].set(-jnp.eye(4, dtype=F32))
    layer = BiMap(4, 3, rngs=nnx.Rngs(0), checked=True)
    with pytest.raises(ValueError, match="BiMap.*not symmetric"):
        layer(asym)
    with pytest.raises(ValueError, match="ReEig.*not positive definite"):
        ReEig(checked=True)(indefinite)
    with pytest.raises(Exception, match="LogEig.*not positive definite"):
        jax.jit(lambda x: LogEig(checked=True)(x))(indefinite).block_until_ready()
    with pytest.raises(ValueError, match="square"):
        check_spd(jnp.ones((3, 4)), "here")
    with pytest.raises(ValueError, match="expected matrices"):
        layer(jnp.ones((2, 5, 5)))


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="n_out <= n_in"):
        BiMap(3, 4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="unknown geometry"):
        SPDBatchNorm(3, geometry="euclid")
    with pytest.raises(ValueError, match="eps must be positive"):
        ReEig(0.0)
    with pytest.raises(ValueError, match="d_out <= d_in"):
        FRMap(3, 5, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="shrinkage"):
        CovariancePooling(1.5)
