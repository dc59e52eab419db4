"""The Lorentz (hyperboloid) model {x in R^{n+1} : <x, x>_L = -k, x_0 > 0}, curvature -1/k.

Formulas from Nickel & Kiela, "Learning Continuous Hierarchies in the Lorentz Model of
Hyperbolic Geometry" (ICML 2018), and geoopt's `Lorentz(k)` convention. The distance is
evaluated from sums of positive terms (`lorentz_dist`), so that it keeps its digits in
float32 both for nearly equal points and far from the origin.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, Manifold, manifold_dataclass, require_positive
from manifolds.numerics import arcosh1p, safe_norm, safe_sqrt, sinhc, tiny


def lorentz_inner(u: Array, v: Array, keepdims: bool = False) -> Array:
    """Minkowski inner product -u_0 v_0 + sum_i u_i v_i over the last axis."""
    prod = u * v
    out = jnp.sum(prod[..., 1:], axis=-1, keepdims=keepdims) - prod[..., :1].sum(
        axis=-1, keepdims=keepdims
    )
    return out


def lorentz_tangent_sqnorm(x: Array, u: Array, k, keepdims: bool = False) -> Array:
    """<u, u>_L of a tangent vector u at x from its space-like part, without cancellation.

    Tangency fixes u_0 = <x_s, u_s> / x_0, so <u, u>_L = |u_s|^2 - <x_s, u_s>^2 / x_0^2 =
    (k |u_s|^2 + |x_s|^2 |u_perp|^2) / x_0^2 (Lagrange's identity; u_perp is the part of u_s
    orthogonal to x_s): positive terms only, where -u_0^2 + |u_s|^2 loses every digit in
    float32 once x_0 >> 1. Shapes: x, u (..., n + 1) -> (...) or (..., 1).
    """
    xs, us = x[..., 1:], u[..., 1:]
    xs2 = jnp.sum(xs * xs, -1, keepdims=True)
    away = xs2 > tiny(x.dtype)  # double where: no 1 / tiny^2 in the gradient at the origin
    along = jnp.where(away, jnp.sum(xs * us, -1, keepdims=True) / jnp.where(away, xs2, 1.0), 0.0)
    perp = us - along * xs
    num = k * jnp.sum(us * us, -1, keepdims=True) + xs2 * jnp.sum(perp * perp, -1, keepdims=True)
    out = num / x[..., :1] ** 2
    return out if keepdims else out[..., 0]


def lorentz_proju(x: Array, v: Array, k) -> Array:
    """v + <x, v>_L x / k, the Minkowski-orthogonal projection onto T_x, split along x_s.

    With e = x_s / |x_s|, v_a = <e, v_s> and s = x_0 v_a - |x_s| v_0 it is
    (|x_s| s / k, v_s - v_a e + x_0 s / k e): the part of v_s across x_s is kept exactly,
    where the direct form adds <x, v>_L x / k, rounded at the scale x_0^2 |v|, to it.
    """
    x0, xs = x[..., :1], x[..., 1:]
    r = safe_norm(xs, keepdims=True)
    away = r > tiny(x.dtype)
    e = jnp.where(away, xs / jnp.where(away, r, 1.0), 0.0)
    v0, vs = v[..., :1], v[..., 1:]
    va = jnp.sum(e * vs, -1, keepdims=True)
    s = x0 * va - r * v0
    return jnp.concatenate([r * s / k, vs - va * e + x0 * s / k * e], -1)


def lorentz_excess(x: Array, y: Array, k) -> Array:
    """m = -<x, y>_L / k - 1 = cosh(d(x, y) / sqrt(k)) - 1 >= 0, from sums of positive terms.

    With x = (x_0, a), y = (y_0, b) on the sheet, delta = a - b, sigma = a + b:
    - a.b >= 0: m = (4k |delta|^2 + |sigma|^2 |delta_perp|^2) / (4k (k + x_0 y_0 + a.b)),
      delta_perp the part of delta across sigma (from <x - y, x - y>_L = 2k m and
      -<x + y, x + y>_L = 2k (2 + m), with Lagrange's identity for the wedge of delta, sigma);
    - a.b < 0: m = (sqrt(k) (u + v) + u v - a.b) / k, u = x_0 - sqrt(k) = |a|^2 / (x_0 +
      sqrt(k)), v likewise.
    The direct -<x, y>_L, and <x - y, x - y>_L alike, cancel at the scale x_0 y_0: in float32
    no digit of a distance of 1 is left at radius 6 (x_0 = 200). These forms keep a relative
    error near eps |a + b| (docs/numerics.md). Points are taken to be on the sheet: x_0
    enters only where its rounding is relative. Shapes: x, y (..., n + 1) -> (...).
    """
    a, b = x[..., 1:], y[..., 1:]
    ab = jnp.sum(a * b, -1)
    delta, sigma = a - b, a + b
    s2 = jnp.sum(sigma * sigma, -1, keepdims=True)
    away = s2 > tiny(x.dtype)  # double where: sigma = 0 only where a.b < 0 is used
    along = jnp.sum(delta * sigma, -1, keepdims=True) / jnp.where(away, s2, 1.0)
    perp = delta - jnp.where(away, along, 0.0) * sigma
    wedge = s2[..., 0] * jnp.sum(perp * perp, -1)
    x0, y0 = x[..., 0], y[..., 0]
    close = ab >= 0  # double where: where a.b < 0 the first form's denominator cancels
    den = 4 * k * (k + x0 * y0 + jnp.where(close, ab, 0.0))
    near = (4 * k * jnp.sum(delta * delta, -1) + wedge) / den
    sqrt_k = jnp.sqrt(k)
    u = jnp.sum(a * a, -1) / (x0 + sqrt_k)
    v = jnp.sum(b * b, -1) / (y0 + sqrt_k)
    apart = (sqrt_k * (u + v) + u * v - ab) / k
    return jnp.where(close, near, apart)


def lorentz_dist(x: Array, y: Array, k) -> Array:
    """d(x, y) = sqrt(k) arcosh(1 + m), m = `lorentz_excess(x, y, k)`. Shapes: (..., n + 1)
    -> (...)."""
    return jnp.sqrt(k) * arcosh1p(lorentz_excess(x, y, k))


def lorentz_expmap(x: Array, u: Array, k) -> Array:
    """exp_x(u) = cosh(|u|/sqrt k) x + sqrt(k) sinh(|u|/sqrt k) u/|u| (Nickel & Kiela 2018).

    |u| is `lorentz_tangent_sqnorm`'s, which stays accurate far from the origin.
    """
    theta = safe_sqrt(lorentz_tangent_sqnorm(x, u, k, keepdims=True)) / jnp.sqrt(k)
    return jnp.cosh(theta) * x + sinhc(theta) * u


def lorentz_logmap(x: Array, y: Array, k) -> Array:
    """log_x(y) = theta / sinh(theta) (y + <x, y>_L x / k), theta = d(x, y) / sqrt(k).

    Evaluated as theta / sinh(theta) ((y - x) - m x), m = -<x, y>_L / k - 1 from
    `lorentz_excess`: the direct <x, y>_L x rounds at the scale x_0^2 y_0, which in float32
    leaves no digit of a short log far from the origin (docs/numerics.md). Shapes:
    (..., n + 1) -> (..., n + 1).
    """
    m = lorentz_excess(x, y, k)[..., None]
    return ((y - x) - m * x) / sinhc(arcosh1p(m))


def lorentz_transp(x: Array, y: Array, v: Array, k) -> Array:
    """Parallel transport v + <y, v>_L / (k - <x, y>_L) (x + y) along the geodesic x -> y.

    Evaluated as <y - x, v>_L / (2k + <y - x, y - x>_L / 2) (tangency: <x, v>_L = 0), the
    denominator kept >= 2k. Far from the origin the coefficient is still rounded at the
    scale x_0^2, so the result is rescaled to the norm of v, which parallel transport
    preserves: a transported Adam moment then cannot grow by rounding (docs/numerics.md).
    """
    diff = y - x
    den = 2 * k + jnp.maximum(lorentz_inner(diff, diff, keepdims=True), 0.0) / 2
    out = v + lorentz_inner(diff, v, keepdims=True) / den * (x + y)
    before = lorentz_tangent_sqnorm(x, v, k, keepdims=True)
    after = lorentz_tangent_sqnorm(y, out, k, keepdims=True)
    nonzero = after > tiny(after.dtype)
    return out * jnp.where(nonzero, jnp.sqrt(before / jnp.where(nonzero, after, 1.0)), 1.0)


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

    # Riemannian Adam scales a whole point at once (component_inner): its direction stays
    # tangent, and re-projecting it would only add the rounding of proju far out.
    adapts_per_point = True

    def proju(self, x: Array, u: Array) -> Array:
        return lorentz_proju(x, u, self._k(x))

    def egrad2rgrad(self, x: Array, g: Array) -> Array:
        return self.proju(x, g.at[..., 0].multiply(-1))

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return lorentz_inner(u, v)

    def norm(self, x: Array, u: Array) -> Array:
        return safe_sqrt(lorentz_tangent_sqnorm(x, u, self._k(x)))

    def component_inner(self, x: Array, u: Array) -> Array:
        # Coordinate-wise scaling is no descent direction for the Minkowski metric (the
        # time-like coordinate enters with a minus sign): adapt one scale per point, from
        # the norm that does not cancel far from the origin.
        sq = lorentz_tangent_sqnorm(x, u, self._k(x), keepdims=True)
        return jnp.broadcast_to(sq, u.shape)

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
