"""Finite mixtures of distributions of one family on one manifold."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from manifolds.base import Array, manifold_dataclass


@manifold_dataclass(data_fields=("components", "logits"))
class Mixture:
    """sum_k softmax(logits)_k p_k(x).

    Attributes:
        components: one distribution whose array fields have a leading axis K (e.g.
            `VonMisesFisher(mu (K, d), kappa (K,))`), the K components.
        logits: (K,) unnormalized log weights.
    """

    components: object
    logits: Array

    def log_prob(self, x: Array) -> Array:
        """(...,) log sum_k w_k p_k(x)."""
        per = jax.vmap(lambda c: c.log_prob(x))(self.components)  # (K, ...)
        log_w = jax.nn.log_softmax(jnp.asarray(self.logits, per.dtype))
        log_w = log_w.reshape(log_w.shape + (1,) * (per.ndim - 1))
        return jax.scipy.special.logsumexp(per + log_w, axis=0)

    def sample(self, key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        """(*shape, *point) samples: a component by its weight, then a sample of it (every
        component is sampled and one is kept: K times the work of one)."""
        kc, ks = jax.random.split(key)
        k = len(self.logits)
        choice = jax.random.categorical(kc, jnp.asarray(self.logits), shape=shape)
        keys = jax.random.split(ks, k)
        draws = jax.vmap(lambda c, key: c.sample(key, shape, dtype))(self.components, keys)
        one_hot = jax.nn.one_hot(choice, k, dtype=bool)  # (*shape, K)
        point_axes = draws.ndim - 1 - len(shape)
        mask = jnp.moveaxis(one_hot, -1, 0).reshape((k, *shape) + (1,) * point_axes)
        return jnp.sum(jnp.where(mask, draws, 0), axis=0)
