"""The exact ranking counts (geo.ranking through geo.metrics.ranking_metrics) against the
pair-by-pair definition, on both counting paths, and the compiled pass against the host one."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geo.metrics import ranking_metrics, reconstruction_metrics
from geo.ranking import ranking_values
from models.embeddings import embedding_space


def _poincare_dists(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Nickel & Kiela (2017), eq. 1, directly (no matrix product): (B, N)."""
    gap = np.sum((x[:, None, :] - table[None, :, :]) ** 2, -1)
    den = (1 - np.sum(x * x, -1))[:, None] * (1 - np.sum(table * table, -1))[None, :]
    return np.arccosh(1 + 2 * gap / den)


def test_counts_equal_the_definition_with_many_and_few_candidates():
    """Children whose farthest ancestor has thousands of closer nodes (one pass per
    threshold) and children with a handful (a sort of the few): both give the definition's
    counts, duplicated nodes (ties) included."""
    rng = np.random.default_rng(3)
    n, children = 6000, 48
    table = rng.uniform(-0.3, 0.3, (n, 4))
    table[5000:5040] = table[:40]  # ties: competitors equal to queried nodes
    query = np.full((n, 3), -1, np.int32)
    exclude = np.full((n, 5), -1, np.int32)
    dists = _poincare_dists(table[100 : 100 + children], table)
    order = np.argsort(dists, 1)
    for i in range(children):
        u = 100 + i
        # near nodes, or spread ones of which node i < 40 has a duplicate competitor
        picks = order[i, [1, 2, 3]] if i % 2 else [order[i, 2], i, order[i, 5900]]
        query[u] = picks
        exclude[u, :3] = picks
        exclude[u, 3] = order[i, 4]  # an excluded node that is not queried
    ranks, aps, heavy = [], [], 0
    for i in range(children):
        u = 100 + i
        skip = np.zeros(n, bool)
        skip[[u, *exclude[u][exclude[u] >= 0]]] = True
        comp = dists[i][~skip]
        closer = np.asarray([np.sum(comp < s) for s in np.sort(dists[i][query[u]])])
        heavy += closer.max() > 4096
        ranks += list(closer + 1)
        aps.append(np.mean(np.arange(1, 4) / (closer + np.arange(1, 4))))
    assert 0 < heavy < children  # both paths were taken
    space = embedding_space("poincare")
    got = ranking_metrics(space, jnp.asarray(table), jnp.asarray(query), jnp.asarray(exclude))
    assert got["mean_rank"] == pytest.approx(np.mean(ranks), rel=1e-12)
    assert got["map"] == pytest.approx(np.mean(aps), rel=1e-12)
    parts = ranking_values(space.ranking_features(table), query, exclude, threads=1)
    values = np.concatenate([v for *_, v in parts])
    assert values.shape == (children, 3) and np.all(values[:, 1] == 3)


@pytest.mark.parametrize("space_name", ["poincare", "lorentz", "euclidean"])
def test_host_keys_and_compiled_distances_give_the_same_metrics(space_name):
    """On a table near the ball's boundary, float64 keys on the host and float64 `dist` in
    the compiled pass order the pairs the same way."""
    from geo.data.wordnet import load_mammals
    from geo.hierarchy_training import training_data

    space = embedding_space(space_name)
    data = training_data(load_mammals())
    n = data.ancestors.shape[0]
    table = space.init(jax.random.PRNGKey(0), n, 5, 0.44, jnp.float64)
    if space_name == "poincare":
        table = space.manifold.proj(table)  # some rows at |x| = 1 - eps
    compiled = dataclasses.replace(space, ranking_features=None)
    assert reconstruction_metrics(space, table, data.ancestors) == pytest.approx(
        reconstruction_metrics(compiled, table, data.ancestors, block=256), rel=1e-12
    )


def test_a_non_finite_table_is_an_error_not_a_metric():
    space = embedding_space("poincare")
    table = jnp.zeros((10, 2)).at[3, 1].set(jnp.nan)
    query = jnp.full((10, 1), -1, jnp.int32).at[4, 0].set(1)
    with pytest.raises(ValueError, match="1 of 10 embedding rows are not finite"):
        ranking_metrics(space, table, query)
    with pytest.raises(ValueError, match="2 rows are not inside the unit ball"):
        space.ranking_features(np.asarray([[0.0, 1.0], [0.1, 0.2], [2.0, 0.0]]))


def test_sampled_estimate_covers_the_exact_value():
    """95% intervals from 400 of the mammals' 1,180 children cover the exact figures in about
    95% of 40 draws (a random table's APs are skewed: at 150 children MAP's interval covers
    in 84% of 200 draws); the whole population gives the exact figures with zero width."""
    from geo.data.wordnet import load_mammals
    from geo.hierarchy_training import training_data

    space = embedding_space("poincare")
    ancestors = training_data(load_mammals()).ancestors
    table = space.init(jax.random.PRNGKey(2), ancestors.shape[0], 5, 0.3, jnp.float64)
    exact = reconstruction_metrics(space, table, ancestors)
    covered = {"mean_rank": 0, "map": 0}
    for seed in range(40):
        est = ranking_metrics(space, table, ancestors, sample=400, seed=seed)
        assert est["eval_children"] == 400
        for key in covered:
            covered[key] += abs(est[key] - exact[key]) <= est[f"{key}_ci95"]
    assert min(covered.values()) >= 34, covered
    everyone = ranking_metrics(space, table, ancestors, sample=10**6)
    assert everyone["map"] == pytest.approx(exact["map"], rel=1e-12)
    assert everyone["mean_rank"] == pytest.approx(exact["mean_rank"], rel=1e-12)
    assert everyone["map_ci95"] == everyone["mean_rank_ci95"] == 0.0
