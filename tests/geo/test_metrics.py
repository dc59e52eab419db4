"""geo.metrics against their definitions (the ranking metrics are tested with the WordNet
experiment, tests/experiments/test_poincare_wordnet.py)."""

from __future__ import annotations

import jax
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


def _naive_ranking(dists, query, exclude):
    """Mean rank and MAP by their definition (geo.metrics.ranking_metrics), pair by pair."""
    ranks, aps = [], []
    for u in range(dists.shape[0]):
        queried = [v for v in query[u] if v >= 0]
        if not queried:
            continue
        skip = {u, *[v for v in exclude[u] if v >= 0]}
        competitors = [w for w in range(dists.shape[0]) if w not in skip]
        precisions = []
        for k, s in enumerate(sorted(dists[u, v] for v in queried)):
            closer = sum(dists[u, w] < s for w in competitors)
            ranks.append(closer + 1)
            precisions.append((k + 1) / (closer + k + 1))
        aps.append(np.mean(precisions))
    return np.mean(ranks), np.mean(aps)


@pytest.mark.parametrize("space_name", ["poincare", "lorentz", "euclidean"])
def test_ranking_metrics_equal_the_definition_with_ties_and_exclusions(space_name):
    from models.embeddings import embedding_space

    space = embedding_space(space_name)
    rng = np.random.default_rng(0)
    n = 40
    table = np.array(space.init(jax.random.PRNGKey(1), n, 3, 0.4, jnp.float64))
    table[20:30] = table[0:10]  # ties forced: ten nodes duplicated
    table[35] = table[3]
    query = np.full((n, 4), -1, np.int32)
    exclude = np.full((n, 6), -1, np.int32)
    for u in range(n):
        if u % 7 == 0:
            continue  # nodes without ancestors
        others = rng.choice([w for w in range(n) if w != u], 6, replace=False)
        query[u, : 1 + u % 4] = others[: 1 + u % 4]
        exclude[u] = others  # the filtered setting: more excluded than queried
    table = jnp.asarray(table)
    dists = np.asarray(space.dist(table[:, None, :], table[None, :, :]))
    expected = _naive_ranking(dists, query, exclude)
    for block in (8, 512):
        got = metrics.ranking_metrics(
            space, table, jnp.asarray(query), jnp.asarray(exclude), block=block
        )
        assert got["mean_rank"] == pytest.approx(expected[0], rel=1e-12)
        assert got["map"] == pytest.approx(expected[1], rel=1e-12)
