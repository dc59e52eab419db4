"""Symmetric positive definite matrices SPD(n) under four Riemannian metrics.

- "affine": affine-invariant metric tr(P^-1 U P^-1 V) (Pennec, Fillard & Ayache 2006).
- "log_euclidean": pullback of the Frobenius metric by logm (Arsigny et al. 2007).
- "bures_wasserstein": 1/2 tr(L_P[U] V), L_P the Lyapunov operator (Bhatia, Jain & Lim 2019;
  Malago, Montrucchio & Pistone 2018).
- "log_cholesky": Lin, "Riemannian Geometry of Symmetric Positive Definite Matrices via
  Cholesky Decomposition" (SIMAX 2019).

Every matrix function goes through `manifolds.linalg`, whose derivatives stay correct for
repeated eigenvalues (the identity included).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, Manifold, manifold_dataclass
from manifolds.frechet_mean import weighted_sum
from manifolds.linalg import (
    expm_sym,
    frechet_derivative,
    gram_function,
    gram_trace_function,
    invsqrtm,
    logm,
    lyapunov,
    matrix_function,
    sqrtm,
    sym,
    trace_function,
    transpose,
)
from manifolds.numerics import safe_sqrt

METRICS = ("affine", "log_euclidean", "bures_wasserstein", "log_cholesky")
# Up to this condition number, float32 dist / logmap / expmap of every metric are finite with
# finite gradients and within 2e-2 of float64 (docs/numerics.md); `check` flags larger ones.
FLOAT32_CONDITION_LIMIT = 1e6


def _log_squared(w):
    return jnp.log(w) ** 2


@functools.cache
def clamp_below(floor: float):
    """w -> max(w, floor), one function object per floor so traces are reused."""
    return lambda w: jnp.maximum(w, floor)


def _frob(a, b):
    return jnp.sum(a * b, axis=(-2, -1))


def _solve_lower(chol, b):
    """L^-1 B for lower-triangular L (..., n, n) and B (..., n, m), batch axes broadcast.

    The batch axes are broadcast before the solve: jax 0.9's triangular_solve rejects
    operands whose batch axes only broadcast ("Batching dimension ... two sizes").
    """
    batch = jnp.broadcast_shapes(chol.shape[:-2], b.shape[:-2])
    chol = jnp.broadcast_to(chol, (*batch, *chol.shape[-2:]))
    b = jnp.broadcast_to(b, (*batch, *b.shape[-2:]))
    return jax.scipy.linalg.solve_triangular(chol, b, lower=True)


# ---- affine-invariant metric -------------------------------------------------------------


def affine_inner(p, u, v):
    """tr(P^-1 U P^-1 V)."""
    return _frob(jnp.linalg.solve(p, u), transpose(jnp.linalg.solve(p, v)))


def affine_expmap(p, u):
    """P^1/2 expm(P^-1/2 U P^-1/2) P^1/2 (Pennec et al. 2006, eq. 3.3)."""
    s, si = sqrtm(p), invsqrtm(p)
    return s @ expm_sym(si @ u @ si) @ s


def affine_logmap(p, q):
    """P^1/2 logm(P^-1/2 Q P^-1/2) P^1/2 (Pennec et al. 2006, eq. 3.4).

    P^-1/2 Q P^-1/2 = B B^T with B = P^-1/2 Q^1/2, whose logarithm comes from the SVD of B:
    the product itself has the squared condition number and loses its small eigenvalues in
    float32 (docs/numerics.md).
    """
    s = sqrtm(p)
    return s @ gram_function(invsqrtm(p) @ sqrtm(q), jnp.log) @ s


def affine_dist(p, q):
    """||logm(P^-1/2 Q P^-1/2)||_F, the eigenvalues of P^-1 Q (Pennec et al. 2006).

    float64: through P = L L^T, ||logm(L^-1 Q L^-T)||_F. Lower precisions: the squared
    singular values of B = P^-1/2 Q^1/2, which keep the small eigenvalues that L^-1 Q L^-T
    loses once cond(P) cond(Q) exceeds 1 / eps (docs/numerics.md).
    """
    if jnp.result_type(p, q) != jnp.float64:
        return safe_sqrt(gram_trace_function(invsqrtm(p) @ sqrtm(q), _log_squared))
    chol = jnp.linalg.cholesky(p)
    m = _solve_lower(chol, transpose(_solve_lower(chol, q)))
    return safe_sqrt(trace_function(sym(m), _log_squared))


def affine_transp(p, q, v):
    """E V E^T with E = (Q P^-1)^1/2 = P^1/2 (P^-1/2 Q P^-1/2)^1/2 P^-1/2 (Sra & Hosseini 2015)."""
    s, si = sqrtm(p), invsqrtm(p)
    e = s @ gram_function(si @ sqrtm(q), jnp.sqrt) @ si
    return e @ v @ transpose(e)


def affine_retr(p, u):
    """Second-order retraction P + U + U P^-1 U / 2, SPD for every symmetric U."""
    return sym(p + u + 0.5 * u @ jnp.linalg.solve(p, u))


# ---- log-Euclidean metric ----------------------------------------------------------------


def _dlog(p, u):
    return frechet_derivative(p, u, jnp.log)


def _dexp(s, u):
    return frechet_derivative(s, u, jnp.exp, 1.0)


def log_euclidean_inner(p, u, v):
    """<Dlog_P[U], Dlog_P[V]>_F (Arsigny et al. 2007)."""
    return _frob(_dlog(p, u), _dlog(p, v))


def log_euclidean_expmap(p, u):
    """expm(logm P + Dlog_P[U])."""
    return expm_sym(logm(p) + _dlog(p, u))


def log_euclidean_logmap(p, q):
    """Dexp_{logm P}[logm Q - logm P]."""
    log_p = logm(p)
    return _dexp(log_p, logm(q) - log_p)


def log_euclidean_dist(p, q):
    """||logm P - logm Q||_F."""
    return safe_sqrt(jnp.sum((logm(p) - logm(q)) ** 2, axis=(-2, -1)))


def log_euclidean_transp(p, q, v):
    """Dexp_{logm Q}[Dlog_P[V]]: parallel transport in the flat log domain."""
    return _dexp(logm(q), _dlog(p, v))


def log_euclidean_egrad2rgrad(p, g):
    """Dlog_P^-2 [G] = Dexp_{log P}[Dexp_{log P}[G]]."""
    log_p = logm(p)
    return _dexp(log_p, _dexp(log_p, sym(g)))


# ---- Bures-Wasserstein metric ------------------------------------------------------------


def bures_wasserstein_inner(p, u, v):
    """1/2 tr(L_P[U] V), L_P[U] solving P X + X P = U (Bhatia et al. 2019, eq. 9)."""
    return 0.5 * _frob(lyapunov(p, u), v)


def bures_wasserstein_expmap(p, u):
    """P + U + L_P[U] P L_P[U] (Malago et al. 2018, Prop. 9)."""
    lu = lyapunov(p, u)
    return sym(p + u + lu @ p @ lu)


def bures_wasserstein_logmap(p, q):
    """(P Q)^1/2 + (Q P)^1/2 - 2P, (P Q)^1/2 = P^1/2 (P^1/2 Q P^1/2)^1/2 P^-1/2."""
    s, si = sqrtm(p), invsqrtm(p)
    pq = s @ gram_function(s @ sqrtm(q), jnp.sqrt) @ si  # (P^1/2 Q P^1/2)^1/2 from an SVD
    return pq + transpose(pq) - 2 * p


def bures_wasserstein_dist(p, q):
    """||log_P Q||_P: (tr P + tr Q - 2 tr (P^1/2 Q P^1/2)^1/2)^1/2 without its cancellation."""
    w = bures_wasserstein_logmap(p, q)
    return safe_sqrt(bures_wasserstein_inner(p, w, w))


def bures_wasserstein_egrad2rgrad(p, g):
    """2 (P G + G P) for symmetric G."""
    g = sym(g)
    return 2 * (p @ g + g @ p)


# ---- log-Cholesky metric -----------------------------------------------------------------


def _strict_lower(x):
    return jnp.tril(x, -1)


def _diag(x):
    return jnp.diagonal(x, axis1=-2, axis2=-1)


def _with_diag(lower, d):
    return lower + d[..., None, :] * jnp.eye(d.shape[-1], dtype=d.dtype)


def _chol_tangent(chol, u):
    """X = L Phi(L^-1 U L^-T), Phi = strictly lower + diagonal / 2 (Lin 2019, Prop. 4)."""
    a = transpose(_solve_lower(chol, transpose(_solve_lower(chol, u))))
    phi = _with_diag(_strict_lower(a), _diag(a) / 2)
    return chol @ phi


def _spd_tangent(chol, x):
    return chol @ transpose(x) + x @ transpose(chol)


def log_cholesky_inner(p, u, v):
    """<lower X_U, lower X_V> + <D(L)^-1 D(X_U), D(L)^-1 D(X_V)> (Lin 2019, eq. 6)."""
    chol = jnp.linalg.cholesky(p)
    xu, xv = _chol_tangent(chol, u), _chol_tangent(chol, v)
    d = _diag(chol)
    return _frob(_strict_lower(xu), _strict_lower(xv)) + jnp.sum(
        _diag(xu) * _diag(xv) / d**2, axis=-1
    )


def log_cholesky_expmap(p, u):
    """L' = lower(L) + lower(X) + D(L) exp(D(X) / D(L)); P' = L' L'^T (Lin 2019, Prop. 8)."""
    chol = jnp.linalg.cholesky(p)
    x = _chol_tangent(chol, u)
    d = _diag(chol)
    new = _with_diag(_strict_lower(chol) + _strict_lower(x), d * jnp.exp(_diag(x) / d))
    return new @ transpose(new)


def log_cholesky_logmap(p, q):
    """X = lower(K) - lower(L) + D(L) log(D(K) / D(L)), mapped back to U = L X^T + X L^T."""
    chol, chol_q = jnp.linalg.cholesky(p), jnp.linalg.cholesky(q)
    d = _diag(chol)
    x = _with_diag(_strict_lower(chol_q) - _strict_lower(chol), d * jnp.log(_diag(chol_q) / d))
    return _spd_tangent(chol, x)


def log_cholesky_dist(p, q):
    """(||lower K - lower L||^2 + ||log D(K) - log D(L)||^2)^1/2 (Lin 2019, Prop. 9)."""
    chol, chol_q = jnp.linalg.cholesky(p), jnp.linalg.cholesky(q)
    lower = jnp.sum((_strict_lower(chol_q) - _strict_lower(chol)) ** 2, axis=(-2, -1))
    diag = jnp.sum((jnp.log(_diag(chol_q)) - jnp.log(_diag(chol))) ** 2, axis=-1)
    return safe_sqrt(lower + diag)


def log_cholesky_transp(p, q, v):
    """lower(X) + D(K) D(L)^-1 D(X) in the Cholesky domain (Lin 2019, Prop. 10)."""
    chol, chol_q = jnp.linalg.cholesky(p), jnp.linalg.cholesky(q)
    x = _chol_tangent(chol, v)
    moved = _with_diag(_strict_lower(x), _diag(chol_q) / _diag(chol) * _diag(x))
    return _spd_tangent(chol_q, moved)


def log_cholesky_egrad2rgrad(p, g):
    """Riemannian gradient: X_R = lower(2GL) + D(L)^2 D(2GL), mapped to L X_R^T + X_R L^T."""
    chol = jnp.linalg.cholesky(p)
    a = 2 * sym(g) @ chol
    x = _with_diag(_strict_lower(a), _diag(chol) ** 2 * _diag(a))
    return _spd_tangent(chol, x)


_TABLE = {
    "affine": dict(
        inner=affine_inner,
        expmap=affine_expmap,
        logmap=affine_logmap,
        dist=affine_dist,
        transp=affine_transp,
        retr=affine_retr,
        egrad2rgrad=lambda p, g: p @ sym(g) @ p,
    ),
    "log_euclidean": dict(
        inner=log_euclidean_inner,
        expmap=log_euclidean_expmap,
        logmap=log_euclidean_logmap,
        dist=log_euclidean_dist,
        transp=log_euclidean_transp,
        retr=log_euclidean_expmap,
        egrad2rgrad=log_euclidean_egrad2rgrad,
    ),
    "bures_wasserstein": dict(
        inner=bures_wasserstein_inner,
        expmap=bures_wasserstein_expmap,
        logmap=bures_wasserstein_logmap,
        dist=bures_wasserstein_dist,
        transp=lambda p, q, v: jnp.broadcast_to(sym(v), jnp.broadcast_shapes(v.shape, q.shape)),
        retr=bures_wasserstein_expmap,
        egrad2rgrad=bures_wasserstein_egrad2rgrad,
    ),
    "log_cholesky": dict(
        inner=log_cholesky_inner,
        expmap=log_cholesky_expmap,
        logmap=log_cholesky_logmap,
        dist=log_cholesky_dist,
        transp=log_cholesky_transp,
        retr=log_cholesky_expmap,
        egrad2rgrad=log_cholesky_egrad2rgrad,
    ),
}


def _affine_karcher_step(m, x, w, point_axis, memory=None):
    """One affine Karcher step in whitened coordinates (Pennec 2006, eq. 9).

    J = sum_i w_i logm(M^-1/2 X_i M^-1/2), M <- M^1/2 expm(t J) M^1/2; ||J||_F is the
    gradient's affine norm. Whitening once per step saves the per-point M^1/2 (.) M^1/2 of
    logmap. Without `memory`, t = 1. With `memory` = (last step S, last gradient G), t is the
    Barzilai-Borwein length <S, S> / <S, G - J> (Iannazzo & Porcelli 2018, with the
    whitened coordinates of successive points identified), kept in [0.1, 1] and 1 where
    <S, G - J> <= 0 (the first step). The Hessian of the Karcher cost is at least the
    identity, so 1 is never too short; where the data are spread, the unit step overshoots
    and the flow slows to a crawl (10k 16 x 16 Wishart matrices with 16 degrees of freedom:
    16 iterations to 1e-8 with t = 1, 6 with this length).
    """
    root, inv_root = sqrtm(m), invsqrtm(m)
    whitened = jnp.expand_dims(inv_root, point_axis) @ x @ jnp.expand_dims(inv_root, point_axis)
    j = weighted_sum(w, logm(sym(whitened)), 2)
    length = jnp.ones(j.shape[:-2] + (1, 1), j.dtype)
    if memory is not None:
        last_step, last_grad = memory
        ss = jnp.sum(last_step * last_step, axis=(-2, -1), keepdims=True)
        sy = jnp.sum(last_step * (last_grad - j), axis=(-2, -1), keepdims=True)
        length = jnp.where(sy > 0, jnp.clip(ss / jnp.where(sy > 0, sy, 1), 0.1, 1.0), 1.0)
        memory = (length * j, j)
    new = root @ expm_sym(length * j) @ root
    err = jnp.max(jnp.sqrt(jnp.sum(j * j, axis=(-2, -1))))
    return sym(new), err, memory


def _log_cholesky_mean(x, w):
    chol = jnp.linalg.cholesky(x)
    lower = jnp.tril(chol, -1)
    log_diag = jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1))
    mean_lower = weighted_sum(w, lower, 2)
    mean_diag = jnp.exp(jnp.sum(w[..., None] * log_diag, axis=-2))
    mean = mean_lower + mean_diag[..., None, :] * jnp.eye(x.shape[-1], dtype=x.dtype)
    return mean @ jnp.swapaxes(mean, -1, -2)


@manifold_dataclass()
class SPD(Manifold):
    """n x n symmetric positive definite matrices; points (..., n, n).

    Attributes:
        n: matrix size.
        metric: one of "affine", "log_euclidean", "bures_wasserstein", "log_cholesky".
    """

    n: int
    metric: str = "affine"
    ndim = 2
    adapts_per_point = True  # component_inner is one scale per matrix

    def __post_init__(self):
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"SPD: n must be a positive integer, got {self.n!r}.")
        if self.metric not in METRICS:
            raise ValueError(
                f"SPD: unknown metric {self.metric!r}; valid choices are {', '.join(METRICS)}."
            )

    @property
    def transp_is_isometry(self) -> bool:
        # Bures-Wasserstein parallel transport has no closed form: transp is the identity.
        return self.metric != "bures_wasserstein"

    def _op(self, name):
        return _TABLE[self.metric][name]

    def point_shape_error(self, shape):
        if tuple(shape[-2:]) != (self.n, self.n):
            return f"expected (..., {self.n}, {self.n}), got {tuple(shape)}"
        return None

    def proj(self, x: Array, min_eig: float | None = None) -> Array:
        """Symmetrize and clamp eigenvalues to at least `min_eig` (default: dtype-scaled)."""
        floor = min_eig if min_eig is not None else 100 * float(jnp.finfo(x.dtype).eps)
        return matrix_function(sym(x), clamp_below(floor))

    def proju(self, x: Array, u: Array) -> Array:
        return sym(u)

    def egrad2rgrad(self, x: Array, g: Array) -> Array:
        return self._op("egrad2rgrad")(x, g)

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return self._op("inner")(x, u, v)

    def component_inner(self, x: Array, u: Array) -> Array:
        # None of the four metrics is conformally Euclidean in matrix entries.
        return self.squared_norm_per_coordinate(x, u)

    def expmap(self, x: Array, u: Array) -> Array:
        return self._op("expmap")(x, u)

    def retr(self, x: Array, u: Array) -> Array:
        return self._op("retr")(x, u)

    def logmap(self, x: Array, y: Array) -> Array:
        return self._op("logmap")(x, y)

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        return self._op("transp")(x, y, v)

    def dist(self, x: Array, y: Array) -> Array:
        return self._op("dist")(x, y)

    def mean_closed_form(self, x: Array, w: Array) -> Array | None:
        if self.metric == "log_euclidean":
            return expm_sym(weighted_sum(w, logm(x), 2))
        if self.metric == "log_cholesky":  # Lin 2019, Prop. 11
            return _log_cholesky_mean(x, w)
        return None

    def karcher_start(self, x: Array, w: Array, point_axis: int) -> Array:
        return weighted_sum(w, x, 2)  # SPD, and far closer than any one point

    def karcher_step(self, m, x, w, point_axis, memory):
        if self.metric == "affine":
            return _affine_karcher_step(m, x, w, point_axis, memory)
        return super().karcher_step(m, x, w, point_axis, memory)

    def karcher_memory(self, m0: Array):
        # The affine steps remember the last step and gradient (zero: the first step is 1).
        return (jnp.zeros_like(m0), jnp.zeros_like(m0)) if self.metric == "affine" else None

    def _batch_of(self, shape, method: str) -> tuple[int, ...]:
        """The batch axes of a full point shape (..., n, n), as every manifold takes it."""
        reason = self.point_shape_error(tuple(shape))
        if reason is not None:
            raise ValueError(
                f"SPD.{method}: shape is the full array shape (..., {self.n}, {self.n}) as for "
                f"every manifold; {reason}"
            )
        return tuple(shape)[:-2]

    def origin(self, shape=None, dtype=jnp.float32) -> Array:
        """Identity matrices of `shape` (..., n, n) (default: one, (n, n))."""
        batch = self._batch_of((self.n, self.n) if shape is None else shape, "origin")
        return jnp.broadcast_to(jnp.eye(self.n, dtype=dtype), (*batch, self.n, self.n))

    def random(self, key: Array, shape=None, dtype=jnp.float32, std: float = 1.0) -> Array:
        """expm of a symmetric Gaussian matrix with entry standard deviation `std`, `shape`
        (..., n, n) (default: one matrix, (n, n))."""
        batch = self._batch_of((self.n, self.n) if shape is None else shape, "random")
        a = std * jax.random.normal(key, (*batch, self.n, self.n), dtype)
        return expm_sym(sym(a))

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        x64 = x.astype(np.float64)
        scale = np.maximum(np.max(np.abs(x64)), 1e-300)
        asym = np.max(np.abs(x64 - np.swapaxes(x64, -1, -2))) / scale
        if asym > atol:
            return f"not symmetric: max |X - X^T| / max |X| is {asym:.3g} > atol {atol:.3g}"
        eigs = np.linalg.eigvalsh(x64)
        min_eig = float(np.min(eigs))
        if min_eig <= 0:
            return f"not positive definite: smallest eigenvalue is {min_eig:.3g} (must be > 0)"
        limit = FLOAT32_CONDITION_LIMIT
        cond = float(np.max(eigs[..., -1] / eigs[..., 0]))
        if x.dtype == np.float32 and cond > limit:
            return (
                f"condition number {cond:.3g} is beyond {limit:.0e}, the float32 limit of the "
                "SPD maps (docs/numerics.md): results lose accuracy or become NaN; use float64"
            )
        return None
