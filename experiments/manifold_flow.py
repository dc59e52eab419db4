"""Density estimation on manifolds by Riemannian flow matching (Chen & Lipman, ICLR 2024).

    geo run manifold_flow --workdir runs/volcano dataset=volcano
    geo sweep manifold_flow --workdir runs/fire5 dataset=fire seed=0-4
    geo run manifold_flow --workdir runs/so3 dataset=so3_mixture components=32

Data sets: the four earth-science event sets on S^2 (volcano, earthquake, flood, fire;
`geo.data.earth`), `so3_mixture` (K wrapped normals on SO(3) with Haar-random means,
`components` = K) and `hyperbolic_mixture` (K wrapped normals on H^2), or a CSV of
latitude, longitude. Each seed draws its own random 80/10/10 split (as the RSGM code does),
the validation NLL selects the parameters, and results.json holds the test NLL (nats per
point, with respect to the Riemannian volume). The base distribution is uniform on S^2 and
SO(3) and a standard wrapped normal at the origin of H^2. The workdir also gets a PNG of the
learned density: a whole-globe Mollweide map with the test events, or the Poincare disk.
`flow_log_prob(workdir, points)` evaluates a trained run's density at given points (the run's
best-validation parameters are saved under WORKDIR/flow with orbax).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from geo.checkpoint import Checkpointer
from geo.data.earth import FILES, load_events, random_split, to_lat_lon
from geo.devices import ONE_DEVICE, DeviceRequest
from geo.experiment import single_run
from geo.flow_training import FlowProblem, FlowSettings, train_flows
from geo.flows import log_likelihood
from geo.sweep import start_program
from manifolds import Lorentz, SpecialOrthogonal, Sphere, lorentz_to_poincare, poincare_to_lorentz
from manifolds.distributions import Mixture, Uniform, WrappedNormal
from models.vector_field import VectorField

DESCRIPTION = "Densities on S^2, SO(3) and H^2 by Riemannian flow matching (Chen & Lipman 2024)"
PRESET_KEYS = ("dataset",)
SWEEP_AXES = ("seed",)
SYNTHETIC = ("so3_mixture", "hyperbolic_mixture")
CONFIG_HELP = {
    "dataset": f"{' | '.join([*FILES, *SYNTHETIC])} | PATH.csv of latitude, longitude",
    "data_dir": "folder of the earth CSV files (default GEO_EARTH_DATA or ../shared/data/earth)",
    "components": "K wrapped normals of the synthetic mixtures",
    "component_scale": "their isotropic standard deviation",
    "synthetic_points": "points drawn from a synthetic mixture (before the split)",
    "data_seed": "seed of the synthetic mixture and its points (the same for every run)",
    "seed": "seed of the split, the initialization and the training's randomness",
    "hidden": "width of the vector field's hidden layers",
    "layers": "hidden layers of the vector field",
    "lr": "Adam's peak learning rate (warm-up, cosine decay)",
    "batch_size": "(base, data, time) triples per step",
    "iterations": "training steps",
    "eval_every": "steps between validation NLLs and checkpoints",
    "ode_steps": "RK4 steps of each likelihood (validation and test)",
    "progress": "show a progress bar",
}
_RUNTIME_KEYS = ("progress",)
FLOW_FOLDER = "flow"
PRESETS = {
    "so3_mixture": dict(components=16, component_scale=0.07),
    "hyperbolic_mixture": dict(components=5, component_scale=0.3),
}


def get_config(dataset: str = "volcano") -> ml_collections.ConfigDict:
    """Defaults; run with: geo run manifold_flow --workdir runs/volcano dataset=volcano"""
    c = ml_collections.ConfigDict()
    c.dataset = dataset
    c.data_dir = ""
    c.components = 16
    c.component_scale = 0.07
    c.synthetic_points = 10_000
    c.data_seed = 0
    c.seed = 0
    c.hidden = 256
    c.layers = 4
    c.lr = 1e-3
    c.batch_size = 512
    c.iterations = 20_000
    c.eval_every = 1000
    c.ode_steps = 50
    c.progress = True
    c.update(PRESETS.get(dataset, {}))
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    known = (*FILES, *SYNTHETIC)
    if config.dataset not in known and not str(config.dataset).endswith(".csv"):
        raise ValueError(f"dataset={config.dataset!r}; use {', '.join(known)} or a .csv path")
    for key in ("components", "synthetic_points", "hidden", "layers", "batch_size",
                "iterations", "eval_every", "ode_steps"):  # fmt: skip
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    for key in ("lr", "component_scale"):
        if not float(config[key]) > 0:
            raise ValueError(f"{key} must be positive, got {config[key]}")
    if config.iterations % config.eval_every:
        raise ValueError(
            f"iterations={config.iterations} must be a multiple of eval_every={config.eval_every}"
        )


def synthetic_mixture(config) -> tuple[object, Mixture]:
    """(manifold, the mixture) of a synthetic data set, from `data_seed`."""
    key = jax.random.key(config.data_seed)
    k = int(config.components)
    if config.dataset == "so3_mixture":
        manifold = SpecialOrthogonal()
        locs = manifold.random(key, (k, 3, 3))
        scale = jnp.full((k, 3), config.component_scale, jnp.float32)
    else:
        manifold = Lorentz()
        locs = manifold.random(key, (k, 3), std=1.0)
        scale = jnp.full((k, 2), config.component_scale, jnp.float32)
    return manifold, Mixture(WrappedNormal(manifold, locs, scale), jnp.zeros(k))


def load_points(config) -> tuple[object, np.ndarray, Mixture | None]:
    """(manifold, all points, the true mixture of a synthetic set or None)."""
    if config.dataset in SYNTHETIC:
        manifold, mixture = synthetic_mixture(config)
        key = jax.random.fold_in(jax.random.key(config.data_seed), 1)
        count = int(config.synthetic_points)  # one compiled sampler, not op-by-op dispatch
        points = np.asarray(jax.jit(lambda k: mixture.sample(k, (count,)))(key))
        return manifold, points, mixture
    return Sphere(), load_events(config.dataset, config.data_dir or None).astype(np.float32), None


def base_distribution(manifold):
    if isinstance(manifold, Lorentz):
        return WrappedNormal(manifold, manifold.origin((3,)), jnp.ones(2))
    return Uniform(manifold, 3)


def problem_for(configs) -> tuple[FlowProblem, Mixture | None]:
    """The program's data: one random 80/10/10 split per run's seed."""
    manifold, points, mixture = load_points(configs[0])
    splits = [random_split(len(points), int(c.seed)) for c in configs]
    part = lambda i: np.stack([points[s[i]] for s in splits])  # noqa: E731
    point_shape = tuple(points.shape[1:])
    base = base_distribution(manifold)
    return FlowProblem(manifold, point_shape, base, part(0), part(1), part(2)), mixture


def make_field(problem: FlowProblem, config, key: jax.Array) -> VectorField:
    """A fresh vector field on the problem's manifold."""
    return VectorField(
        problem.manifold, problem.point_shape, config.hidden, config.layers,
        rngs=nnx.Rngs(params=key),
    )  # fmt: skip


