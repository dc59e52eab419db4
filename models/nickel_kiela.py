"""The loss of Nickel & Kiela, "Poincare Embeddings for Learning Hierarchical Representations"
(NeurIPS 2017, eq. 6): a softmax over negative distances, one positive against K negatives."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def ranking_loss(dists: jax.Array, valid: jax.Array | None = None) -> jax.Array:
    """-log(e^{-d(u,v)} / sum_{v' in {v} + N(u)} e^{-d(u,v')}) per positive.

    Args:
        dists: (B, 1 + K) distances, the positive first, then K negatives.
        valid: (B, 1 + K) mask of negatives to use (rejected samples are False).

    Returns:
        (B,) losses.
    """
    logits = -dists
    if valid is not None:
        logits = jnp.where(valid, logits, -jnp.inf)
    return -jax.nn.log_softmax(logits, axis=-1)[..., 0]
