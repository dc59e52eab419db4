"""Synthetic hierarchies for scaling studies: `dataset=tree:nodes=N,branching=B`.

    geo run poincare_wordnet --workdir runs/tree dataset=tree:nodes=100000,branching=8

A complete B-ary tree of N nodes in breadth-first order (node i's parent is (i - 1) // B),
as its transitive closure: every (node, ancestor) pair, sum over nodes of their depth.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from geo.data.hierarchy import Hierarchy

PREFIX = "tree:"
_FIELDS = {"nodes": (2, 10**8), "branching": (1, 10**6)}


@dataclasses.dataclass(frozen=True)
class TreeSpec:
    """A complete tree: `nodes` nodes, each with up to `branching` children."""

    nodes: int
    branching: int


def is_tree_spec(dataset: str) -> bool:
    return dataset.startswith(PREFIX)


def parse_tree_spec(dataset: str) -> TreeSpec:
    """`tree:nodes=N,branching=B` as a TreeSpec; a ValueError names what is wrong."""
    if not is_tree_spec(dataset):
        raise ValueError(f"{dataset!r} is not a tree spec; write tree:nodes=N,branching=B")
    values = {}
    for item in filter(None, dataset[len(PREFIX) :].split(",")):
        key, sep, text = item.partition("=")
        key = key.strip()
        if key not in _FIELDS:
            raise ValueError(
                f"{dataset!r}: unknown field {key!r}; a tree takes {', '.join(_FIELDS)} "
                "(tree:nodes=N,branching=B)"
            )
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{dataset!r}: {key}={text!r} is not an integer") from None
        low, high = _FIELDS[key]
        if not sep or not low <= value <= high:
            raise ValueError(f"{dataset!r}: {key} must be an integer in [{low}, {high}]")
        values[key] = value
    missing = [k for k in _FIELDS if k not in values]
    if missing:
        raise ValueError(f"{dataset!r}: missing {', '.join(missing)} (tree:nodes=N,branching=B)")
    return TreeSpec(**values)


def complete_tree(spec: TreeSpec) -> Hierarchy:
    """The closure of the complete `spec.branching`-ary tree of `spec.nodes` nodes."""
    child = np.arange(1, spec.nodes, dtype=np.int64)
    ancestor = (child - 1) // spec.branching
    pairs = []
    while child.size:  # one level of ancestors at a time: depth passes in all
        pairs.append(np.stack([child, ancestor], 1))
        keep = ancestor > 0
        child, ancestor = child[keep], (ancestor[keep] - 1) // spec.branching
    names = tuple(f"t{i}" for i in range(spec.nodes))
    return Hierarchy(names, np.concatenate(pairs).astype(np.int32))
