"""The Stiefel manifold St(n, p) = {X in R^{n x p} : X^T X = I} with the canonical metric.

Canonical metric <U, V>_X = tr(U^T (I - X X^T / 2) V) and its geodesics from Edelman, Arias &
Smith, "The Geometry of Algorithms with Orthogonality Constraints" (1998, eq. 2.39, 2.41); the
logarithm is Zimmermann's algorithm, "A matrix-algebraic algorithm for the Riemannian
logarithm on the Stiefel manifold under the canonical metric" (SIMAX 2017, Alg. 1).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, Manifold, manifold_dataclass
from manifolds.linalg import matrix_function, sym, transpose
from manifolds.numerics import eps


def polar(x: Array) -> Array:
    """Nearest matrix with orthonormal columns, X (X^T X)^{-1/2} (the polar factor), (..., n, p)."""
    return x @ matrix_function(transpose(x) @ x, _inv_sqrt)


def _inv_sqrt(w):
    return 1 / jnp.sqrt(w)


def _theta_over_sin(cos):
    # theta / sin(theta) as a function of cos(theta) for theta in [0, pi), smooth at theta = 0.
    cos = jnp.maximum(cos, -1 + eps(cos.dtype))
    near = cos > 1 - 1e-3
    safe = jnp.where(near, 0.0, cos)
    theta = jnp.arccos(safe)
    one_minus = 1 - jnp.where(near, cos, 0.0)  # 1 - cos = theta^2 / 2 - theta^4 / 24 ...
    series = 1 + one_minus / 3 + 2 * one_minus**2 / 15
    return jnp.where(near, series, theta / jnp.sin(theta))


def rotation_log(q: Array) -> Array:
    """Principal logarithm of a rotation matrix (..., m, m), a skew-symmetric matrix.

    With S = (Q - Q^T) / 2 and C = (Q + Q^T) / 2 = cos(A), log Q = S g(C), g(cos t) = t / sin t;
    valid when no eigenvalue of Q is -1.
    """
    skew = 0.5 * (q - transpose(q))
    return skew @ matrix_function(sym(q), _theta_over_sin, 1.0)


def _expm(a: Array) -> Array:
    return jax.scipy.linalg.expm(a)


def stiefel_expmap(x: Array, u: Array) -> Array:
    """Canonical-metric geodesic (Edelman et al. 1998, eq. 2.42) without a QR step.

    Edelman's Y = [X Q] expm([[A, -R^T], [R, 0]]) [I; 0] with A = X^T U, Q R = K = U - X A.
    The (1,1) blocks of that matrix's powers depend on R only through R^T R = K^T K, and the
    (2,1) block of its exponential is R phi(.)_11 with phi(z) = (e^z - 1) / z. So with
    B = [[A, -K^T K], [I, 0]]: Y = X expm(B)_11 + K phi(B)_11, exact and smooth at U = 0
    (where a QR of K = 0 has no derivative). phi comes from expm([[B, I], [0, 0]]).
    """
    p = x.shape[-1]
    a = transpose(x) @ u
    k = u - x @ a
    eye = jnp.broadcast_to(jnp.eye(p, dtype=x.dtype), a.shape)
    zeros = jnp.zeros_like(a)
    b = jnp.concatenate(
        [jnp.concatenate([a, -transpose(k) @ k], -1), jnp.concatenate([eye, zeros], -1)], -2
    )
    eye2 = jnp.concatenate([eye, zeros], -1)
    eye2 = jnp.concatenate([eye2, jnp.concatenate([zeros, eye], -1)], -2)
    augmented = jnp.concatenate(
        [jnp.concatenate([b, eye2], -1), jnp.zeros(b.shape[:-1] + (4 * p,), x.dtype)], -2
    )
    e = _expm(augmented)
    return x @ e[..., :p, :p] + k @ e[..., :p, 2 * p : 3 * p]


def _complete_rotation(m: Array, n: Array) -> Array:
    """A rotation [[M, X], [N, Y]] (det +1) whose first p columns are F = [M; N] (orthonormal).

    [X; Y] is the polar factor of [0; I] projected off span(F), i.e. of [-M N^T; I - N N^T]:
    for nearby points (N ~ 0) it is close to [0; I], never a rotation by pi (whose logarithm
    is singular), and it is differentiable, unlike a complete QR.
    """
    p = m.shape[-1]
    first = jnp.concatenate([m, n], -2)
    eye = jnp.broadcast_to(jnp.eye(p, dtype=m.dtype), m.shape)
    rest = polar(jnp.concatenate([-m @ transpose(n), eye - n @ transpose(n)], -2))
    det_sign = jax.lax.stop_gradient(jnp.sign(jnp.linalg.det(jnp.concatenate([first, rest], -1))))
    det_sign = jnp.where(det_sign == 0, 1.0, det_sign)
    return jnp.concatenate([first, rest.at[..., :, -1:].multiply(det_sign[..., None, None])], -1)


# Jitted so that an eager call compiles the iteration once per shape instead of tracing the
# loop body every time (inside an outer jit it is inlined).
@functools.partial(jax.jit, static_argnames="iterations")
def stiefel_logmap(x: Array, y: Array, iterations: int = 40) -> Array:
    """Zimmermann (2017) Alg. 1: V <- V diag(I, expm(-C)) until the C block of log V vanishes.

    The iteration converges for points closer than about 0.9 pi in the canonical distance.
    Where it has not converged after `iterations` steps the result is NaN, never a wrong
    tangent vector. Nearly equal points, where the QR step is singular, take the
    first-order answer proju(x, y - x).
    """
    p = x.shape[-1]
    m = transpose(x) @ y
    residual = y - x @ m
    tiny = jnp.sqrt(jnp.sum(residual**2, axis=(-2, -1)))[..., None, None] < 10 * eps(x.dtype)
    # Double-where: the singular QR never sees a zero residual, so no NaN reaches a gradient.
    safe_residual = jnp.where(tiny, jnp.eye(x.shape[-2], p, dtype=x.dtype), residual)
    q, n = jnp.linalg.qr(safe_residual)
    n = jnp.where(tiny, 0.0, n)
    v = _complete_rotation(m, n)

    def body(_, v):
        c = rotation_log(v)[..., p:, p:]
        return v.at[..., :, p:].set(v[..., :, p:] @ _expm(-0.5 * (c - transpose(c))))

    v = jax.lax.fori_loop(0, iterations, body, v)
    log_v = rotation_log(v)
    residual_c = jnp.max(jnp.abs(log_v[..., p:, p:]), axis=(-2, -1))[..., None, None]
    converged = residual_c < 1e3 * eps(x.dtype)
    full = x @ log_v[..., :p, :p] + q @ log_v[..., p:, :p]
    full = jnp.where(converged, full, jnp.nan)
    first_order = y - x - x @ sym(transpose(x) @ (y - x))
    return jnp.where(tiny, first_order, full)


@manifold_dataclass()
class Stiefel(Manifold):
    """St(n, p): n x p matrices with orthonormal columns, canonical metric; points (..., n, p)."""

    n: int
    p: int
    ndim: ClassVar[int] = 2
    # transp is the projection vector transport, which does not preserve inner products.
    transp_is_isometry: ClassVar[bool] = False

    def __post_init__(self):
        if not (isinstance(self.n, int) and isinstance(self.p, int)) or self.p < 1:
            raise ValueError(
                f"Stiefel: n and p must be positive integers, got n={self.n!r}, p={self.p!r}."
            )
        if self.p > self.n:
            raise ValueError(
                f"Stiefel: need p <= n for orthonormal columns, got n={self.n}, p={self.p}."
            )

    def point_shape_error(self, shape):
        if tuple(shape[-2:]) != (self.n, self.p):
            return f"expected (..., {self.n}, {self.p}), got {tuple(shape)}"
        return None

    def proj(self, x: Array) -> Array:
        return polar(x)

    def proju(self, x: Array, u: Array) -> Array:
        return u - x @ sym(transpose(x) @ u)

    def egrad2rgrad(self, x: Array, g: Array) -> Array:
        """Canonical-metric gradient G - X G^T X (Edelman et al. 1998, eq. 2.53)."""
        return g - x @ transpose(g) @ x

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        xu = transpose(x) @ u
        xv = transpose(x) @ v
        return jnp.sum(u * v, axis=(-2, -1)) - 0.5 * jnp.sum(xu * xv, axis=(-2, -1))

    def expmap(self, x: Array, u: Array) -> Array:
        return stiefel_expmap(x, u)

    def logmap(self, x: Array, y: Array) -> Array:
        return stiefel_logmap(x, y)

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        """Vector transport by projection onto the tangent space at y (not an isometry)."""
        return self.proju(y, v)

    def dist(self, x: Array, y: Array) -> Array:
        return self.norm(x, self.logmap(x, y))

    def origin(self, shape=(), dtype=jnp.float32) -> Array:
        shape = tuple(shape)[:-2] if len(shape) >= 2 else tuple(shape)
        return jnp.broadcast_to(jnp.eye(self.n, self.p, dtype=dtype), (*shape, self.n, self.p))

    def random(self, key: Array, shape=(), dtype=jnp.float32) -> Array:
        shape = tuple(shape)[:-2] if len(shape) >= 2 else tuple(shape)
        g = jax.random.normal(key, (*shape, self.n, self.p), dtype)
        q, r = jnp.linalg.qr(g)
        return q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        gram = np.swapaxes(x, -1, -2) @ x
        err = np.max(np.abs(gram - np.eye(self.p)))
        if err > atol:
            return (
                f"columns not orthonormal: max |X^T X - I| is {err:.3g} > atol {atol:.3g}; "
                "use proj(x)"
            )
        return None
