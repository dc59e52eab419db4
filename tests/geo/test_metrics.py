"""geo.metrics against their definitions (the ranking metrics are tested with the WordNet
experiment, tests/experiments/test_poincare_wordnet.py)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from geo import metrics


def test_roc_auc_and_average_precision_match_their_definitions():
    rng = np.random.default_rng(1)
    pos, neg = rng.random(40), rng.random(50) * 0.8
    pos[:3] = neg[:3]  # ties count half
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    assert float(metrics.roc_auc(jnp.asarray(pos), jnp.asarray(neg))) == pytest.approx(
        np.mean(pairs)
    )
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(40), np.zeros(50)])
    order = np.argsort(-scores, kind="stable")
    hits, precisions = 0, []
    for rank, i in enumerate(order, start=1):
        if labels[i]:
            hits += 1
            precisions.append(hits / rank)
    ap = metrics.average_precision(jnp.asarray(pos), jnp.asarray(neg))
    assert float(ap) == pytest.approx(np.mean(precisions))
    pred, true = jnp.asarray([0, 1, 1, 2]), jnp.asarray([0, 1, 2, 2])
    assert float(metrics.f1_score(pred, true, 3)) == pytest.approx(0.75)
    assert float(metrics.f1_score(jnp.asarray([1, 1, 0]), jnp.asarray([1, 0, 1]), 2)) == 0.5
