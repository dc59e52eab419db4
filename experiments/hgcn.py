"""HGCN and its baselines on the graphs of Chami et al. (NeurIPS 2019), Table 3.

    geo run hgcn --workdir runs/disease task=lp dataset=disease_lp model=hgcn
    geo run hgcn --workdir runs/cora task=nc dataset=cora model=gcn
    geo sweep hgcn --workdir runs/disease10 task=lp dataset=disease_lp seed=0-9

Link prediction (lp): a graph encoder embeds the nodes, the Fermi-Dirac decoder turns
squared distances into edge probabilities, trained with binary cross-entropy against as many
random non-edges per epoch; ROC AUC and average precision on the held-out edges. Node
classification (nc): the encoder plus a linear classifier in the tangent space at the
origin; micro F1 (accuracy) for several classes, binary F1 for two. Full-batch Adam, early
stopping on the validation metric (patience epochs without improvement), the test figures of
the best validation epoch. Seeds of one sweep share the data split (split_seed) and train as
one vmapped program.

Models: hgcn (HGCN layers: hyperbolic linear, tangent aggregation, activation), hnn (the
same without aggregation, Ganea et al. 2018), gcn (Euclidean, with aggregation), mlp.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments.hgcn_tasks import TASKS
from geo.checkpoint import Checkpointer
from geo.data.graphs import load_graph
from geo.devices import ONE_DEVICE, DeviceRequest, RunsLayout, runs_layout
from geo.experiment import single_run
from geo.loop import Chunk, TrainingLoop, compile_program
from geo.run_files import RunFiles
from geo.sweep import check_one_program
from models.hgcn import HGCNConv, aggregate, geometry, graph_operator
from models.hnn import Curvature

MODELS = ("hgcn", "hnn", "gcn", "mlp")
MANIFOLDS = ("poincare", "lorentz")
DESCRIPTION = "HGCN and baselines: link prediction and node classification (Chami et al. 2019)"
CONFIG_HELP = {
    "task": "lp (link prediction) | nc (node classification)",
    "dataset": "disease_lp | airport | cora | PATH.npz",
    "model": "hgcn | hnn | gcn | mlp",
    "manifold": "poincare | lorentz (hgcn, hnn)",
    "dim": "embedding dimension",
    "num_layers": "encoder layers",
    "lr": "Adam learning rate",
    "weight_decay": "L2 weight decay",
    "dropout": "dropout rate",
    "c": "initial curvature magnitude (curvature -c)",
    "trainable_c": "learn one curvature per layer",
    "attention": "attention in the aggregation",
    "epochs": "most epochs",
    "patience": "epochs without a better validation score before stopping",
    "normalize_features": "row-normalize the node features",
    "degree_features": "append one-hot min(degree, 5) and a constant 1",
    "pretrain": "nc only: lp trains the encoder for link prediction first",
    "node_split": "nc: stratified | hgcn_code (overlapping; docs/experiments/hgcn.md)",
    "seed": "seed of the initialization and of the training's randomness",
    "split_seed": "seed of the data split (shared by the seeds of a sweep)",
    "data_dir": "folder of the HGCN graphs (default: $GEO_HGCN_DATA or ../shared/data/hgcn)",
    "chunk": "epochs per compiled chunk (early stopping and checkpoints between chunks)",
    "progress": "show a progress bar",
}
SWEEP_AXES = ("seed",)
PRESET_KEYS = ("dataset", "task")  # the keys `geo run` passes to get_config
# The paper's settings per data set (README of ../shared/data/hgcn): dropout, weight decay,
# trainable curvature. Features are row-normalized as in the paper's code by default, except
# on disease, where the HGCN code's published command uses raw features (--normalize-feats
# 0; row-normalized, HGCN reaches 81.8 ROC AUC there instead of 93.2). On airport the paper's
# code also appends each node's degree (one-hot, capped at 5, in the training graph) and a
# constant feature: `degree_features`, off by default here (HGCN's airport node
# classification, validation F1 with and without: 84.9 / 84.7 at 3 layers, 88.1 / 88.7 at 6).
PRESETS = {
    "disease_lp": dict(dropout=0.0, weight_decay=0.0, trainable_c=False, normalize_features=False),
    "airport": dict(dropout=0.0, weight_decay=0.0, trainable_c=True),
    "cora": dict(dropout=0.5, weight_decay=1e-3, trainable_c=True),
}

# Per data set and task, chosen on the validation split (HGCN, 10 seeds each, mean validation
# F1). Airport node classification: with row-normalized features, num_layers 2, 3, 4, 5, 6, 7,
# 8, 10 gives 75.9, 84.7, 87.5, 87.9, 88.7, 88.1, 87.3, 86.3; with raw features
# (normalize_features=False) 2, 4, 5, 6, 7 layers give 83.6, 89.6, 90.4, 90.1, 90.0, and with
# attention as well 5, 6, 7 layers give 90.6, 91.7, 91.6. Its graph rewards a wider receptive
# field, and row normalization mixes the country-level columns with latitude and longitude.
# (The paper's command uses 2 layers and normalized features.) Cora node classification keeps
# the paper's settings (README: the weight decays measured there).
TASK_PRESETS = {
    ("airport", "nc"): dict(num_layers=6, attention=True, normalize_features=False),
}


def get_config(dataset: str = "disease_lp", task: str = "lp") -> ml_collections.ConfigDict:
    """The paper's defaults: Adam lr 0.01, 2 layers, dim 16, Poincare ball, patience 100;
    then the data set's preset (PRESETS) and the data set and task's (TASK_PRESETS)."""
    c = ml_collections.ConfigDict()
    c.task = task  # lp | nc
    c.dataset = dataset  # disease_lp | airport | cora | PATH.npz
    c.model = "hgcn"  # hgcn | hnn | gcn | mlp
    c.manifold = "poincare"  # poincare | lorentz (hgcn, hnn)
    c.dim = 16
    c.num_layers = 2
    c.lr = 0.01
    c.weight_decay = 0.0
    c.dropout = 0.0
    c.c = 1.0  # initial curvature
    c.trainable_c = False
    c.attention = False
    c.epochs = 5000
    c.patience = 100
    c.normalize_features = True
    c.degree_features = False  # append one-hot min(degree, 5) and a constant 1
    c.pretrain = ""  # nc only: "lp" trains the encoder for link prediction first (see README)
    c.node_split = "stratified"  # nc: stratified | hgcn_code (overlapping; see README)
    c.seed = 0
    c.split_seed = 1234
    c.data_dir = ""
    c.chunk = 50  # epochs per compiled chunk (early stopping is checked between chunks)
    c.progress = True
    c.update(PRESETS.get(dataset, {}))
    c.update(TASK_PRESETS.get((dataset, task), {}))
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError on any bad setting, before any work is done."""
    for key, choices in (("task", tuple(TASKS)), ("model", MODELS), ("manifold", MANIFOLDS)):
        if config[key] not in choices:
            raise ValueError(f"{key}={config[key]!r}; valid choices are {', '.join(choices)}")
    for key in ("dim", "num_layers", "epochs", "patience", "chunk"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]}")
    if config.node_split not in ("stratified", "hgcn_code"):
        raise ValueError(
            f"node_split={config.node_split!r}; valid choices are stratified, hgcn_code"
        )
    if config.pretrain not in ("", "lp"):
        raise ValueError(f"pretrain={config.pretrain!r}; valid choices are '' (none) and lp")
    if config.pretrain and config.task != "nc":
        raise ValueError("pretrain=lp prepares node classification; use it with task=nc")
    if config.task == "nc" and config.dataset == "disease_lp":
        raise ValueError("disease_lp has no node-classification split here; use task=lp")
    for key in ("lr", "c"):
        if not float(config[key]) > 0:
            raise ValueError(f"{key} must be positive, got {config[key]}")
    if not 0 <= float(config.dropout) < 1:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")


