"""How well embedded distances reproduce a graph (Sala et al. 2018, Sec. 2): MAP of each
node's graph neighbours ranked by embedded distance, and the average and worst-case
distortion of the distances against the graph's shortest paths."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from geo.watchdog import beat


def average_precision(distances: np.ndarray, neighbours: np.ndarray, source: int) -> float:
    """AP of the neighbours of `source` ranked by distance (the source itself excluded), with
    ties counted as retrieved together: for each neighbour v, the fraction of neighbours
    among the nodes at distance <= d(v)."""
    d = np.delete(distances, source)
    is_neighbour = np.zeros(len(distances), bool)
    is_neighbour[neighbours] = True
    is_neighbour = np.delete(is_neighbour, source)
    order = np.sort(d)
    hits = np.sort(d[is_neighbour])
    retrieved = np.searchsorted(order, hits, side="right")
    found = np.searchsorted(hits, hits, side="right")
    return float(np.mean(found / retrieved))


def embedding_quality(
    distances_from: Callable[[int], np.ndarray],
    adjacency: sp.csr_matrix,
    graph_rows: Callable[[np.ndarray], np.ndarray],
    scale: float,
    sources: np.ndarray,
    progress: bool = False,
) -> dict:
    """MAP and distortion over `sources` (all nodes: exact; a sample: estimates with 95%
    intervals for the means).

    Args:
        distances_from: source -> (N,) embedded distances (inf for collapsed points).
        adjacency: the graph's (N, N) adjacency (neighbours for the MAP).
        graph_rows: sources (S,) -> (S, N) shortest-path distances in the graph.
        scale: the embedding's distance per graph edge (tau; 1 for h-MDS of unscaled input).
        sources: node ids to evaluate from.
        progress: show a progress bar over the sources.

    Returns:
        map, distortion_avg (mean over pairs of |d / scale - d_G| / d_G), distortion_worst
        (max / min of d / (scale d_G), inf if a pair collapsed), their `*_ci95` half-widths
        when sampled, sources.
    """
    sources = np.asarray(sources)
    aps, distortions, ratio_max, ratio_min = [], [], 0.0, np.inf
    rows = graph_rows(sources)
    bar = tqdm(zip(sources, rows, strict=True), total=len(sources), desc="evaluation",
               unit="node", disable=not progress)  # fmt: skip
    for source, graph in bar:
        beat(f"evaluation from node {int(source)}")
        d = distances_from(int(source))
        neighbours = adjacency.indices[adjacency.indptr[source] : adjacency.indptr[source + 1]]
        aps.append(average_precision(d, neighbours, int(source)) if len(neighbours) else 1.0)
        pair = (graph > 0) & np.isfinite(graph)
        ratio = d[pair] / (scale * graph[pair])
        distortions.append(float(np.mean(np.abs(ratio - 1))))
        ratio_max = max(ratio_max, float(ratio.max(initial=0.0)))
        ratio_min = min(ratio_min, float(ratio.min(initial=np.inf)))
    n = adjacency.shape[0]
    out = {
        "map": float(np.mean(aps)),
        "distortion_avg": float(np.mean(distortions)),
        "distortion_worst": (
            ratio_max / ratio_min if ratio_min > 0 and np.isfinite(ratio_max) else float("inf")
        ),
        "sources": int(len(sources)),
    }
    if len(sources) < n:
        for key, values in (("map", aps), ("distortion_avg", distortions)):
            out[f"{key}_ci95"] = float(1.96 * np.std(values, ddof=1) / np.sqrt(len(values)))
    return out
