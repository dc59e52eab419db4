"""Held-out edge splits for link prediction (Nickel & Kiela, NeurIPS 2017, Sec. 4.1): observed
links are held out at random, and no held-out link involves a node missing from training."""

from __future__ import annotations

import os

import numpy as np

from geo.data.hierarchy import Hierarchy, read_edge_pairs


def random_edge_split(
    hierarchy: Hierarchy, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) closure edges with about `fraction` of them held out.

    A drawn edge whose child or ancestor would appear in no training edge goes back to
    training, so every test node has an embedding learned from data.

    Args:
        hierarchy: the full closure, edges (E, 2).
        fraction: in (0, 1).
        seed: the split's random seed.

    Returns:
        train (E - T, 2) and test (T, 2) int32 edges.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {fraction}")
    edges = hierarchy.edges
    held = np.random.default_rng(seed).random(len(edges)) < fraction
    seen = np.zeros(hierarchy.num_nodes, bool)
    seen[edges[~held].reshape(-1)] = True
    held &= seen[edges[:, 0]] & seen[edges[:, 1]]  # moving edges back only adds nodes
    if not held.any():
        raise ValueError(
            f"test_fraction={fraction} holds out no edge of {len(edges)}; use a larger fraction"
        )
    return edges[~held], edges[held]


def listed_edge_split(
    hierarchy: Hierarchy, path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test): the closure pairs listed in a (child, ancestor) file are held out.

    Raises:
        KeyError: naming the file and its unknown nodes.
        ValueError: a listed pair is not in the closure.
    """
    pairs = read_edge_pairs(path)
    try:
        listed = hierarchy.ids([n for pair in pairs for n in pair]).reshape(-1, 2)
    except KeyError as err:
        raise KeyError(f"{path}: {err.args[0]}") from None
    n = hierarchy.num_nodes
    codes = hierarchy.edges[:, 0].astype(np.int64) * n + hierarchy.edges[:, 1]
    wanted = listed[:, 0].astype(np.int64) * n + listed[:, 1]
    absent = ~np.isin(wanted, codes)
    if absent.any():
        child, parent = pairs[int(np.argmax(absent))]
        raise ValueError(
            f"{path}: {int(absent.sum())} listed pair(s) are not in the hierarchy's closure, "
            f"e.g. {child!r} -> {parent!r}"
        )
    held = np.isin(codes, wanted)
    return hierarchy.edges[~held], hierarchy.edges[held]
