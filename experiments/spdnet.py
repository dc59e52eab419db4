"""SPDNet with and without Riemannian batch normalization on covariances of time series.

    geo run spdnet --workdir runs/jv dataset=japanese_vowels batchnorm=gbw_rbn
    geo sweep spdnet --workdir runs/jv10 dataset=japanese_vowels batchnorm=rbn seed=0-9

Each series becomes one SPD matrix: channels standardized with the training set's
statistics, then the shrunk sample covariance (`models.covariance`), by default with the
mean embedded as [[S + m m^T, m], [m^T, 1]]. The network is SPDNet (Huang & Van Gool 2017):
(BiMap -> [batch norm] -> ReEig) per entry of `dims`, LogEig, a linear classifier. The batch
norm is none, `rbn` (affine-invariant, Brooks et al. 2019), `bw_rbn` (Bures-Wasserstein)
or `gbw_rbn` (generalized BW with a learnable metric and power; the seed paper), see
`models.spd_batchnorm`. Riemannian Adam keeps the BiMap weights on their Stiefel manifolds
and the biases / metric parameters SPD. Seeds of a sweep train as one vmapped program.
The same matrices also go through pyriemann's MDM and tangent space + logistic regression
(`baselines=true`, needs the `bench` extra), reported beside the network in results.json.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from geo.classifier_training import OPTIMIZERS, ClassifierExperiment
from geo.data.timeseries import load_checked_series
from models.covariance import covariance
from models.spd import BiMap, LogEig, ReEig
from models.spd_batchnorm import SPDBatchNorm

DESCRIPTION = "SPDNet with affine / Bures-Wasserstein batch norm on time-series covariances"
PRESET_KEYS = ("dataset",)
CONFIG_HELP = {
    "dataset": "japanese_vowels | basic_motions | PATH.npz",
    "batchnorm": "none | rbn | bw_rbn | gbw_rbn",
    "dims": "BiMap output sizes, comma-separated",
    "shrinkage": "covariance shrinkage towards the scaled identity",
    "with_mean": "embed the mean: [[S + m m^T, m], [m^T, 1]]",
    "reeig_eps": "ReEig eigenvalue floor",
    "optimizer": "radam | rsgd",
    "lr": "learning rate",
    "epochs": "passes over the training data",
    "batch_size": "series per step",
    "karcher_steps": "Karcher steps of the batch means",
    "bn_momentum": "momentum of the running means",
    "power": "matrix-power deformation theta (gbw_rbn)",
    "learn_power": "train theta too (gbw_rbn)",
    "seed": "seed of the initialization and of the training's randomness",
    "baselines": "also run pyriemann's MDM and tangent-space logistic regression",
    "progress": "show a progress bar",
}
SWEEP_AXES = ("seed",)
BATCHNORMS = {
    "none": None,
    "rbn": "affine",
    "bw_rbn": "bures_wasserstein",
    "gbw_rbn": "generalized_bw",
}
PRESETS = {
    "japanese_vowels": dict(dims="10,8", batch_size=30, epochs=200),
    "basic_motions": dict(dims="6,4", batch_size=10, epochs=200),
}


def get_config(dataset: str = "japanese_vowels") -> ml_collections.ConfigDict:
    """SPDNet defaults: Riemannian Adam lr 0.01, ReEig eps 1e-4, shrinkage 0.01."""
    c = ml_collections.ConfigDict()
    c.dataset = dataset  # japanese_vowels | basic_motions | PATH.npz
    c.batchnorm = "none"  # none | rbn | bw_rbn | gbw_rbn
    c.dims = "10,8"  # BiMap output sizes, comma-separated
    c.shrinkage = 0.01
    c.with_mean = True
    c.reeig_eps = 1e-4
    c.optimizer = "radam"  # radam | rsgd
    c.lr = 0.01
    c.epochs = 200
    c.batch_size = 30
    c.karcher_steps = 1
    c.bn_momentum = 0.1
    c.power = 1.0  # matrix-power deformation theta (gbw_rbn)
    c.learn_power = False  # train theta too (gbw_rbn)
    c.seed = 0
    c.baselines = True
    c.progress = True
    c.update(PRESETS.get(dataset, {}))
    return c


def parse_dims(text: str) -> list[int]:
    try:
        dims = [int(d) for d in str(text).split(",") if d.strip()]
    except ValueError:
        raise ValueError(f"dims={text!r}: write sizes like dims=10,8") from None
    if not dims or min(dims) < 1:
        raise ValueError(f"dims={text!r}: need at least one positive size, e.g. dims=10,8")
    return dims


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    if config.batchnorm not in BATCHNORMS:
        raise ValueError(
            f"batchnorm={config.batchnorm!r}; valid choices are {', '.join(BATCHNORMS)}"
        )
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={config.optimizer!r}; valid choices are {', '.join(OPTIMIZERS)}"
        )
    parse_dims(config.dims)
    for key in ("epochs", "batch_size"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    for key in ("lr", "reeig_eps", "power"):
        if not float(config[key]) > 0:
            raise ValueError(f"{key} must be positive, got {config[key]}")
    if int(config.karcher_steps) < 0:
        raise ValueError(f"karcher_steps must be >= 0, got {config.karcher_steps}")


class SPDNet(nnx.Module):
    """(BiMap -> [SPDBatchNorm] -> ReEig) x len(dims) -> LogEig -> Linear; (B, n, n) -> (B, K)."""

    def __init__(self, n_in: int, dims: list[int], classes: int, config, *, rngs: nnx.Rngs):
        sizes = [n_in, *dims]
        if any(b > a for a, b in zip(sizes, sizes[1:], strict=False)):
            raise ValueError(f"dims={dims}: BiMap sizes must not grow from the input size {n_in}")
        geometry = BATCHNORMS[config.batchnorm]
        self.bimaps = nnx.List(
            [BiMap(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:], strict=False)]
        )
        self.norms = nnx.List(
            [
                SPDBatchNorm(
                    d,
                    geometry=geometry,
                    momentum=config.bn_momentum,
                    karcher_steps=config.karcher_steps,
                    power=config.power,
                    learn_power=config.learn_power,
                )
                for d in dims
            ]
            if geometry
            else []
        )
        self.reeig = ReEig(config.reeig_eps)
        self.logeig = LogEig()
        self.classifier = nnx.Linear(
            dims[-1] * (dims[-1] + 1) // 2, classes, rngs=rngs, param_dtype=jnp.float32
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        for i, bimap in enumerate(self.bimaps):
            x = bimap(x)
            if len(self.norms):
                x = self.norms[i](x)
            x = self.reeig(x)
        return self.classifier(self.logeig(x))


def covariances(config) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train matrices, labels), (test matrices, labels)) as float32 arrays."""
    train, test = load_checked_series(config.dataset, config.shrinkage)
    cov = jax.jit(
        lambda x, n: covariance(x, n, shrinkage=config.shrinkage, with_mean=config.with_mean)
    )
    return (
        (np.asarray(cov(train.x, train.lengths)), train.labels),
        (np.asarray(cov(test.x, test.lengths)), test.labels),
    )


