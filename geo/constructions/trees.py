"""Rooted trees for the combinatorial construction: from edge lists (checked), from a
hierarchy's closure (one parent kept per node), and breadth-first spanning trees of graphs."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components, shortest_path


@dataclasses.dataclass(frozen=True)
class Tree:
    """A rooted tree on nodes 0 .. N - 1.

    Attributes:
        parent: (N,) int64, each node's parent; -1 for the root.
        order: (N,) int64, the nodes in breadth-first order from the root.
    """

    parent: np.ndarray
    order: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.parent)

    @property
    def root(self) -> int:
        return int(self.order[0])

    def edges(self) -> np.ndarray:
        """(N - 1, 2) (child, parent) pairs."""
        child = np.flatnonzero(self.parent >= 0)
        return np.stack([child, self.parent[child]], 1)

    def children(self) -> list[np.ndarray]:
        """Each node's children, in increasing id."""
        child = np.flatnonzero(self.parent >= 0)
        by_parent = np.argsort(self.parent[child], kind="stable")
        counts = np.bincount(self.parent[child], minlength=self.num_nodes)
        return np.split(child[by_parent], np.cumsum(counts)[:-1])

    def degrees(self) -> np.ndarray:
        """(N,) neighbours in the tree (children, plus the parent for non-roots)."""
        return np.bincount(self.edges().reshape(-1), minlength=self.num_nodes)

    def depth(self) -> int:
        """Edges on the longest root-to-leaf path."""
        levels = np.zeros(self.num_nodes, np.int64)
        for node in self.order[1:]:
            levels[node] = levels[self.parent[node]] + 1
        return int(levels.max(initial=0))

    def adjacency(self) -> sp.csr_matrix:
        return adjacency_matrix(self.num_nodes, self.edges())


def adjacency_matrix(n: int, edges: np.ndarray) -> sp.csr_matrix:
    """(N, N) symmetric 0/1 adjacency of undirected edges (E, 2)."""
    e = np.asarray(edges, np.int64).reshape(-1, 2)
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return ((a + a.T) > 0).astype(np.float64).tocsr()


def tree_from_edges(num_nodes: int, edges: np.ndarray, root: int = 0) -> Tree:
    """The tree with these undirected edges, rooted at `root`.

    Raises:
        ValueError: the edges have a cycle (more than N - 1 distinct edges among the
            connected nodes), leave nodes unconnected, repeat an edge, or hold a self-loop.
    """
    e = np.asarray(edges, np.int64).reshape(-1, 2)
    if len(e) and (e.min() < 0 or e.max() >= num_nodes):
        raise ValueError(f"edge ids must be in 0 .. {num_nodes - 1}")
    if np.any(e[:, 0] == e[:, 1]):
        raise ValueError(f"self-loop at node {int(e[e[:, 0] == e[:, 1]][0, 0])}: not a tree")
    pairs = np.unique(np.sort(e, axis=1), axis=0)
    if len(pairs) != len(e):
        raise ValueError("an edge is listed twice: not a tree")
    adjacency = adjacency_matrix(num_nodes, pairs)
    count, labels = connected_components(adjacency, directed=False)
    if len(pairs) > num_nodes - count:
        raise ValueError(
            f"{len(pairs)} edges on {num_nodes} nodes in {count} component(s): the graph has a "
            "cycle, so it is not a tree; embed a spanning tree of it (bfs_tree) instead"
        )
    if count > 1:
        apart = int(np.argmax(labels != labels[root]))
        raise ValueError(
            f"the edges leave {count} components (e.g. node {apart} is not connected to the "
            f"root {root}): not a tree"
        )
    order, predecessors = breadth_first_order(adjacency, root, directed=False)
    parent = np.where(predecessors < 0, -1, predecessors).astype(np.int64)
    return Tree(parent, order.astype(np.int64))


def bfs_tree(num_nodes: int, edges: np.ndarray, root: int | None = None) -> Tree:
    """A breadth-first spanning tree of a connected graph (Sala et al. embed such a tree of a
    non-tree graph), from `root` (default: the node of largest degree).

    Raises:
        ValueError: the graph is not connected.
    """
    adjacency = adjacency_matrix(num_nodes, edges)
    count, _ = connected_components(adjacency, directed=False)
    if count > 1:
        raise ValueError(f"the graph has {count} connected components; embed one at a time")
    if root is None:
        root = int(np.argmax(np.asarray(adjacency.sum(1)).ravel()))
    order, predecessors = breadth_first_order(adjacency, root, directed=False)
    return Tree(np.where(predecessors < 0, -1, predecessors).astype(np.int64), order)


def hierarchy_tree(num_nodes: int, closure: np.ndarray) -> Tree:
    """A spanning tree of a hierarchy from its (child, ancestor) closure pairs.

    A node with several parents keeps the ancestor with the most ancestors of its own (the
    deepest; ties by the smaller id), which is always a direct parent; its other parent
    links are dropped. Nodes without ancestors hang from the one root.

    Raises:
        ValueError: the hierarchy has several roots.
    """
    closure = np.asarray(closure, np.int64)
    counts = np.bincount(closure[:, 0], minlength=num_nodes)
    roots = np.flatnonzero(counts == 0)
    if len(roots) != 1:
        raise ValueError(f"the hierarchy has {len(roots)} roots; the construction needs one")
    key = counts[closure[:, 1]] * num_nodes - closure[:, 1]  # most ancestors, then smaller id
    order = np.lexsort((key, closure[:, 0]))
    last = np.r_[closure[order[1:], 0] != closure[order[:-1], 0], True]
    parent = np.full(num_nodes, -1, np.int64)
    parent[closure[order[last], 0]] = closure[order[last], 1]
    child = np.flatnonzero(parent >= 0)
    return tree_from_edges(num_nodes, np.stack([child, parent[child]], 1), int(roots[0]))


def graph_distances(num_nodes: int, edges: np.ndarray, sources=None) -> np.ndarray:
    """Shortest-path hop counts (S, N) from `sources` (default all) in the undirected graph."""
    return shortest_path(adjacency_matrix(num_nodes, edges), unweighted=True, directed=False,
                         indices=sources)  # fmt: skip


def largest_component(num_nodes: int, edges: np.ndarray) -> tuple[int, np.ndarray, int]:
    """(nodes, distinct undirected edges renumbered, number of components) of the largest
    connected component of a graph; self-loops are dropped."""
    count, labels = connected_components(adjacency_matrix(num_nodes, edges), directed=False)
    keep = labels == np.argmax(np.bincount(labels))
    new = np.cumsum(keep) - 1
    e = np.asarray(edges, np.int64)
    e = new[e[keep[e[:, 0]] & keep[e[:, 1]]]]
    e = np.unique(np.sort(e, 1), axis=0)
    return int(keep.sum()), e[e[:, 0] != e[:, 1]], int(count)
