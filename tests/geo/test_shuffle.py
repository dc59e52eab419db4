"""geo.shuffle.permutation: a permutation of every size, uniform over the n! orders."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

import geo.shuffle
from geo.shuffle import permutation


@pytest.mark.parametrize("n", [1, 2, 5, 6542, 70000])
def test_is_a_permutation(n):
    p = np.asarray(permutation(jax.random.PRNGKey(n), n))
    assert p.dtype == np.int32
    np.testing.assert_array_equal(np.sort(p), np.arange(n))


def test_every_order_of_four_is_equally_likely():
    draws = 24_000
    keys = jax.random.split(jax.random.PRNGKey(0), draws)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: permutation(k, 4)))(keys))
    index = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = np.bincount([index[tuple(p)] for p in perms.tolist()], minlength=24)
    expected = draws / 24
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 49.7  # the 0.999 quantile of chi-square with 23 degrees of freedom


def test_position_of_an_element_is_uniform_over_two_rounds():
    # 1,000 elements take 10 index bits; 22 random bits per round need two rounds.
    n, draws = 1000, 4000
    keys = jax.random.split(jax.random.PRNGKey(1), draws)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: permutation(k, n)))(keys))
    first = np.bincount(perms[:, 0] // 100, minlength=10)  # which tenth lands first
    chi2 = np.sum((first - draws / 10) ** 2 / (draws / 10))
    assert chi2 < 27.9  # the 0.999 quantile with 9 degrees of freedom


def test_falls_back_where_too_few_random_bits_remain(monkeypatch):
    monkeypatch.setattr(geo.shuffle, "_MIN_RANDOM_BITS", 30)
    p = np.asarray(permutation(jax.random.PRNGKey(0), 100))
    assert p.dtype == np.int32
    np.testing.assert_array_equal(np.sort(p), np.arange(100))
