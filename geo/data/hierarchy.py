"""A hierarchy as the transitive closure of its (child, ancestor) relation.

Read from WordNet (`geo.data.wordnet`) or from a user's two-column TSV/CSV of (child, parent)
edges (`read_edge_file`), which is checked line by line and for cycles before any training.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class Hierarchy:
    """Nodes and the closure pairs (child, ancestor), child != ancestor.

    Attributes:
        names: node names; a node's id is its position.
        edges: (E, 2) int32 array of (child id, ancestor id).
    """

    names: tuple[str, ...]
    edges: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.names)

    @property
    def num_edges(self) -> int:
        return int(self.edges.shape[0])

    def index(self) -> dict[str, int]:
        """name -> id."""
        return {name: i for i, name in enumerate(self.names)}

    def ids(self, names) -> np.ndarray:
        """Ids of `names`; an unknown name is a KeyError that names it."""
        lookup = self.index()
        missing = [n for n in names if n not in lookup]
        if missing:
            shown = ", ".join(repr(n) for n in missing[:5])
            raise KeyError(f"{len(missing)} unknown node(s) in the hierarchy: {shown}")
        return np.asarray([lookup[n] for n in names], np.int32)

    def subtree(self, root: str) -> Hierarchy:
        """`root` and all its descendants, with the closure pairs among them."""
        (root_id,) = self.ids([root])
        members = np.zeros(self.num_nodes, bool)
        members[root_id] = True
        members[self.edges[self.edges[:, 1] == root_id, 0]] = True
        keep = members[self.edges[:, 0]] & members[self.edges[:, 1]]
        new_id = np.cumsum(members) - 1
        names = tuple(n for n, m in zip(self.names, members, strict=True) if m)
        return Hierarchy(names, new_id[self.edges[keep]].astype(np.int32))

    def transitive_reduction(self) -> np.ndarray:
        """(R, 2) (child, parent) closure pairs with no node between them."""
        import scipy.sparse as sp

        n, e = self.num_nodes, self.edges
        closure = sp.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        two_steps = (closure @ closure).tocsr()
        return e[np.asarray(two_steps[e[:, 0], e[:, 1]]).ravel() == 0]

    def depth(self) -> np.ndarray:
        """Number of ancestors of each node, shape (N,)."""
        return np.bincount(self.edges[:, 0], minlength=self.num_nodes)

    def save(self, path: os.PathLike) -> None:
        np.savez_compressed(path, names=np.asarray(self.names), edges=self.edges)

    @classmethod
    def load(cls, path: os.PathLike) -> Hierarchy:
        with np.load(path, allow_pickle=False) as f:
            return cls(tuple(str(n) for n in f["names"]), f["edges"].astype(np.int32))

    def write_tsv(self, path: os.PathLike) -> None:
        """One closure pair `child<TAB>ancestor` per line, sorted."""
        pairs = sorted((self.names[c], self.names[a]) for c, a in self.edges)
        Path(path).write_text("".join(f"{c}\t{a}\n" for c, a in pairs), encoding="utf-8")


def closure_from_parents(parents: Mapping[str, list[str]], source: str = "<edges>") -> Hierarchy:
    """Transitive closure of a child -> parents map; a cycle is a ValueError naming it."""
    nodes = sorted(set(parents) | {p for ps in parents.values() for p in ps})
    ids = {n: i for i, n in enumerate(nodes)}
    parent_ids = [[] for _ in nodes]
    for child, ps in parents.items():
        parent_ids[ids[child]] = sorted({ids[p] for p in ps})
    ancestors: list[frozenset[int] | None] = [None] * len(nodes)
    state = [0] * len(nodes)  # 0 new, 1 on the stack, 2 done
    for start in range(len(nodes)):
        if state[start]:
            continue
        stack = [(start, 0)]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            if i < len(parent_ids[node]):
                stack[-1] = (node, i + 1)
                parent = parent_ids[node][i]
                if state[parent] == 1:
                    path = [n for n, _ in stack]
                    cycle = [nodes[n] for n in path[path.index(parent) :]] + [nodes[parent]]
                    raise ValueError(f"{source}: the hierarchy has a cycle: {' -> '.join(cycle)}")
                if state[parent] == 0:
                    state[parent] = 1
                    stack.append((parent, 0))
                continue
            found = set(parent_ids[node])
            for parent in parent_ids[node]:
                found |= ancestors[parent]
            ancestors[node] = frozenset(found)
            state[node] = 2
            stack.pop()
    pairs = [(c, a) for c, anc in enumerate(ancestors) for a in sorted(anc)]
    edges = np.asarray(pairs, np.int32).reshape(-1, 2)
    return Hierarchy(tuple(nodes), edges)


def read_edge_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """The (child, parent) pairs of a two-column file, tab- or comma-separated.

    Lines starting with '#' and blank lines are skipped.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file and line of a malformed line or a self-loop, or saying
            the file has no pairs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"edge file not found: {path}")
    text = path.read_text(encoding="utf-8")
    delimiter = "\t" if "\t" in text else ","
    pairs = []
    for number, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if len(cells) != 2 or not all(cells):
            raise ValueError(
                f"{path}:{number}: expected two columns 'child{delimiter!r}parent', got {row!r}"
            )
        if cells[0] == cells[1]:
            raise ValueError(f"{path}:{number}: self-loop {cells[0]!r} -> {cells[1]!r}")
        pairs.append((cells[0], cells[1]))
    if not pairs:
        raise ValueError(f"{path}: no edges found (the file is empty or only has comments)")
    return pairs


def read_edge_file(path: str | os.PathLike, closed: bool = False) -> Hierarchy:
    """A hierarchy from a two-column file of (child, parent) edges, tab- or comma-separated.

    Args:
        path: the file; lines starting with '#' and blank lines are skipped.
        closed: the file already lists the closure pairs (child, ancestor); skip the closure.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file and line of a malformed line, a self-loop, an empty
            file, or a cycle.
    """
    pairs = read_edge_pairs(path)
    parents: dict[str, list[str]] = {}
    for child, parent in pairs:
        parents.setdefault(child, []).append(parent)
        parents.setdefault(parent, [])
    hierarchy = closure_from_parents(parents, source=str(path))
    if closed and hierarchy.num_edges != len(pairs):
        raise ValueError(
            f"{path}: expected a closed relation of {len(pairs)} pairs, its closure has "
            f"{hierarchy.num_edges}"
        )
    return hierarchy
