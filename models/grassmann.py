"""Layers on Grassmann manifolds (Flax NNX): GrNet and the Grassmann class representation.

Huang, Wu & Van Gool, "Building Deep Networks on Grassmann Manifolds" (GrNet, AAAI 2018):
- `FRMap`: X -> W X, W with orthonormal rows (eq. 1), a point of St(d_in, d_out) transposed;
- `ReOrth`: X = Q R -> Q, back to orthonormal columns (eq. 2);
- `ProjMap`: X -> X X^T, the projection embedding (eq. 3);
- `ProjPooling`: the mean of projection matrices over an axis (Sec. 3.2);
- `OrthMap`: the top-p eigenvectors of a symmetric matrix (eq. 4).

Wang, Zhang, Song, Wu & Hu, "Get the Best of Both Worlds: Improving Accuracy and
Transferability by Grassmann Class Representation" (GCR, ICCV 2023), eq. 4:
- `GrassmannClassHead`: class c is a p-dimensional subspace S_c (a point of Gr(d, p)); the
  logit is gamma ||S_c^T x / ||x|| ||, the norm of the normalized feature's projection.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from geo.optim import ManifoldParam
from manifolds import Grassmann, Stiefel
from manifolds.linalg import sym, transpose
from manifolds.numerics import eps, safe_norm


class FRMap(nnx.Module):
    """Full-rank map X -> W X with W W^T = I (GrNet eq. 1); (..., d_in, p) -> (..., d_out, p).

    W^T is a `ManifoldParam` on St(d_in, d_out), so the Riemannian optimizers keep the rows
    of W orthonormal. With `filters=k`, k maps act in parallel: (..., d_in, p) ->
    (..., k, d_out, p), one weight array (k, d_in, d_out).
    """

    def __init__(self, d_in: int, d_out: int, *, rngs: nnx.Rngs, filters: int | None = None):
        if not 1 <= d_out <= d_in:
            raise ValueError(f"FRMap: need 1 <= d_out <= d_in, got d_in={d_in}, d_out={d_out}.")
        if filters is not None and filters < 1:
            raise ValueError(f"FRMap: filters must be positive, got {filters}.")
        stiefel = Stiefel(d_in, d_out)
        self.d_in = d_in
        self.filters = filters
        shape = () if filters is None else (filters, d_in, d_out)
        self.weight_t = ManifoldParam(
            stiefel.random(rngs.params(), shape, dtype=jnp.float32), manifold=stiefel
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[-2] != self.d_in:
            raise ValueError(f"FRMap: expected (..., {self.d_in}, p), got {x.shape}.")
        w = self.weight_t[...].astype(x.dtype)
        if self.filters is None:
            return transpose(w) @ x
        return jnp.einsum("kio,...ip->...kop", w, x)


def reorth(x: jax.Array) -> jax.Array:
    """Q of the thin QR decomposition with diag(R) > 0 (GrNet eq. 2); (..., d, p) kept."""
    q, r = jnp.linalg.qr(x)
    signs = jnp.where(jnp.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0).astype(x.dtype)
    return q * signs[..., None, :]


class ReOrth(nnx.Module):
    """Re-orthonormalization by QR (GrNet eq. 2)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return reorth(x)


class ProjMap(nnx.Module):
    """Projection embedding X -> X X^T (GrNet eq. 3); (..., d, p) -> (..., d, d)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ transpose(x)


class ProjPooling(nnx.Module):
    """Mean of projection matrices over `axis` (GrNet Sec. 3.2); (..., k, d, d) -> (..., d, d)."""

    def __init__(self, axis: int = -3):
        self.axis = axis

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.mean(x, axis=self.axis)


@jax.custom_jvp
def _top_eigenvectors(s: jax.Array, p_like: jax.Array) -> jax.Array:
    w, v = jnp.linalg.eigh(s)
    p = p_like.shape[-1]
    return v[..., ::-1][..., :p]


@_top_eigenvectors.defjvp
def _top_eigenvectors_jvp(primals, tangents):
    (s, p_like), (ds, _) = primals, tangents
    w, v = jnp.linalg.eigh(s)
    p = p_like.shape[-1]
    top, rest = v[..., ::-1][..., :p], v[..., : s.shape[-1] - p]
    w_top, w_rest = w[..., ::-1][..., :p], w[..., : s.shape[-1] - p]
    # Only the gaps between the kept and the discarded eigenvalues enter: the subspace is
    # smooth wherever they are apart, however the kept eigenvalues repeat among themselves.
    gap = w_top[..., None, :] - w_rest[..., :, None]
    floor = eps(s.dtype) ** 0.5 * jnp.maximum(jnp.max(jnp.abs(w), axis=-1), 1.0)
    gap = jnp.maximum(gap, floor[..., None, None])
    coupling = transpose(rest) @ sym(ds) @ top / gap
    return top, rest @ coupling


class OrthMap(nnx.Module):
    """Top-p eigenvectors of symmetric S (GrNet eq. 4); (..., d, d) -> (..., d, p).

    The derivative is that of the eigenspace (Stewart & Sun, "Matrix Perturbation Theory",
    V.2): it involves only the gaps between kept and discarded eigenvalues, so it stays
    finite where the kept eigenvalues repeat (a projection matrix has them all equal to 1),
    where JAX's eigh derivative divides by zero.
    """

    def __init__(self, p: int):
        if p < 1:
            raise ValueError(f"OrthMap: p must be positive, got {p}.")
        self.p = p

    def __call__(self, s: jax.Array) -> jax.Array:
        if s.shape[-1] < self.p:
            raise ValueError(f"OrthMap: cannot keep {self.p} eigenvectors of {s.shape} matrices.")
        return _top_eigenvectors(sym(s), jnp.zeros((self.p,), s.dtype))


class GrassmannClassHead(nnx.Module):
    """GCR logits gamma ||S_c^T x / ||x|| || (Wang et al. 2023, eq. 4); (..., d) -> (..., C).

    The class subspaces S_c are one `ManifoldParam` of shape (C, d, p) on Gr(d, p), to be
    trained with `geo.optim.rsgd` (as the paper does) or `radam`.
    """

    def __init__(self, features: int, classes: int, p: int, *, gamma: float, rngs: nnx.Rngs):
        if not 1 <= p <= features:
            raise ValueError(f"GrassmannClassHead: need 1 <= p <= features, got p={p}.")
        grassmann = Grassmann(features, p)
        self.features = features
        self.gamma = float(gamma)
        self.subspaces = ManifoldParam(
            grassmann.random(rngs.params(), (classes, features, p), jnp.float32),
            manifold=grassmann,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[-1] != self.features:
            raise ValueError(f"GrassmannClassHead: expected (..., {self.features}), got {x.shape}.")
        unit = x / safe_norm(x, axis=-1, keepdims=True)
        coords = jnp.einsum("...d,cdp->...cp", unit, self.subspaces[...].astype(x.dtype))
        return self.gamma * safe_norm(coords, axis=-1)