def pyriemann_baselines(train, test) -> dict:
    """Accuracy and seconds of pyriemann's MDM and tangent space + logistic regression."""
    try:
        from pyriemann.classification import MDM
        from pyriemann.tangentspace import TangentSpace
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
    except ImportError:
        return {"note": "pyriemann is not installed: pip install -e '.[bench]'"}
    out = {}
    classifiers = {
        "mdm": MDM(metric="riemann"),
        "ts_lr": make_pipeline(TangentSpace(metric="riemann"), LogisticRegression(max_iter=2000)),
    }
    for name, clf in classifiers.items():
        t0 = time.perf_counter()
        clf.fit(train[0].astype(np.float64), train[1])
        accuracy = float(np.mean(clf.predict(test[0].astype(np.float64)) == test[1]))
        out[name] = {"accuracy": accuracy, "seconds": time.perf_counter() - t0}
    return out


def _extra_results(config, train, test) -> dict:
    """The matrix size, and with baselines=true pyriemann's MDM and TS + LR beside the net."""
    baselines = pyriemann_baselines(train, test) if config.baselines else {}
    return {"matrix_size": int(train[0].shape[-1]), "baselines": baselines}


def _build(config):
    """(train, test, make_model) for `ClassifierExperiment`."""
    train, test = covariances(config)
    dims, classes = parse_dims(config.dims), int(train[1].max()) + 1

    def make_model(key):
        return SPDNet(train[0].shape[-1], dims, classes, config, rngs=nnx.Rngs(params=key))

    return train, test, make_model


_ENTRY_POINTS = ClassifierExperiment(
    validate,
    SWEEP_AXES,
    build=_build,
    describe=lambda c: f"spdnet {c.batchnorm} {c.dataset}",
    extra=_extra_results,
    runtime_keys=("progress", "baselines"),
)
train_and_evaluate = _ENTRY_POINTS.train_and_evaluate
train_and_evaluate_many = _ENTRY_POINTS.train_and_evaluate_many
