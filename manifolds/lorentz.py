"""The Lorentz (hyperboloid) model {x in R^{n+1} : <x, x>_L = -k, x_0 > 0}, curvature -1/k.

Formulas from Nickel & Kiela, "Learning Continuous Hierarchies in the Lorentz Model of
Hyperbolic Geometry" (ICML 2018), and geoopt's `Lorentz(k)` convention. The distance is
evaluated as arcosh(1 + <x - y, x - y>_L / (2k)), from the difference itself, so that nearly
equal points keep an accurate distance in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from manifolds._numerics import arcosh1p, safe_norm, safe_sqrt, sinhc
from manifolds.base import Array, Manifold, manifold_dataclass, require_positive


def lorentz_inner(u: Array, v: Array, keepdims: bool = False) -> Array:
    """Minkowski inner product -u_0 v_0 + sum_i u_i v_i over the last axis."""
    prod = u * v
    out = jnp.sum(prod[..., 1:], axis=-1, keepdims=keepdims) - prod[..., :1].sum(
        axis=-1, keepdims=keepdims
    )
    return out


def lorentz_dist(x: Array, y: Array, k) -> Array:
    """d(x, y) = sqrt(k) arcosh(-<x, y>_L / k) = sqrt(k) arcosh(1 + <x-y, x-y>_L / (2k))."""
    diff = x - y
    return jnp.sqrt(k) * arcosh1p(lorentz_inner(diff, diff) / (2 * k))


def lorentz_expmap(x: Array, u: Array, k) -> Array:
    """exp_x(u) = cosh(|u|/sqrt k) x + sqrt(k) sinh(|u|/sqrt k) u/|u| (Nickel & Kiela 2018)."""
    theta = safe_sqrt(lorentz_inner(u, u, keepdims=True)) / jnp.sqrt(k)
    return jnp.cosh(theta) * x + sinhc(theta) * u


def lorentz_logmap(x: Array, y: Array, k) -> Array:
    """log_x(y) = theta / sinh(theta) (y + <x, y>_L x / k), theta = d(x, y) / sqrt(k)."""
    theta = lorentz_dist(x, y, k)[..., None] / jnp.sqrt(k)
    return (y + lorentz_inner(x, y, keepdims=True) / k * x) / sinhc(theta)


def lorentz_transp(x: Array, y: Array, v: Array, k) -> Array:
    """Parallel transport v + <y, v>_L / (k - <x, y>_L) (x + y) along the geodesic x -> y."""
    coef = lorentz_inner(y, v, keepdims=True) / (k - lorentz_inner(x, y, keepdims=True))
    return v + coef * (x + y)


def lorentz_translate(x: Array, b: Array, k) -> Array:
    """exp_x(P_{o->x} (0, b)): move x by the tangent vector (0, b) at the origin o.

    The hyperboloid's image of Mobius x (+) exp_0(b) (HGCN, eq. 5). Shapes: x (..., n + 1),
    b (..., n) -> (..., n + 1). The transported vector's Minkowski norm is |b| (transport
    is an isometry) and is used as such: from the vector's components it cancels in float32
    once x_0 >> 1 (x_0 = 1e4 leaves no correct digit), and exp_x then leaves the sheet.
    """
    sqrt_k = jnp.sqrt(k)
    inner = jnp.sum(x[..., 1:] * b, -1, keepdims=True)  # <x, (0, b)>_L
    coef = inner / (k + sqrt_k * x[..., :1])  # <x, v>_L / (k - <o, x>_L)
    v = jnp.concatenate([inner / sqrt_k, b + coef * x[..., 1:]], -1)
    theta = safe_norm(b, keepdims=True) / sqrt_k
    return jnp.cosh(theta) * x + sinhc(theta) * v


def lorentz_proj(x: Array, k) -> Array:
    """Lift the space-like coordinates onto the sheet: x_0 = sqrt(k + |x_{1:}|^2)."""
    space = x[..., 1:]
    return jnp.concatenate([jnp.sqrt(k + jnp.sum(space**2, -1, keepdims=True)), space], -1)


@manifold_dataclass(data_fields=("k",))
class Lorentz(Manifold):
    """Hyperboloid <x, x>_L = -k (k > 0, curvature -1/k); points are (..., n + 1) vectors."""

    k: float = 1.0

    def __post_init__(self):
        require_positive("k (curvature -1/k)", self.k, "Lorentz")

    def _k(self, x):
        return jnp.asarray(self.k, x.dtype)

    def proj(self, x: Array) -> Array:
        return lorentz_proj(x, self._k(x))

    def proju(self, x: Array, u: Array) -> Array:
        return u + lorentz_inner(x, u, keepdims=True) / self._k(x) * x

    def egrad2rgrad(self, x: Array, g: Array) -> Array:
        return self.proju(x, g.at[..., 0].multiply(-1))

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return lorentz_inner(u, v)

    def component_inner(self, x: Array, u: Array) -> Array:
        # Coordinate-wise scaling is no descent direction for the Minkowski metric (the
        # time-like coordinate enters with a minus sign): adapt one scale per point.
        return self.squared_norm_per_coordinate(x, u)

    def expmap(self, x: Array, u: Array) -> Array:
        return lorentz_expmap(x, u, self._k(x))

    def retr(self, x: Array, u: Array) -> Array:
        return self.proj(self.expmap(x, u))

    def logmap(self, x: Array, y: Array) -> Array:
        return lorentz_logmap(x, y, self._k(x))

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        return lorentz_transp(x, y, v, self._k(x))

    def dist(self, x: Array, y: Array) -> Array:
        return lorentz_dist(x, y, self._k(x))

    def expmap0(self, u: Array) -> Array:
        """exp_o(u) at the origin o = (sqrt k, 0, ..., 0); u (..., n + 1) with u_0 = 0."""
        return self.expmap(self.origin(u.shape, u.dtype), u)

    def logmap0(self, y: Array) -> Array:
        """log_o(y) at the origin o = (sqrt k, 0, ..., 0): (..., n + 1), its u_0 is 0."""
        return self.logmap(self.origin(y.shape, y.dtype), y)

    def origin(self, shape, dtype=jnp.float32) -> Array:
        o = jnp.zeros(shape, dtype)
        return o.at[..., 0].set(jnp.sqrt(jnp.asarray(self.k, dtype)))

    def random(self, key: Array, shape, dtype=jnp.float32, std: float = 1.0) -> Array:
        """exp_o of a Gaussian tangent vector at the origin (std per space-like coordinate)."""
        u = std * jax.random.normal(key, shape, dtype)
        u = u.at[..., 0].set(0.0)
        return self.proj(self.expmap(self.origin(shape, dtype), u))

    def point_shape_error(self, shape):
        if len(shape) < 1 or shape[-1] < 2:
            return f"a Lorentz point needs a last axis of size >= 2 (n + 1), got shape {shape}"
        return None

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        k = np.asarray(self.k, np.float64)
        x = x.astype(np.float64)
        inner = -(x[..., 0] ** 2) + np.sum(x[..., 1:] ** 2, axis=-1)
        rel = np.max(np.abs(inner + k) / k / np.maximum(1.0, x[..., 0] ** 2 / k))
        if np.any(x[..., 0] <= 0):
            return "not on the upper sheet: some x_0 <= 0; use proj(x)"
        if rel > atol:
            return (
                f"off the hyperboloid: |<x,x>_L + k| / k is {rel:.3g} > atol {atol:.3g}; "
                "use proj(x)"
            )
        return None
