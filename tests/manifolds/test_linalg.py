"""Spectral functions: derivatives equal finite differences, also at repeated eigenvalues."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from manifolds.linalg import frechet_derivative, lyapunov, matrix_function, trace_function

F64 = jnp.float64


def _sym(a):
    return (a + a.T) / 2


def _central_difference(fn, x, e, h=1e-6):
    return (fn(x + h * e) - fn(x - h * e)) / (2 * h)


Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
POINTS = {
    "identity": np.eye(4),
    "repeated": Q @ np.diag([2.0, 2.0, 2.0, 0.5]) @ Q.T,
    "nearly_equal": Q @ np.diag([1.0, 1.0 + 1e-9, 3.0, 0.2]) @ Q.T,
    "distinct": Q @ np.diag([0.3, 1.0, 2.0, 5.0]) @ Q.T,
}
DIRECTION = _sym(np.random.default_rng(1).normal(size=(4, 4)))


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("f,abs_scale", [(jnp.log, 0.0), (jnp.sqrt, 0.0), (jnp.exp, 1.0)])
def test_matrix_function_jvp(point, f, abs_scale):
    x, e = jnp.asarray(POINTS[point], F64), jnp.asarray(DIRECTION, F64)
    fn = lambda a: matrix_function(a, f, abs_scale)  # noqa: E731
    _, tangent = jax.jvp(fn, (x,), (e,))
    np.testing.assert_allclose(tangent, _central_difference(fn, x, e), atol=1e-6)
    assert np.all(np.isfinite(jax.grad(lambda a: jnp.sum(fn(a) ** 2))(x)))


@pytest.mark.parametrize("point", list(POINTS))
def test_trace_function_grad(point):
    x, e = jnp.asarray(POINTS[point], F64), jnp.asarray(DIRECTION, F64)
    fn = lambda a: trace_function(a, lambda w: jnp.log(w) ** 2)  # noqa: E731
    _, tangent = jax.jvp(fn, (x,), (e,))
    np.testing.assert_allclose(tangent, _central_difference(fn, x, e), atol=1e-6)


@pytest.mark.parametrize("point", list(POINTS))
def test_frechet_derivative_second_order(point):
    """d/dX of Dlog(X)[E] along W equals finite differences (second Daleckii-Krein formula)."""
    x = jnp.asarray(POINTS[point], F64)
    e = jnp.asarray(DIRECTION, F64)
    w = jnp.asarray(_sym(np.random.default_rng(2).normal(size=(4, 4))), F64)
    first = lambda a: frechet_derivative(a, e, jnp.log)  # noqa: E731
    np.testing.assert_allclose(
        first(x), _central_difference(lambda a: matrix_function(a, jnp.log), x, e), atol=1e-6
    )
    _, second = jax.jvp(first, (x,), (w,))
    np.testing.assert_allclose(second, _central_difference(first, x, w, h=1e-5), atol=1e-5)


@pytest.mark.parametrize("point", list(POINTS))
def test_lyapunov(point):
    p = jnp.asarray(POINTS[point], F64)
    u = jnp.asarray(DIRECTION, F64)
    x = lyapunov(p, u)
    np.testing.assert_allclose(p @ x + x @ p, u, atol=1e-10)
    _, tangent = jax.jvp(lambda a: lyapunov(a, u), (p,), (u,))
    np.testing.assert_allclose(
        tangent, _central_difference(lambda a: lyapunov(a, u), p, u), atol=1e-6
    )
