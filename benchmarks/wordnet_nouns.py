"""WordNet nouns, training modes side by side: `python benchmarks/wordnet_nouns.py`.

Runs `geo run poincare_wordnet dataset=nouns` (Poincare, dim 10, batch 50, 50 negatives,
lr 1.0, float32, sparse RSGD: Nickel & Kiela's configuration) once per `--modes` entry, each
`P` or `P+shared`: `parallel_batches=P` (1: the paper's update; P > 1: P batches per
compiled step from one table, lockstep Hogwild) and `+shared` for `shared_negatives=true` (a
step's edges share one draw of negatives), each for `--epochs` epochs (20 of them burn-in),
and prints a markdown
table: compile seconds, training edges/s, evaluation seconds and the exact MAP and mean rank
each mode reaches after the same epochs. `--eval-only` times the exact evaluation of an
untrained and a `--table` (embeddings.npy of a run) nouns table instead.

    python benchmarks/wordnet_nouns.py --wordnet-dir ../shared/data/wordnet --epochs 50
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from experiments import poincare_wordnet
from geo.config import build_config
from geo.data.wordnet import load_wordnet_nouns
from geo.hierarchy_training import training_data
from geo.metrics import reconstruction_metrics
from models.embeddings import embedding_space


def train(wordnet_dir: str, epochs: int, mode: str, workdir: Path) -> dict:
    parallel, _, shared = mode.partition("+")
    settings = ["dataset=nouns", f"wordnet_dir={wordnet_dir}", f"epochs={epochs}",
                "eval_every=0", "checkpoint_every=0", "progress=false",
                f"parallel_batches={int(parallel)}",
                f"shared_negatives={shared == 'shared'}"]  # fmt: skip
    config = build_config(poincare_wordnet, settings)
    return poincare_wordnet.train_and_evaluate(config, workdir)


def time_evaluation(wordnet_dir: str, table_path: str | None) -> None:
    ancestors = training_data(load_wordnet_nouns(wordnet_dir)).ancestors
    space = embedding_space("poincare")
    tables = {"untrained": space.init(jax.random.PRNGKey(0), ancestors.shape[0], 10, 1e-3,
                                      jnp.float32)}  # fmt: skip
    if table_path:
        tables[Path(table_path).parent.name] = jnp.asarray(np.load(table_path))
    print("| table | evaluation s | mean rank | MAP | peak RSS MiB |\n|---|---|---|---|---|")
    for name, table in tables.items():
        t0 = time.perf_counter()
        m = reconstruction_metrics(space, table, ancestors)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {name} | {seconds:.1f} | {m['mean_rank']:.2f} | {m['map']:.4f} | {peak:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet-dir", default="/usr/share/wordnet")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--modes", default="1,5,1+shared,5+shared", help="P or P+shared, ...")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--table", default=None, help="embeddings.npy to time (--eval-only)")
    args = parser.parse_args()
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}, {args.epochs} epochs")
    if args.eval_only:
        time_evaluation(args.wordnet_dir, args.table)
        return
    print("| mode | compile s | edges/s | eval s | MAP | mean rank |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            r = train(args.wordnet_dir, args.epochs, mode, Path(tmp) / mode)
            print(f"| {mode} | {r['compile_seconds']:.1f} | {r['edges_per_second']:,.0f} "
                  f"| {r['eval_seconds']:.1f} | {r['map']:.4f} | {r['mean_rank']:.2f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
