"""Grassmann networks: GrNet on principal subspaces of time series, and the GCR head on digits.

    geo run grassmann --workdir runs/grnet dataset=japanese_vowels
    geo run grassmann --workdir runs/gcr dataset=digits head=gcr
    geo sweep grassmann --workdir runs/gcr10 dataset=digits head=gcr,softmax seed=0-9

A series data set (japanese_vowels, basic_motions, PATH.npz) runs GrNet (Huang, Wu & Van
Gool, AAAI 2018): each series (standardized channels, valid steps only) becomes the
p-dimensional principal subspace of its channels, the top-p eigenvectors of its shrunk
covariance, a point of Gr(C, p). GrNet: `filters` parallel FRMap -> ReOrth ->
ProjMap, ProjPooling over the filters, OrthMap back to p vectors, ProjMap, and a linear
classifier on the flattened projection matrix.

dataset=digits runs the GCR comparison (Wang et al., ICCV 2023): scikit-learn's bundled 8 x
8 digits, a seeded 70/30 split (split_seed), an MLP feature extractor (64 -> hidden ->
features, ReLU), and either the softmax head (a linear layer) or the Grassmann class
representation head (each class a p-dimensional subspace, logit gamma ||S_c^T x / ||x|| ||),
trained jointly; Riemannian Adam keeps the subspaces on Gr(features, p). Seeds train as one
vmapped program.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from geo.classifier_training import (
    OPTIMIZERS,
    train_classifiers,
    write_results,
)
from geo.data.timeseries import load_checked_series
from geo.sweep import start_program
from models.covariance import covariance
from models.grassmann import (
    FRMap,
    GrassmannClassHead,
    OrthMap,
    ProjMap,
    ProjPooling,
    reorth,
)
from models.spd import triu_vector

DESCRIPTION = "GrNet on principal subspaces; Grassmann class representation (GCR) on digits"
PRESET_KEYS = ("dataset",)
CONFIG_HELP = {
    "dataset": "digits (GCR) | japanese_vowels | basic_motions | PATH.npz (GrNet)",
    "subspace_dim": "p of the input subspaces (grnet)",
    "filters": "parallel FRMaps (grnet)",
    "frmap_dim": "FRMap output size (grnet)",
    "shrinkage": "covariance shrinkage (grnet)",
    "head": "softmax | gcr (digits)",
    "hidden": "hidden units of the feature extractor (digits)",
    "features": "feature dimension (digits)",
    "class_dim": "p of each class subspace (gcr head)",
    "gamma": "logit scale of the gcr head",
    "optimizer": "radam | rsgd",
    "lr": "learning rate",
    "epochs": "passes over the training data",
    "batch_size": "examples per step",
    "seed": "seed of the initialization and of the training's randomness",
    "split_seed": "seed of the digits' 70/30 split",
    "progress": "show a progress bar",
}
SWEEP_AXES = ("seed",)
HEADS = ("softmax", "gcr")


def get_config(dataset: str = "digits") -> ml_collections.ConfigDict:
    """Defaults: Riemannian Adam lr 0.01; GrNet p=3, 8 filters to 8 dims; GCR p=4, gamma 20."""
    c = ml_collections.ConfigDict()
    c.dataset = dataset  # digits (GCR) | japanese_vowels | basic_motions | PATH.npz (GrNet)
    c.subspace_dim = 3  # p of the input subspaces (grnet)
    c.filters = 8  # parallel FRMaps (grnet)
    c.frmap_dim = 8  # FRMap output size (grnet)
    c.shrinkage = 0.01
    c.head = "gcr"  # softmax | gcr (digits)
    c.hidden = 128
    c.features = 64
    c.class_dim = 4  # p of each class subspace (gcr head)
    c.gamma = 20.0  # logit scale of the gcr head
    c.optimizer = "radam"  # radam | rsgd
    c.lr = 0.01
    c.epochs = 100
    c.batch_size = 64
    c.seed = 0
    c.split_seed = 0
    c.progress = True
    if dataset != "digits":
        c.update(dict(batch_size=30, epochs=200))
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    for key, choices in (("head", HEADS), ("optimizer", OPTIMIZERS)):
        if config[key] not in choices:
            raise ValueError(f"{key}={config[key]!r}; valid choices are {', '.join(choices)}")
    for key in ("subspace_dim", "filters", "frmap_dim", "hidden", "features", "class_dim"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    for key in ("epochs", "batch_size"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    for key in ("lr", "gamma"):
        if not float(config[key]) > 0:
            raise ValueError(f"{key} must be positive, got {config[key]}")
    if config.dataset != "digits" and config.frmap_dim < config.subspace_dim:
        raise ValueError(
            f"frmap_dim={config.frmap_dim} must be >= subspace_dim={config.subspace_dim}"
        )
    if config.dataset == "digits" and config.class_dim > config.features:
        raise ValueError(f"class_dim={config.class_dim} must be <= features={config.features}")


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


class DigitsNet(nnx.Module):
    """MLP features (64 -> hidden -> features) and a softmax or GCR head; (B, 64) -> (B, 10)."""

    def __init__(self, config, inputs: int, classes: int, *, rngs: nnx.Rngs):
        dense = dict(rngs=rngs, param_dtype=jnp.float32)
        self.hidden = nnx.Linear(inputs, config.hidden, **dense)
        self.features = nnx.Linear(config.hidden, config.features, **dense)
        if config.head == "gcr":
            self.head = GrassmannClassHead(
                config.features, classes, config.class_dim, gamma=config.gamma, rngs=rngs
            )
        else:
            self.head = nnx.Linear(config.features, classes, **dense)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.features(jax.nn.relu(self.hidden(x))))


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


def digits(config):
    """scikit-learn's digits, pixels scaled to [0, 1], a seeded stratified 70/30 split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError(
            "dataset=digits ships inside scikit-learn, which is not installed: "
            'pip install -e ".[spd]"'
        ) from None

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, data.target, test_size=0.3, random_state=config.split_seed, stratify=data.target
    )
    return (x_tr, y_tr.astype(np.int32)), (x_te, y_te.astype(np.int32))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Train one run; write config.json, metrics.jsonl, results.json; return the results."""
    return train_and_evaluate_many([config], [workdir])[0]


def train_and_evaluate_many(configs, workdirs, state_dir=None) -> list[dict]:
    """Train runs that differ only in their seed as one vmapped program."""
    workdirs = start_program(configs, workdirs, validate, SWEEP_AXES)
    first = configs[0]
    grnet = first.dataset != "digits"
    train, test = principal_subspaces(first) if grnet else digits(first)
    classes = int(train[1].max()) + 1

    def make_model(key):
        rngs = nnx.Rngs(params=key)
        if grnet:
            d = train[0].shape[-2]
            return GrNet(d, first.subspace_dim, first.filters, first.frmap_dim, classes, rngs=rngs)
        return DigitsNet(first, train[0].shape[-1], classes, rngs=rngs)

    label = f"grnet {first.dataset}" if grnet else f"digits {first.head}"
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
        description=label,
    )
    return write_results(workdirs, run)
