"""The von Mises-Fisher distribution on the sphere S^{d-1} in R^d (Mardia & Jupp 2000, 9.3)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, manifold_dataclass
from manifolds.distributions.checks import check_points
from manifolds.sphere import Sphere


def _log_bessel_iv_host(order, kappa):
    from scipy.special import ive

    kappa = np.asarray(kappa, np.float64)
    return (np.log(ive(order, kappa)) + kappa).astype(kappa.dtype)


def log_normalizer(kappa: Array, d: int) -> Array:
    """log C_d(kappa), C_d = kappa^{d/2-1} / ((2 pi)^{d/2} I_{d/2-1}(kappa)), so that
    C_d exp(kappa mu^T x) integrates to 1 over S^{d-1}.

    d = 3 in closed form, log kappa - log 2 pi - kappa - log(1 - exp(-2 kappa)), finite at
    kappa -> 0 (where it tends to -log 4 pi); d = 2 through jax's i0e; other d through
    scipy's ive on the host (no gradient with respect to kappa)."""
    kappa = jnp.asarray(kappa)
    if d == 3:
        small = kappa < 1e-4
        k = jnp.where(small, 1.0, kappa)
        exact = jnp.log(k) - math.log(2 * math.pi) - k - jnp.log(-jnp.expm1(-2 * k))
        series = -math.log(4 * math.pi) - kappa**2 / 6  # log(k / sinh k) / 4 pi near 0
        return jnp.where(small, series, exact)
    if d == 2:
        return -math.log(2 * math.pi) - (jnp.log(jax.scipy.special.i0e(kappa)) + kappa)
    order = 0.5 * d - 1
    log_iv = jax.pure_callback(
        lambda k: _log_bessel_iv_host(order, k),
        jax.ShapeDtypeStruct(kappa.shape, kappa.dtype),
        kappa,
        vmap_method="expand_dims",
    )
    return order * jnp.log(kappa) - 0.5 * d * math.log(2 * math.pi) - log_iv


def _householder_to(mu: Array, x: Array) -> Array:
    """x (..., d) rotated by the reflection that takes e_1 to mu (identity if mu = e_1)."""
    e1 = jnp.zeros_like(mu).at[..., 0].set(1.0)
    v = e1 - mu
    vv = jnp.sum(v * v, -1, keepdims=True)
    safe = vv > 1e-12
    coef = jnp.where(safe, 2.0 / jnp.where(safe, vv, 1.0), 0.0)
    return x - coef * jnp.sum(v * x, -1, keepdims=True) * v


def _sample_w(key, kappa, d: int, shape, dtype):
    """The component w = mu^T x: closed-form inverse CDF for d = 3, else Wood's (1994)
    rejection sampler, run until every sample is accepted."""
    if d == 3:
        u = jax.random.uniform(key, shape, dtype)
        k = jnp.maximum(kappa, 1e-6)
        return jnp.clip(1.0 + jnp.log(u + (1.0 - u) * jnp.exp(-2.0 * k)) / k, -1.0, 1.0)
    m1 = d - 1.0
    b = m1 / (2.0 * kappa + jnp.sqrt(4.0 * kappa**2 + m1**2))  # stable form of Wood's b
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa * x0 + m1 * jnp.log(1.0 - x0**2)

    def propose(key):
        kz, ku = jax.random.split(key)
        z = jax.random.beta(kz, 0.5 * m1, 0.5 * m1, shape, dtype)
        w = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
        u = jax.random.uniform(ku, shape, dtype)
        return w, kappa * w + m1 * jnp.log(1.0 - x0 * w) - c >= jnp.log(u)

    def body(state):
        key, w, done = state
        key, sub = jax.random.split(key)
        new, ok = propose(sub)
        return key, jnp.where(done, w, new), done | ok

    init = (key, jnp.zeros(shape, dtype), jnp.zeros(shape, bool))
    return jax.lax.while_loop(lambda s: ~jnp.all(s[2]), body, init)[1]


@manifold_dataclass(data_fields=("mu", "kappa"))
class VonMisesFisher:
    """vMF(mu, kappa) on S^{d-1}: density C_d(kappa) exp(kappa mu^T x) with respect to the
    surface measure.

    Attributes:
        mu: (d,) unit mean direction.
        kappa: concentration >= 0 (a scalar).
    """

    mu: Array
    kappa: Array

    @property
    def dim(self) -> int:
        return int(self.mu.shape[-1])

    def log_prob(self, x: Array) -> Array:
        """(...,) log density at x (..., d)."""
        check_points(Sphere(), x, "VonMisesFisher.log_prob")
        kappa = jnp.asarray(self.kappa, x.dtype)
        return log_normalizer(kappa, self.dim) + kappa * jnp.sum(self.mu * x, -1)

    def sample(self, key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        """(*shape, d) samples: w = mu^T x from its marginal, the rest uniform on the
        orthogonal sphere, then the reflection that takes e_1 to mu (Wood 1994)."""
        kw, kv = jax.random.split(key)
        d = self.dim
        kappa = jnp.asarray(self.kappa, dtype)
        w = _sample_w(kw, kappa, d, shape, dtype)
        v = jax.random.normal(kv, (*shape, d - 1), dtype)
        v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
        x = jnp.concatenate([w[..., None], jnp.sqrt(jnp.maximum(1 - w**2, 0))[..., None] * v], -1)
        return _householder_to(jnp.asarray(self.mu, dtype), x)
