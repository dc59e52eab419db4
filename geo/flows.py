"""Flows on manifolds: Riemannian flow matching (Chen & Lipman, "Flow Matching on General
Geometries", ICLR 2024) on manifolds with closed-form geodesics, integration of a vector
field that stays on the manifold, and exact log-likelihoods through the continuity equation.

A field is any callable `field(t, x) -> v` with v in the tangent space at x (e.g. a merged
`models.vector_field.VectorField`); t is a scalar or has x's batch shape.

The integrators are written here rather than taken from diffrax: diffrax's solvers step in
R^n and have no hook for a retraction, so their states drift off the manifold; the two steps
below are a few lines each and keep every state on it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from manifolds import Lorentz, Manifold, SpecialOrthogonal, Sphere, Torus
from manifolds.special_orthogonal import hat

Field = Callable[[jax.Array, jax.Array], jax.Array]
METHODS = ("euler", "rk4")


def _expand(t: jax.Array, x: jax.Array, point_ndim: int) -> jax.Array:
    return jnp.reshape(t, jnp.shape(t) + (1,) * point_ndim)


def geodesic_path(manifold: Manifold, x0: jax.Array, x1: jax.Array, t: jax.Array):
    """(x_t, u_t) of the geodesic conditional path from x0 to x1 (Chen & Lipman, eq. 13):
    x_t = exp_{x0}(t log_{x0} x1), and its velocity u_t = PT_{x0 -> x_t}(log_{x0} x1), the
    initial velocity transported along the geodesic (equal to log_{x_t}(x1) / (1 - t), and
    finite at t = 1). t has x's batch shape."""
    u = manifold.logmap(x0, x1)
    xt = manifold.expmap(x0, _expand(t, x0, manifold.ndim) * u)
    return xt, manifold.transp(x0, xt, u)


def rfm_loss(field: Field, manifold: Manifold, x0: jax.Array, x1: jax.Array, t: jax.Array):
    """The Riemannian flow-matching loss E |v(t, x_t) - u_t|^2_{g(x_t)} over the batch
    (Chen & Lipman, eq. 12) for pairs (x0 from the base, x1 from the data) and times t."""
    xt, ut = geodesic_path(manifold, x0, x1, t)
    diff = field(t, xt) - ut
    return jnp.mean(manifold.inner(xt, diff, diff))


def _step(field: Field, manifold: Manifold, method: str):
    """One step x(t) -> x(t + h): "euler", exp_x(h v(t, x)) (projected: float32 rounding
    of many exponential maps drifts off the manifold); "rk4", classical Runge-Kutta in
    the ambient coordinates (the field is tangent, so the manifold is invariant) followed by
    the manifold's projection, a projection method that keeps RK4's order 4 (Hairer, Lubich
    & Wanner 2006, IV.4)."""
    if method == "euler":
        return lambda t, x, h: manifold.proj(manifold.expmap(x, h * field(t, x))).astype(x.dtype)

    def rk4(t, x, h):
        k1 = field(t, x)
        k2 = field(t + h / 2, x + h / 2 * k1)
        k3 = field(t + h / 2, x + h / 2 * k2)
        k4 = field(t + h, x + h * k3)
        return manifold.proj(x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)).astype(x.dtype)

    return rk4


def check_method(method: str, steps: int) -> None:
    """ValueError unless `method` is one of METHODS and `steps` >= 1."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}; valid choices are {', '.join(METHODS)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")


def integrate(
    field: Field, manifold: Manifold, x: jax.Array, t0: float = 0.0, t1: float = 1.0,
    steps: int = 100, method: str = "rk4",
) -> jax.Array:  # fmt: skip
    """x(t1) from x(t0) = x along dx/dt = field(t, x), `steps` fixed steps on the manifold
    (t1 < t0 integrates backwards)."""
    check_method(method, steps)
    step = _step(field, manifold, method)
    h = (t1 - t0) / steps

    def body(i, x):
        return step(t0 + i * h, x, h)

    return jax.lax.fori_loop(0, steps, body, x)


def tangent_frame(manifold: Manifold, x: jax.Array) -> jax.Array:
    """(..., n, *point) an orthonormal basis of the tangent space at each x (n = dim M).

    Sphere: the reflection taking e_1 to x maps e_2 .. e_d to one; torus: the unit vectors;
    SO(3): x hat(e_i); hyperboloid: the origin's frame moved by parallel transport."""
    if isinstance(manifold, Torus):
        n = x.shape[-1]
        return jnp.broadcast_to(jnp.eye(n, dtype=x.dtype), (*x.shape[:-1], n, n))
    if isinstance(manifold, Sphere):
        d = x.shape[-1]
        e1 = jnp.zeros_like(x).at[..., 0].set(1.0)
        v = e1 - x
        vv = jnp.sum(v * v, -1, keepdims=True)
        coef = jnp.where(vv > 1e-12, 2.0 / jnp.maximum(vv, 1e-12), 0.0)
        basis = jnp.eye(d, dtype=x.dtype)[1:]  # (d - 1, d)
        reflected = basis - (coef * v)[..., None, :] * (basis @ v[..., :, None])
        return reflected
    if isinstance(manifold, SpecialOrthogonal):
        return x[..., None, :, :] @ hat(jnp.eye(3, dtype=x.dtype))
    if isinstance(manifold, Lorentz):
        n = x.shape[-1] - 1
        o = manifold.origin(x.shape, x.dtype)
        basis = jnp.concatenate([jnp.zeros((n, 1), x.dtype), jnp.eye(n, dtype=x.dtype)], 1)
        return jax.vmap(lambda b: manifold.transp(o, x, jnp.broadcast_to(b, x.shape)), 0, -2)(basis)
    raise ValueError(
        f"tangent_frame: {type(manifold).__name__} is not supported; use Sphere, Torus, "
        "SpecialOrthogonal or Lorentz (convert Poincare-ball points to the hyperboloid)"
    )


