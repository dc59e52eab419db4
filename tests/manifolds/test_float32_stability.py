"""float32: finite values and finite gradients of dist, expmap and logmap where naive formulas
give NaN: at the origin, for equal points, for points 1e-7 apart, at the Poincare boundary,
and for SPD matrices with repeated eigenvalues."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from manifolds import SPD, PoincareBall
from tests.manifolds.registry import REGISTRY, random_point, random_tangent

F32 = jnp.float32


def _weighted_sum(tree, key):
    leaves = jax.tree.leaves(tree)
    keys = jax.random.split(key, len(leaves))
    return sum(
        jnp.sum(a * jax.random.normal(k, a.shape, a.dtype))
        for k, a in zip(keys, leaves, strict=False)
    )


@functools.cache
def _jitted_checks(m):
    """Jitted values and gradients (w.r.t. both inputs) of dist, expmap and logmap, one set
    per manifold: manifolds hash by value, so tests of one manifold share the compilations."""
    key = jax.random.PRNGKey(3)
    fns = {
        "dist": lambda a, b: m.dist(a, b),
        "expmap": lambda a, b: m.expmap(a, b),
        "logmap": lambda a, b: m.logmap(a, b),
    }
    return {
        name: (
            jax.jit(fn),
            jax.jit(jax.grad(lambda a, b, fn=fn: _weighted_sum(fn(a, b), key), argnums=(0, 1))),
        )
        for name, fn in fns.items()
    }


def assert_finite_with_grads(m, x, y, u):
    """Values and gradients (w.r.t. every input) of dist, expmap and logmap are finite."""
    args = {"dist": (x, y), "expmap": (x, u), "logmap": (x, y)}
    for name, (value_fn, grad_fn) in _jitted_checks(m).items():
        for leaf in jax.tree.leaves(value_fn(*args[name])):
            assert np.all(np.isfinite(leaf)), f"{name}: non-finite value {leaf}"
        for leaf in jax.tree.leaves(grad_fn(*args[name])):
            assert np.all(np.isfinite(leaf)), f"{name}: non-finite gradient {leaf}"


NAMES = list(REGISTRY)


@pytest.mark.parametrize("name", NAMES)
def test_origin_and_zero_tangent(name):
    m, shape = REGISTRY[name]
    o = m.origin(shape, F32)
    zero = jax.tree.map(jnp.zeros_like, o)
    assert_finite_with_grads(m, o, o, zero)


@pytest.mark.parametrize("name", NAMES)
def test_equal_points(name):
    m, shape = REGISTRY[name]
    x = random_point(m, jax.random.PRNGKey(0), shape, F32)
    u = random_tangent(m, jax.random.PRNGKey(1), x, jnp.asarray(0.5, F32))
    assert_finite_with_grads(m, x, x, u)


@pytest.mark.parametrize("name", NAMES)
def test_points_1e_7_apart(name):
    m, shape = REGISTRY[name]
    x = random_point(m, jax.random.PRNGKey(0), shape, F32)
    step = random_tangent(m, jax.random.PRNGKey(1), x, jnp.asarray(1e-7, F32))
    y = m.expmap(x, step)
    assert_finite_with_grads(m, x, y, step)
    d = float(m.dist(x, y))
    assert 0.0 <= d < 1e-5, f"{name}: distance of points 1e-7 apart is {d}"


@pytest.mark.parametrize("c", [1.0, 0.3])
def test_poincare_boundary(c):
    m = PoincareBall(c)
    key = jax.random.split(jax.random.PRNGKey(0), 3)
    far = jax.random.normal(key[0], (8, 5), F32) * 100
    x = m.proj(far)  # as close to the boundary as proj allows
    assert np.all(np.asarray(c * jnp.sum(x**2, -1)) < 1.0)
    y = m.proj(jax.random.normal(key[1], (8, 5), F32) * 100)
    u = random_tangent(m, key[2], x, jnp.asarray(1.0, F32))
    assert_finite_with_grads(m, x, y, u)
    assert_finite_with_grads(m, x, x, u)
    near = m.proj(x + 1e-7 * jax.random.normal(key[2], x.shape, F32))
    assert_finite_with_grads(m, x, near, u)
    # The boundary distance is finite and large, not rounded onto the boundary (inf).
    assert np.all(np.asarray(m.dist(m.origin((5,), F32), x)) > 10 / np.sqrt(c))


@pytest.mark.parametrize("metric", ["affine", "log_euclidean", "bures_wasserstein", "log_cholesky"])
@pytest.mark.parametrize("case", ["identity", "double", "rotated_double"])
def test_spd_repeated_eigenvalues(metric, case):
    m = SPD(3, metric)
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    mats = {
        "identity": np.eye(3),
        "double": np.diag([2.0, 2.0, 0.5]),
        "rotated_double": q @ np.diag([1.5, 1.5, 1.5]) @ q.T,
    }
    x = jnp.asarray(mats[case], F32)
    y = jnp.asarray(np.diag([3.0, 3.0, 3.0]), F32)
    u = jnp.asarray(0.1 * np.diag([1.0, 1.0, 1.0]), F32)
    assert_finite_with_grads(m, x, y, u)
    assert_finite_with_grads(m, x, x, jnp.zeros_like(u))
    assert_finite_with_grads(m, x, x, u)