class GraphNet(nnx.Module):
    """Encoder (HGCN-style layers) and, for nc, a tangent-space linear classifier.

    Layer sizes follow the paper's code: [features] + [dim] * (num_layers - 1), plus one
    more [dim] for link prediction; one curvature per layer boundary.
    """

    def __init__(self, config, task, num_features: int, num_classes: int, rngs: nnx.Rngs):
        hyperbolic = config.model in ("hgcn", "hnn")
        self.geometry = geometry(config.manifold if hyperbolic else "euclidean")
        self.aggregate = config.model in ("hgcn", "gcn")
        dims = [num_features] + [config.dim] * (config.num_layers - 1)
        if task.extra_layer:
            dims.append(config.dim)
        self.curvatures = nnx.List(
            [Curvature(config.c, trainable=config.trainable_c) for _ in range(len(dims))]
        )
        self.layers = nnx.List(
            [
                HGCNConv(
                    d_in,
                    d_out,
                    model=self.geometry.model,
                    attention=config.attention,
                    dropout=config.dropout,
                    rngs=rngs,
                )
                for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
            ]
        )
        self.classifier = nnx.Linear(dims[-1], num_classes, rngs=rngs) if num_classes else None
        # The HGCN code's GCN classifies with one more graph convolution (its GCNDecoder);
        # hgcn, hnn and mlp with a linear layer in the tangent space (its LinearDecoder).
        self.classifier_aggregates = config.model == "gcn"
        self.dropout = nnx.Dropout(config.dropout)

    def encode(self, features: jax.Array, graph, rngs=None) -> tuple[jax.Array, jax.Array]:
        """(N, dim) (or dim + 1 on the hyperboloid) embeddings and their curvature; `rngs`
        draws the dropout masks in training."""
        cs = [c() for c in self.curvatures]
        x = self.geometry.exp0(features, cs[0])
        for layer, c_in, c_out in zip(self.layers, cs[:-1], cs[1:], strict=True):
            x = layer(x, graph if self.aggregate else None, c_in, c_out, rngs=rngs)
        return x, cs[-1]

    def sq_dist(self, x: jax.Array, y: jax.Array, c) -> jax.Array:
        return self.geometry.sq_dist(x, y, c)

    def classify(self, x: jax.Array, c, graph, rngs=None) -> jax.Array:
        """(N, classes) logits of the embeddings x; `graph` as in `HGCNConv`."""
        # Dropout acts on the logits, after the linear map, as in the HGCN code's decoders.
        logits = self.dropout(self.classifier(self.geometry.log0(x, c)), rngs=rngs)
        return aggregate(logits, graph) if self.classifier_aggregates else logits


