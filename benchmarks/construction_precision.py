"""How deep a tree each precision embeds: `python benchmarks/construction_precision.py`.

For "spine" trees of each branching factor (`--branching 2,4,8`: a path of `depth` nodes,
each with b children, one of them the next on the path, so the degrees and the depth of a
complete b-ary tree with b x depth nodes), Sarkar's 2-D construction
(`geo.constructions.sarkar`, tau from `--eps`) is stored at each precision (`--precisions
float32,float64,fixed:128,fixed:256,fixed:512`) and evaluated from `--sources` random nodes
(all of them when the tree is smaller); the depth grows until a point collapses onto the
boundary or the MAP drops below 1 (doubling, then bisecting), up to `--max-depth`. Prints a
markdown table: branching, tau, then per precision the largest depth embedded with MAP 1
and no collapsed point (">= d" when the depth limit stopped the search first).
"""

from __future__ import annotations

import argparse

import numpy as np

from geo.constructions.fixed_point import store
from geo.constructions.quality import embedding_quality
from geo.constructions.sarkar import combinatorial_embedding, scaling_factor
from geo.constructions.trees import graph_distances, tree_from_edges


def spine(branching: int, depth: int):
    """A path 0 - 1 - ... - depth, each path node with branching - 1 extra leaf children."""
    edges = [(i + 1, i) for i in range(depth)]
    leaf = depth + 1
    for node in range(depth):
        for _ in range(branching - 1):
            edges.append((leaf, node))
            leaf += 1
    return tree_from_edges(leaf, np.asarray(edges), root=0)


def embeds(tree, tau: float, precision: str, sources: int) -> bool:
    kind, _, bits = precision.partition(":")
    bits = int(bits or 0)
    points = combinatorial_embedding(tree, 2, tau)
    stored = store(points, kind, bits)
    if stored.collapsed():
        return False
    n = tree.num_nodes
    chosen = np.arange(n) if n <= sources else np.random.default_rng(0).choice(n, sources, False)
    q = embedding_quality(
        stored.distances_from, tree.adjacency(),
        lambda s: graph_distances(n, tree.edges(), s), tau, chosen,
    )  # fmt: skip
    return q["map"] == 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branching", default="2,4,8")
    parser.add_argument("--precisions", default="float32,float64,fixed:128,fixed:256,fixed:512")
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=512)
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    print(f"| branching | tau (eps {args.eps:g}) | " + " | ".join(precisions) + " |")
    print("|---|---|" + "---|" * len(precisions))
    for b in map(int, args.branching.split(",")):
        tau = scaling_factor(b + 1, args.eps)
        cells = []
        for precision in precisions:
            good, bad = 0, 1
            while bad <= args.max_depth and embeds(spine(b, bad), tau, precision, args.sources):
                good, bad = bad, 2 * bad
            if bad > args.max_depth:
                cells.append(f">= {good}")
                continue
            while bad - good > 1:  # good embeds, bad does not
                mid = (good + bad) // 2
                good, bad = (
                    (mid, bad)
                    if embeds(spine(b, mid), tau, precision, args.sources)
                    else (good, mid)
                )
            cells.append(str(good))
        print(f"| {b} | {tau:.2f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
