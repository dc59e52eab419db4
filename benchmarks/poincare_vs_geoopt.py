"""Mammals Poincare embeddings, this framework vs geoopt, same config, loss, sampling and metric.

    make bench-wordnet                       # or:
    python benchmarks/poincare_vs_geoopt.py --epochs 300 --eval-every 10

geoopt trains with RiemannianSGD on a geoopt.PoincareBall ManifoldParameter, the batch loop in
Python as its users write it (float32 and float64); negatives are drawn by the same rule
(never the child or its ancestors; degree^0.75 during burn-in). Both are evaluated by the same
code (`geo.hierarchy_training.reconstruction_metrics`). Printed: epochs/s of each, the speed
ratio, the final MAP and mean rank, and the training time each needs to reach MAP >= 0.9.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from experiments.poincare_wordnet import get_config  # noqa: E402
from geo.data.wordnet import load_mammals  # noqa: E402
from geo.hierarchy_training import make_epoch, training_data  # noqa: E402
from geo.metrics import reconstruction_metrics  # noqa: E402
from models.embeddings import embedding_space  # noqa: E402


def run_ours(config, epochs, eval_every, dtype):
    hierarchy = load_mammals()
    space = embedding_space("poincare")
    data = training_data(hierarchy)
    init_key, key = jax.random.split(jax.random.PRNGKey(config.seed))
    table = space.init(init_key, hierarchy.num_nodes, config.dim, config.init_scale, dtype)
    table, key = table[None], key[None]  # one run
    epoch_fn = make_epoch(space, None, config.batch_size, config.negatives, hierarchy.num_edges)
    lr = jnp.asarray([config.lr], dtype)
    start = time.perf_counter()
    compiled = {
        b: epoch_fn.lower(table, (), data, key, lr, burnin=b).compile() for b in (True, False)
    }
    fold_in = jax.jit(jax.vmap(jax.random.fold_in, (0, None)))
    compile_s = time.perf_counter() - start
    train_s, reached, history = 0.0, None, []
    for epoch in range(epochs):
        burnin = epoch < config.burnin_epochs
        t = time.perf_counter()
        table, _, loss = compiled[burnin](
            table, (), data, fold_in(key, epoch), lr * (0.1 if burnin else 1.0)
        )
        jax.block_until_ready(table)
        train_s += time.perf_counter() - t
        if (epoch + 1) % eval_every == 0 or epoch + 1 == epochs:
            m = reconstruction_metrics(space, table[0], data.ancestors)
            history.append((epoch + 1, m["map"], m["mean_rank"]))
            if reached is None and m["map"] >= 0.9:
                reached = train_s
    return dict(
        train_s=train_s, compile_s=compile_s, epochs=epochs, reached=reached, history=history
    )


def run_geoopt(config, epochs, eval_every, torch_dtype):
    import geoopt
    import torch

    hierarchy = load_mammals()
    data = training_data(hierarchy)
    n = hierarchy.num_nodes
    edges = np.asarray(data.edges)
    ancestors = np.asarray(data.ancestors)
    weights = np.exp(np.asarray(data.burnin_logits, np.float64))
    cdf = np.cumsum(weights / weights.sum())
    rng = np.random.default_rng(config.seed)
    ball = geoopt.PoincareBall(c=1.0)
    table = geoopt.ManifoldParameter(
        torch.empty(n, config.dim, dtype=torch_dtype).uniform_(
            -config.init_scale, config.init_scale
        ),
        manifold=ball,
    )
    optimizer = geoopt.optim.RiemannianSGD([table], lr=config.lr)
    space = embedding_space("poincare")
    train_s, reached, history = 0.0, None, []
    k = config.negatives
    for epoch in range(epochs):
        burnin = epoch < config.burnin_epochs
        for group in optimizer.param_groups:
            group["lr"] = config.lr * (0.1 if burnin else 1.0)
        t = time.perf_counter()
        order = rng.permutation(len(edges))
        for start in range(0, len(edges), config.batch_size):
            batch = edges[order[start : start + config.batch_size]]
            b = len(batch)
            if burnin:
                cand = np.minimum(np.searchsorted(cdf, rng.random((b, k, 4)) * cdf[-1]), n - 1)
            else:
                cand = rng.integers(0, n, size=(b, k, 4))
            bad = (cand == batch[:, :1, None]) | (
                cand[..., None] == ancestors[batch[:, 0]][:, None, None, :]
            ).any(-1)
            first = bad.argmin(-1)
            negatives = np.take_along_axis(cand, first[..., None], -1)[..., 0]
            valid = ~bad.all(-1)
            idx = torch.from_numpy(np.concatenate([batch, negatives], 1))
            emb = table[idx]
            dists = ball.dist(emb[:, :1], emb[:, 1:])
            logits = (-dists).masked_fill(
                ~torch.from_numpy(np.concatenate([np.ones((b, 1), bool), valid], 1)), -1e9
            )
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(b, dtype=torch.long))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        train_s += time.perf_counter() - t
        if (epoch + 1) % eval_every == 0 or epoch + 1 == epochs:
            m = reconstruction_metrics(space, jnp.asarray(table.detach().numpy()), data.ancestors)
            history.append((epoch + 1, m["map"], m["mean_rank"]))
            if reached is None and m["map"] >= 0.9:
                reached = train_s
    return dict(train_s=train_s, compile_s=0.0, epochs=epochs, reached=reached, history=history)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--geoopt-epochs", type=int, default=None, help="default: --epochs")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--burnin-epochs", type=int, default=None, help="default: the paper's 20")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("torch and geoopt are needed: run `make bench` to install them") from None
    torch.set_num_threads(max(1, torch.get_num_threads()))
    config = get_config("mammals")
    if args.burnin_epochs is not None:
        config.burnin_epochs = args.burnin_epochs
    geoopt_epochs = args.geoopt_epochs or args.epochs
    rows = [
        ("ours float32", run_ours(config, args.epochs, args.eval_every, jnp.float32)),
        ("ours float64", run_ours(config, args.epochs, args.eval_every, jnp.float64)),
        ("geoopt float32", run_geoopt(config, geoopt_epochs, args.eval_every, torch.float32)),
        ("geoopt float64", run_geoopt(config, geoopt_epochs, args.eval_every, torch.float64)),
    ]
    base = {
        name.split()[1]: r["epochs"] / r["train_s"] for name, r in rows if name.startswith("geoopt")
    }
    print(
        "| run | epochs | epochs/s | speed vs geoopt (same dtype) | compile (s) | final MAP "
        "| final mean rank | train s to MAP >= 0.9 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        eps = r["epochs"] / r["train_s"]
        ratio = eps / base[name.split()[1]]
        _, final_map, final_rank = r["history"][-1]
        reached = f"{r['reached']:.1f}" if r["reached"] is not None else "not reached"
        print(
            f"| {name} | {r['epochs']} | {eps:.2f} | {ratio:.1f}x | {r['compile_s']:.1f} "
            f"| {final_map:.3f} | {final_rank:.2f} | {reached} |"
        )


if __name__ == "__main__":
    main()