def with_degree_features(features: np.ndarray, edges: np.ndarray, cap: int = 5) -> np.ndarray:
    """features (N, F) -> (N, F + cap + 2): one-hot min(degree, cap) in the graph of `edges`
    (E, 2, each undirected edge once) and a constant 1, as the HGCN code does on airport."""
    n = features.shape[0]
    degree = np.bincount(edges.reshape(-1), minlength=n)
    one_hot = np.eye(cap + 1, dtype=features.dtype)[np.minimum(degree, cap)]
    return np.concatenate([features, one_hot, np.ones((n, 1), features.dtype)], axis=1)


def _prepare(config, task, graph_task=None):
    """Graph, device arrays, operator and class count; `graph_task` (default: the config's
    task) picks the features: airport's link-prediction features hold the column its
    node-classification labels are binned from."""
    graph_data = load_graph(config.dataset, graph_task or config.task, config.data_dir or None)
    features = graph_data.features
    if config.normalize_features:
        features = features / np.maximum(np.abs(features).sum(1, keepdims=True), 1e-12)
    data, train_graph, num_classes = task.prepare(graph_data, config.split_seed, config.node_split)
    if config.degree_features:
        features = with_degree_features(features, train_graph)
    data["features"] = jnp.asarray(features)
    operator = graph_operator(train_graph, graph_data.num_nodes)
    return graph_data, data, operator, num_classes


def train_and_evaluate_many(
    configs, workdirs, state_dir, devices: DeviceRequest = ONE_DEVICE
) -> list[dict]:
    """Train runs that differ only in their seed as one vmapped program; `devices` splits
    the runs over devices (a full-batch graph is not split: split "data" is an error).

    With pretrain=lp (node classification), the runs' encoder is first trained for link
    prediction (results in WORKDIR/pretrain_lp), and an `mlp` then classifies the nodes
    from the encoder's best-validation embeddings, mapped to the tangent space at the origin
    (the route of the HGCN code's README for node classification on Cora and PubMed). The
    link prediction sees the node-classification features: on airport, the column the
    labels are binned from is left out (the paper's code pretrains with it). Each phase
    checkpoints after every chunk and resumes.
    """
    for config in configs:
        validate(config)
    check_one_program(configs, SWEEP_AXES)
    if devices.split != "runs" and devices.count != 1:
        raise ValueError(
            "hgcn trains full-batch graphs, which stay on one device: split the runs of a "
            "sweep over the devices instead (--split runs)"
        )
    layout = (
        runs_layout(len(configs), devices) if devices.split == "runs" else RunsLayout(len(configs))
    )
    workdirs, state_dir = [Path(w) for w in workdirs], Path(state_dir)
    features = None
    if configs[0].pretrain:
        lp_configs = [_replaced(c, task="lp", pretrain="") for c in configs]
        lp_dirs = [w / "pretrain_lp" for w in workdirs]
        # graph_task="nc": airport's features without the column its labels come from
        _, features = _train(
            lp_configs, lp_dirs, state_dir / "pretrain_lp", layout, graph_task="nc",
            keep_tangent=True,
        )  # fmt: skip
        configs = [_replaced(c, model="mlp") for c in configs]
    return _train(configs, workdirs, state_dir, layout, features)[0]


