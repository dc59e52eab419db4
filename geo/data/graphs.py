"""The graph data sets of HGCN (Chami et al., NeurIPS 2019) and the paper's splits.

The archives (`disease_lp`, `airport`, `cora`) are plain NumPy files converted from the
paper's code release; `data_dir` (or the GEO_HGCN_DATA variable) points at the folder that
holds one sub-folder per data set. A user's graph is an `.npz` with the same keys:
`features` (N, F), `edges` (E, 2) undirected pairs, optionally `labels` (N,).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

DATASETS = ("disease_lp", "airport", "cora")
# Validation and test fractions of the paper's node-classification splits.
NC_SPLITS = {"disease_lp": (0.10, 0.60), "airport": (0.15, 0.15)}
LP_SPLIT = (0.05, 0.10)  # validation and test fractions of the edges
_AIRPORT_BINS = [7 / 7, 8 / 7, 9 / 7]


@dataclasses.dataclass(frozen=True)
class Graph:
    """An undirected graph with node features.

    Attributes:
        name: the data set's name or file.
        features: (N, F) float32.
        edges: (E, 2) int32 undirected pairs i < j, each once, no self-loops.
        labels: (N,) int32 class ids, or None.
        node_split: standard (train, val, test) node ids where the data set fixes them.
    """

    name: str
    features: np.ndarray
    edges: np.ndarray
    labels: np.ndarray | None = None
    node_split: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_classes(self) -> int:
        return 0 if self.labels is None else int(self.labels.max()) + 1


def check_graph(name: str, features, edges, labels=None) -> Graph:
    """A validated Graph; every problem is a ValueError naming the data and how to fix it."""
    features = np.asarray(features)
    edges = np.asarray(edges)
    if features.ndim != 2:
        raise ValueError(f"{name}: features must be (nodes, features), got {features.shape}")
    n = features.shape[0]
    if not np.all(np.isfinite(features)):
        rows = np.unique(np.nonzero(~np.isfinite(features))[0])
        raise ValueError(
            f"{name}: {len(rows)} node(s) have NaN or infinite features (first: node "
            f"{rows[0]}); impute or drop them before training"
        )
    if edges.ndim != 2 or edges.shape[1] != 2 or len(edges) == 0:
        raise ValueError(f"{name}: edges must be a non-empty (E, 2) array, got {edges.shape}")
    if not np.issubdtype(edges.dtype, np.integer):
        raise ValueError(f"{name}: edges must be integer node ids, got {edges.dtype}")
    if edges.min() < 0 or edges.max() >= n:
        bad = edges[(edges < 0).any(1) | (edges >= n).any(1)][0]
        raise ValueError(
            f"{name}: edge {tuple(int(v) for v in bad)} is out of range for {n} nodes (the "
            f"feature matrix has {n} rows; ids must be 0..{n - 1})"
        )
    loops = edges[:, 0] == edges[:, 1]
    if loops.all():
        raise ValueError(f"{name}: every edge is a self-loop; the graph has no links to learn")
    edges = np.sort(edges[~loops], axis=1)
    edges = np.unique(edges, axis=0).astype(np.int32)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(
                f"{name}: labels have shape {labels.shape}, expected ({n},), one per feature row"
            )
        labels = labels.astype(np.int32)
    return Graph(name, features.astype(np.float32), edges, labels)


def default_data_dir() -> Path:
    """GEO_HGCN_DATA if set, else ../shared/data/hgcn beside the working directory."""
    return Path(os.environ.get("GEO_HGCN_DATA", "../shared/data/hgcn"))


def load_graph(dataset: str, task: str = "lp", data_dir: str | os.PathLike | None = None) -> Graph:
    """One of DATASETS from `data_dir`, or a user's `.npz` path, ready for `task` (lp | nc).

    For airport node classification the labels are the 5th feature column binned as in the
    paper's code and the features are the first 4 columns; link prediction keeps all 5.
    """
    if dataset in DATASETS:
        root = Path(data_dir) if data_dir else default_data_dir()
        path = root / dataset / f"{dataset}.npz"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: set data_dir=... (or GEO_HGCN_DATA) to the folder holding "
                f"{', '.join(DATASETS)}, as described in the README's Data section"
            )
    else:
        path = Path(dataset)
        if path.suffix != ".npz" or not path.is_file():
            raise FileNotFoundError(
                f"dataset={dataset!r} is neither one of {', '.join(DATASETS)} nor an existing "
                ".npz file with features, edges and (for nc) labels"
            )
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    missing = {"features", "edges"} - set(arrays)
    if missing:
        raise ValueError(f"{path}: missing array(s) {', '.join(sorted(missing))}")
    features, labels = arrays["features"], arrays.get("labels")
    if dataset == "airport" and task == "nc":
        column = features[:, 4]
        labels = np.digitize(column, _AIRPORT_BINS)
        labels = labels - labels.min()
        features = features[:, :4]
    if task == "nc" and labels is None:
        raise ValueError(f"{path}: node classification needs a `labels` array")
    graph = check_graph(str(dataset), features, arrays["edges"], labels)
    if {"idx_train", "idx_val", "idx_test"} <= set(arrays):
        split = tuple(arrays[k].astype(np.int32) for k in ("idx_train", "idx_val", "idx_test"))
        graph = dataclasses.replace(graph, node_split=split)
    return graph


def _split_fractions(graph: Graph) -> tuple[float, float]:
    """The paper's validation and test fractions for `graph`; labels are required."""
    if graph.labels is None:
        raise ValueError(f"{graph.name}: node classification needs labels")
    return NC_SPLITS.get(graph.name, (0.15, 0.15))


