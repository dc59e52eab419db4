"""The rotation group SO(3) with its bi-invariant metric; points are 3 x 3 rotation matrices.

Tangent vectors at R are R Omega with Omega skew-symmetric, and the metric is
<U, V>_R = tr(U^T V) / 2, so |R hat(w)| = |w| and the distance between two rotations is the
angle of the rotation between them, in [0, pi].
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from manifolds.base import Array, Manifold, manifold_dataclass
from manifolds.numerics import safe_norm, sinc


def hat(w: Array) -> Array:
    """(..., 3) -> (..., 3, 3) skew matrices with hat(w) v = w x v."""
    z = jnp.zeros_like(w[..., 0])
    rows = [
        jnp.stack([z, -w[..., 2], w[..., 1]], -1),
        jnp.stack([w[..., 2], z, -w[..., 0]], -1),
        jnp.stack([-w[..., 1], w[..., 0], z], -1),
    ]
    return jnp.stack(rows, -2)


def vee(a: Array) -> Array:
    """(..., 3, 3) -> (..., 3): the vector of the skew part of a (vee(hat(w)) = w)."""
    return 0.5 * jnp.stack(
        [a[..., 2, 1] - a[..., 1, 2], a[..., 0, 2] - a[..., 2, 0], a[..., 1, 0] - a[..., 0, 1]],
        -1,
    )


def _transpose(a: Array) -> Array:
    return jnp.swapaxes(a, -1, -2)


def so3_exp(w: Array) -> Array:
    """Rodrigues' formula exp(hat w) = I + sinc(t) W + (1 - cos t) / t^2 W^2, t = |w|,
    with (1 - cos t) / t^2 = sinc(t / 2)^2 / 2, finite at t = 0 (Murray et al. 1994, 2.14)."""
    t = safe_norm(w)[..., None, None]
    k = hat(w)
    eye = jnp.eye(3, dtype=w.dtype)
    return eye + sinc(t) * k + 0.5 * sinc(0.5 * t) ** 2 * (k @ k)


def so3_angle(q: Array) -> Array:
    """The rotation angle of q in [0, pi]: atan2(|vee(q)|, (tr q - 1) / 2), accurate near 0
    and pi where arccos of the trace is not."""
    cos = 0.5 * (jnp.trace(q, axis1=-2, axis2=-1) - 1.0)
    return jnp.arctan2(safe_norm(vee(q)), cos)


def so3_log(q: Array) -> Array:
    """(..., 3) rotation vector w with exp(hat w) = q, |w| in [0, pi].

    Below angle 2 pi / 3, w = vee(q) / sinc(t); above it, where sin t -> 0 makes that
    ratio ill-conditioned, the axis comes from the symmetric part (q + q^T) / 2 - cos t I
    = (1 - cos t) a a^T (its largest column), with the sign of vee(q) = sin t a. Both
    branches are computed on safe inputs (double where), so values and gradients stay finite
    near the identity and near angle pi."""
    s = vee(q)
    cos = 0.5 * (jnp.trace(q, axis1=-2, axis2=-1) - 1.0)
    t = jnp.arctan2(safe_norm(s), cos)
    small = cos > -0.5  # t < 2 pi / 3
    t_small = jnp.where(small, t, 0.0)
    w_small = s / sinc(t_small)[..., None]
    cos_big = jnp.where(small, -1.0, cos)
    eye = jnp.eye(3, dtype=q.dtype)
    sym = 0.5 * (q + _transpose(q)) - cos_big[..., None, None] * eye  # (1 - cos t) a a^T
    diag = jnp.diagonal(sym, axis1=-2, axis2=-1)
    j = jnp.argmax(diag, axis=-1)
    column = jnp.take_along_axis(sym, j[..., None, None], axis=-1)[..., 0]
    pivot = jnp.take_along_axis(diag, j[..., None], axis=-1)
    axis = column / jnp.sqrt(jnp.maximum(pivot * (1.0 - cos_big[..., None]), 1e-30))
    sign = jnp.where(jnp.sum(axis * s, axis=-1, keepdims=True) < 0, -1.0, 1.0)
    w_big = sign * jnp.where(small, 0.0, t)[..., None] * axis
    return jnp.where(small[..., None], w_small, w_big)


def quaternion_to_rotation(q: Array) -> Array:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3, 3) rotation matrices."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        jnp.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        jnp.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ]
    return jnp.stack(rows, -2)


@manifold_dataclass()
class SpecialOrthogonal(Manifold):
    """SO(n) for n = 3: rotation matrices (..., 3, 3) with the metric tr(U^T V) / 2.

    Attributes:
        n: the matrix size; only 3 (closed-form exponential and logarithm).
    """

    n: int = 3
    ndim: ClassVar[int] = 2

    def __post_init__(self):
        if self.n != 3:
            raise ValueError(f"SpecialOrthogonal: only n = 3 is implemented, got n={self.n}")

    def point_shape_error(self, shape: tuple[int, ...]) -> str | None:
        if len(shape) < 2 or tuple(shape[-2:]) != (3, 3):
            return f"expected trailing shape (3, 3), got shape {shape}"
        return None

    def proj(self, x: Array) -> Array:
        """The nearest rotation (polar factor, with the sign of the last singular vector
        flipped where det < 0)."""
        u, _, vt = jnp.linalg.svd(x)
        d = jnp.sign(jnp.linalg.det(u @ vt))
        u = u.at[..., :, -1].multiply(jnp.where(d == 0, 1.0, d)[..., None])
        return u @ vt

    def proju(self, x: Array, u: Array) -> Array:
        a = _transpose(x) @ u
        return x @ (0.5 * (a - _transpose(a)))

    def egrad2rgrad(self, x: Array, g: Array) -> Array:
        """2 proju(x, g): the metric is half the Frobenius inner product."""
        return 2.0 * self.proju(x, g)

    def inner(self, x: Array, u: Array, v: Array) -> Array:
        return 0.5 * jnp.sum(u * v, axis=(-2, -1))

    def expmap(self, x: Array, u: Array) -> Array:
        return x @ so3_exp(vee(_transpose(x) @ u))

    def logmap(self, x: Array, y: Array) -> Array:
        return x @ hat(so3_log(_transpose(x) @ y))

    def retr(self, x: Array, u: Array) -> Array:
        return self.expmap(x, u)

    def transp(self, x: Array, y: Array, v: Array) -> Array:
        """Parallel transport along the geodesic x exp(t xi): x exp(xi / 2) Omega exp(xi / 2)
        for v = x Omega (the connection of a bi-invariant metric, nabla_X Y = [X, Y] / 2)."""
        half = so3_exp(0.5 * so3_log(_transpose(x) @ y))
        return x @ half @ (_transpose(x) @ v) @ half

    def dist(self, x: Array, y: Array) -> Array:
        return so3_angle(_transpose(x) @ y)

    def origin(self, shape, dtype=jnp.float32) -> Array:
        return jnp.broadcast_to(jnp.eye(3, dtype=dtype), tuple(shape)).astype(dtype)

    def random(self, key: Array, shape, dtype=jnp.float32) -> Array:
        """Haar-uniform rotations: normalized Gaussian quaternions (Shoemake 1992)."""
        q = jax.random.normal(key, (*tuple(shape)[:-2], 4), dtype)
        return quaternion_to_rotation(q / safe_norm(q, keepdims=True))

    def _check_point(self, x: np.ndarray, atol: float) -> str | None:
        err = np.max(np.abs(np.swapaxes(x, -1, -2) @ x - np.eye(3)), initial=0.0)
        if err > atol:
            return f"not orthogonal: |R^T R - I| is {err:.3g} > atol {atol:.3g}"
        det = np.linalg.det(x)
        if np.any(det < 0):
            return "a reflection (det R = -1), not a rotation"
        return None