def _settings(config) -> FlowSettings:
    return FlowSettings(
        lr=config.lr, batch_size=config.batch_size, iterations=config.iterations,
        eval_every=config.eval_every, ode_steps=config.ode_steps,
    )  # fmt: skip


def train_and_evaluate_many(
    configs, workdirs, state_dir, devices: DeviceRequest = ONE_DEVICE
) -> list[dict]:
    """Runs that differ only in their seed (their split) as one vmapped program."""
    files = start_program(configs, workdirs, validate, SWEEP_AXES)
    first = configs[0]
    problem, mixture = problem_for(configs)
    checkpoints = Checkpointer(state_dir, configs, _RUNTIME_KEYS)
    run = train_flows(
        problem, [int(c.seed) for c in configs], _settings(first),
        lambda key: make_field(problem, first, key), progress=first.progress,
        description=f"flow {first.dataset}", files=files, checkpoints=checkpoints,
        devices=devices,
    )  # fmt: skip
    true_nll = None
    if mixture is not None:  # the data's own density on each test split: the floor
        mean_nll = jax.jit(lambda t: -jnp.mean(mixture.log_prob(t)))
        true_nll = [float(mean_nll(jnp.asarray(t))) for t in problem.test]
    graphdef = nnx.split(make_field(problem, first, jax.random.key(0)))[0]
    results = []
    for r, run_files in enumerate(files):
        out = {
            "test_nll": float(run["test_nll"][r]),
            "val_nll": float(run["val_nll"][r]),
            "last_val_nll": float(run["last_val_nll"][r]),
            "best_iteration": int(run["best_iteration"][r]),
            "seconds_to_best": float(run["best_seconds"][r]),
            "train_seconds": run["train_seconds"],
            "compile_seconds": run["compile_seconds"],
            "test_seconds": run["test_seconds"],
            "iterations_per_second": run["iterations_per_second"],
            "runs_in_program": len(files),
            "devices": run["devices"],
            "points": {
                "train": int(problem.train.shape[1]),
                "val": int(problem.val.shape[1]),
                "test": int(problem.test.shape[1]),
            },  # fmt: skip
        }
        if true_nll is not None:
            out["true_test_nll"] = true_nll[r]
        run_files.write_results(out)
        run_files.append_metrics({"iteration": first.iterations, **out})
        if run_files.writes:
            params = jax.tree.map(lambda a, r=r: np.asarray(a[r]), run["params"])
            _save_params(run_files.workdir / FLOW_FOLDER, params)
            _plot(run_files.workdir / "density.png", problem, graphdef, params, r, configs[r])
        results.append(out)
    return results


train_and_evaluate = single_run(train_and_evaluate_many)


