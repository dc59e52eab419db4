"""Gyrovector operations of the Poincare ball used by hyperbolic neural networks.

Ganea, Becigneul & Hofmann, "Hyperbolic Neural Networks" (NeurIPS 2018), Sec. 2-3; the
ball has curvature -c, points are vectors (..., n). Every function is finite in float32 at
the origin and next to the boundary (series branches and clamps of `manifolds.numerics`).
"""

from __future__ import annotations

import jax.numpy as jnp

from manifolds.base import Array, require_curvature
from manifolds.numerics import MIN_NORM, artanh_div, clamp_min, safe_norm, tanh_div
from manifolds.poincare import conformal_factor, mobius_add, project_to_ball


def expmap0(u: Array, c) -> Array:
    """exp_0(u) = tanh(sqrt(c)|u|) u / (sqrt(c)|u|) (Ganea et al. 2018, eq. 13)."""
    require_curvature(c, "expmap0")
    s = jnp.sqrt(c) * safe_norm(u, keepdims=True)
    return project_to_ball(tanh_div(s) * u, c)


def logmap0(y: Array, c) -> Array:
    """log_0(y) = artanh(sqrt(c)|y|) y / (sqrt(c)|y|) (Ganea et al. 2018, eq. 13)."""
    require_curvature(c, "logmap0")
    s = jnp.sqrt(c) * safe_norm(y, keepdims=True)
    return artanh_div(s) * y


def mobius_scalar_mul(r: Array, x: Array, c) -> Array:
    """r (x)_c x = exp_0(r log_0(x)) (Ganea et al. 2018, eq. 5); r broadcasts to (..., 1)."""
    require_curvature(c, "mobius_scalar_mul")
    return expmap0(r * logmap0(x, c), c)


def mobius_matvec(m: Array, x: Array, c) -> Array:
    """M (x)_c x = tanh(|Mx|/|x| artanh(sqrt(c)|x|)) Mx / (sqrt(c)|Mx|) (Ganea 2018, eq. 27).

    Equal to exp_0(M log_0(x)); written through log_0 so that x = 0 and Mx = 0 stay finite.

    Args:
        m: (out, in) matrix; x: (..., in) points. Returns (..., out) points.
    """
    require_curvature(c, "mobius_matvec")
    return expmap0(logmap0(x, c) @ m.T, c)


def mobius_pointwise(fn, x: Array, c) -> Array:
    """f^{(x)_c}(x) = exp_0(f(log_0(x))) for a pointwise nonlinearity f (Ganea 2018, eq. 26)."""
    require_curvature(c, "mobius_pointwise")
    return expmap0(fn(logmap0(x, c)), c)


def mobius_linear(x: Array, weight: Array, bias: Array, c) -> Array:
    """Hyperbolic linear layer W (x)_c x (+)_c b (Ganea et al. 2018, eq. 28).

    Args:
        x: (..., in) points; weight: (out, in); bias: (out,) a point of the ball.
    """
    require_curvature(c, "mobius_linear")
    return project_to_ball(mobius_add(mobius_matvec(weight, x, c), bias, c), c)


def hyperbolic_mlr_logits(x: Array, p: Array, a: Array, c) -> Array:
    """Logits of hyperbolic multinomial logistic regression (Ganea et al. 2018, eq. 25).

    logit_k(x) = lambda_{p_k} |a_k| / sqrt(c) asinh(2 sqrt(c) <z_k, a_k> / ((1 - c|z_k|^2)
    |a_k|)), z_k = -p_k (+)_c x: the signed distance to the k-th gyroplane, scaled.

    Args:
        x: (..., n) points; p: (K, n) points on the ball; a: (K, n) tangent normals at p.
    Returns:
        (..., K) logits.
    """
    require_curvature(c, "hyperbolic_mlr_logits")
    z = mobius_add(-p, x[..., None, :], c)  # (..., K, n)
    a_norm = clamp_min(safe_norm(a, keepdims=True), MIN_NORM)[..., 0]  # (K,)
    za = jnp.sum(z * a, axis=-1)
    z2 = jnp.sum(z * z, axis=-1)
    sqrt_c = jnp.sqrt(c)
    arg = 2 * sqrt_c * za / (clamp_min(1 - c * z2, MIN_NORM) * a_norm)
    lam = conformal_factor(p, c)[..., 0]
    return lam * a_norm / sqrt_c * jnp.arcsinh(arg)


def poincare_mlr_logits(x: Array, z: Array, r: Array, c) -> Array:
    """Logits of the unidirectional Poincare MLR of HNN++ (Shimizu et al., ICLR 2021, eq. 6).

    v_k = 2 |z_k| / sqrt(c) asinh(sqrt(c) lambda_x <x, z_k/|z_k|> cosh(2 sqrt(c) r_k)
          - (lambda_x - 1) sinh(2 sqrt(c) r_k)): signed distances to K gyroplanes, scaled.

    Args:
        x: (..., n) points; z: (n, K) unnormalized normals; r: (K,) biases. Returns (..., K).
    """
    require_curvature(c, "poincare_mlr_logits")
    sqrt_c = jnp.sqrt(c)
    z_norm = clamp_min(safe_norm(z, axis=0), MIN_NORM)  # (K,)
    lam = conformal_factor(x, c)  # (..., 1)
    two_r = 2 * sqrt_c * r
    inner = (x @ z) / z_norm
    arg = sqrt_c * lam * inner * jnp.cosh(two_r) - (lam - 1) * jnp.sinh(two_r)
    return 2 * z_norm / sqrt_c * jnp.arcsinh(arg)


def poincare_fc(x: Array, z: Array, r: Array, c) -> Array:
    """The Poincare fully connected layer of HNN++ (Shimizu et al. 2021, eq. 9-10).

    With v = `poincare_mlr_logits`(x, z, r): w = sinh(sqrt(c) v) / sqrt(c), and the output
    y = w / (1 + sqrt(1 + c |w|^2)) is the point whose gyroplane distances are v.

    Args:
        x: (..., n) points; z: (n, K) normals; r: (K,) biases. Returns (..., K) points.
    """
    require_curvature(c, "poincare_fc")
    sqrt_c = jnp.sqrt(c)
    w = jnp.sinh(sqrt_c * poincare_mlr_logits(x, z, r, c)) / sqrt_c
    y = w / (1 + jnp.sqrt(1 + c * jnp.sum(w * w, axis=-1, keepdims=True)))
    return project_to_ball(y, c)
