"""Hyperbolic embeddings without training (Sala, De Sa, Gu & Re, ICML 2018), and the
precision they need.

    geo run constructions --workdir runs/c-mammals dataset=mammals dim=2 eps=0.1
    geo run constructions --workdir runs/c-nouns dataset=nouns eval_sources=200
    geo run constructions --workdir runs/c-f64 dataset=mammals precision=float64 fit_tau=true
    geo run constructions --workdir runs/h-disease dataset=disease_lp method=hmds dim=10

method=combinatorial is Sarkar's construction with Sala et al.'s refinements
(`geo.constructions.sarkar`): of a hierarchy's spanning tree (a node with several parents
keeps its deepest one), or of a breadth-first spanning tree of a graph. method=hmds is
h-MDS (`geo.constructions.hmds`) of the shortest-path distances (N x N, so at most 20,000
nodes). Graphs with several components (airport, cora) use their largest one.

The points are built exactly, then stored at `precision`: fixed (integers at `bits` binary
digits, default: enough for the deepest node), float64 or float32, and evaluated with that
storage's arithmetic (`geo.constructions.fixed_point`). results.json holds the MAP of each
node's neighbours in the embedded graph (the tree, or the graph itself), the average and
worst-case distortion, the points that collapsed onto the boundary, tau, bits and the
construction and evaluation times. `eval_sources=N` estimates them from N random nodes
(95% intervals) instead of all of them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import ml_collections
import mpmath
import numpy as np

from geo.constructions.fixed_point import PRECISIONS, StoredPoints, store
from geo.constructions.hmds import hmds
from geo.constructions.quality import embedding_quality
from geo.constructions.sarkar import bits_needed, combinatorial_embedding, scaling_factor
from geo.constructions.trees import (
    Tree,
    adjacency_matrix,
    bfs_tree,
    graph_distances,
    hierarchy_tree,
    largest_component,
)
from geo.data.graphs import DATASETS as GRAPHS
from geo.data.graphs import load_graph
from geo.data.hierarchy import read_edge_file
from geo.data.synthetic import complete_tree, is_tree_spec, parse_tree_spec
from geo.data.wordnet import load_mammals, load_wordnet_nouns
from geo.devices import ONE_DEVICE, DeviceRequest
from geo.run_files import RunFiles

DESCRIPTION = "Combinatorial and h-MDS hyperbolic embeddings and their precision (Sala et al.)"
PRESET_KEYS = ()
SWEEP_AXES = ()
METHODS = ("combinatorial", "hmds")
MAX_HMDS_NODES = 20_000
MAX_EXACT_NODES = 20_000
CONFIG_HELP = {
    "dataset": "mammals | nouns | tree:nodes=N,branching=B | "
    + " | ".join(GRAPHS)
    + " | PATH to a (child, parent) TSV",
    "wordnet_dir": "WordNet 3.0 dict folder for nouns (default /usr/share/wordnet)",
    "data_dir": "folder of the HGCN graphs (default GEO_HGCN_DATA or ../shared/data/hgcn)",
    "method": "combinatorial (Sarkar, Sala et al. Alg. 1) | hmds (Sala et al. Alg. 2)",
    "dim": "dimension of the Poincare ball",
    "precision": "fixed (exact integers at `bits`) | float64 | float32",
    "bits": "binary digits of fixed point (0: enough for the deepest node)",
    "eps": "combinatorial: target worst-case distortion 1 + eps, which sets tau",
    "tau": "combinatorial: edge length (0: from eps)",
    "fit_tau": "combinatorial: shrink tau until the deepest node fits the precision",
    "scale": "hmds: distances are scaled by this before cosh",
    "eval_sources": "0: every node; N: estimates from N random nodes with 95% intervals",
    "seed": "seed of the sampled evaluation nodes",
    "progress": "show progress bars",
}


def get_config() -> ml_collections.ConfigDict:
    """Defaults: the mammals' tree in 2-D at eps = 0.1, exact fixed point.

    Run with: geo run constructions --workdir runs/c dataset=mammals
    """
    c = ml_collections.ConfigDict()
    c.dataset = "mammals"
    c.wordnet_dir = ""
    c.data_dir = ""
    c.method = "combinatorial"
    c.dim = 2
    c.precision = "fixed"
    c.bits = 0
    c.eps = 0.1
    c.tau = 0.0
    c.fit_tau = False
    c.scale = 1.0
    c.eval_sources = 0
    c.seed = 0
    c.progress = True
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    if config.method not in METHODS:
        raise ValueError(f"method={config.method!r}; valid choices are {', '.join(METHODS)}")
    if config.precision not in PRECISIONS:
        raise ValueError(
            f"precision={config.precision!r}; valid choices are {', '.join(PRECISIONS)}"
        )
    if config.method == "hmds" and config.precision == "fixed":
        raise ValueError("h-MDS runs in float64 or float32 arithmetic: set precision=float64")
    minimum = 2 if config.method == "combinatorial" else 1
    if int(config.dim) < minimum:
        raise ValueError(f"dim must be >= {minimum} for {config.method}, got {config.dim}")
    for key in ("bits", "eval_sources", "seed"):
        if int(config[key]) < 0:
            raise ValueError(f"{key} must be >= 0, got {config[key]}")
    if config.bits and config.bits < 8:
        raise ValueError(f"bits must be 0 (automatic) or >= 8, got {config.bits}")
    for key in ("eps", "scale"):
        if not float(config[key]) > 0:
            raise ValueError(f"{key} must be positive, got {config[key]}")
    if config.fit_tau and config.precision == "fixed" and not config.bits:
        raise ValueError("fit_tau=true with precision=fixed needs bits > 0 to fit into")
    if float(config.tau) < 0:
        raise ValueError(f"tau must be >= 0 (0: from eps), got {config.tau}")
    if is_tree_spec(config.dataset):
        _check_size(config, parse_tree_spec(config.dataset).nodes)


def _check_size(config, num_nodes: int) -> None:
    if config.method == "hmds" and num_nodes > MAX_HMDS_NODES:
        gib = num_nodes**2 * 8 / 2**30
        raise ValueError(
            f"h-MDS needs the {num_nodes:,} x {num_nodes:,} distance matrix ({gib:,.0f} GiB in "
            f"float64), beyond the {MAX_HMDS_NODES:,} nodes it takes here; use "
            "method=combinatorial"
        )
    if not config.eval_sources and num_nodes > MAX_EXACT_NODES:
        raise ValueError(
            f"{num_nodes:,} nodes: an exact evaluation computes {num_nodes**2:.1e} distances; "
            "set eval_sources=200 for estimates from 200 random nodes with 95% intervals"
        )


def load_graph_or_tree(config) -> tuple[int, np.ndarray, Tree, str]:
    """(N, the evaluated graph's undirected edges (E, 2), its spanning tree, a note)."""
    if config.dataset in GRAPHS:
        graph = load_graph(config.dataset, "lp", config.data_dir or None)
        n, edges, count = largest_component(graph.num_nodes, graph.edges)
        note = (f"{config.dataset}: the largest of {count} components, {n:,} of "
                f"{graph.num_nodes:,} nodes")  # fmt: skip
        return n, edges, bfs_tree(n, edges), note
    if config.dataset == "mammals":
        hierarchy = load_mammals()
    elif config.dataset == "nouns":
        hierarchy = load_wordnet_nouns(config.wordnet_dir or None)
    elif is_tree_spec(config.dataset):
        hierarchy = complete_tree(parse_tree_spec(config.dataset))
    else:
        hierarchy = read_edge_file(config.dataset)
    tree = hierarchy_tree(hierarchy.num_nodes, hierarchy.edges)
    parents = np.bincount(hierarchy.transitive_reduction()[:, 0], minlength=tree.num_nodes)
    note = (
        f"{config.dataset}: spanning tree of the hierarchy ({hierarchy.num_nodes:,} nodes, "
        f"of which {int(np.sum(parents > 1)):,} kept one of several parents)"
    )
    return tree.num_nodes, tree.edges(), tree, note


def _tau_for(config, tree: Tree) -> float:
    tau = float(config.tau) or scaling_factor(int(tree.degrees().max()), float(config.eps))
    if config.fit_tau:
        if config.precision == "fixed":
            usable = (config.bits or 0) - 64
        else:
            usable = np.finfo(np.dtype(config.precision)).nmant - 3
        tau = min(tau, usable * math.log(2) / max(tree.depth(), 1))
        if tau <= 0:
            raise ValueError(
                f"{config.precision} leaves no room for a tree of depth {tree.depth()}"
            )
    return tau


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str | Path, devices: DeviceRequest = ONE_DEVICE
) -> dict:
    """Build, store and evaluate one embedding; write config.json and results.json."""
    validate(config)
    files = RunFiles(workdir, config)
    n, edges, tree, note = load_graph_or_tree(config)
    _check_size(config, n)
    t0 = time.perf_counter()
    if config.method == "combinatorial":
        tau = _tau_for(config, tree)
        bits = int(config.bits) or bits_needed(tree, tau)
        points = combinatorial_embedding(tree, int(config.dim), tau, config.progress)
        stored = store(points, config.precision, bits)
        del points  # the mpf lists: larger than the stored points
        scale = tau
    else:
        scale = float(config.scale)
        distances = graph_distances(n, edges)
        ball = hmds(distances, int(config.dim), scale, np.dtype(config.precision))
        stored = StoredPoints.of_floats(ball)
    construct_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    sources = np.arange(n)
    if config.eval_sources and config.eval_sources < n:
        rng = np.random.default_rng(int(config.seed))
        sources = np.sort(rng.choice(n, int(config.eval_sources), replace=False))
    quality = embedding_quality(
        stored.distances_from, adjacency_matrix(n, edges),
        lambda s: graph_distances(n, edges, s), scale, sources, config.progress,
    )  # fmt: skip
    results = {
        **quality,
        "collapsed": stored.collapsed(),
        "tau" if config.method == "combinatorial" else "scale": scale,
        "bits": stored.bits,
        "construct_seconds": construct_seconds,
        "eval_seconds": time.perf_counter() - t0,
        "num_nodes": n,
        "num_edges": int(len(edges)),
        "tree_depth": tree.depth(),
        "max_degree": int(tree.degrees().max()),
        "graph": note,
        "mpmath_backend": mpmath.libmp.BACKEND,
    }
    files.write_results(results)
    return results


def train_and_evaluate_many(
    configs, workdirs, state_dir, devices: DeviceRequest = ONE_DEVICE
) -> list[dict]:
    """Each config on its own (`geo sweep` of precisions, eps, dimensions: nothing is
    compiled, so there is no program to share)."""
    for config in configs:
        validate(config)
    return [train_and_evaluate(c, w) for c, w in zip(configs, workdirs, strict=True)]
