"""Negative sampling of Nickel & Kiela: never the child or an ancestor, uniform (or by
degree^0.75 in burn-in) over the acceptable nodes, even where most candidates are rejected."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geo.data.hierarchy import closure_from_parents
from geo.data.wordnet import load_mammals
from geo.hierarchy_training import TrainingData, excluded, sample_negatives, training_data


def _chain(length: int):
    """n0 <- n1 <- ... : node i has i ancestors, so deep nodes reject most candidates."""
    return closure_from_parents({f"n{i}": [f"n{i - 1}"] for i in range(1, length)})


@pytest.mark.parametrize("burnin", [False, True])
def test_negatives_are_acceptable_and_follow_the_target_distribution(burnin):
    hierarchy = _chain(12)
    data = training_data(hierarchy)
    names = hierarchy.index()
    child = names["n6"]  # 6 ancestors and itself: 7 of 12 candidates are rejected
    children = np.full(4000, child, np.int32)
    chosen, valid = jax.jit(sample_negatives, static_argnums=(3, 4))(
        jax.random.PRNGKey(0), children, data, 10, burnin
    )
    chosen, valid = np.asarray(chosen), np.asarray(valid)
    forbidden = {child} | {names[f"n{i}"] for i in range(6)}
    assert not set(chosen[valid].tolist()) & forbidden
    # The deepest node rejects every candidate, so chains have the maximum 9 candidates; n6
    # rejects 7 of 12, and a slot misses with probability (7/12)^9 = 0.8%.
    assert abs((1 - valid.mean()) - (7 / 12) ** 9) < 0.004

    allowed = np.array(sorted(set(range(hierarchy.num_nodes)) - forbidden))
    weights = np.exp(np.asarray(data.burnin_logits))[allowed] if burnin else np.ones(len(allowed))
    expected = weights / weights.sum()
    counts = np.bincount(chosen[valid], minlength=hierarchy.num_nodes)[allowed]
    total = counts.sum()
    # Each frequency within 5 binomial standard deviations of its target.
    sigma = np.sqrt(total * expected * (1 - expected))
    assert np.all(np.abs(counts - total * expected) < 5 * sigma), (counts, total * expected)


def test_deep_wordnet_like_rejection_is_rare(shared_data):
    from geo.data.wordnet import load_mammals

    data = training_data(load_mammals())
    children = np.asarray(data.edges[:, 0])
    _, valid = sample_negatives(jax.random.PRNGKey(1), children, data, 50, False)
    assert np.asarray(valid).mean() > 0.9999


def test_sorted_exclusion_sets_equal_padded_ones():
    """Descendants (the mammals' largest set: 1,181 nodes) searched by bisection in sorted
    segments exclude exactly what padded rows exclude, and draw the same negatives."""
    h = load_mammals()
    flipped = np.ascontiguousarray(h.edges[:, ::-1])
    padded = training_data(h, flipped)
    segments = training_data(h, flipped, sorted_exclusions=True)
    assert segments.ancestors.shape == (h.num_nodes, 1) and segments.longest_segment == 1181
    rng = np.random.default_rng(0)
    nodes = jnp.asarray(rng.integers(0, h.num_nodes, 300))
    cands = jnp.asarray(rng.integers(0, h.num_nodes, (300, 40)))
    expected = excluded(padded, nodes, cands)
    np.testing.assert_array_equal(jax.jit(excluded)(segments, nodes, cands), expected)
    assert int(expected.sum()) > 0
    key = jax.random.PRNGKey(1)
    for a, b in zip(sample_negatives(key, nodes, padded, 10, False),
                    sample_negatives(key, nodes, segments, 10, False), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)


def test_padded_exclusion_is_set_membership():
    """Padded sets of up to 11 ancestors (not a multiple of the loop's unroll of 8): the
    same as membership in each node's set, the -1 padding excluding no node."""
    rng = np.random.default_rng(3)
    sets = [rng.choice(40, rng.integers(0, 12), replace=False) for _ in range(30)]
    ancestors = np.full((30, 11), -1, np.int32)
    for i, s in enumerate(sets):
        ancestors[i, : len(s)] = s
    base = training_data(closure_from_parents({"b": ["a"]}))
    data = TrainingData(base.edges, jnp.asarray(ancestors), base.burnin_logits)
    nodes = rng.integers(0, 30, 200)
    cands = rng.integers(0, 40, (200, 25))
    got = np.asarray(jax.jit(excluded)(data, jnp.asarray(nodes), jnp.asarray(cands)))
    expected = np.array(
        [[c in set(sets[b].tolist()) for c in row] for b, row in zip(nodes, cands, strict=True)]
    )
    np.testing.assert_array_equal(got, expected)
    assert 0 < expected.sum() < expected.size
