"""Mini-batch training of Flax NNX classifiers with manifold parameters, seeds vmapped.

One compiled program trains R seeds: each epoch is a `lax.scan` over shuffled mini-batches
(the last incomplete batch is dropped, a different one every epoch), the optimizer is
Riemannian Adam or SGD from `geo.optim` with the manifolds read from the model's
`ManifoldParam`s, and the R runs are `jax.vmap`ed. On several devices (`geo.devices`) the
runs are split over them, or ("data" split) every batch is, and XLA reduces the gradients.
Batch statistics (the running means of batch-norm layers) are carried as state. The test
accuracy is taken after the last epoch; the UEA sets have no validation split, so nothing
is selected on the test set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from geo.checkpoint import Checkpointer
from geo.devices import ONE_DEVICE, DataLayout, DeviceRequest, RunsLayout, data_layout, runs_layout
from geo.loop import Chunk, TrainingLoop, compile_program
from geo.optim import apply_updates, manifolds_of, radam, rsgd
from geo.run_files import RunFiles
from geo.sweep import start_program

OPTIMIZERS = ("radam", "rsgd")


def make_optimizer(name: str, lr: float, manifolds: Any, momentum: float = 0.9):
    """Riemannian Adam (`radam`) or Riemannian SGD with momentum (`rsgd`)."""
    if name == "radam":
        return radam(lr, manifolds)
    if name == "rsgd":
        return rsgd(lr, manifolds, momentum=momentum)
    raise ValueError(f"optimizer={name!r}; valid choices are {', '.join(OPTIMIZERS)}")


def _take(tree, index):
    return jax.tree.map(lambda a: a[index], tree)


def train_classifiers(
    make_model: Callable[[jax.Array], nnx.Module],
    seeds: list[int],
    train: tuple[Any, np.ndarray],
    test: tuple[Any, np.ndarray],
    *,
    optimizer: str,
    lr: float,
    epochs: int,
    batch_size: int,
    progress: bool = True,
    description: str = "train",
    files: list[RunFiles] | None = None,
    checkpoints: Checkpointer | None = None,
    devices: DeviceRequest = ONE_DEVICE,
) -> dict:
    """Train one model per seed as a single vmapped program; test accuracy per seed.

    Args:
        make_model: seed key -> a fresh model; `model(inputs)` gives (B, classes) logits,
            where inputs is a pytree of arrays with a leading example axis.
        seeds: R seeds (one run each; they share data and hyperparameters).
        train: (inputs, labels) with labels (N,) integer class ids.
        test: the same for the test set.
        optimizer: "radam" or "rsgd".
        lr: its learning rate.
        epochs: passes over the training set.
        batch_size: examples per step.
        files: the runs' files: one metrics.jsonl line per chunk of epochs (epoch, loss).
        checkpoints: where the program's state is saved after every chunk and resumed from.
        devices: the devices to split the runs (split "runs") or each batch ("data") over.

    Returns:
        dict with `accuracy` (R,), `train_accuracy` (R,), `loss` (R,) of the last epoch,
        `train_seconds`, `compile_seconds` (numbers for the whole program), `devices`.
    """
    train = jax.tree.map(jnp.asarray, train)
    test = jax.tree.map(jnp.asarray, test)
    train_inputs, train_labels = train
    n_train = len(train_labels)
    if not 1 <= batch_size <= n_train:
        raise ValueError(
            f"batch_size must lie in [1, {n_train}] (the training set), got {batch_size}"
        )
    if devices.split == "runs":
        layout, data = runs_layout(len(seeds), devices), DataLayout()
    else:
        layout, data = RunsLayout(len(seeds)), data_layout(devices, "batch_size", batch_size)
    template = make_model(jax.random.key(0))
    graphdef, _, _ = nnx.split(template, nnx.Param, ...)
    manifolds = manifolds_of(template)
    tx = make_optimizer(optimizer, lr, manifolds)
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
    chunk = max(d for d in range(1, 11) if epochs % d == 0)  # epochs per compiled call
    init, run_chunk, accuracy = _compiled_epochs(
        make_model, graphdef, tx, manifolds, data.replicate(train), batch_size, chunk, data
    )
    run_chunk = layout.over_runs(run_chunk, run_args=(True,), donate=(0,))
    state = {
        "carries": jax.jit(jax.vmap(init))(keys),
        "loss": np.zeros(len(seeds), np.float32),
        "train_seconds": np.float64(0.0),
    }
    start = 0
    if checkpoints is not None:
        start, state = checkpoints.restore(state)
    for f in files or ():
        f.resume_metrics(start)
    state["carries"] = data.replicate(layout.place(state["carries"]))
    compiled, compile_seconds = compile_program(run_chunk, state["carries"])
    loop = TrainingLoop(
        total=epochs,
        start=start,
        desc=f"{description} x{len(seeds)}",
        progress=progress,
        run_names=[str(f.workdir) for f in files] if files else [f"seed {s}" for s in seeds],
        train_seconds=float(state["train_seconds"]),
        hint="lower lr or raise shrinkage",
    )

    def advance(state, done):
        carries, losses = compiled(state["carries"])
        last = layout.fetch(losses[:, -1]).astype(np.float32)  # waits for the chunk
        return Chunk({**state, "carries": carries, "loss": last}, done + chunk, last)

    def after_chunk(state, done):
        for r, f in enumerate(files or ()):
            f.append_metrics({"epoch": done, "loss": float(state["loss"][r])})
        if checkpoints is not None:
            seconds = np.float64(loop.train_seconds)
            real = layout.real(state["carries"])
            checkpoints.save(done, {**state, "carries": real, "train_seconds": seconds})

    state = loop.run(advance, state, after_chunk)
    if checkpoints is not None:
        checkpoints.close()
    carries, train_seconds = layout.real(state["carries"]), loop.train_seconds
    final_loss = np.asarray(state["loss"])
    if not np.all(np.isfinite(final_loss)):
        raise FloatingPointError(
            f"the training loss is not finite ({final_loss}); lower lr or raise shrinkage"
        )
    evaluate = jax.jit(jax.vmap(accuracy, in_axes=(0, None, None)))
    return {
        "accuracy": np.asarray(evaluate(carries, *test)),
        "train_accuracy": np.asarray(evaluate(carries, *train)),
        "loss": final_loss,
        "epochs": epochs,
        "train_seconds": train_seconds,
        "compile_seconds": compile_seconds,
        "devices": max(layout.devices, data.devices),
    }


def _compiled_epochs(
    make_model, graphdef, tx, manifolds, train, batch_size: int, chunk: int, data: DataLayout
):
    """(init(key) -> one run's carry, run_chunk(carries) -> (carries, per-epoch losses) after
    `chunk` more epochs of every run (vmapped, jitted), accuracy(carry, inputs, labels)).

    An epoch is a `lax.scan` over shuffled mini-batches; the last incomplete batch is
    dropped, a different one every epoch. `data` splits every batch over its devices."""
    train_inputs, train_labels = train
    n_train = len(train_labels)
    steps = n_train // batch_size

    def init(key):
        params, rest = nnx.split(make_model(key), nnx.Param, ...)[1:]
        return {"params": params, "rest": rest, "opt": tx.init(params), "key": key}

    def loss_fn(params, rest, inputs, labels):
        # Fresh Variables (copy=True) at this trace level, so batch norms can update theirs.
        model = nnx.merge(graphdef, params, rest, copy=True)
        model.train()
        logits = model(inputs)
        loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
        return loss, nnx.state(model, nnx.Not(nnx.Param))

    def step(carry, batch):
        inputs, labels = batch
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, rest), grads = grad_fn(carry["params"], carry["rest"], inputs, labels)
        updates, opt = tx.update(grads, carry["opt"], carry["params"])
        params = apply_updates(carry["params"], updates, manifolds)
        return {**carry, "params": params, "rest": rest, "opt": opt}, loss

    def epoch(carry, _):
        key, sub = jax.random.split(carry["key"])
        order = jax.random.permutation(sub, n_train)[: steps * batch_size].reshape(steps, -1)
        batches = data.constrain((_take(train_inputs, order), train_labels[order]), axis=1)
        carry, losses = jax.lax.scan(step, {**carry, "key": key}, batches)
        return carry, jnp.mean(losses)

    def accuracy(carry, inputs, labels):
        model = nnx.merge(graphdef, carry["params"], carry["rest"])
        model.eval()
        return jnp.mean(jnp.argmax(model(inputs), axis=-1) == labels)

    def run_chunk(carries):
        return jax.vmap(lambda c: jax.lax.scan(epoch, c, None, length=chunk))(carries)

    return init, jax.jit(run_chunk, donate_argnums=0), accuracy


@dataclasses.dataclass(frozen=True)
class ClassifierExperiment:
    """The two entry points of `geo.experiment.Experiment` for a classifier experiment whose
    runs differ only in `sweep_axes`: an experiment module binds
    `train_and_evaluate = ClassifierExperiment(...).train_and_evaluate` (and `_many`).

    Attributes:
        validate: the experiment's config check, run on every config before any work.
        sweep_axes: keys the runs of one program may differ in.
        build: config -> (train, test, make_model): loads the data, makes a model per key.
        describe: config -> the progress bar's label.
        extra: (config, train, test) -> more results fields, or None.
        runtime_keys: config keys a resumed run may change.
    """

    validate: Callable
    sweep_axes: tuple[str, ...]
    build: Callable
    describe: Callable
    extra: Callable | None = None
    runtime_keys: tuple[str, ...] = ("progress",)

    def train_and_evaluate(self, config, workdir, devices: DeviceRequest = ONE_DEVICE) -> dict:
        """Train one run; write config.json, metrics.jsonl, results.json; return results."""
        return self.train_and_evaluate_many([config], [workdir], workdir, devices)[0]

    def train_and_evaluate_many(
        self, configs, workdirs, state_dir, devices: DeviceRequest = ONE_DEVICE
    ) -> list[dict]:
        """Validate every config and write the run files before any work; then load the data
        and train the runs as one vmapped program that checkpoints after every chunk of
        epochs into `state_dir` and resumes from it, on `devices`. The configs give optimizer,
        lr, epochs, batch_size, progress and seed."""
        files = start_program(configs, workdirs, self.validate, self.sweep_axes)
        checkpoints = Checkpointer(state_dir, configs, self.runtime_keys)
        first = configs[0]
        train, test, make_model = self.build(first)
        run = train_classifiers(
            make_model,
            [c.seed for c in configs],
            train,
            test,
            optimizer=first.optimizer,
            lr=first.lr,
            epochs=first.epochs,
            batch_size=first.batch_size,
            progress=first.progress,
            description=self.describe(first),
            files=files,
            checkpoints=checkpoints,
            devices=devices,
        )
        extra = self.extra(first, train, test) if self.extra is not None else {}
        return write_results(files, run, **extra)


def write_results(files: list[RunFiles], run: dict, **extra) -> list[dict]:
    """Each run's results.json, and its final metrics.jsonl line, from `train_classifiers`."""
    results = []
    for r, run_files in enumerate(files):
        out = {
            "accuracy": float(run["accuracy"][r]),
            "train_accuracy": float(run["train_accuracy"][r]),
            "loss": float(run["loss"][r]),
            "epochs": run["epochs"],
            "train_seconds": run["train_seconds"],
            "compile_seconds": run["compile_seconds"],
            "runs_in_program": len(files),
            "devices": run["devices"],
            **extra,
        }
        run_files.write_results(out)
        run_files.append_metrics({"epoch": run["epochs"], **out})
        results.append(out)
    return results
