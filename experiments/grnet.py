"""GrNet on the principal subspaces of multivariate time series (Huang, Wu & Van Gool, AAAI 2018).

    geo run grnet --workdir runs/grnet dataset=japanese_vowels
    geo sweep grnet --workdir runs/grnet10 dataset=basic_motions frmap_dim=6 seed=0-9

Each series (standardized channels, valid steps only) becomes the p-dimensional principal
subspace of its channels, the top-p eigenvectors of its shrunk covariance, a point of
Gr(C, p). GrNet: `filters` parallel FRMap -> ReOrth -> ProjMap, ProjPooling over the
filters, OrthMap back to p vectors, ProjMap, and a linear classifier on the flattened
projection matrix. Riemannian Adam keeps the FRMap weights on their Stiefel manifolds.
Seeds train as one vmapped program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from geo.classifier_training import OPTIMIZERS, ClassifierExperiment
from geo.data.timeseries import load_checked_series
from models.covariance import covariance
from models.grassmann import FRMap, OrthMap, ProjMap, ProjPooling, reorth
from models.spd import triu_vector

DESCRIPTION = "GrNet on principal subspaces of multivariate time series (Huang et al. 2018)"
PRESET_KEYS = ("dataset",)
SWEEP_AXES = ("seed",)
CONFIG_HELP = {
    "dataset": "japanese_vowels | basic_motions | PATH.npz",
    "subspace_dim": "p of the input subspaces",
    "filters": "parallel FRMaps",
    "frmap_dim": "FRMap output size",
    "shrinkage": "covariance shrinkage towards the scaled identity",
    "optimizer": "radam | rsgd",
    "lr": "learning rate",
    "epochs": "passes over the training data",
    "batch_size": "series per step",
    "seed": "seed of the initialization and of the training's randomness",
    "progress": "show a progress bar",
}


def get_config(dataset: str = "japanese_vowels") -> ml_collections.ConfigDict:
    """Defaults: Riemannian Adam lr 0.01; p = 3, 8 filters to 8 dimensions, 200 epochs."""
    c = ml_collections.ConfigDict()
    c.dataset = dataset
    c.subspace_dim = 3
    c.filters = 8
    c.frmap_dim = 8
    c.shrinkage = 0.01
    c.optimizer = "radam"
    c.lr = 0.01
    c.epochs = 200
    c.batch_size = 30
    c.seed = 0
    c.progress = True
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={config.optimizer!r}; valid choices are {', '.join(OPTIMIZERS)}"
        )
    for key in ("subspace_dim", "filters", "frmap_dim", "epochs", "batch_size"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    if not float(config.lr) > 0:
        raise ValueError(f"lr must be positive, got {config.lr}")
    if config.frmap_dim < config.subspace_dim:
        raise ValueError(
            f"frmap_dim={config.frmap_dim} must be >= subspace_dim={config.subspace_dim}"
        )


class GrNet(nnx.Module):
    """FRMap (parallel filters) -> ReOrth -> ProjMap -> ProjPooling -> OrthMap -> ProjMap -> FC.

    Shapes: (B, d, p) orthonormal bases -> (B, classes).
    """

    def __init__(self, d: int, p: int, filters: int, d_out: int, classes: int, *, rngs):
        self.frmap = FRMap(d, d_out, filters=filters, rngs=rngs)
        self.pool = ProjPooling(axis=-3)
        self.orthmap = OrthMap(p)
        self.proj = ProjMap()
        self.classifier = nnx.Linear(
            d_out * (d_out + 1) // 2, classes, rngs=rngs, param_dtype=jnp.float32
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        bases = reorth(self.frmap(x))  # (B, filters, d_out, p)
        pooled = self.pool(self.proj(bases))
        return self.classifier(triu_vector(self.proj(self.orthmap(pooled))))


def principal_subspaces(config):
    """((train bases (N, C, p), labels), (test bases, labels)) of a series data set."""
    train, test = load_checked_series(config.dataset, config.shrinkage)
    channels = train.x.shape[-1]
    if config.subspace_dim > channels:
        raise ValueError(f"subspace_dim={config.subspace_dim} exceeds the {channels} channels")
    if config.frmap_dim > channels:
        raise ValueError(f"frmap_dim={config.frmap_dim} exceeds the {channels} channels")

    @jax.jit
    def bases(x, lengths):
        cov = covariance(x, lengths, shrinkage=config.shrinkage)
        return jnp.linalg.eigh(cov)[1][..., ::-1][..., : config.subspace_dim]

    return (
        (np.asarray(bases(train.x, train.lengths)), train.labels),
        (np.asarray(bases(test.x, test.lengths)), test.labels),
    )


def _build(config):
    """(train, test, make_model) for `ClassifierExperiment`."""
    train, test = principal_subspaces(config)
    classes, d = int(train[1].max()) + 1, train[0].shape[-2]

    def make_model(key):
        rngs = nnx.Rngs(params=key)
        return GrNet(d, config.subspace_dim, config.filters, config.frmap_dim, classes, rngs=rngs)

    return train, test, make_model


_ENTRY_POINTS = ClassifierExperiment(
    validate, SWEEP_AXES, build=_build, describe=lambda c: f"grnet {c.dataset}"
)
train_and_evaluate = _ENTRY_POINTS.train_and_evaluate
train_and_evaluate_many = _ENTRY_POINTS.train_and_evaluate_many
