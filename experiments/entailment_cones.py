"""Hyperbolic entailment cones on the WordNet splits of Ganea, Becigneul & Hofmann (ICML 2018).

    geo run entailment_cones --workdir runs/cones-m25 dataset=mammals train_percent=25
    geo sweep entailment_cones --workdir runs/cones-n50 dataset=nouns train_percent=50 seed=0-2
    geo run entailment_cones --workdir runs/order dataset=nouns model=order
    geo run entailment_cones --workdir runs/pe dataset=nouns model=poincare

Training follows the paper's release: `init_epochs` of Poincare embeddings (Nickel & Kiela
2017; `burnin_epochs` of them at lr x burnin_lr_factor with negatives drawn by degree^0.75),
rows rescaled by `rescale`, then `epochs` of the model's max-margin energy (eq. 32) with
sparse Riemannian SGD. A training edge (parent, child) gets `negatives` uniform pairs
(parent, v'), v' not a descendant (`replace=child`, the release's choice), or (u', child),
u' not an ancestor (`replace=parent`). model=order
(Vendrov et al. 2016) trains from a random start; model=poincare stops after the first phase.
Losses are means over a batch's edges, so a learning rate here is the release's (which sums
over the batch of 10) times the batch size.

Every `eval_every` epochs, each validation and test pair (parent, child) gets an energy (the
cone or order energy; for Poincare embeddings Nickel & Kiela's is-a score with its alpha
chosen on validation); the threshold maximizing the validation F1 is applied to the test
pairs. results.json reports the test F1 of the evaluation with the best validation F1 of the
model's phase, and for cones also that of the Poincare phase (`init_*`).
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from geo.checkpoint import Checkpointer
from geo.data.entailment_splits import PERCENTS, PREFIXES, load_entailment_splits
from geo.data.hierarchy import Hierarchy
from geo.devices import ONE_DEVICE, DeviceRequest
from geo.edge_classification import best_threshold, f1_score
from geo.experiment import single_run
from geo.hierarchy_training import make_epoch, table_placement, training_data
from geo.loop import Chunk, TrainingLoop, compile_program
from geo.sweep import start_program
from manifolds import Lorentz
from manifolds.hyperbolic import poincare_to_lorentz
from models.embeddings import embedding_space
from models.entailment_cones import PoincareAnnulus, entailment_space

DESCRIPTION = "Entailment cones and order embeddings of WordNet (Ganea et al. 2018)"
PRESET_KEYS = ("model",)
SWEEP_AXES = ("seed",)
MODELS = ("cones", "order", "poincare")
# Nickel & Kiela's is-a score: energy (1 + alpha (|parent| - |child|)) d(parent, child).
ALPHAS = (0.0, 0.1, 1.0, 10.0, 100.0, 1000.0)
CONFIG_HELP = {
    "dataset": " | ".join(PREFIXES),
    "train_percent": "non-basic closure edges in training: " + " | ".join(map(str, PERCENTS)),
    "splits_dir": "folder of the split files (default GEO_ENTAILMENT_DATA or "
    "../shared/data/entailment_cones)",
    "wordnet_dir": "WordNet 3.0 dict folder (nouns at 50% or 90%: their files are drawn)",
    "model": "cones | order | poincare",
    "manifold": "the cones' model: poincare (ball) | lorentz (hyperboloid)",
    "dim": "embedding dimension",
    "dtype": "float32 | float64",
    "seed": "seed of the initialization and of the training's randomness",
    "K": "the cones' aperture constant: psi(x) = arcsin(K (1 - |x|^2) / |x|)",
    "min_radius": "rows stay at least this far from the origin (> the radius where psi = 90 deg)",
    "margin": "the negatives' hinge margin gamma",
    "init_epochs": "epochs of Poincare embeddings first (the cones' initialization)",
    "init_lr": "their learning rate",
    "burnin_epochs": "of those, epochs at init_lr x burnin_lr_factor, negatives by degree",
    "burnin_lr_factor": "the burn-in's learning-rate factor",
    "rescale": "factor applied to the Poincare rows before the cones' epochs",
    "epochs": "epochs of the model's energy (0 for model=poincare)",
    "lr": "their learning rate",
    "batch_size": "edges per step",
    "negatives": "negatives per edge",
    "replace": "which end of an edge (parent, child) its negatives replace: parent (pairs "
    "(u', child), u' not an ancestor) | child (pairs (parent, v'), v' not a descendant)",
    "eval_every": "epochs between evaluations (0: only at the end)",
    "checkpoint_every": "epochs between checkpoints (0: only at the end)",
    "progress": "show a progress bar",
}
PRESETS = {
    "cones": {},
    "order": dict(init_epochs=0, burnin_epochs=0, epochs=500, lr=1.0, margin=1.0),
    "poincare": dict(epochs=0),
}
_RUNTIME_KEYS = ("progress", "eval_every", "checkpoint_every")
DTYPES = ("float32", "float64")


def get_config(model: str = "cones") -> ml_collections.ConfigDict:
    """The release's settings; `model=order|poincare` selects that model's.

    Run with: geo run entailment_cones --workdir runs/cones dataset=mammals train_percent=25
    """
    c = ml_collections.ConfigDict()
    c.dataset = "mammals"
    c.train_percent = 25
    c.splits_dir = ""
    c.wordnet_dir = ""
    c.model = model
    c.manifold = "poincare"
    c.dim = 5
    c.dtype = "float32"
    c.seed = 0
    c.K = 0.1
    c.min_radius = 0.1
    c.margin = 0.01
    c.init_epochs = 100
    c.init_lr = 0.3
    c.burnin_epochs = 20
    c.burnin_lr_factor = 0.1
    c.rescale = 0.7
    c.epochs = 300
    c.lr = 3e-3
    c.batch_size = 10
    c.negatives = 10
    c.replace = "child"  # the release's negatives (parent, v'): measured no worse here
    c.eval_every = 10
    c.checkpoint_every = 10
    c.progress = True
    c.update(PRESETS.get(model, {}))
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    choices_of = {"dataset": tuple(PREFIXES), "model": MODELS, "dtype": DTYPES,
                  "train_percent": PERCENTS, "manifold": ("poincare", "lorentz"),
                  "replace": ("parent", "child")}  # fmt: skip
    for key, choices in choices_of.items():
        if config[key] not in choices:
            raise ValueError(f"{key}={config[key]!r}; valid choices are {choices}")
    for key in ("dim", "batch_size", "negatives"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    for key in ("init_epochs", "burnin_epochs", "epochs", "eval_every", "checkpoint_every"):
        if int(config[key]) < 0:
            raise ValueError(f"{key} must be >= 0, got {config[key]}")
    for key in ("init_lr", "lr", "rescale"):
        if not float(config[key]) > 0:
            raise ValueError(f"{key} must be positive, got {config[key]}")
    if config.burnin_epochs > config.init_epochs:
        raise ValueError(
            f"burnin_epochs={config.burnin_epochs} exceeds init_epochs={config.init_epochs}"
        )
    if config.model == "poincare" and (config.epochs or not config.init_epochs):
        raise ValueError("model=poincare trains init_epochs of Poincare embeddings; set epochs=0")
    if config.model == "cones" and not config.init_epochs:
        raise ValueError("the cones start from Poincare embeddings: set init_epochs > 0")
    if config.model != "poincare" and not config.epochs:
        raise ValueError(f"model={config.model} needs epochs > 0")
    if config.model != "poincare":
        energy_space(config)  # K, min_radius and margin are checked here


def energy_space(config):
    """The model's `EntailmentSpace` (None for model=poincare)."""
    if config.model == "poincare":
        return None
    return entailment_space(
        config.model, config.manifold, float(config.K), float(config.min_radius),
        float(config.margin), config.replace == "child",
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Phase:
    """Epochs [start, stop) of one energy: its space and learning rate. Every phase steps
    with the sparse RSGD, whatever its manifold."""

    name: str
    space: object
    start: int
    stop: int
    lr_key: str


def phases(config) -> list[Phase]:
    """The Poincare phase (if any), then the model's phase (if any)."""
    out = []
    init = config.init_epochs if config.model != "order" else 0
    if init:
        out.append(Phase("poincare", embedding_space("poincare"), 0, init, "init_lr"))
    space = energy_space(config)
    if space is not None:
        out.append(Phase(config.model, space, init, init + config.epochs, "lr"))
    return out


def pair_energies(phase: Phase, table, pairs: jax.Array) -> jax.Array:
    """(P,) energies of (parent, child) pairs; for Poincare rows (P, 2): distance and
    |parent| - |child|, the two parts of the is-a score."""
    parent, child = table[pairs[:, 0]], table[pairs[:, 1]]
    if phase.name == "poincare":
        norms = jnp.linalg.norm(parent, axis=-1) - jnp.linalg.norm(child, axis=-1)
        return jnp.stack([phase.space.dist(parent, child), norms], -1)
    return phase.space.energy(parent, child)


def classify(phase: Phase, energies: dict[str, np.ndarray]) -> dict:
    """Threshold (and for Poincare rows alpha) chosen on validation; the F1s."""
    if phase.name != "poincare":
        threshold, valid_f1 = best_threshold(energies["valid"], energies["valid_negatives"])
        test_f1 = f1_score(energies["test"], energies["test_negatives"], threshold)
        return dict(valid_f1=valid_f1, test_f1=test_f1, threshold=threshold)

    def scored(name, alpha):
        d, norms = energies[name][:, 0], energies[name][:, 1]
        return (1 + alpha * norms) * d

    best = None
    for alpha in ALPHAS:
        threshold, f1 = best_threshold(scored("valid", alpha), scored("valid_negatives", alpha))
        if best is None or f1 > best[2]:
            best = (alpha, threshold, f1)
    alpha, threshold, valid_f1 = best
    test_f1 = f1_score(scored("test", alpha), scored("test_negatives", alpha), threshold)
    return dict(valid_f1=valid_f1, test_f1=test_f1, threshold=threshold, alpha=alpha)


def train_and_evaluate_many(
    configs, workdirs, state_dir, devices: DeviceRequest = ONE_DEVICE
) -> list[dict]:
    """Runs that differ only in their seed as one compiled program (`geo sweep`)."""
    files = start_program(configs, workdirs, validate, SWEEP_AXES)
    first = configs[0]
    if first.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(first.dtype)
    splits = load_entailment_splits(
        first.dataset, int(first.train_percent), first.splits_dir or None,
        first.wordnet_dir or None,
    )  # fmt: skip
    checkpoints = Checkpointer(state_dir, configs, _RUNTIME_KEYS, defaults=get_config(first.model))
    runs, n = len(configs), splits.num_nodes
    plan = phases(first)
    total = plan[-1].stop
    hierarchy = Hierarchy(splits.names, splits.train)
    data = {"poincare": training_data(hierarchy)}
    if first.model != "poincare":  # (parent, child) rows exclude descendants, sorted
        flipped = np.ascontiguousarray(splits.train[:, ::-1])
        data[first.model] = (
            training_data(hierarchy, flipped, sorted_exclusions=True)
            if first.replace == "child"
            else data["poincare"]
        )
    placement = table_placement(runs, devices, n)
    data = placement.shared(data)

    def phase_at(epoch: int) -> Phase:
        return next(p for p in plan if p.start <= epoch < p.stop) if epoch < total else plan[-1]

    def initial(phase: Phase, table=None):
        """A phase's start: fresh rows (the first phase) or the previous phase's, moved."""
        if table is None:
            keys = [jax.random.split(jax.random.PRNGKey(c.seed))[0] for c in configs]
            if phase.name == "order":
                table = jnp.stack([jax.random.uniform(k, (n, first.dim), dtype, 0, 1e-3)
                                   for k in keys])  # fmt: skip
            else:
                table = jnp.stack([embedding_space("poincare").init(k, n, first.dim, 1e-3, dtype)
                                   for k in keys])  # fmt: skip
        elif phase.name == "cones":
            annulus = PoincareAnnulus(1.0, float(first.min_radius))
            table = annulus.proj(table * jnp.asarray(first.rescale, dtype))
            if isinstance(phase.space.manifold, Lorentz):  # the cones on the hyperboloid
                table = poincare_to_lorentz(table)
        return {"table": table, "opt_state": ()}

    step = checkpoints.latest_step()  # checkpoints up to plan[0].stop hold its rows
    fresh = initial(plan[0])  # also each phase's shapes for compilation
    template = dict(fresh)
    if step is not None and step > plan[0].stop:
        template = initial(plan[-1], fresh["table"])
    template["train_seconds"] = np.float64(0.0)
    start_epoch, state = checkpoints.restore(template)
    for f in files:
        f.resume_metrics(start_epoch)
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(c.seed))[1] for c in configs])

    t0 = time.perf_counter()
    compiled = {}
    for phase in plan:
        epoch_fn = make_epoch(
            phase.space, None, first.batch_size, first.negatives, len(splits.train)
        )
        shape = fresh if phase is plan[0] else initial(phase, fresh["table"])
        lrs = jnp.full((runs,), first[phase.lr_key], dtype)
        burnins = {True, False} if phase.name == "poincare" and first.burnin_epochs else {False}
        for burnin in burnins:
            program = placement.program(
                partial(epoch_fn, burnin=burnin), (True, True, False, True, True), (0, 1)
            )
            compiled[phase.name, burnin] = compile_program(
                program, shape["table"], shape["opt_state"], data[phase.name], keys, lrs
            )[0]
    compile_seconds = time.perf_counter() - t0
    fold_in = jax.jit(jax.vmap(jax.random.fold_in, (0, None)))
    pair_sets = {name: jnp.asarray(getattr(splits, name))
                 for name in ("valid", "valid_negatives", "test", "test_negatives")}  # fmt: skip
    energies = {p.name: jax.jit(jax.vmap(partial(pair_energies, p), (0, None))) for p in plan}

    def evaluate(state, epoch, losses):
        phase = phase_at(epoch - 1)
        t = time.perf_counter()
        tables = placement.real(state["table"])
        values = {k: np.asarray(energies[phase.name](tables, v)) for k, v in pair_sets.items()}
        for r, run_files in enumerate(files):
            record = classify(phase, {k: v[r] for k, v in values.items()})
            record.update(epoch=epoch, phase=phase.name, loss=float(losses[r]))
            record["eval_seconds"] = time.perf_counter() - t
            run_files.append_metrics(record)

    loop = TrainingLoop(
        total=total, start=start_epoch, desc=f"{first.model} {first.dataset}",
        progress=first.progress, run_names=[str(w) for w in workdirs],
        train_seconds=float(state["train_seconds"]),
    )  # fmt: skip

    def advance(state, epoch):
        phase = phase_at(epoch)
        if epoch == phase.start and phase is not plan[0]:
            state = {**state, **initial(phase, placement.real(state["table"]))}
        burnin = phase.name == "poincare" and epoch < first.burnin_epochs
        lr = first[phase.lr_key] * (first.burnin_lr_factor if burnin else 1.0)
        table, opt_state, losses = compiled[phase.name, burnin](
            state["table"], state["opt_state"], data[phase.name], fold_in(keys, epoch),
            jnp.full((runs,), lr, dtype),
        )  # fmt: skip
        new = {**state, "table": table, "opt_state": opt_state}
        return Chunk(new, epoch + 1, placement.fetch(losses))

    def after_epoch(state, done):
        end_of_phase = any(done == p.stop for p in plan)
        if (first.eval_every and done % first.eval_every == 0) or end_of_phase:
            evaluate(state, done, loop.loss)
        if (first.checkpoint_every and done % first.checkpoint_every == 0) or done == total:
            checkpoints.save(done, {**state, "train_seconds": np.float64(loop.train_seconds)},
                             force=done == total)  # fmt: skip

    state = loop.run(advance, state, after_epoch)
    checkpoints.close()
    tables = np.asarray(placement.real(state["table"]))
    summary = dict(
        train_seconds=loop.train_seconds, compile_seconds=compile_seconds, epochs=total,
        num_nodes=n, train_pairs=len(splits.train), split=splits.note, runs_in_program=runs,
    )  # fmt: skip
    return [_write_run(f, tables[r], summary, plan) for r, f in enumerate(files)]


