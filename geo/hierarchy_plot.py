"""A picture of a hierarchy embedding of any dimension: CO-SNE into the Poincare disk beside a
Euclidean t-SNE of the same points, with their trustworthiness (`geo plot WORKDIR`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geo.cosne import cosne, trustworthiness
from geo.data.hierarchy import Hierarchy


def ball_distances(x: np.ndarray) -> np.ndarray:
    """(N, N) float64 Poincare distances of ball points (N, d)."""
    x = np.asarray(x, np.float64)
    sq = np.sum(x * x, 1)
    diff = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    room = np.maximum(1 - sq, 1e-300)
    d = np.arccosh(1 + 2 * diff / np.outer(room, room))
    np.fill_diagonal(d, 0.0)
    return d


def choose_nodes(hierarchy: Hierarchy, count: int, seed: int) -> np.ndarray:
    """All nodes, or `count` of them: the tenth with the most descendants, then random."""
    n = hierarchy.num_nodes
    if n <= count:
        return np.arange(n)
    descendants = np.bincount(hierarchy.edges[:, 1], minlength=n)
    top = np.argsort(-descendants, kind="stable")[: max(count // 10, 1)]
    rest = np.setdiff1d(np.arange(n), top)
    extra = np.random.default_rng(seed).choice(rest, count - len(top), replace=False)
    return np.sort(np.concatenate([top, extra]))


def _pca_init(x: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Disk points at each point's hyperbolic radius, in the direction of the first two
    principal components of its tangent vector at the origin."""
    norms = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    tangent = x / norms * radii[:, None]
    centred = tangent - tangent.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    flat = tangent @ vt[:2].T
    flat /= np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    return flat * np.tanh(radii / 2)[:, None] * 0.999


def draw_hierarchy(
    points: np.ndarray,
    hierarchy: Hierarchy,
    path: str | Path,
    *,
    max_points: int = 2000,
    seed: int = 0,
    labels: int = 12,
    k: int = 10,
    title: str = "",
    display_radius: float = 3.0,
) -> dict:
    """Draw ball points (N, d) of `hierarchy` as CO-SNE and Euclidean t-SNE panels.

    The CO-SNE radii are the points' hyperbolic radii scaled so that the largest is
    `display_radius`: a trained embedding's leaves lie so near the boundary that at their
    true radii every point would be drawn on the circle.

    Returns the trustworthiness at k of both views and the number of points drawn.
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError(
            "geo plot compares with a Euclidean t-SNE from scikit-learn: pip install -e '.[plot]'"
        ) from None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    nodes = choose_nodes(hierarchy, max_points, seed)
    x = np.asarray(points, np.float64)[nodes]
    high = ball_distances(x)
    radii = ball_distances(np.vstack([np.zeros((1, x.shape[1])), x]))[0, 1:]
    perplexity = float(min(30.0, (len(nodes) - 1) / 3))
    # Depth stays monotone in the radius; the deepest point is drawn `display_radius` nats
    # out (|y| = tanh(display_radius / 2)), not at the 1e-3 from the circle it may be.
    shown = radii * (display_radius / max(float(radii.max()), 1e-12))
    disk = cosne(high, shown, _pca_init(x, shown), perplexity=perplexity)
    flat = TSNE(2, perplexity=perplexity, metric="precomputed", init="random",
                random_state=seed).fit_transform(high)  # fmt: skip
    kk = min(k, (len(nodes) - 1) // 2)
    scores = {
        "trustworthiness_cosne": trustworthiness(high, ball_distances(disk), kk),
        "trustworthiness_tsne": trustworthiness(
            high, np.linalg.norm(flat[:, None] - flat[None], axis=-1), kk
        ),
        "k": kk,
        "points": int(len(nodes)),
        "of_nodes": hierarchy.num_nodes,
    }

    depth = hierarchy.depth()[nodes]
    where = -np.ones(hierarchy.num_nodes, np.int64)
    where[nodes] = np.arange(len(nodes))
    reduction = where[hierarchy.transitive_reduction()]
    reduction = reduction[(reduction >= 0).all(1)]
    descendants = np.bincount(hierarchy.edges[:, 1], minlength=hierarchy.num_nodes)[nodes]
    named = np.argsort(-descendants, kind="stable")[:labels]

    fig, axes = plt.subplots(1, 2, figsize=(15, 7.5))
    for ax, y, name in ((axes[0], disk, "CO-SNE, Poincare disk"),
                        (axes[1], flat, "Euclidean t-SNE")):  # fmt: skip
        ax.add_collection(LineCollection(y[reduction], colors="0.6", linewidths=0.3, alpha=0.5))
        dots = ax.scatter(y[:, 0], y[:, 1], c=depth, s=6, cmap="viridis", zorder=2)
        for i in named:
            ax.annotate(hierarchy.names[nodes[i]].split(".")[0], y[i], fontsize=8, zorder=3)
        key = "trustworthiness_cosne" if ax is axes[0] else "trustworthiness_tsne"
        ax.set_title(f"{name}: trustworthiness@{kk} = {scores[key]:.3f}")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].add_patch(plt.Circle((0, 0), 1.0, fill=False, color="black", lw=1))
    axes[0].set_xlim(-1.05, 1.05)
    axes[0].set_ylim(-1.05, 1.05)
    fig.colorbar(dots, ax=axes, shrink=0.6, label="depth (number of ancestors)")
    fig.suptitle(title or f"{len(nodes):,} of {hierarchy.num_nodes:,} nodes")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return scores
