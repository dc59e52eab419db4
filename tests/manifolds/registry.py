"""Every manifold of the package (each SPD metric separately), with a point shape to test on."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from manifolds import (
    SPD,
    Euclidean,
    Grassmann,
    Lorentz,
    PoincareBall,
    Product,
    SpecialOrthogonal,
    Sphere,
    Stiefel,
    Torus,
)

# Points of this ball are drawn next to its boundary (at the float32 clamp for most).
NEAR_BOUNDARY = PoincareBall(0.7)

# name -> (manifold, shape of one point (or tuple of shapes for Product))
REGISTRY = {
    "euclidean": (Euclidean(), (4,)),
    "sphere": (Sphere(), (4,)),
    "poincare_c1": (PoincareBall(1.0), (4,)),
    "poincare_c0.5": (PoincareBall(0.5), (3,)),
    "poincare_near_boundary": (NEAR_BOUNDARY, (3,)),
    "lorentz_k1": (Lorentz(1.0), (4,)),
    "lorentz_k2": (Lorentz(2.0), (3,)),
    "stiefel": (Stiefel(5, 3), (5, 3)),
    "grassmann": (Grassmann(5, 2), (5, 2)),
    "spd_affine": (SPD(3, "affine"), (3, 3)),
    "spd_log_euclidean": (SPD(3, "log_euclidean"), (3, 3)),
    "spd_bures_wasserstein": (SPD(3, "bures_wasserstein"), (3, 3)),
    "spd_log_cholesky": (SPD(3, "log_cholesky"), (3, 3)),
    "product": (Product(PoincareBall(1.0), Sphere()), ((3,), (3,))),
    "torus": (Torus(), (3,)),
    "so3": (SpecialOrthogonal(), (3, 3)),
}

DTYPES = [jnp.float32, jnp.float64]

# Largest tangent length the suite uses, where the exponential map is still a minimizing
# geodesic: Bures-Wasserstein's exp_P(U) is one only while I + L_P[U] stays positive definite.
TANGENT_RADIUS = {"spd_bures_wasserstein": 0.25}
# Manifolds whose logarithm is local: the second point is drawn within this distance.
# Zimmermann's Stiefel logarithm converges below about 0.9 pi.
LOCAL_RADIUS = {"stiefel": 1.5}


def batched(shape, batch):
    if isinstance(shape[0], tuple):
        return tuple((*batch, *s) for s in shape)
    return (*batch, *shape)


def random_point(m, key, shape, dtype):
    # Hyperbolic points at std 0.4 stay mostly within |x| < 0.95 of the ball; the
    # NEAR_BOUNDARY ball draws at 1 - 1e-3 to 1 - 1e-2 of its radius, where a unit step
    # outward stays clear of the float32 clamp.
    if m == NEAR_BOUNDARY:
        k1, k2 = jax.random.split(key)
        u = jax.random.normal(k1, shape, dtype)
        radius = 1 - 10 ** jax.random.uniform(k2, (*shape[:-1], 1), dtype, -3.0, -2.0)
        return radius / jnp.sqrt(m.c) * u / jnp.linalg.norm(u, axis=-1, keepdims=True)
    if isinstance(m, PoincareBall | Lorentz | SPD):
        return m.random(key, shape, dtype, std=0.4)
    if isinstance(m, Product):
        keys = jax.random.split(key, len(m.factors))
        return tuple(
            random_point(f, k, s, dtype) for f, k, s in zip(m.factors, keys, shape, strict=False)
        )
    return m.random(key, shape, dtype)


def second_point(name, m, key, x, shape, dtype):
    """A second point: anywhere, or within LOCAL_RADIUS of x where the logarithm is local."""
    if name in LOCAL_RADIUS:
        k1, k2 = jax.random.split(key)
        length = LOCAL_RADIUS[name] * jax.random.uniform(k1, (), dtype)
        return m.expmap(x, random_tangent(m, k2, x, length))
    return random_point(m, key, shape, dtype)


def _ndims(m):
    return [f.ndim for f in m.factors] if isinstance(m, Product) else m.ndim


def random_tangent(m, key, x, norm):
    """A tangent vector at x with Riemannian norm `norm` (broadcast over the batch)."""
    leaves, treedef = jax.tree.flatten(x)
    keys = jax.random.split(key, len(leaves))
    g = jax.tree.unflatten(
        treedef,
        [
            jax.random.normal(k, leaf.shape, leaf.dtype)
            for k, leaf in zip(keys, leaves, strict=False)
        ],
    )
    u = m.proju(x, g)
    scale = norm / m.norm(x, u)
    ndims = _ndims(m)
    if isinstance(ndims, list):
        return tuple(
            ui * scale.reshape(scale.shape + (1,) * nd) for ui, nd in zip(u, ndims, strict=False)
        )
    return u * scale.reshape(scale.shape + (1,) * ndims)
