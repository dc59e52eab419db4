"""Layers on symmetric positive definite matrices (Flax NNX): SPDNet and covariance pooling.

Huang & Van Gool, "A Riemannian Network for SPD Matrix Learning" (AAAI 2017):
- `BiMap`: X -> W^T X W with W on the Stiefel manifold St(n_in, n_out) (eq. 1);
- `ReEig`: U max(eps I, S) U^T, the SPD rectifier (eq. 3);
- `LogEig`: U log(S) U^T, flattened for a Euclidean classifier (eq. 6); `ExpEig` its inverse.

Every eigenvalue function goes through `manifolds.linalg.matrix_function`, whose
Daleckii-Krein derivative stays finite for repeated eigenvalues (the identity included),
where the textbook 1 / (s_i - s_j) backward of SPDNet divides by zero.

Layers take `checked=True` to verify their input is SPD (symmetric, positive definite);
under jit the check runs through a host callback and fails the computation with the same
message. Batch normalization lives in `models.spd_batchnorm`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from geo.optim import ManifoldParam
from manifolds import SPD, Stiefel
from manifolds.linalg import matrix_function, sym, transpose
from manifolds.spd import clamp_below, expm_sym, logm


def _raise_if_not_spd(x: np.ndarray, where: str, atol: float) -> None:
    ok, reason = SPD(x.shape[-1]).check(x, atol)
    if not ok:
        raise ValueError(
            f"{where}: input is not a batch of SPD matrices ({reason}). SPD layers need "
            "symmetric positive definite inputs, e.g. covariances with shrinkage > 0."
        )


def check_spd(x: jax.Array, where: str, atol: float = 1e-5) -> None:
    """Raise ValueError naming `where` if x (..., n, n) is not symmetric positive definite.

    Works on concrete arrays and inside jit (through `jax.debug.callback`).
    """
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{where}: expected square matrices (..., n, n), got {x.shape}.")
    if isinstance(x, jax.core.Tracer):
        jax.debug.callback(lambda v: _raise_if_not_spd(v, where, atol), x)
    else:
        _raise_if_not_spd(x, where, atol)


def _check_size(x: jax.Array, n: int, where: str) -> None:
    if x.shape[-2:] != (n, n):
        raise ValueError(f"{where}: expected matrices (..., {n}, {n}), got {x.shape}.")


class BiMap(nnx.Module):
    """Bilinear map X -> W^T X W, W in St(n_in, n_out) (SPDNet, eq. 1).

    Shapes: (..., n_in, n_in) -> (..., n_out, n_out). W is a `ManifoldParam` on the Stiefel
    manifold, so `geo.optim.rsgd` / `radam` keep it orthonormal; n_out <= n_in keeps the
    output SPD.
    """

    def __init__(self, n_in: int, n_out: int, *, rngs: nnx.Rngs, checked: bool = False):
        if not 1 <= n_out <= n_in:
            raise ValueError(f"BiMap: need 1 <= n_out <= n_in, got n_in={n_in}, n_out={n_out}.")
        stiefel = Stiefel(n_in, n_out)
        self.n_in = n_in
        self.weight = ManifoldParam(
            stiefel.random(rngs.params(), dtype=jnp.float32), manifold=stiefel
        )
        self.checked = checked

    def __call__(self, x: jax.Array) -> jax.Array:
        _check_size(x, self.n_in, "BiMap")
        if self.checked:
            check_spd(x, "BiMap")
        w = self.weight[...].astype(x.dtype)
        return sym(transpose(w) @ x @ w)


class ReEig(nnx.Module):
    """Eigenvalue rectifier U max(eps, S) U^T (SPDNet, eq. 3); shapes (..., n, n) kept."""

    def __init__(self, eps: float = 1e-4, *, checked: bool = False):
        if not eps > 0:
            raise ValueError(f"ReEig: eps must be positive, got {eps}.")
        self.eps = float(eps)
        self.checked = checked

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.checked:
            check_spd(x, "ReEig")
        return matrix_function(sym(x), clamp_below(self.eps))


def triu_vector(s: jax.Array) -> jax.Array:
    """Upper triangle of symmetric s (..., n, n) -> (..., n (n + 1) / 2), off-diagonal x sqrt 2.

    The sqrt 2 makes the map an isometry from the Frobenius norm to the Euclidean one.
    """
    n = s.shape[-1]
    rows, cols = np.triu_indices(n)
    scale = np.where(rows == cols, 1.0, np.sqrt(2.0)).astype(np.float32)
    return s[..., rows, cols] * jnp.asarray(scale, s.dtype)


class LogEig(nnx.Module):
    """Matrix logarithm U log(S) U^T (SPDNet, eq. 6), flattened by `triu_vector`.

    Shapes: (..., n, n) -> (..., n (n + 1) / 2), or (..., n, n) with `flatten=False`.
    """

    def __init__(self, *, flatten: bool = True, checked: bool = False):
        self.flatten = flatten
        self.checked = checked

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.checked:
            check_spd(x, "LogEig")
        log = logm(sym(x))
        return triu_vector(log) if self.flatten else log


class ExpEig(nnx.Module):
    """Matrix exponential U exp(S) U^T of symmetric matrices, the inverse of LogEig."""

    def __call__(self, s: jax.Array) -> jax.Array:
        return expm_sym(sym(s))