def _save_params(path: Path, params) -> None:
    """The run's best-validation parameters, with orbax."""
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path.resolve(), params, force=True)


def flow_log_prob(workdir: str | Path, points, steps: int | None = None) -> np.ndarray:
    """(N,) log density of a trained run at `points` (N, *point) (S^2: unit vectors;
    SO(3): rotation matrices; H^2: hyperboloid points), with respect to the Riemannian
    volume: the best-validation flow saved in the run's workdir (its `flow/` folder)."""
    import orbax.checkpoint as ocp

    workdir = Path(workdir)
    if not (workdir / FLOW_FOLDER).exists():
        raise FileNotFoundError(f"{workdir / FLOW_FOLDER} not found: train the run first")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    manifold, points_all, _ = load_points(config)
    problem = FlowProblem(manifold, tuple(points_all.shape[1:]), base_distribution(manifold),
                          points_all[None], points_all[None], points_all[None])  # fmt: skip
    graphdef, params = nnx.split(make_field(problem, config, jax.random.key(0)))
    with ocp.StandardCheckpointer() as checkpointer:
        best = checkpointer.restore((workdir / FLOW_FOLDER).resolve(), params)
    points = np.asarray(points, np.float32)
    manifold.assert_point(points)
    field = nnx.merge(graphdef, best)
    ll = log_likelihood(field, manifold, problem.base.log_prob, jnp.asarray(points),
                        steps or config.ode_steps)  # fmt: skip
    return np.asarray(ll)


def _plot(path: Path, problem: FlowProblem, graphdef, params, run: int, config) -> None:
    """The learned density: a Mollweide map of S^2 with the test events, or the Poincare
    disk of H^2 with the test points; nothing for SO(3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    manifold = problem.manifold
    if isinstance(manifold, SpecialOrthogonal):
        return
    field = nnx.merge(graphdef, params)
    density = jax.jit(  # 10 RK4 steps: enough for a picture, a tenth of the cost
        lambda x: jnp.exp(log_likelihood(field, manifold, problem.base.log_prob, x, 10))
    )
    test = problem.test[run]
    if isinstance(manifold, Sphere):
        lon = np.linspace(-np.pi, np.pi, 180)
        lat = np.linspace(-np.pi / 2, np.pi / 2, 90)
        glon, glat = np.meshgrid(lon, lat)
        grid = np.stack(
            [np.cos(glat) * np.cos(glon), np.cos(glat) * np.sin(glon), np.sin(glat)], -1
        )
        values = np.asarray(density(jnp.asarray(grid.reshape(-1, 3), jnp.float32))).reshape(
            glat.shape
        )
        fig = plt.figure(figsize=(10, 5.5))
        ax = fig.add_subplot(projection="mollweide")
        norm = LogNorm(vmin=max(values.max() * 1e-4, 1e-12), vmax=values.max())
        mesh = ax.pcolormesh(glon, glat, np.maximum(values, norm.vmin), shading="auto",
                             cmap="viridis", norm=norm)  # fmt: skip
        events = np.radians(to_lat_lon(test))
        ax.scatter(events[:, 1], events[:, 0], s=3, c="red", alpha=0.7, label="test events")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.colorbar(mesh, ax=ax, orientation="horizontal", shrink=0.6, pad=0.05,
                     label="learned density (per steradian, log scale)")  # fmt: skip
    else:
        side = np.linspace(-0.98, 0.98, 120)
        gx, gy = np.meshgrid(side, side)
        inside = gx**2 + gy**2 < 0.98**2
        disk = np.stack([gx[inside], gy[inside]], -1).astype(np.float32)
        values = np.full(gx.shape, np.nan)
        values[inside] = np.asarray(density(poincare_to_lorentz(jnp.asarray(disk), 1.0)))
        diverged = int(np.sum(~np.isfinite(values[inside])))
        if diverged:
            warnings.warn(f"{path}: the density is not finite at {diverged} of "
                          f"{int(inside.sum())} grid points (the ODE diverged there); they "
                          "are drawn white", RuntimeWarning, stacklevel=2)  # fmt: skip
            values[inside] = np.where(np.isfinite(values[inside]), values[inside], np.nan)
        fig, ax = plt.subplots(figsize=(6, 6))
        mesh = ax.pcolormesh(gx, gy, values, shading="auto", cmap="viridis")
        points = np.asarray(lorentz_to_poincare(jnp.asarray(test), 1.0))
        ax.scatter(points[:, 0], points[:, 1], s=2, c="red", alpha=0.5, label="test points")
        ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="black"))
        ax.set_aspect("equal")
        ax.set_xlim(-1.02, 1.02)
        ax.set_ylim(-1.02, 1.02)
        ax.legend(loc="lower right", fontsize=8)
        fig.colorbar(mesh, ax=ax, shrink=0.7, label="learned density (Riemannian volume)")
    ax.set_title(f"{config.dataset}: learned density, seed {config.seed}")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