train_and_evaluate = single_run(train_and_evaluate_many)


def _best(records: list[dict], phase: str) -> dict | None:
    """The evaluation of `phase` with the best validation F1 (the earliest of ties)."""
    mine = [r for r in records if r.get("phase") == phase]
    return max(mine, key=lambda r: (r["valid_f1"], -r["epoch"])) if mine else None


def _write_run(run_files, table, summary, plan) -> dict:
    records = run_files.metrics()
    model = _best(records, plan[-1].name)
    if model is None:
        raise RuntimeError(f"{run_files.workdir}: no evaluation of the {plan[-1].name} phase")
    results = {
        "test_f1": model["test_f1"], "valid_f1": model["valid_f1"],
        "best_epoch": model["epoch"], "threshold": model["threshold"],
    }  # fmt: skip
    if "alpha" in model:
        results["alpha"] = model["alpha"]
    init = _best(records, "poincare") if len(plan) > 1 else None
    if init is not None:
        results.update(init_test_f1=init["test_f1"], init_valid_f1=init["valid_f1"],
                       init_best_epoch=init["epoch"])  # fmt: skip
    results["eval_seconds"] = records[-1]["eval_seconds"]
    results.update(summary)
    run_files.write_results(results)
    run_files.save_array("embeddings.npy", table)
    return results
