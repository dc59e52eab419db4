"""Training cost on synthetic trees as they grow: `python benchmarks/tree_scaling.py`.

For each size (`--nodes 100000,300000,1000000`, `--branching 8`), builds
`dataset=tree:nodes=N,branching=B` (geo.data.synthetic), compiles the nouns configuration's
epoch (Poincare, dim 10, batch 50, 50 negatives, float32, sparse RSGD) and times `--epochs`
epochs after compilation. Prints a markdown table: nodes, closure edges, build seconds,
compile seconds, seconds per epoch, training edges/s, the process's peak resident memory
(so far: the sizes run in increasing order), and the evaluation of the trained table: exact
up to the experiment's MAX_EXACT_PAIRS (5e10 pairs), else estimated from `--eval-children`
sampled children (geo.metrics.ranking_metrics), with its seconds and MAP (+- the 95%
half-width of an estimate).
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
import jax.numpy as jnp

from experiments.poincare_wordnet import MAX_EXACT_PAIRS, get_config
from geo.data.synthetic import TreeSpec, complete_tree
from geo.hierarchy_training import make_epoch, training_data
from geo.metrics import ranking_metrics
from models.embeddings import embedding_space


def measure(nodes: int, branching: int, epochs: int, eval_children: int) -> dict:
    config = get_config("nouns")
    t0 = time.perf_counter()
    hierarchy = complete_tree(TreeSpec(nodes, branching))
    data = training_data(hierarchy)
    build_s = time.perf_counter() - t0
    space = embedding_space("poincare")
    init_key, key = jax.random.split(jax.random.PRNGKey(0))
    table = space.init(init_key, nodes, config.dim, config.init_scale, jnp.float32)[None]
    key = key[None]
    lr = jnp.asarray([config.lr], jnp.float32)
    epoch_fn = make_epoch(space, None, config.batch_size, config.negatives, hierarchy.num_edges)
    t0 = time.perf_counter()
    compiled = epoch_fn.lower(table, (), data, key, lr, burnin=False).compile()
    compile_s = time.perf_counter() - t0
    fold_in = jax.jit(jax.vmap(jax.random.fold_in, (0, None)))
    t0 = time.perf_counter()
    for epoch in range(epochs):
        table, _, loss = compiled(table, (), data, fold_in(key, epoch), lr)
        jax.block_until_ready(table)
    epoch_s = (time.perf_counter() - t0) / epochs
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sample = 0 if float(nodes) ** 2 <= MAX_EXACT_PAIRS else eval_children
    t0 = time.perf_counter()
    metrics = ranking_metrics(space, table[0], data.ancestors, sample=sample)
    eval_s = time.perf_counter() - t0
    return dict(nodes=nodes, edges=hierarchy.num_edges, build_s=build_s, compile_s=compile_s,
                epoch_s=epoch_s, edges_per_s=hierarchy.num_edges / epoch_s, peak_mib=peak_mib,
                loss=float(loss[0]), eval_s=eval_s, metrics=metrics)  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="100000,300000,1000000")
    parser.add_argument("--branching", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--eval-children", type=int, default=10000)
    args = parser.parse_args()
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}")
    print("| nodes | closure edges | build s | compile s | s / epoch | edges/s | peak RSS MiB "
          "| evaluation | eval s | MAP |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for nodes in (int(n) for n in args.nodes.split(",")):
        r = measure(nodes, args.branching, args.epochs, args.eval_children)
        m = r["metrics"]
        kind = f"{m['eval_children']:,} sampled" if "eval_children" in m else "exact"
        quality = f"{m['map']:.4f}" + (f" +- {m['map_ci95']:.4f}" if "map_ci95" in m else "")
        cells = [f"{r['nodes']:,}", f"{r['edges']:,}", f"{r['build_s']:.1f}"]
        cells += [f"{r['compile_s']:.1f}", f"{r['epoch_s']:.2f}", f"{r['edges_per_s']:,.0f}"]
        cells += [f"{r['peak_mib']:,.0f}", kind, f"{r['eval_s']:.1f}", quality]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
