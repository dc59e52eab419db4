"""Mini-batch training of Flax NNX classifiers with manifold parameters, seeds vmapped.

One compiled program trains R seeds: each epoch is a `lax.scan` over shuffled mini-batches
(the last incomplete batch is dropped, a different one every epoch), the optimizer is
Riemannian Adam or SGD from `geo.optim` with the manifolds read from the model's
`ManifoldParam`s, and the R runs are `jax.vmap`ed. Batch statistics (the running means of
batch-norm layers) are carried as state. The test accuracy is taken after the last epoch;
the UEA sets have no validation split, so nothing is selected on the test set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from geo.optim import apply_updates, manifolds_of, radam, rsgd
from geo.watchdog import beat

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
) -> dict:
    """Train one model per seed as a single vmapped program; test accuracy per seed.

    Args:
        make_model: seed key -> a fresh model; `model(inputs)` gives (B, classes) logits,
            where inputs is a pytree of arrays with a leading example axis.
        seeds: R seeds (one run each; they share data and hyperparameters).
        train, test: (inputs, labels) with labels (N,) integer class ids.
        optimizer: "radam" or "rsgd"; lr its learning rate.
        epochs, batch_size: passes over the training set, examples per step.

    Returns:
        dict with `accuracy` (R,), `train_accuracy` (R,), `loss` (R,) of the last epoch,
        `train_seconds`, `compile_seconds` (numbers for the whole program).
    """
    train = jax.tree.map(jnp.asarray, train)
    test = jax.tree.map(jnp.asarray, test)
    train_inputs, train_labels = train
    n_train = len(train_labels)
    if not 1 <= batch_size <= n_train:
        raise ValueError(
            f"batch_size must lie in [1, {n_train}] (the training set), got {batch_size}"
        )
    steps = n_train // batch_size
    template = make_model(jax.random.key(0))
    graphdef, _, _ = nnx.split(template, nnx.Param, ...)
    manifolds = manifolds_of(template)
    tx = make_optimizer(optimizer, lr, manifolds)
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))

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
        batches = (_take(train_inputs, order), train_labels[order])
        carry, losses = jax.lax.scan(step, {**carry, "key": key}, batches)
        return carry, jnp.mean(losses)

    def accuracy(carry, inputs, labels):
        model = nnx.merge(graphdef, carry["params"], carry["rest"])
        model.eval()
        return jnp.mean(jnp.argmax(model(inputs), axis=-1) == labels)

    chunk = max(d for d in range(1, 11) if epochs % d == 0)  # epochs per compiled call

    @partial(jax.jit, donate_argnums=0)
    def run_chunk(carries):
        return jax.vmap(lambda c: jax.lax.scan(epoch, c, None, length=chunk))(carries)

    carries = jax.jit(jax.vmap(init))(keys)
    t0 = time.perf_counter()
    compiled = run_chunk.lower(carries).compile()
    compile_seconds = time.perf_counter() - t0
    beat("compilation")
    bar = tqdm(
        total=epochs, disable=not progress, unit="epoch", desc=f"{description} x{len(seeds)}"
    )
    t0 = time.perf_counter()
    done, losses = 0, None
    while done < epochs:
        carries, losses = compiled(carries)
        done += chunk
        bar.update(chunk)
        bar.set_postfix(loss=f"{float(jnp.mean(losses[:, -1])):.4f}")  # blocks until done
        beat(f"{description} epoch {done}")
    jax.block_until_ready(carries)
    train_seconds = time.perf_counter() - t0
    bar.close()
    final_loss = np.asarray(losses[:, -1])
    if not np.all(np.isfinite(final_loss)):
        raise FloatingPointError(
            f"the training loss is not finite ({final_loss}); lower lr or raise shrinkage"
        )
    evaluate = jax.jit(jax.vmap(accuracy, in_axes=(0, None, None)))
    return {
        "accuracy": np.asarray(evaluate(carries, *test)),
        "train_accuracy": np.asarray(evaluate(carries, *train)),
        "loss": final_loss,
        "epochs": done,
        "train_seconds": train_seconds,
        "compile_seconds": compile_seconds,
    }


def write_results(workdirs: list[Path], run: dict, **extra) -> list[dict]:
    """Each run's results.json and metrics.jsonl from `train_classifiers` output."""
    results = []
    for r, workdir in enumerate(workdirs):
        out = {
            "accuracy": float(run["accuracy"][r]),
            "train_accuracy": float(run["train_accuracy"][r]),
            "loss": float(run["loss"][r]),
            "epochs": run["epochs"],
            "train_seconds": run["train_seconds"],
            "compile_seconds": run["compile_seconds"],
            "runs_in_program": len(workdirs),
            **extra,
        }
        (workdir / "results.json").write_text(json.dumps(out, indent=2))
        (workdir / "metrics.jsonl").write_text(json.dumps(out) + "\n")
        results.append(out)
    return results