train_and_evaluate = single_run(train_and_evaluate_many)


def _replaced(config, **changes):
    out = config.copy_and_resolve_references()
    out.update(changes)
    return out


def _train(
    configs, workdirs, state_dir, layout, features=None, graph_task=None, keep_tangent=False
):
    """(results per run, (R, N, D) best-validation embeddings in the tangent space at the
    origin, or None) for runs that differ only in their seed, laid out over devices by
    `layout` (a `geo.devices.RunsLayout`); `features` (R, N, F) replace
    the data set's features per run; `graph_task` as in `_prepare`; `keep_tangent` (link
    prediction only) tracks the embeddings, which pretrain=lp hands on, in every epoch."""
    first = configs[0]
    task = TASKS[first.task]
    files = [RunFiles(w, c) for w, c in zip(workdirs, configs, strict=True)]
    checkpoints = Checkpointer(state_dir, configs, runtime_keys=("progress",))
    graph_data, data, operator, num_classes = _prepare(first, task, graph_task)
    features = data["features"] if features is None else jnp.asarray(features)
    num_features = features.shape[-1]

    def make(seed):
        key = jax.random.key(seed)
        return GraphNet(first, task, num_features, num_classes, nnx.Rngs(params=key))

    graphdef, _, _ = nnx.split(make(0), nnx.Param, ...)
    seeds = jnp.asarray([c.seed for c in configs])
    params, rests = jax.vmap(lambda s: nnx.split(make(s), nnx.Param, ...)[1:])(seeds)
    tx = optax.chain(optax.add_decayed_weights(first.weight_decay), optax.adam(first.lr))

    init, run_chunk = _compiled_epochs(
        first, task, graphdef, tx, data, operator, num_classes, keep_tangent
    )
    state = {"carries": jax.vmap(init)(params, rests, seeds), "train_seconds": np.float64(0.0)}
    start, state = checkpoints.restore(state)
    for f in files:  # drop evaluations past the checkpoint we resume from
        f.resume_metrics(start)
    per_run = features.ndim == 3
    run_chunk = layout.over_runs(run_chunk, run_args=(True, per_run), donate=(0,))
    features = layout.place(features) if per_run else layout.replicate(features)
    state["carries"] = layout.place(state["carries"])
    compiled, compile_seconds = compile_program(run_chunk, state["carries"], features)
    loop = TrainingLoop(
        total=first.epochs,
        start=start,
        desc=f"{first.model} {first.task} {first.dataset} x{len(configs)}",
        progress=first.progress,
        run_names=[str(w) for w in workdirs],
        train_seconds=float(state["train_seconds"]),
        hint="lower lr",
    )

    figures = ("epoch", "stopped", "loss", "best_epoch", "best_val", "best_test")
    latest = {}  # host copies of the last chunk's figures

    def advance(state, done):
        carries = compiled(state["carries"], features)
        latest.update(layout.fetch({k: carries[k] for k in figures}))  # waits for the chunk
        epochs = int(np.max(latest["epoch"]))
        finished = bool(np.all(latest["stopped"]))
        return Chunk({**state, "carries": carries}, epochs, latest["loss"], finished=finished)

    def after_chunk(state, done):
        carries = latest
        for r, f in enumerate(files):
            record = {"epoch": done, "run_epoch": int(carries["epoch"][r])}
            record.update(loss=float(carries["loss"][r]), best_epoch=int(carries["best_epoch"][r]))
            record.update({f"val_{k}": float(v[r]) for k, v in carries["best_val"].items()})
            record.update({k: float(v[r]) for k, v in carries["best_test"].items()})
            f.append_metrics(record)
        seconds = np.float64(loop.train_seconds)
        real = layout.real(state["carries"])
        checkpoints.save(done, {**state, "carries": real, "train_seconds": seconds})

    state = loop.run(advance, state, after_chunk)
    checkpoints.close()
    carries = layout.real(state["carries"])
    results = _write_results(
        files, graphdef, carries, loop.train_seconds, compile_seconds, layout.devices
    )
    return results, carries["best_tangent"] if keep_tangent else None


