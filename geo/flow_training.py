"""Riemannian flow matching of R runs as one compiled program (Chen & Lipman, ICLR 2024):
each run trains its own vector field (an NNX module, e.g. `models.vector_field.VectorField`,
built by the caller's `make_field(key)`) on its own split of the data, by
Adam on the RFM loss with a fresh batch of (base sample, data point, time) per step; every
`eval_every` steps the validation NLL (exact likelihood through the continuity equation,
`geo.flows.log_likelihood`) selects the run's best parameters, whose test NLL is reported.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from geo.checkpoint import Checkpointer
from geo.devices import ONE_DEVICE, DeviceRequest, RunsLayout, runs_layout
from geo.flows import log_likelihood, rfm_loss
from geo.loop import Chunk, DivergedRunsError, TrainingLoop, compile_program
from geo.run_files import RunFiles


@dataclasses.dataclass(frozen=True)
class FlowProblem:
    """The data of R runs and the geometry they live on.

    Attributes:
        manifold: the manifold.
        point_shape: the shape of one point.
        base: the distribution at t = 0 (`sample`, `log_prob`), e.g. uniform on a sphere.
        train: (R, N_train, *point_shape) each run's training points.
        val: (R, N_val, *point_shape) each run's validation points.
        test: (R, N_test, *point_shape) each run's test points.
    """

    manifold: Any
    point_shape: tuple[int, ...]
    base: Any
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclasses.dataclass(frozen=True)
class FlowSettings:
    """Hyperparameters shared by the runs of one program.

    Attributes:
        lr: Adam's peak learning rate (linear warm-up over 2 % of the steps, cosine decay
            to 1 % of it).
        batch_size: (base, data, time) triples per step.
        iterations: steps in all.
        eval_every: steps between validation NLLs (and checkpoints).
        ode_steps: RK4 steps of each likelihood.
    """

    lr: float = 1e-3
    batch_size: int = 512
    iterations: int = 20_000
    eval_every: int = 1000
    ode_steps: int = 50


def _optimizer(settings: FlowSettings) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, settings.lr, max(1, settings.iterations // 50), settings.iterations,
        settings.lr * 0.01,
    )  # fmt: skip
    return optax.adam(schedule)


def nll_function(problem: FlowProblem, graphdef, steps: int):
    """nll(params, points (N, *point)) -> the mean negative log-likelihood of the flow."""

    def nll(params, points):
        field = nnx.merge(graphdef, params)
        ll = log_likelihood(field, problem.manifold, problem.base.log_prob, points, steps)
        return -jnp.mean(ll)

    return nll


def train_flows(
    problem: FlowProblem, seeds: list[int], settings: FlowSettings,
    make_field: Callable[[jax.Array], nnx.Module], *, progress: bool = True,
    description: str = "flow", files: list[RunFiles] | None = None,
    checkpoints: Checkpointer | None = None, devices: DeviceRequest = ONE_DEVICE,
) -> dict:  # fmt: skip
    """Train one flow per seed as a single vmapped program; `make_field(key)` builds a
    fresh vector field module `field(t, x)`.

    Returns:
        dict with per-run (R,) `val_nll` and `test_nll` at the best validation step,
        `best_iteration`, `best_seconds` (training seconds until that step), `last_val_nll`,
        the stacked best parameters `params`, and for the program `train_seconds`,
        `compile_seconds`, `iterations_per_second` (steps of all R runs per second),
        `devices`.
    """
    if settings.iterations % settings.eval_every:
        raise ValueError(
            f"iterations={settings.iterations} must be a multiple of "
            f"eval_every={settings.eval_every}"
        )
    if devices.split == "data" and devices.count != 1:
        raise ValueError("flows split the runs of a sweep over devices (--split runs), not a batch")
    layout = runs_layout(len(seeds), devices) if devices.split == "runs" else RunsLayout(len(seeds))
    manifold, base, batch = problem.manifold, problem.base, settings.batch_size
    graphdef, _ = nnx.split(make_field(jax.random.key(0)))
    tx = _optimizer(settings)
    nll = nll_function(problem, graphdef, settings.ode_steps)
    n_train = problem.train.shape[1]

    def init(key):
        init_key, key = jax.random.split(key)
        params = nnx.split(make_field(init_key))[1]
        return {
            "params": params,
            "opt": tx.init(params),
            "key": key,
            "best": params,
            "best_val": jnp.asarray(jnp.inf, jnp.float32),
        }

    def loss_fn(params, x0, x1, t):
        return rfm_loss(nnx.merge(graphdef, params), manifold, x0, x1, t)

    def one_chunk(carry, train, val):
        def step(carry, _):
            key, k0, ki, kt = jax.random.split(carry["key"], 4)
            x0 = base.sample(k0, (batch,), train.dtype)
            x1 = train[jax.random.randint(ki, (batch,), 0, n_train)]
            t = jax.random.uniform(kt, (batch,), train.dtype)
            loss, grads = jax.value_and_grad(loss_fn)(carry["params"], x0, x1, t)
            updates, opt = tx.update(grads, carry["opt"], carry["params"])
            params = optax.apply_updates(carry["params"], updates)
            return {**carry, "params": params, "opt": opt, "key": key}, loss

        carry, losses = jax.lax.scan(step, carry, None, length=settings.eval_every)
        val_nll = nll(carry["params"], val).astype(jnp.float32)
        better = val_nll < carry["best_val"]
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(better, a, b), new, old)  # noqa: E731
        carry = {
            **carry,
            "best": keep(carry["params"], carry["best"]),
            "best_val": jnp.where(better, val_nll, carry["best_val"]),
        }
        return carry, jnp.stack([jnp.mean(losses).astype(jnp.float32), val_nll, better])

    def run_chunk(carries, train, val):
        return jax.vmap(one_chunk)(carries, train, val)

    seeds_array = jnp.asarray(seeds)
    state = {
        "carries": jax.jit(jax.vmap(lambda s: init(jax.random.key(s))))(seeds_array),
        "best_seconds": np.zeros(len(seeds)),
        "best_iteration": np.zeros(len(seeds), np.int64),
        "train_seconds": np.float64(0.0),
    }
    start = 0
    if checkpoints is not None:
        start, state = checkpoints.restore(state)
    for f in files or ():
        f.resume_metrics(start, key="iteration")
    train, val, test = (jnp.asarray(a) for a in (problem.train, problem.val, problem.test))
    placed = layout.place({"carries": state["carries"], "train": train, "val": val})
    chunk = layout.over_runs(run_chunk, run_args=(True, True, True), donate=(0,))
    compiled, compile_seconds = compile_program(
        chunk, placed["carries"], placed["train"], placed["val"]
    )
    loop = TrainingLoop(
        total=settings.iterations,
        start=start,
        desc=f"{description} x{len(seeds)}",
        progress=progress,
        run_names=[str(f.workdir) for f in files] if files else [f"seed {s}" for s in seeds],
        train_seconds=float(state["train_seconds"]),
        hint="lower lr",
    )
    state = {**state, "carries": placed["carries"]}
    figures = {}

    def advance(state, done):
        carries, out = compiled(state["carries"], placed["train"], placed["val"])
        out = layout.fetch(out)  # (R, 3): loss, validation NLL, improved; waits for the chunk
        figures.update(loss=out[:, 0], val=out[:, 1], better=out[:, 2] > 0)
        return Chunk({**state, "carries": carries}, done + settings.eval_every, out[:, 0],
                     {"val_nll": _mean_of_finite(out[:, 1])})  # fmt: skip

    def after_chunk(state, done):
        better = figures["better"]
        for r in np.flatnonzero(~np.isfinite(figures["val"])):
            warnings.warn(
                f"{loop.run_names[r]}: the validation NLL at iteration {done} is not finite "
                "(the likelihood ODE diverged on some validation point); these parameters "
                "are not kept as the best. Try a lower lr or more ode_steps.",
                RuntimeWarning,
                stacklevel=2,
            )
        state["best_seconds"] = np.where(better, loop.train_seconds, state["best_seconds"])
        state["best_iteration"] = np.where(better, done, state["best_iteration"])
        for r, f in enumerate(files or ()):
            f.append_metrics({"iteration": done, "loss": float(figures["loss"][r]),
                              "val_nll": float(figures["val"][r])})  # fmt: skip
        if checkpoints is not None:
            real = layout.real(state["carries"])
            checkpoints.save(done, {**state, "carries": real,
                                    "train_seconds": np.float64(loop.train_seconds)})  # fmt: skip

    state = loop.run(advance, state, after_chunk)
    if checkpoints is not None:
        checkpoints.close()
    carries = layout.real(state["carries"])
    never = np.flatnonzero(~np.isfinite(np.asarray(carries["best_val"])))
    if never.size:
        names = ", ".join(str(loop.run_names[int(r)]) for r in never)
        raise DivergedRunsError(
            f"{names}: no evaluation gave a finite validation NLL, so there are no "
            "parameters to test; try a lower lr or more ode_steps.",
            runs=[int(r) for r in never],
            epoch=loop.done,
        )
    t0 = time.perf_counter()
    test_nll = np.asarray(jax.jit(jax.vmap(nll))(carries["best"], test))
    test_seconds = time.perf_counter() - t0
    trained = settings.iterations - start
    return {
        "val_nll": np.asarray(carries["best_val"], np.float64),
        "test_nll": test_nll.astype(np.float64),
        "last_val_nll": np.asarray(figures.get("val", np.full(len(seeds), np.nan)), np.float64),
        "best_iteration": np.asarray(state["best_iteration"]),
        "best_seconds": np.asarray(state["best_seconds"], np.float64),
        "params": carries["best"],
        "train_seconds": loop.train_seconds,
        "compile_seconds": compile_seconds,
        "test_seconds": test_seconds,
        "iterations_per_second": trained / max(loop.train_seconds, 1e-9),
        "devices": layout.devices,
    }


def _mean_of_finite(values: np.ndarray) -> str:
    """The progress bar's mean validation NLL, saying how many runs were not finite."""
    finite = np.isfinite(values)
    if finite.all():
        return f"{np.mean(values):.3f}"
    mean = f"{np.mean(values[finite]):.3f}" if finite.any() else "none finite"
    return f"{mean} ({int((~finite).sum())} of {len(values)} non-finite)"
