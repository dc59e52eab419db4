"""Wrapped normal distributions: a Gaussian in the tangent space at the origin, moved to
`loc` by parallel transport and the exponential map (Nagano et al. 2019, "A Wrapped Normal
Distribution on Hyperbolic Space", Alg. 1 and eq. 7), on the hyperboloid, the Poincare ball
and SO(3)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from manifolds.base import Array, Manifold, manifold_dataclass
from manifolds.distributions.checks import check_points
from manifolds.lorentz import Lorentz
from manifolds.numerics import safe_norm, sinc
from manifolds.poincare import PoincareBall
from manifolds.special_orthogonal import SpecialOrthogonal, hat, so3_log

# Windings k of the SO(3) exponential summed in the density: angles theta + 2 pi k.
SO3_WINDINGS = 3


def log_sinhc(s: Array) -> Array:
    """log(sinh(s) / s) for s >= 0, without overflow: s - log 2 s + log(1 - e^{-2s})."""
    small = s < 1e-2
    t = jnp.where(small, 1.0, s)
    big = t - jnp.log(2.0 * t) + jnp.log(-jnp.expm1(-2.0 * t))
    return jnp.where(small, s**2 / 6.0, big)


def _gaussian_log_prob(v: Array, scale: Array) -> Array:
    """log N(v; 0, diag(scale^2)) over the last axis."""
    z = v / scale
    return (
        -0.5 * jnp.sum(z**2, -1)
        - jnp.sum(jnp.log(scale), -1)
        - 0.5 * v.shape[-1] * math.log(2 * math.pi)
    )


def _frame(manifold: Manifold):
    """(to_tangent(v), from_tangent(u), curvature magnitude K): orthonormal coordinates v
    (..., n) of the tangent space at the origin of a hyperbolic model of curvature -K."""
    if isinstance(manifold, Lorentz):

        def to_tangent(v):
            return jnp.concatenate([jnp.zeros_like(v[..., :1]), v], -1)

        return to_tangent, lambda u: u[..., 1:], 1.0 / manifold.k
    if isinstance(manifold, PoincareBall):
        # The conformal factor at 0 is 2: a Euclidean vector u there has norm 2 |u|.
        return (lambda v: 0.5 * v), (lambda u: 2.0 * u), manifold.c
    raise ValueError(
        f"WrappedNormal: {type(manifold).__name__} is not supported; use Lorentz, "
        "PoincareBall or SpecialOrthogonal"
    )


@manifold_dataclass(data_fields=("loc", "scale"))
class WrappedNormal:
    """Wrapped normal on a hyperbolic model (Lorentz, PoincareBall) or on SO(3).

    Attributes:
        manifold: the manifold.
        loc: the mean point (a point of `manifold`).
        scale: (n,) standard deviations of the tangent Gaussian in orthonormal coordinates
            at the origin (n = 2 on H^2, 3 on SO(3)).
    """

    manifold: Manifold
    loc: Array
    scale: Array

    def _origin(self, dtype):
        return self.manifold.origin(jnp.shape(self.loc), dtype)

    def sample(self, key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        """(*shape, *point) samples: v ~ N(0, diag scale^2), then exp_loc(PT_{o->loc}(v))."""
        scale = jnp.asarray(self.scale, dtype)
        v = scale * jax.random.normal(key, (*shape, scale.shape[-1]), dtype)
        loc = jnp.asarray(self.loc, dtype)
        if isinstance(self.manifold, SpecialOrthogonal):
            return loc @ self.manifold.expmap(jnp.eye(3, dtype=dtype), hat(v))
        to_tangent, _, _ = _frame(self.manifold)
        o = self._origin(dtype)
        u = self.manifold.transp(o, loc, to_tangent(v))
        return self.manifold.proj(self.manifold.expmap(loc, u))

    def log_prob(self, x: Array) -> Array:
        """(...,) log density with respect to the Riemannian volume at x.

        Hyperbolic: log N(v) - (n - 1) log(sinh(sqrt(K) r) / (sqrt(K) r)), r = d(loc, x)
        and v the coordinates of PT_{loc->o}(log_loc x) (Nagano et al., eq. 7). SO(3): the
        exponential wraps, so the density sums N(t_k a) / J(t_k) over the preimages
        t_k = theta + 2 pi k (|k| <= 3) of the rotation loc^T x of angle theta and axis a,
        with J(t) = 2 (1 - cos t) / t^2 the volume change of exp on SO(3)."""
        check_points(self.manifold, x, "WrappedNormal.log_prob")
        scale = jnp.asarray(self.scale, x.dtype)
        loc = jnp.asarray(self.loc, x.dtype)
        if isinstance(self.manifold, SpecialOrthogonal):
            return self._so3_log_prob(loc, scale, x)
        to_tangent, from_tangent, curvature = _frame(self.manifold)
        o = self._origin(x.dtype)
        u = self.manifold.logmap(loc, x)
        v = from_tangent(self.manifold.transp(loc, o, u))
        r = jnp.sqrt(jnp.asarray(curvature, x.dtype)) * self.manifold.dist(loc, x)
        return _gaussian_log_prob(v, scale) - (v.shape[-1] - 1) * log_sinhc(r)

    @staticmethod
    def _so3_log_prob(loc, scale, x):
        w = so3_log(jnp.swapaxes(loc, -1, -2) @ x)
        theta = safe_norm(w)
        axis = w / jnp.maximum(theta, 1e-12)[..., None]
        axis = jnp.where((theta > 1e-12)[..., None], axis, jnp.zeros_like(w).at[..., 0].set(1))
        ks = jnp.arange(-SO3_WINDINGS, SO3_WINDINGS + 1, dtype=x.dtype)
        t = theta[..., None] + 2 * jnp.pi * ks  # (..., 2K + 1)
        v = t[..., None] * axis[..., None, :]
        # log J(t) = log(2 (1 - cos t) / t^2) = 2 log |sinc(t / 2)|; (1 - cos t) is shared.
        log_j = 2.0 * jnp.log(jnp.maximum(jnp.abs(sinc(0.5 * t)), 1e-30))
        terms = _gaussian_log_prob(v, scale) - log_j
        return jax.scipy.special.logsumexp(terms, axis=-1)
