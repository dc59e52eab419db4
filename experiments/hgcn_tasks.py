"""The two tasks of the HGCN experiment as objects: how each splits the graph, its loss, its
metrics and its early-stopping score (Chami et al., NeurIPS 2019, Sec. 5).

- `LinkPrediction`: the Fermi-Dirac decoder on squared distances, binary cross-entropy
  against as many random non-edges per epoch; ROC AUC and average precision.
- `NodeClassification`: a linear classifier in the tangent space at the origin, softmax
  cross-entropy; F1 (micro F1 for several classes, of class 1 for two).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from geo.data.graphs import Graph, hgcn_code_node_split, link_split, node_split
from geo.metrics import average_precision, f1_score, roc_auc
from models.hgcn import fermi_dirac


def sample_non_edges(key, edge_codes: jax.Array, count: int, n: int) -> jax.Array:
    """`count` random pairs i < j that are not edges: 2x candidates, the first acceptable.

    `edge_codes` holds i * n + j of every edge (i < j), sorted."""
    pairs = jnp.sort(jax.random.randint(key, (2 * count, 2), 0, n), axis=1)
    codes = (pairs[:, 0] * n + pairs[:, 1]).astype(edge_codes.dtype)
    found = edge_codes[jnp.clip(jnp.searchsorted(edge_codes, codes), 0, len(edge_codes) - 1)]
    bad = (found == codes) | (pairs[:, 0] == pairs[:, 1])
    order = jnp.argsort(bad, stable=True)[:count]
    return pairs[order]


@dataclasses.dataclass(frozen=True)
class LinkPrediction:
    """Link prediction: 85 / 5 / 10 % of the edges for training / validation / test."""

    name: str = "lp"
    metric_names: tuple[str, ...] = ("roc_auc", "average_precision")
    extra_layer: bool = True  # the HGCN code's encoder has one more layer for lp

    def prepare(self, graph: Graph, split_seed: int, node_split_name: str):
        """(device arrays of the split, the training graph's edges, number of classes)."""
        split = link_split(graph, split_seed)
        data = {
            k: jnp.asarray(getattr(split, k)) for k in ("val", "test", "val_false", "test_false")
        }
        data["train"] = jnp.asarray(split.train)
        n = graph.num_nodes
        codes = graph.edges[:, 0].astype(np.int64) * n + graph.edges[:, 1]
        data["edge_codes"] = jnp.sort(
            jnp.asarray(codes).astype(jnp.int32 if n * n < 2**31 else jnp.int64)
        )
        return data, split.train, 0

    def loss(self, model, x, c, data, key, graph, rngs) -> jax.Array:
        pos_pairs = data["train"]
        neg_pairs = sample_non_edges(key, data["edge_codes"], len(pos_pairs), x.shape[0])
        pos = fermi_dirac(model.sq_dist(x[pos_pairs[:, 0]], x[pos_pairs[:, 1]], c))
        neg = fermi_dirac(model.sq_dist(x[neg_pairs[:, 0]], x[neg_pairs[:, 1]], c))
        return -jnp.mean(jnp.log(pos + 1e-15)) - jnp.mean(jnp.log1p(-neg + 1e-15))

    def metrics(self, model, x, c, data, part: str, graph, num_classes: int) -> dict:
        pairs, false = data[part], data[f"{part}_false"]
        pos = fermi_dirac(model.sq_dist(x[pairs[:, 0]], x[pairs[:, 1]], c))
        neg = fermi_dirac(model.sq_dist(x[false[:, 0]], x[false[:, 1]], c))
        return {"roc_auc": roc_auc(pos, neg), "average_precision": average_precision(pos, neg)}

    def score(self, metrics: dict) -> jax.Array:
        """The early-stopping criterion: the mean of ROC AUC and AP."""
        return 0.5 * (metrics["roc_auc"] + metrics["average_precision"])


@dataclasses.dataclass(frozen=True)
class NodeClassification:
    """Node classification on the data set's split (`node_split`: stratified | hgcn_code)."""

    name: str = "nc"
    metric_names: tuple[str, ...] = ("f1",)
    extra_layer: bool = False

    def prepare(self, graph: Graph, split_seed: int, node_split_name: str):
        split = hgcn_code_node_split if node_split_name == "hgcn_code" else node_split
        train, val, test = split(graph, split_seed)
        data = {"train": jnp.asarray(train), "val": jnp.asarray(val), "test": jnp.asarray(test)}
        data["labels"] = jnp.asarray(graph.labels)
        return data, graph.edges, graph.num_classes

    def loss(self, model, x, c, data, key, graph, rngs) -> jax.Array:
        logits = model.classify(x, c, graph, rngs)[data["train"]]
        labels = data["labels"][data["train"]]
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))

    def metrics(self, model, x, c, data, part: str, graph, num_classes: int) -> dict:
        pred = jnp.argmax(model.classify(x, c, graph)[data[part]], -1)
        return {"f1": f1_score(pred, data["labels"][data[part]], num_classes)}

    def score(self, metrics: dict) -> jax.Array:
        return metrics["f1"]


TASKS = {"lp": LinkPrediction(), "nc": NodeClassification()}
