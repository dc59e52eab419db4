"""Hyperbolic embeddings of the WordNet noun hierarchy (Nickel & Kiela, NeurIPS 2017; ICML 2018).

    geo run poincare_wordnet --workdir runs/mammals dataset=mammals
    geo run poincare_wordnet --workdir runs/nouns dataset=nouns wordnet_dir=/usr/share/wordnet
    geo run poincare_wordnet --workdir runs/mine dataset=my_edges.tsv manifold=lorentz dim=2

The workdir receives config.json, metrics.jsonl (one line per evaluation), results.json (map,
mean_rank, train_seconds, edges_per_second, compile_seconds), orbax checkpoints, and for dim 2
a PNG of the Poincare disk. A killed run started again on the same workdir resumes from its
last checkpoint and ends with the same results as an uninterrupted run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from tqdm.auto import tqdm

import geo.optim as go
from geo.data.hierarchy import Hierarchy, read_edge_file
from geo.data.wordnet import load_mammals, load_wordnet_nouns
from geo.hierarchy_training import make_epoch, reconstruction_metrics, training_data
from models.embeddings import SPACES, embedding_space

# The configurations of the papers' code.
PRESETS = {
    "mammals": dict(dim=5, lr=0.3, batch_size=10, negatives=50, burnin_epochs=20, epochs=300),
    "nouns": dict(dim=10, lr=1.0, batch_size=50, negatives=50, burnin_epochs=20, epochs=1500),
}
OPTIMIZERS = ("rsgd", "radam")
DTYPES = ("float32", "float64")


def get_config(dataset: str = "mammals") -> ml_collections.ConfigDict:
    """Defaults; `dataset=nouns` selects the nouns configuration, anything else the mammals one.

    Run with: geo run poincare_wordnet --workdir runs/mammals dataset=mammals
    """
    c = ml_collections.ConfigDict()
    c.dataset = dataset  # mammals | nouns | PATH to a (child, parent) TSV/CSV
    c.manifold = "poincare"  # poincare | lorentz | euclidean | euclidean_param
    c.optimizer = "rsgd"  # rsgd | radam
    c.dtype = "float32"
    c.seed = 0
    c.wordnet_dir = ""  # default /usr/share/wordnet (Debian's wordnet-base)
    c.burnin_lr_factor = 0.1
    c.init_scale = 1e-3
    c.eval_every = 50  # epochs between evaluations (0: only at the end)
    c.checkpoint_every = 10
    c.eval_block = 512
    c.progress = True
    c.update(PRESETS.get(dataset, PRESETS["mammals"]))
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    if config.manifold not in SPACES:
        raise ValueError(f"manifold={config.manifold!r}; valid choices are {', '.join(SPACES)}")
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={config.optimizer!r}; valid choices are {', '.join(OPTIMIZERS)}"
        )
    if config.dtype not in DTYPES:
        raise ValueError(f"dtype={config.dtype!r}; valid choices are {', '.join(DTYPES)}")
    for key in ("dim", "epochs", "batch_size", "negatives", "eval_block"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    for key in ("burnin_epochs", "eval_every", "checkpoint_every", "seed"):
        if int(config[key]) < 0:
            raise ValueError(f"{key} must be >= 0, got {config[key]}")
    if not float(config.lr) > 0:
        raise ValueError(f"lr must be positive, got {config.lr}")


def load_hierarchy(config: ml_collections.ConfigDict) -> Hierarchy:
    """The dataset: the shipped mammal closure, the WordNet nouns, or a user's edge file."""
    if config.dataset == "mammals":
        return load_mammals()
    if config.dataset == "nouns":
        return load_wordnet_nouns(config.wordnet_dir or None)
    return read_edge_file(config.dataset)


def _make_tx(config, space):
    if config.optimizer == "radam":
        return lambda lr: go.radam(lr, space.manifold)
    if space.manifold is None or space.name == "poincare":
        return None  # sort-free sparse RSGD (Nickel & Kiela's update)
    return lambda lr: go.rsgd(lr, space.manifold)