def divergence(
    field: Field, manifold: Manifold, t: jax.Array, x: jax.Array, key: jax.Array | None = None
) -> jax.Array:
    """(...,) the Riemannian divergence of field(t, .) at x.

    sum_i <E_i, D_{E_i} v>_g over an orthonormal tangent frame E_i, with D the ambient
    derivative (a jvp): the Levi-Civita divergence of a manifold embedded with the induced
    metric of a flat ambient space (sphere, torus, SO(3), the hyperboloid in Minkowski space).
    Exact with key None (n jvps); with a key, Hutchinson's estimate <e, D_e v>_g for one
    e = sum_i z_i E_i, z ~ N(0, I) (one jvp, unbiased)."""
    frame = tangent_frame(manifold, x)  # (..., n, *point)
    nd = manifold.ndim

    def along(direction):
        return jax.jvp(lambda y: field(t, y), (x,), (direction,))[1]

    if key is None:
        moved = jax.vmap(along, in_axes=x.ndim - nd, out_axes=x.ndim - nd)(frame)
        return jnp.sum(manifold.inner(jnp.expand_dims(x, x.ndim - nd), frame, moved), -1)
    z = jax.random.normal(key, frame.shape[: x.ndim - nd + 1], x.dtype)
    e = jnp.sum(_expand(z, x, nd) * frame, axis=x.ndim - nd)
    return manifold.inner(x, e, along(e))


def log_likelihood(
    field: Field, manifold: Manifold, base_log_prob: Callable[[jax.Array], jax.Array],
    x1: jax.Array, steps: int = 100, method: str = "rk4", key: jax.Array | None = None,
) -> jax.Array:  # fmt: skip
    """(...,) log p_1(x1) of the flow of `field` from the base density at t = 0.

    The continuity equation d/dt log p_t(x_t) = -div v_t(x_t) is integrated backwards from
    t = 1 to 0 together with x: log p_1(x_1) = log p_0(x_0) - int_0^1 div v_t(x_t) dt
    (Chen et al. 2018; Mathieu & Nickel 2020, eq. 3). `key` selects Hutchinson's estimator
    (one draw per step) instead of the exact trace."""
    check_method(method, steps)
    h = -1.0 / steps
    batch = x1.shape[: x1.ndim - manifold.ndim]

    def rate(t, x, k):
        return field(t, x), divergence(field, manifold, t, x, k)

    def body(i, carry):
        x, integral, key = carry
        t = 1.0 + i * h
        keys = (
            (None,) * 4 if key is None else tuple(jax.random.split(jax.random.fold_in(key, i), 4))
        )
        if method == "euler":
            v, div = rate(t, x, keys[0])
            return manifold.proj(manifold.expmap(x, h * v)), integral + h * div, key
        k1 = rate(t, x, keys[0])
        k2 = rate(t + h / 2, x + h / 2 * k1[0], keys[1])
        k3 = rate(t + h / 2, x + h / 2 * k2[0], keys[2])
        k4 = rate(t + h, x + h * k3[0], keys[3])
        x = manifold.proj(x + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]))
        integral = integral + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        return x, integral, key

    init = (x1, jnp.zeros(batch, x1.dtype), key)
    x0, integral, _ = jax.lax.fori_loop(0, steps, body, init)
    # integral = int_1^0 div dt = -int_0^1 div dt
    return base_log_prob(x0) + integral
