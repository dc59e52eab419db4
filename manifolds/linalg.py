"""Functions of symmetric matrices with derivatives that stay correct for repeated eigenvalues.

For a symmetric X = V diag(w) V^T and a scalar function f, f(X) = V diag(f(w)) V^T. Its
derivative is the Daleckii-Krein formula (Bhatia, "Matrix Analysis", Thm V.3.3):
    Df(X)[E] = V (L o (V^T E V)) V^T,  L_ij = f[w_i, w_j]  (first divided difference),
with L_ii = f'(w_i). JAX's own `eigh` derivative divides by w_i - w_j and is NaN for repeated
eigenvalues (the identity, for example); these custom JVPs never do. Divided differences of
close eigenvalues fall back to the derivative at their midpoint.

`abs_scale` sets which eigenvalues count as close: |a - b| <= sqrt(eps) * max(|a|, |b|, abs_scale).
Use 0 for functions whose scale follows the eigenvalue (log, sqrt, powers) and 1 for entire
functions (exp, cos).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from manifolds.numerics import eps


def transpose(x: jnp.ndarray) -> jnp.ndarray:
    """Swap the last two axes."""
    return jnp.swapaxes(x, -1, -2)


def sym(x: jnp.ndarray) -> jnp.ndarray:
    """Symmetric part (x + x^T) / 2 over the last two axes."""
    return 0.5 * (x + transpose(x))


def _derivative(f):
    return jnp.vectorize(jax.grad(f))


def _close(a, b, abs_scale):
    scale = jnp.maximum(jnp.maximum(jnp.abs(a), jnp.abs(b)), abs_scale)
    return jnp.abs(a - b) <= eps(a.dtype) ** 0.5 * scale


def _divided_difference(a, b, f, abs_scale):
    """f[a, b] = (f(a) - f(b)) / (a - b), and f'((a + b) / 2) where a and b are close."""
    close = _close(a, b, abs_scale)
    safe_a = jnp.where(close, a + 1.0, a)
    return jnp.where(close, _derivative(f)((a + b) / 2), (f(safe_a) - f(b)) / (safe_a - b))


def _second_divided_difference(a, b, c, f, abs_scale):
    """f[a, b, c] with every confluent case handled (a ~ c, and a ~ b ~ c)."""
    df = _derivative(f)
    d2f = _derivative(df)
    close_ac = _close(a, c, abs_scale)
    safe_c = jnp.where(close_ac, a + 1.0, c)
    general = (
        _divided_difference(a, b, f, abs_scale) - _divided_difference(b, safe_c, f, abs_scale)
    ) / (a - safe_c)
    mid = (a + c) / 2
    close_mb = _close(mid, b, abs_scale)
    safe_b = jnp.where(close_mb, mid + 1.0, b)
    one_pair = (df(mid) - _divided_difference(mid, safe_b, f, abs_scale)) / (mid - safe_b)
    all_close = d2f((a + b + c) / 3) / 2
    return jnp.where(close_ac, jnp.where(close_mb, all_close, one_pair), general)


def _loewner(w, f, abs_scale):
    return _divided_difference(w[..., :, None], w[..., None, :], f, abs_scale)


def _in_basis(v, m):
    return transpose(v) @ m @ v


def _from_basis(v, m):
    return v @ m @ transpose(v)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def matrix_function(x: jnp.ndarray, f, abs_scale: float = 0.0) -> jnp.ndarray:
    """f(X) for symmetric X of shape (..., n, n); f acts on eigenvalues elementwise."""
    w, v = jnp.linalg.eigh(x)
    return (v * f(w)[..., None, :]) @ transpose(v)


@matrix_function.defjvp
def _matrix_function_jvp(f, abs_scale, primals, tangents):
    (x,), (dx,) = primals, tangents
    w, v = jnp.linalg.eigh(x)
    out = (v * f(w)[..., None, :]) @ transpose(v)
    dout = _from_basis(v, _loewner(w, f, abs_scale) * _in_basis(v, sym(dx)))
    return out, dout


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def trace_function(x: jnp.ndarray, f) -> jnp.ndarray:
    """tr f(X) = sum_i f(w_i) for symmetric X (..., n, n); gradient V diag(f'(w)) V^T."""
    return jnp.sum(f(jnp.linalg.eigvalsh(x)), axis=-1)


@trace_function.defjvp
def _trace_function_jvp(f, primals, tangents):
    (x,), (dx,) = primals, tangents
    w, v = jnp.linalg.eigh(x)
    grad = (v * _derivative(f)(w)[..., None, :]) @ transpose(v)
    return jnp.sum(f(w), axis=-1), jnp.sum(grad * sym(dx), axis=(-2, -1))


@partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def frechet_derivative(x: jnp.ndarray, e: jnp.ndarray, f, abs_scale: float = 0.0) -> jnp.ndarray:
    """Df(X)[E], the derivative of X -> f(X) in direction E (Daleckii-Krein), (..., n, n)."""
    w, v = jnp.linalg.eigh(x)
    return _from_basis(v, _loewner(w, f, abs_scale) * _in_basis(v, sym(e)))


@frechet_derivative.defjvp
def _frechet_derivative_jvp(f, abs_scale, primals, tangents):
    (x, e), (dx, de) = primals, tangents
    w, v = jnp.linalg.eigh(x)
    loewner = _loewner(w, f, abs_scale)
    e_v, dx_v = _in_basis(v, sym(e)), _in_basis(v, sym(dx))
    out = _from_basis(v, loewner * e_v)
    # Second-order Daleckii-Krein: sum_k f[w_i, w_k, w_j] (E_ik dX_kj + dX_ik E_kj).
    dd2 = _second_divided_difference(
        w[..., :, None, None], w[..., None, :, None], w[..., None, None, :], f, abs_scale
    )
    pairs = (
        e_v[..., :, :, None] * dx_v[..., None, :, :] + dx_v[..., :, :, None] * e_v[..., None, :, :]
    )
    second = jnp.sum(dd2 * pairs, axis=-2)
    return out, _from_basis(v, loewner * _in_basis(v, sym(de)) + second)


def _gram_eigh(b):
    """Eigenvalues (..., n) and eigenvectors of B B^T from the SVD of B, never forming B B^T.

    The eigenvalues are the squared singular values: B B^T has the squared condition number of
    B, and its small eigenvalues, lost in float32 once that exceeds 1 / eps, are kept here.
    """
    u, s, _ = jnp.linalg.svd(b, full_matrices=False)
    return s**2, u


def _gram_tangent(b, db):
    return db @ transpose(b) + b @ transpose(db)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def gram_function(b: jnp.ndarray, f, abs_scale: float = 0.0) -> jnp.ndarray:
    """f(B B^T) for square B (..., n, n), from the SVD of B (see `_gram_eigh`)."""
    w, u = _gram_eigh(b)
    return (u * f(w)[..., None, :]) @ transpose(u)


@gram_function.defjvp
def _gram_function_jvp(f, abs_scale, primals, tangents):
    (b,), (db,) = primals, tangents
    w, u = _gram_eigh(b)
    out = (u * f(w)[..., None, :]) @ transpose(u)
    dout = _from_basis(u, _loewner(w, f, abs_scale) * _in_basis(u, _gram_tangent(b, db)))
    return out, dout


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def gram_trace_function(b: jnp.ndarray, f) -> jnp.ndarray:
    """tr f(B B^T) = sum_i f(sigma_i^2) for square B (..., n, n), from the SVD of B."""
    return jnp.sum(f(jnp.linalg.svd(b, compute_uv=False) ** 2), axis=-1)


@gram_trace_function.defjvp
def _gram_trace_function_jvp(f, primals, tangents):
    (b,), (db,) = primals, tangents
    w, u = _gram_eigh(b)
    grad = (u * _derivative(f)(w)[..., None, :]) @ transpose(u)
    return jnp.sum(f(w), axis=-1), jnp.sum(grad * _gram_tangent(b, db), axis=(-2, -1))


@jax.custom_jvp
def lyapunov(p: jnp.ndarray, u: jnp.ndarray) -> jnp.ndarray:
    """Solve P X + X P = U for X, P symmetric positive definite (..., n, n)."""
    w, v = jnp.linalg.eigh(p)
    return _from_basis(v, _in_basis(v, u) / (w[..., :, None] + w[..., None, :]))


@lyapunov.defjvp
def _lyapunov_jvp(primals, tangents):
    (p, u), (dp, du) = primals, tangents
    x = lyapunov(p, u)
    # Differentiate P X + X P = U: P dX + dX P = dU - dP X - X dP.
    return x, lyapunov(p, du - dp @ x - x @ dp)


def _inv_sqrt(w):
    return 1 / jnp.sqrt(w)


def sqrtm(p: jnp.ndarray) -> jnp.ndarray:
    """Principal square root of SPD matrices (..., n, n)."""
    return matrix_function(p, jnp.sqrt)


def invsqrtm(p: jnp.ndarray) -> jnp.ndarray:
    """Inverse principal square root of SPD matrices (..., n, n)."""
    return matrix_function(p, _inv_sqrt)


def logm(p: jnp.ndarray) -> jnp.ndarray:
    """Principal matrix logarithm of SPD matrices (..., n, n)."""
    return matrix_function(p, jnp.log)


def expm_sym(s: jnp.ndarray) -> jnp.ndarray:
    """Matrix exponential of symmetric matrices (..., n, n)."""
    return matrix_function(s, jnp.exp, 1.0)