def _plot_disk(path: Path, points: np.ndarray, hierarchy: Hierarchy, labels: int = 12) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    descendants = np.bincount(hierarchy.edges[:, 1], minlength=hierarchy.num_nodes)
    top = np.argsort(-descendants)[:labels]
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="black", lw=1))
    ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.5)
    for i in top:
        ax.annotate(hierarchy.names[i], points[i], fontsize=8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.set_title(f"{hierarchy.num_nodes} nodes in the Poincare disk")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _host_copy(table, opt_state, train_seconds) -> dict:
    """Host copies for an asynchronous checkpoint: the next epoch donates the device buffers."""
    state = {"table": table, "opt_state": opt_state}
    state = jax.tree.map(lambda a: np.array(a, copy=True), state)
    return {**state, "train_seconds": np.float64(train_seconds)}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Train, evaluate and write the workdir's files; returns the results dict."""
    validate(config)
    if config.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(config.dtype)
    hierarchy = load_hierarchy(config)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))

    space = embedding_space(config.manifold)
    data = training_data(hierarchy)
    make_tx = _make_tx(config, space)
    init_key, key = jax.random.split(jax.random.PRNGKey(config.seed))
    table = space.init(init_key, hierarchy.num_nodes, config.dim, config.init_scale, dtype)
    opt_state = make_tx(config.lr).init(table) if make_tx is not None else ()

    manager = ocp.CheckpointManager(
        (workdir / "checkpoints").resolve(), options=ocp.CheckpointManagerOptions(max_to_keep=2)
    )
    start_epoch, train_seconds = 0, 0.0
    if manager.latest_step() is not None:
        target = {"table": table, "opt_state": opt_state, "train_seconds": np.float64(0.0)}
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = manager.restore(manager.latest_step(), args=ocp.args.StandardRestore(abstract))
        table, opt_state = restored["table"], restored["opt_state"]
        start_epoch, train_seconds = manager.latest_step(), float(restored["train_seconds"])
    metrics_path = workdir / "metrics.jsonl"
    kept = []
    if metrics_path.exists():  # drop evaluations past the checkpoint we resume from
        kept = [
            ln
            for ln in metrics_path.read_text().splitlines()
            if json.loads(ln)["epoch"] <= start_epoch
        ]
    metrics_path.write_text("".join(ln + "\n" for ln in kept))

    epoch_fn = make_epoch(space, make_tx, config.batch_size, config.negatives, hierarchy.num_edges)
    lr = jnp.asarray(config.lr, dtype)
    t0 = time.perf_counter()
    compiled = {
        burnin: epoch_fn.lower(table, opt_state, data, key, lr, burnin=burnin).compile()
        for burnin in ({True, False} if config.burnin_epochs else {False})
    }
    compile_seconds = time.perf_counter() - t0

    def evaluate(epoch, loss):
        t = time.perf_counter()
        result = reconstruction_metrics(space, table, data.ancestors, config.eval_block)
        result.update(epoch=epoch, loss=loss, eval_seconds=time.perf_counter() - t)
        with open(metrics_path, "a") as f:
            f.write(json.dumps(result) + "\n")
        return result

    bar = tqdm(
        range(start_epoch, config.epochs),
        initial=start_epoch,
        total=config.epochs,
        disable=not config.progress,
        desc=f"{config.dataset} {config.manifold}",
        unit="epoch",
    )
    loss = float("nan")
    for epoch in bar:
        burnin = epoch < config.burnin_epochs
        scale = config.burnin_lr_factor if burnin else 1.0
        t = time.perf_counter()
        table, opt_state, loss_arr = compiled[burnin](
            table, opt_state, data, jax.random.fold_in(key, epoch), lr * scale
        )
        loss = float(loss_arr)  # blocks until the epoch is done
        train_seconds += time.perf_counter() - t
        done = epoch + 1
        rate = hierarchy.num_edges * (done - start_epoch) / max(train_seconds, 1e-9)
        bar.set_postfix(loss=f"{loss:.4f}", edges_per_s=f"{rate:,.0f}")
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"epoch {done}: the loss is {loss}; lower lr or use dtype=float64"
            )
        if config.checkpoint_every and done % config.checkpoint_every == 0 and done < config.epochs:
            manager.save(
                done, args=ocp.args.StandardSave(_host_copy(table, opt_state, train_seconds))
            )
        if config.eval_every and done % config.eval_every == 0 and done < config.epochs:
            evaluate(done, loss)
    final = evaluate(config.epochs, loss)
    state = _host_copy(table, opt_state, train_seconds)
    manager.save(config.epochs, args=ocp.args.StandardSave(state), force=True)
    manager.wait_until_finished()
    manager.close()

    epochs_run = config.epochs
    results = {
        "map": final["map"],
        "mean_rank": final["mean_rank"],
        "loss": loss,
        "train_seconds": train_seconds,
        "edges_per_second": hierarchy.num_edges * epochs_run / max(train_seconds, 1e-9),
        "compile_seconds": compile_seconds,
        "eval_seconds": final["eval_seconds"],
        "epochs": epochs_run,
        "num_nodes": hierarchy.num_nodes,
        "num_edges": hierarchy.num_edges,
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    np.save(workdir / "embeddings.npy", np.asarray(table))
    if config.dim == 2:
        _plot_disk(workdir / "poincare_disk.png", np.asarray(space.to_poincare(table)), hierarchy)
    return results