def node_split(graph: Graph, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) node ids: the data set's own split, else the paper's fractions,
    drawn per class (stratified) with `seed`."""
    if graph.node_split is not None:
        return graph.node_split
    val_frac, test_frac = _split_fractions(graph)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in range(graph.num_classes):
        ids = rng.permutation(np.nonzero(graph.labels == c)[0])
        n_val, n_test = round(val_frac * len(ids)), round(test_frac * len(ids))
        parts[1].append(ids[:n_val])
        parts[2].append(ids[n_val : n_val + n_test])
        parts[0].append(ids[n_val + n_test :])
    return tuple(np.sort(np.concatenate(p)).astype(np.int32) for p in parts)


def hgcn_code_node_split(graph: Graph, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The node split of the HGCN code (`split_data`), kept only to explain its numbers.

    That rule is written for two classes: its "positives" are the nodes with a label other
    than 0, its "negatives" those with a label other than 1, and each list is cut into
    validation, test and training parts. With more classes the lists share every node of
    classes 2, 3, ..., so such a node can be a test node and, through the other list, a
    training node too: on airport, 44% of the test nodes are also trained on. Returns
    (train, val, test) with those overlaps (ids may repeat within a part); a data set with
    its own split (Cora) keeps it, as in that code.
    """
    if graph.node_split is not None:
        return graph.node_split
    val_frac, test_frac = _split_fractions(graph)
    rng = np.random.RandomState(seed)
    pos = np.nonzero(graph.labels != 0)[0]
    neg = np.nonzero(graph.labels != 1)[0]
    rng.shuffle(pos)
    rng.shuffle(neg)
    size = min(len(pos), len(neg))
    n_val, n_test = round(val_frac * size), round(test_frac * size)
    parts = [np.concatenate([ids[a:b] for ids in (pos, neg)]) for a, b in
             ((n_val + n_test, None), (0, n_val), (n_val, n_val + n_test))]  # fmt: skip
    return tuple(p.astype(np.int32) for p in parts)


@dataclasses.dataclass(frozen=True)
class LinkSplit:
    """Positive edges (E_s, 2) per part and sampled non-edges for validation and test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_false: np.ndarray
    test_false: np.ndarray


def sample_non_edges(num_nodes: int, edges: np.ndarray, count: int, rng) -> np.ndarray:
    """`count` distinct pairs i < j that are not edges, by rejection (sparse graphs)."""
    taken = set((edges[:, 0].astype(np.int64) * num_nodes + edges[:, 1]).tolist())
    out: list[tuple[int, int]] = []
    while len(out) < count:
        pairs = np.sort(rng.integers(0, num_nodes, (2 * (count - len(out)) + 16, 2)), axis=1)
        for i, j in pairs:
            code = int(i) * num_nodes + int(j)
            if i != j and code not in taken:
                taken.add(code)
                out.append((int(i), int(j)))
                if len(out) == count:
                    break
    return np.asarray(out, np.int32).reshape(-1, 2)


def link_split(graph: Graph, seed: int) -> LinkSplit:
    """The paper's link-prediction split: 5% validation and 10% test edges at random, each
    with as many sampled non-edges."""
    rng = np.random.default_rng(seed)
    edges = graph.edges[rng.permutation(len(graph.edges))]
    n_val, n_test = (max(1, int(f * len(edges))) for f in LP_SPLIT)
    if n_val + n_test >= len(edges):
        raise ValueError(f"{graph.name}: {len(edges)} edges are too few for a link split")
    false = sample_non_edges(graph.num_nodes, graph.edges, n_val + n_test, rng)
    return LinkSplit(
        train=edges[n_val + n_test :],
        val=edges[:n_val],
        test=edges[n_val : n_val + n_test],
        val_false=false[:n_val],
        test_false=false[n_val:],
    )
