"""Exact ranking counts on the host from float64 keys: for each child u and each of its queried
nodes v, how many competitors w are strictly closer to u than v.

A space that can order distances by a matrix product gives `ranking_features`: float64 rows
(N, F) and columns (N, F) with key(u, w) = rows[u] . cols[w] increasing in d(u, w) for each u
(for the Poincare ball |u - w|^2 / (1 - |w|^2), for the hyperboloid -<u, w>_L). Children are
taken in chunks of a few rows: one small matrix product gives their keys to every node, a
chunk stays in cache while each child's keys are compared with its few sorted thresholds, and
the chunks run on every core (numpy releases the GIL). Why on the host rather than compiled:
docs/decisions.md, "Exact ranking on the host, in float64".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

CHUNK_ROWS = 16  # children per matrix product: two (16, N) float64 key blocks fit a 32 MiB L3
_SORT_BELOW = 4096  # fewer candidates than this: sort them instead of one pass per threshold


def _counts_below(keys: np.ndarray, thresholds: np.ndarray, below: np.ndarray) -> np.ndarray:
    """(W,) number of entries of keys (N,) strictly below each of sorted thresholds (W,);
    below: an (N,) bool buffer. One pass per threshold over keys (compare and count, no
    copy), or one sort of the few candidates below the largest threshold."""
    total = np.count_nonzero(np.less(keys, thresholds[-1], out=below))
    if total <= _SORT_BELOW:
        return np.searchsorted(np.sort(keys[below]), thresholds, side="left")
    counts = [np.count_nonzero(np.less(keys, t, out=below)) for t in thresholds[:-1]]
    return np.asarray([*counts, total])


def _key_block(rows: np.ndarray, cols_t: np.ndarray, buffers: threading.local) -> np.ndarray:
    """rows (C, F) @ cols_t (F, N) into this thread's reused (C, N) buffer (a fresh block per
    chunk would page-fault on every 4 KiB)."""
    held = getattr(buffers, "keys", None)
    if held is None or held.shape[0] < rows.shape[0]:
        held = buffers.keys = np.empty((max(rows.shape[0], CHUNK_ROWS), cols_t.shape[1]))
    return np.matmul(rows, cols_t, out=held[: rows.shape[0]])


def _chunk_values(rows, cols_t, query, exclude, children: np.ndarray, buffers) -> np.ndarray:
    """(C, 3) sum of ranks, number of ranks and AP of each child (Nickel & Kiela 2017,
    Sec. 4.1; definitions in geo.metrics.ranking_metrics); zeros for a child without queries."""
    keys = _key_block(rows[children], cols_t, buffers)
    below = np.empty(keys.shape[1], bool)
    values = np.zeros((len(children), 3))
    for i, u in enumerate(children):
        q = query[u][query[u] >= 0]
        if q.size == 0:
            continue
        k = keys[i]
        thresholds = np.sort(k[q])
        k[exclude[u][exclude[u] >= 0]] = np.inf
        k[u] = np.inf
        closer = _counts_below(k, thresholds, below)
        position = np.arange(1, q.size + 1)
        values[i] = closer.sum() + q.size, q.size, np.mean(position / (closer + position))
    return values


def ranking_values(
    features: tuple[np.ndarray, np.ndarray],
    query: np.ndarray,
    exclude: np.ndarray,
    children: np.ndarray | None = None,
    threads: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yields (chunks done, chunks, the chunk's children (C,), their values (C, 3): sum of
    ranks, number of ranks, AP) as the chunks finish.

    Args:
        features: float64 rows (N, F) and columns (N, F) of the keys.
        query: (N, Q) ids to rank, padded with -1; exclude: (N, X) ids that are not
            competitors, padded with -1.
        children: the children to evaluate (default: every node with a query).
        threads: worker threads (default: the CPUs this process may use).
    """
    rows, cols = features
    cols_t = np.ascontiguousarray(cols.T)
    if children is None:
        children = np.flatnonzero(np.any(query >= 0, axis=1))
    chunks = [children[s : s + CHUNK_ROWS] for s in range(0, len(children), CHUNK_ROWS)]
    threads = threads or len(os.sched_getaffinity(0))
    buffers = threading.local()  # per worker, freed with this generator
    work: Callable[[np.ndarray], np.ndarray] = lambda c: _chunk_values(  # noqa: E731
        rows, cols_t, query, exclude, c, buffers
    )
    # One BLAS thread per worker: the workers already use every core.
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        results = zip(chunks, pool.map(work, chunks), strict=True)
        for done, (chunk, values) in enumerate(results, start=1):
            yield done, len(chunks), chunk, values
