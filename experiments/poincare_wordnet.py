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

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import geo.optim as go
from geo.checkpoint import Checkpointer
from geo.data.hierarchy import Hierarchy, read_edge_file
from geo.data.splits import listed_edge_split, random_edge_split
from geo.data.synthetic import complete_tree, is_tree_spec, parse_tree_spec
from geo.data.wordnet import load_mammals, load_wordnet_nouns
from geo.devices import ONE_DEVICE, DeviceRequest
from geo.experiment import single_run
from geo.hierarchy_training import (
    TablePlacement,
    make_epoch,
    padded_ancestors,
    table_placement,
    training_data,
)
from geo.loop import Chunk, TrainingLoop, compile_program
from geo.metrics import ranking_metrics
from geo.run_files import RunFiles
from geo.sweep import check_one_program
from models.embeddings import SPACES, embedding_space

# The configurations of the papers' code.
PRESETS = {
    "mammals": dict(dim=5, lr=0.3, batch_size=10, negatives=50, burnin_epochs=20, epochs=300),
    "nouns": dict(dim=10, lr=1.0, batch_size=50, negatives=50, burnin_epochs=20, epochs=1500),
}
OPTIMIZERS = ("rsgd", "radam")
# lr_decay -> the learning-rate factor's schedule (from 1 to `final` over `steps` epochs).
LR_DECAYS = {
    "none": lambda final, steps: optax.constant_schedule(1.0),
    "linear": lambda final, steps: optax.linear_schedule(1.0, final, steps),
    "cosine": lambda final, steps: optax.cosine_decay_schedule(1.0, steps, alpha=final),
}
DESCRIPTION = "Hyperbolic embeddings of WordNet nouns (Nickel & Kiela 2017, 2018)"
PRESET_KEYS = ("dataset",)
CONFIG_HELP = {
    "dataset": "mammals | nouns | tree:nodes=N,branching=B | PATH to a (child, parent) TSV",
    "manifold": "poincare | lorentz | euclidean | euclidean_param",
    "optimizer": "rsgd (Nickel & Kiela's sparse RSGD) | radam",
    "dtype": "float32 | float64",
    "seed": "seed of the initialization and of the training's randomness",
    "wordnet_dir": "WordNet 3.0 dict folder for nouns (default /usr/share/wordnet)",
    "burnin_lr_factor": "learning-rate factor during the burn-in epochs",
    "init_scale": "initial coordinates uniform in [-init_scale, init_scale]",
    "eval_every": "epochs between evaluations (0: only at the end)",
    "checkpoint_every": "epochs between checkpoints (0: only at the end)",
    "eval_block": "nodes per compiled evaluation block (spaces without float64 ranking keys)",
    "eval_children": "0: exact evaluation; N > 0: estimate from N sampled children with 95% CIs",
    "progress": "show a progress bar",
    "test_fraction": "> 0: hold out this fraction of edges for link prediction",
    "test_edges": "or: a (child, ancestor) file of closure pairs to hold out",
    "split_seed": "seed of the held-out edge split",
    "dim": "embedding dimension",
    "lr": "learning rate",
    "batch_size": "edges per step",
    "parallel_batches": "P > 1: P batches per compiled step from one table (lockstep Hogwild)",
    "shared_negatives": "true: a step's edges share one draw of negatives (rsgd only; faster)",
    "negatives": "negative samples per edge",
    "lr_decay": "none | linear | cosine: lr decays after the burn-in to lr x lr_final at the end",
    "lr_final": "the last epoch's learning-rate factor with lr_decay",
    "burnin_epochs": "epochs at lr x burnin_lr_factor with negatives drawn by degree",
    "epochs": "passes over the training data",
}
# Keys whose values may differ between the runs of one compiled program (`geo sweep`).
SWEEP_AXES = ("seed", "lr", "init_scale", "burnin_lr_factor")
# Keys that do not change what is trained; a resumed run may change them.
_RUNTIME_KEYS = (
    "progress",
    "eval_every",
    "checkpoint_every",
    "eval_block",
    "eval_children",
    "epochs",
)
# Beyond this many (child, node) pairs an exact evaluation takes minutes: ask for a sample.
MAX_EXACT_PAIRS = 5e10
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
    c.eval_children = 0  # 0: exact; > 0: estimate from this many sampled children
    c.progress = True
    c.test_fraction = 0.0  # > 0: hold out this fraction of edges for link prediction
    c.test_edges = ""  # or: a (child, ancestor) file of closure pairs to hold out
    c.split_seed = 0
    c.parallel_batches = 1  # P > 1: P batches' gradients at one table per step (faster)
    c.shared_negatives = False  # True: one draw of negatives per step, shared by its edges
    c.lr_decay = "none"  # none | linear | cosine: from lr after the burn-in to lr x lr_final
    c.lr_final = 0.01
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
    for key in ("dim", "epochs", "batch_size", "negatives", "eval_block", "parallel_batches"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    for key in ("burnin_epochs", "eval_every", "checkpoint_every", "seed", "eval_children"):
        if int(config[key]) < 0:
            raise ValueError(f"{key} must be >= 0, got {config[key]}")
    if not float(config.lr) > 0:
        raise ValueError(f"lr must be positive, got {config.lr}")
    if not 0.0 <= float(config.test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {config.test_fraction}")
    if is_tree_spec(config.dataset):  # a bad spec or size is an error before any work
        check_evaluation_size(config, parse_tree_spec(config.dataset).nodes)
    elif config.eval_children:
        check_evaluation_size(config, 0)
    if config.shared_negatives and config.optimizer != "rsgd":
        raise ValueError("shared_negatives=true needs optimizer=rsgd")
    if config.lr_decay not in LR_DECAYS:
        raise ValueError(f"lr_decay={config.lr_decay!r}; valid choices are {', '.join(LR_DECAYS)}")
    if not 0.0 < float(config.lr_final) <= 1.0:
        raise ValueError(f"lr_final must be in (0, 1], got {config.lr_final}")
    if config.test_edges and config.test_fraction:
        raise ValueError("set test_fraction or test_edges, not both")


def load_hierarchy(config: ml_collections.ConfigDict) -> Hierarchy:
    """The dataset: the shipped mammal closure, the WordNet nouns, a synthetic tree
    (`tree:nodes=N,branching=B`, geo.data.synthetic) or a user's edge file."""
    if config.dataset == "mammals":
        return load_mammals()
    if config.dataset == "nouns":
        return load_wordnet_nouns(config.wordnet_dir or None)
    if is_tree_spec(config.dataset):
        return complete_tree(parse_tree_spec(config.dataset))
    return read_edge_file(config.dataset)


def split_edges(config, hierarchy: Hierarchy) -> tuple[np.ndarray, np.ndarray | None]:
    """(train, test) edges: all edges and no test set unless a link-prediction split is set."""
    if config.test_edges:
        return listed_edge_split(hierarchy, config.test_edges)
    if config.test_fraction:
        return random_edge_split(hierarchy, float(config.test_fraction), int(config.split_seed))
    return hierarchy.edges, None


def check_evaluation_size(config: ml_collections.ConfigDict, num_nodes: int) -> None:
    """Raise ValueError, before any training, when an exact evaluation of `num_nodes` nodes
    would compare more than MAX_EXACT_PAIRS pairs and no sample size is set."""
    if not config.eval_children and float(num_nodes) ** 2 > MAX_EXACT_PAIRS:
        raise ValueError(
            f"{num_nodes:,} nodes: an exact evaluation ranks every child against every node "
            f"({float(num_nodes) ** 2:.1e} pairs, beyond the {MAX_EXACT_PAIRS:.0e} this "
            "experiment evaluates exactly); set eval_children=10000 for an estimate from "
            "10,000 sampled children with 95% confidence intervals"
        )
    if config.eval_children and embedding_space(config.manifold).ranking_features is None:
        raise ValueError(
            f"eval_children needs float64 ranking keys, which manifold={config.manifold!r} "
            "lacks; use poincare, lorentz or euclidean, or eval_children=0"
        )


def _make_tx(config, space):
    if config.optimizer == "radam":
        return lambda lr: go.radam(lr, space.manifold)
    return None  # rsgd: the sort-free sparse RSGD (Nickel & Kiela's update)


def lr_factor(config: ml_collections.ConfigDict) -> Callable[[int], float]:
    """The learning-rate factor of each epoch after the burn-in (an optax schedule over the
    epochs' index): 1 throughout with lr_decay=none, else a linear or cosine (Loshchilov &
    Hutter 2017, eq. 5) decay from 1 at the first epoch after the burn-in to lr_final at the
    last. Resuming with a different `epochs` stretches the rest of the schedule."""
    steps = max(int(config.epochs) - int(config.burnin_epochs) - 1, 1)
    schedule = LR_DECAYS[config.lr_decay](float(config.lr_final), steps)
    return lambda epoch: float(schedule(max(epoch - int(config.burnin_epochs), 0)))


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


def train_and_evaluate_many(
    configs, workdirs, state_dir: str | Path, devices: DeviceRequest = ONE_DEVICE
) -> list[dict]:
    """Train R runs that differ only in SWEEP_AXES (seed, lr, ...) as one compiled program.

    Each run gets its own workdir (config.json, metrics.jsonl, results.json, embeddings.npy,
    poincare_disk.png for dim 2); the program's checkpoints go to `state_dir`. A run's
    results do not depend on the other runs of its program. `devices` splits the runs over
    devices, or ("data") every table by rows.
    """
    for config in configs:
        validate(config)
    check_one_program(configs, SWEEP_AXES)
    first = configs[0]
    if first.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    hierarchy = load_hierarchy(first)
    check_evaluation_size(first, hierarchy.num_nodes)
    train_edges, test_edges = split_edges(first, hierarchy)
    files = [RunFiles(w, c) for w, c in zip(workdirs, configs, strict=True)]
    checkpoints = Checkpointer(
        state_dir, configs, _RUNTIME_KEYS, defaults=get_config(first.dataset)
    )

    space = embedding_space(first.manifold)
    data = training_data(hierarchy, train_edges)
    num_edges = len(train_edges)
    make_tx = _make_tx(first, space)
    runs = len(configs)
    placement = table_placement(runs, devices, hierarchy.num_nodes)
    keys, state, lrs, burnin_lrs = _initial_state(configs, space, hierarchy.num_nodes, make_tx)
    start_epoch, state = checkpoints.restore(state)
    for f in files:  # drop evaluations past the checkpoint we resume from
        f.resume_metrics(start_epoch)
    state = {**state, **placement.place({k: state[k] for k in ("table", "opt_state")})}
    keys, lrs, burnin_lrs = placement.runs.place((keys, lrs, burnin_lrs))
    data = placement.shared(data)

    epoch_fn = make_epoch(
        space,
        make_tx,
        first.batch_size,
        first.negatives,
        num_edges,
        first.parallel_batches,
        first.shared_negatives,
    )
    t0 = time.perf_counter()
    compiled = {
        burnin: compile_program(
            placement.program(
                partial(epoch_fn, burnin=burnin), (True, True, False, True, True), (0, 1)
            ),
            state["table"], state["opt_state"], data, keys, lrs,
        )[0]
        for burnin in ({True, False} if first.burnin_epochs else {False})
    }  # fmt: skip
    compile_seconds = time.perf_counter() - t0
    fold_in = jax.jit(jax.vmap(jax.random.fold_in, (0, None)))
    factor = lr_factor(first)

    evaluate = _evaluator(space, hierarchy, data, test_edges, first, files)

    name = f"{first.dataset} {first.manifold}" + (f" x{runs} runs" if runs > 1 else "")
    loop = TrainingLoop(
        total=first.epochs,
        start=start_epoch,
        desc=name,
        progress=first.progress,
        run_names=[str(w) for w in workdirs],
        train_seconds=float(state["train_seconds"]),
    )

    seconds_here = [0.0]  # training time of this process (not of a resumed run's earlier one)

    def advance(state, epoch):
        t0 = time.perf_counter()
        burnin = epoch < first.burnin_epochs
        table, opt_state, losses = compiled[burnin](
            state["table"],
            state["opt_state"],
            data,
            fold_in(keys, epoch),
            burnin_lrs if burnin else lrs * factor(epoch),
        )
        losses = placement.fetch(losses)  # blocks until the epoch is done
        seconds_here[0] += time.perf_counter() - t0
        rate = runs * num_edges * (epoch + 1 - start_epoch) / max(seconds_here[0], 1e-9)
        new = {"table": table, "opt_state": opt_state, "train_seconds": state["train_seconds"]}
        return Chunk(new, epoch + 1, losses, {"edges_per_s": f"{rate:,.0f}"})

    def after_epoch(state, done):
        if done >= first.epochs:
            return
        # The evaluation first: a checkpoint on disk has its metrics.jsonl line.
        if first.eval_every and done % first.eval_every == 0:
            evaluate(placement.real(state["table"]), done, loop.loss)
        if first.checkpoint_every and done % first.checkpoint_every == 0:
            checkpoints.save(done, _saved(placement, state, loop.train_seconds))

    state = loop.run(advance, state, after_epoch)
    train_seconds = loop.train_seconds
    final_state = _saved(placement, state, train_seconds)
    finals = evaluate(final_state["table"], first.epochs, loop.loss)
    checkpoints.save(first.epochs, final_state, force=True)
    checkpoints.close()

    summary = dict(
        train_seconds=train_seconds,
        edges_per_second=num_edges * first.epochs / max(train_seconds, 1e-9),
        compile_seconds=compile_seconds,
        epochs=first.epochs,
        num_nodes=hierarchy.num_nodes,
        num_edges=num_edges,
        runs_in_program=runs,
        devices=max(placement.runs.devices, placement.rows.devices),
    )
    if test_edges is not None:
        summary["num_test_edges"] = len(test_edges)
    return [
        _write_run(run_files, final, float(loop.loss[r]), summary, final_state["table"][r],
                   space, hierarchy, first.dim)
        for r, (final, run_files) in enumerate(zip(finals, files, strict=True))
    ]  # fmt: skip


train_and_evaluate = single_run(train_and_evaluate_many)


def _saved(placement: TablePlacement, state: dict, train_seconds: float) -> dict:
    """The state a checkpoint holds: the real runs and rows, whatever the device count."""
    real = placement.real({k: state[k] for k in ("table", "opt_state")})
    return {**state, **real, "train_seconds": np.float64(train_seconds)}


def _initial_state(configs, space, num_nodes: int, make_tx):
    """(keys (R,), state {table (R, N, C), opt_state, train_seconds}, lrs (R,), burn-in lrs
    (R,)) of the R runs: Nickel & Kiela's initialization from each run's seed."""
    first, dtype = configs[0], jnp.dtype(configs[0].dtype)
    keys, tables, opt_states = [], [], []
    for config in configs:
        init_key, key = jax.random.split(jax.random.PRNGKey(config.seed))
        table = space.init(init_key, num_nodes, first.dim, config.init_scale, dtype)
        keys.append(key)
        tables.append(table)
        opt_states.append(make_tx(config.lr).init(table) if make_tx is not None else ())
    state = {
        "table": jnp.stack(tables),
        "opt_state": jax.tree.map(lambda *leaves: jnp.stack(leaves), *opt_states),
        "train_seconds": np.float64(0.0),
    }
    lrs = jnp.asarray([c.lr for c in configs], dtype)
    burnin_lrs = lrs * jnp.asarray([c.burnin_lr_factor for c in configs], dtype)
    return jnp.stack(keys), state, lrs, burnin_lrs


def _write_run(run_files, final, loss, summary, table, space, hierarchy, dim) -> dict:
    """One run's results.json, embeddings.npy and, in 2 dimensions, its disk plot."""
    first = ("map", "mean_rank")
    results = {key: final[key] for key in first}
    results.update(
        {k: v for k, v in final.items() if k not in (*first, "epoch", "loss", "eval_seconds")}
    )
    results.update(loss=loss, eval_seconds=final["eval_seconds"], **summary)
    run_files.write_results(results)
    table = np.asarray(table)
    run_files.save_array("embeddings.npy", table)
    if dim == 2 and run_files.writes:
        points = np.asarray(space.to_poincare(table))
        _plot_disk(run_files.workdir / "poincare_disk.png", points, hierarchy)
    return results


def _evaluator(space, hierarchy: Hierarchy, data, test_edges, config, files):
    """evaluate(tables (R, N, C), epoch, losses (R,)) -> one dict per run, each also a line
    of its metrics.jsonl: reconstruction MAP and mean rank, and with held-out edges their
    link-prediction figures in the filtered setting; with eval_children, estimates from the
    same sampled children at every evaluation, with 95% confidence half-widths (`*_ci95`)."""
    block = config.eval_block
    sample = dict(sample=int(config.eval_children), seed=int(config.seed))
    link_query = None
    if test_edges is not None:
        link_query = jnp.asarray(padded_ancestors(hierarchy.num_nodes, test_edges))
        all_ancestors = jnp.asarray(padded_ancestors(hierarchy.num_nodes, hierarchy.edges))

    def evaluate(tables, epoch, losses) -> list[dict]:
        out = []
        for r, run_files in enumerate(files):
            t = time.perf_counter()
            result = ranking_metrics(
                space, tables[r], data.ancestors, data.ancestors, block, **sample
            )
            if link_query is not None:
                link = ranking_metrics(space, tables[r], link_query, all_ancestors, block, **sample)
                result.update({f"link_{key}": value for key, value in link.items()})
            result.update(epoch=epoch, loss=float(losses[r]))
            result["eval_seconds"] = time.perf_counter() - t
            run_files.append_metrics(result)
            out.append(result)
        return out

    return evaluate


def plot(workdir: str | Path, out: str | Path | None = None, max_points: int = 2000,
         seed: int = 0) -> dict:  # fmt: skip
    """`geo plot WORKDIR`: the run's embeddings as a labelled CO-SNE disk beside a Euclidean
    t-SNE (`geo.hierarchy_plot`); writes WORKDIR/hierarchy.png (or `out`) and returns the
    trustworthiness of both views."""
    import json

    workdir = Path(workdir)
    table_path = workdir / "embeddings.npy"
    if not table_path.is_file():
        raise FileNotFoundError(f"{table_path} not found: train the run first")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    points = np.asarray(embedding_space(config.manifold).to_poincare(np.load(table_path)))
    title = f"{config.dataset}, {config.manifold} dim {config.dim}"
    from geo.hierarchy_plot import draw_hierarchy

    path = Path(out) if out else workdir / "hierarchy.png"
    return draw_hierarchy(points, load_hierarchy(config), path, max_points=max_points,
                          seed=seed, title=title)  # fmt: skip
