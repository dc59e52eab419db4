"""The Grassmann class representation head against a softmax head on digits (Wang et al.,
ICCV 2023).

    geo run gcr --workdir runs/gcr head=gcr
    geo sweep gcr --workdir runs/gcr10 head=gcr,softmax seed=0-9

scikit-learn's bundled 8 x 8 digits, a seeded stratified 70/30 split (split_seed), an MLP
feature extractor (64 -> hidden -> features, ReLU), and either the softmax head (a linear
layer) or the Grassmann class representation head: each class is a p-dimensional subspace,
logit gamma ||S_c^T x / ||x|| ||, trained jointly; Riemannian Adam keeps the subspaces on
Gr(features, p). Seeds train as one vmapped program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from geo.classifier_training import OPTIMIZERS, ClassifierExperiment
from models.grassmann import GrassmannClassHead

DESCRIPTION = "Grassmann class representation (GCR) head vs softmax on digits (Wang et al. 2023)"
PRESET_KEYS = ()
SWEEP_AXES = ("seed",)
HEADS = ("softmax", "gcr")
CONFIG_HELP = {
    "head": "softmax | gcr",
    "hidden": "hidden units of the feature extractor",
    "features": "feature dimension",
    "class_dim": "p of each class subspace (gcr head)",
    "gamma": "logit scale of the gcr head",
    "optimizer": "radam | rsgd",
    "lr": "learning rate",
    "epochs": "passes over the training data",
    "batch_size": "examples per step",
    "seed": "seed of the initialization and of the training's randomness",
    "split_seed": "seed of the 70/30 split",
    "progress": "show a progress bar",
}


def get_config() -> ml_collections.ConfigDict:
    """Defaults: Riemannian Adam lr 0.01, p = 4, gamma 20, 100 epochs of batches of 64."""
    c = ml_collections.ConfigDict()
    c.head = "gcr"
    c.hidden = 128
    c.features = 64
    c.class_dim = 4
    c.gamma = 20.0
    c.optimizer = "radam"
    c.lr = 0.01
    c.epochs = 100
    c.batch_size = 64
    c.seed = 0
    c.split_seed = 0
    c.progress = True
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    for key, choices in (("head", HEADS), ("optimizer", OPTIMIZERS)):
        if config[key] not in choices:
            raise ValueError(f"{key}={config[key]!r}; valid choices are {', '.join(choices)}")
    for key in ("hidden", "features", "class_dim", "epochs", "batch_size"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    for key in ("lr", "gamma"):
        if not float(config[key]) > 0:
            raise ValueError(f"{key} must be positive, got {config[key]}")
    if config.class_dim > config.features:
        raise ValueError(f"class_dim={config.class_dim} must be <= features={config.features}")


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


def digits(config):
    """scikit-learn's digits, pixels scaled to [0, 1], a seeded stratified 70/30 split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError(
            'the digits ship inside scikit-learn, which is not installed: pip install -e ".[spd]"'
        ) from None

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, data.target, test_size=0.3, random_state=config.split_seed, stratify=data.target
    )
    return (x_tr, y_tr.astype(np.int32)), (x_te, y_te.astype(np.int32))


def _build(config):
    """(train, test, make_model) for `ClassifierExperiment`."""
    train, test = digits(config)
    classes = int(train[1].max()) + 1

    def make_model(key):
        return DigitsNet(config, train[0].shape[-1], classes, rngs=nnx.Rngs(params=key))

    return train, test, make_model


_ENTRY_POINTS = ClassifierExperiment(
    validate, SWEEP_AXES, build=_build, describe=lambda c: f"digits {c.head}"
)
train_and_evaluate = _ENTRY_POINTS.train_and_evaluate
train_and_evaluate_many = _ENTRY_POINTS.train_and_evaluate_many