def _compiled_epochs(first, task, graphdef, tx, data, operator, num_classes, keep_tangent):
    """(init(params, rest, seed) -> one run's carry, run_chunk(carries, features) -> carries
    after `first.chunk` more epochs of every run): full-batch training with early stopping
    on the validation score, vmapped over the runs, as one jitted program."""
    n = data["features"].shape[0]

    def init(params, rest, seed):
        return {
            "params": params,
            "rest": rest,
            "opt": tx.init(params),
            "best": jnp.asarray(-jnp.inf, jnp.float32),
            "best_test": {k: jnp.asarray(0.0, jnp.float32) for k in task.metric_names},
            "best_val": {k: jnp.asarray(0.0, jnp.float32) for k in task.metric_names},
            "best_epoch": jnp.asarray(0, jnp.int32),
            "best_tangent": jnp.zeros((n, first.dim) if keep_tangent else (), jnp.float32),
            "bad": jnp.asarray(0, jnp.int32),
            "stopped": jnp.asarray(False),
            "epoch": jnp.asarray(0, jnp.int32),
            "loss": jnp.asarray(0.0, jnp.float32),
            "key": jax.random.fold_in(jax.random.PRNGKey(seed), 7),
        }

    def loss_fn(params, rest, key, features):
        model = nnx.merge(graphdef, params, rest)
        model.train()
        key, drop_key = jax.random.split(key)
        rngs = nnx.Rngs(dropout=drop_key)
        x, c = model.encode(features, operator, rngs)
        loss = task.loss(model, x, c, data, key, operator, rngs)
        return loss, nnx.state(model, nnx.Not(nnx.Param))

    def epoch(carry, _, features):
        params, rest = carry["params"], carry["rest"]
        key, sub = jax.random.split(carry["key"])
        (loss, new_rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, rest, sub, features
        )
        updates, opt = tx.update(grads, carry["opt"], params)
        new_params = optax.apply_updates(params, updates)
        model = nnx.merge(graphdef, new_params, new_rest)
        model.eval()
        as32 = partial(jax.tree.map, lambda a: a.astype(jnp.float32))
        x, c = model.encode(features, operator)
        val = as32(task.metrics(model, x, c, data, "val", operator, num_classes))
        test = as32(task.metrics(model, x, c, data, "test", operator, num_classes))
        loss = loss.astype(jnp.float32)
        score = task.score(val)
        improved = (score > carry["best"]) & ~carry["stopped"]
        live = ~carry["stopped"]
        keep = partial(jax.tree.map, lambda a, b: jnp.where(live, a, b))
        new = {
            "params": keep(new_params, params),
            "rest": keep(new_rest, rest),
            "opt": keep(opt, carry["opt"]),
            "best": jnp.where(improved, score, carry["best"]),
            "best_test": jax.tree.map(
                lambda a, b: jnp.where(improved, a, b), test, carry["best_test"]
            ),
            "best_val": jax.tree.map(
                lambda a, b: jnp.where(improved, a, b), val, carry["best_val"]
            ),
            "best_epoch": jnp.where(improved, carry["epoch"] + 1, carry["best_epoch"]),
            "best_tangent": jnp.where(
                improved, model.geometry.log0(x, c).astype(jnp.float32), carry["best_tangent"]
            )
            if keep_tangent
            else carry["best_tangent"],
            "bad": jnp.where(improved, 0, carry["bad"] + live.astype(jnp.int32)),
            "epoch": carry["epoch"] + live.astype(jnp.int32),
            "loss": jnp.where(live, loss, carry["loss"]),
            "key": key,
        }
        new["stopped"] = carry["stopped"] | (new["bad"] >= first.patience)
        new["stopped"] |= new["epoch"] >= first.epochs
        return new, None

    def run_chunk(carries, features):
        def one_run(carry, features):
            return jax.lax.scan(partial(epoch, features=features), carry, None, first.chunk)[0]

        return jax.vmap(one_run, (0, 0 if features.ndim == 3 else None))(carries, features)

    return init, run_chunk


def _write_results(
    files, graphdef, carries, train_seconds, compile_seconds, devices: int
) -> list[dict]:
    """Each run's results.json from the final carries: the test figures of its best
    validation epoch, its validation figures, epochs and learned curvatures."""
    stacked = nnx.merge(graphdef, carries["params"], carries["rest"])
    curvatures = [np.asarray(c()) for c in stacked.curvatures]  # (R,) each
    results = []
    for r, run_files in enumerate(files):
        out = {k: float(v[r]) for k, v in carries["best_test"].items()}
        out.update({f"val_{k}": float(v[r]) for k, v in carries["best_val"].items()})
        out.update(
            best_epoch=int(carries["best_epoch"][r]),
            epochs=int(carries["epoch"][r]),
            loss=float(carries["loss"][r]),
            train_seconds=train_seconds,
            compile_seconds=compile_seconds,
            runs_in_program=len(files),
            devices=devices,
            curvatures=[float(c[r]) for c in curvatures],
        )
        run_files.write_results(out)
        results.append(out)
    return results
