"""Riemannian Adam (and AMSGrad) as an optax transformation.

Becigneul & Ganea, "Riemannian Adaptive Optimization Methods" (ICLR 2019, Alg. 1), as
geoopt's RiemannianAdam implements it: the first moment is parallel-transported after each
step, the second moment is kept per coordinate from the metric's coordinate contributions
(`component_inner`), and the step is the retraction of -lr / (1 - b1^t) * m / (sqrt(v) + eps).
Dividing coordinate-wise can leave the tangent space of a non-product manifold (the sphere),
so the direction is projected back onto it before the step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from geo.optim._step import euclidean_if_none, learning_rate_at, require_params, step_point
from geo.optim._tree import map_with_manifolds


class RAdamState(NamedTuple):
    """count; exp_avg (transported first moment); exp_avg_sq; max_exp_avg_sq (amsgrad only)."""

    count: jnp.ndarray
    exp_avg: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any


def radam(
    learning_rate: optax.ScalarOrSchedule,
    manifolds: Any = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    amsgrad: bool = False,
    stabilize: int | None = None,
    *,
    exact: bool = False,
) -> optax.GradientTransformation:
    """Riemannian Adam.

    Args:
        learning_rate: a float or an optax schedule of the step count.
        manifolds: a pytree prefix of the params (manifold or None per parameter/subtree).
        b1, b2: decay rates of the first and second moments.
        eps: added to the root of the second moment.
        amsgrad: use the running maximum of the second moment (Reddi et al. 2018).
        stabilize: every `stabilize` steps, re-project points and first moments.
        exact: step with the exponential map instead of the retraction.

    Returns:
        An optax GradientTransformation whose updates are `new_point - old_point`.
    """
    for name, beta in (("b1", b1), ("b2", b2)):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"radam: {name} must be in [0, 1), got {beta}.")

    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return RAdamState(
            count=jnp.zeros([], jnp.int32),
            exp_avg=zeros,
            exp_avg_sq=jax.tree.map(jnp.zeros_like, params),
            max_exp_avg_sq=jax.tree.map(jnp.zeros_like, params) if amsgrad else None,
        )

    def update_fn(updates, state, params=None):
        require_params("radam", params)
        count = state.count + 1
        lr = learning_rate_at(learning_rate, state.count)
        do_stabilize = (count % stabilize == 0) if stabilize else False
        t = count.astype(jnp.float32)
        bias1, bias2 = 1 - b1**t, 1 - b2**t

        def step(m, p, g, avg, avg_sq, max_sq):
            m = euclidean_if_none(m, p)
            tm = jax.tree.map
            rgrad = m.egrad2rgrad(p, g)
            avg = tm(lambda a, r: b1 * a + (1 - b1) * r, avg, rgrad)
            avg_sq = tm(lambda s, c: b2 * s + (1 - b2) * c, avg_sq, m.component_inner(p, rgrad))
            if amsgrad:
                max_sq = tm(jnp.maximum, max_sq, avg_sq)
            second = max_sq if amsgrad else avg_sq
            direction = tm(lambda a, s: a / (jnp.sqrt(s / bias2) + eps), avg, second)
            if not m.adapts_per_point:  # coordinate-wise scaling leaves the tangent space
                direction = m.proju(p, direction)
            new_p = step_point(m, p, tm(lambda d: d / bias1, direction), lr, exact, do_stabilize)
            avg = m.transp(p, new_p, avg)
            if stabilize:
                avg = tm(lambda a, pa: jnp.where(do_stabilize, pa, a), avg, m.proju(new_p, avg))
            return tm(jnp.subtract, new_p, p), avg, avg_sq, max_sq

        if amsgrad:
            outs = map_with_manifolds(
                step,
                manifolds,
                params,
                updates,
                state.exp_avg,
                state.exp_avg_sq,
                state.max_exp_avg_sq,
                n_out=4,
            )
        else:
            outs = map_with_manifolds(
                lambda m, p, g, a, s: step(m, p, g, a, s, None)[:3],
                manifolds,
                params,
                updates,
                state.exp_avg,
                state.exp_avg_sq,
                n_out=3,
            ) + (None,)
        new_updates, avg, avg_sq, max_sq = outs
        return new_updates, RAdamState(count, avg, avg_sq, max_sq)

    return optax.GradientTransformation(init_fn, update_fn)
