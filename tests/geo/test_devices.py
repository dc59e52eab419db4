"""Several devices (geo.devices) and processes (geo.processes), on CPU devices of XLA's host
platform: every multi-device check runs in its own subprocess (tests/multi_device.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from geo.cli import device_request
from geo.devices import DeviceRequest, data_layout, runs_layout
from geo.experiment import call_with_devices
from geo.processes import distributed_arguments
from tests.multi_device import device_environment, free_port, geo_command, run_python
from tests.toy_data import toy_hierarchy

# 121 nodes: 121 table rows pad to 122 on 2 devices and to 124 on 4.
TREE = dict(branching=(3, 3, 3, 3), edges=120)
POINCARE = ["epochs=3", "burnin_epochs=1", "eval_every=0", "checkpoint_every=0",
            "progress=false", "dim=3"]  # fmt: skip


def _embeddings(folder, runs) -> np.ndarray:
    return np.stack([np.load(folder / run / "embeddings.npy") for run in runs])


def test_requests_are_checked_before_any_work():
    with pytest.raises(ValueError, match="split='rows'; valid choices are runs, data"):
        DeviceRequest(2, "rows")
    with pytest.raises(ValueError, match="devices must be >= 1"):
        DeviceRequest(0)
    with pytest.raises(ValueError, match="cannot split 2 runs over 3 devices"):
        runs_layout(2, DeviceRequest(3))
    with pytest.raises(ValueError, match=r"asked for 2 devices, but this job has 1 .*count=2"):
        runs_layout(4, DeviceRequest(2))
    with pytest.raises(ValueError, match="batch_size=30 does not split over 4 devices"):
        data_layout(DeviceRequest(4, "data"), "batch_size", 30)
    assert runs_layout(5).mesh is None and runs_layout(5).padded == 5  # one device: as before
    assert device_request("sweep", None, None) == DeviceRequest(None, "runs")
    assert device_request("run", None, None) == DeviceRequest(1, "data")
    assert device_request("run", "all", "runs") == DeviceRequest(None, "runs")
    with pytest.raises(ValueError, match="--devices takes a number or 'all'"):
        device_request("run", "two", None)

    def legacy(configs, workdirs, state_dir):
        return ["ran"]

    assert call_with_devices(legacy, [], [], "s", devices=DeviceRequest(1)) == ["ran"]
    with pytest.raises(ValueError, match="takes no `devices`.*--devices 1"):
        call_with_devices(legacy, [], [], "s", devices=DeviceRequest(2))


def test_distributed_settings_come_from_the_environment():
    assert distributed_arguments({}) is None
    assert distributed_arguments({"GEO_DISTRIBUTED": "1"}) == {}
    explicit = {"JAX_COORDINATOR_ADDRESS": "node0:1234", "JAX_NUM_PROCESSES": "4",
                "JAX_PROCESS_ID": "3"}  # fmt: skip
    assert distributed_arguments(explicit) == dict(
        coordinator_address="node0:1234", num_processes=4, process_id=3
    )
    with pytest.raises(ValueError, match="JAX_COORDINATOR_ADDRESS set but not"):
        distributed_arguments({"JAX_COORDINATOR_ADDRESS": "node0:1234"})
    with pytest.raises(ValueError, match=r"JAX_PROCESS_ID=4 must lie in \[0, 4\)"):
        distributed_arguments({**explicit, "JAX_PROCESS_ID": "4"})


SHARDED_SWEEPS = """
    import json, sys
    from pathlib import Path
    import numpy as np
    from experiments import hgcn, poincare_wordnet, spdnet
    from geo.devices import DeviceRequest
    from geo.sweep import run_sweep

    tmp, tree, hgcn_data = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    sweeps = {
        "poincare": (poincare_wordnet, [f"dataset={tree}", *json.loads(sys.argv[4]),
                                        "seed=0-5", "lr=0.3,1.0"]),
        "spdnet": (spdnet, ["dataset=basic_motions", "epochs=2", "seed=0-4",
                            "baselines=false", "progress=false"]),
        "hgcn": (hgcn, ["task=lp", "dataset=disease_lp", f"data_dir={hgcn_data}",
                        "epochs=4", "chunk=2", "dim=4", "seed=0-4", "progress=false"]),
    }
    out = {}
    for name, (module, items) in sweeps.items():
        for devices in (1, 4):
            run_sweep(module, tmp / f"{name}{devices}", items, DeviceRequest(devices))
        rows = [[json.loads(p.read_text()) for p in sorted((tmp / f"{name}{d}").glob("*/res*"))]
                for d in (1, 4)]
        keys = [k for k, v in rows[0][0].items() if isinstance(v, float) and "second" not in k]
        out[name] = {"runs": len(rows[0]), "devices": [rows[d][0]["devices"] for d in (0, 1)],
                     "diff": {k: max(abs(a[k] - b[k]) for a, b in zip(*rows)) for k in keys}}
    runs = sorted(p.name for p in (tmp / "poincare1").glob("seed=*"))
    emb = [np.stack([np.load(tmp / f"poincare{d}" / r / "embeddings.npy") for r in runs])
           for d in (1, 4)]
    out["poincare"]["embedding_diff"] = float(np.max(np.abs(emb[0] - emb[1])))
    try:
        run_sweep(poincare_wordnet, tmp / "bad", [f"dataset={tree}", "seed=0-2"], DeviceRequest(4))
    except ValueError as err:
        out["error"] = str(err)
    print(json.dumps(out))
"""


def test_sharded_sweeps_equal_the_one_device_sweeps(tmp_path, shared_data):
    """Every experiment that sweeps as one program, its runs padded and split over 4 devices."""
    tree = toy_hierarchy(tmp_path / "tree.tsv", **TREE)
    out = run_python(
        SHARDED_SWEEPS, 4, str(tmp_path), str(tree), str(shared_data / "hgcn"),
        json.dumps(POINCARE), timeout=600,
    )  # fmt: skip
    assert out["poincare"]["runs"] == 12 and out["spdnet"]["runs"] == out["hgcn"]["runs"] == 5
    assert all(out[name]["devices"] == [1, 4] for name in ("poincare", "spdnet", "hgcn"))
    assert out["poincare"]["embedding_diff"] <= 1e-6
    assert max(out["poincare"]["diff"].values()) <= 1e-6 and "map" in out["poincare"]["diff"]
    assert max(out["spdnet"]["diff"].values()) <= 1e-5 and "accuracy" in out["spdnet"]["diff"]
    # HGCN in float32: a program of 2 runs per device rounds differently from one of 5, and
    # AUC and AP are rank statistics, where one near-tied pair of 133 x 133 may swap.
    hgcn = out["hgcn"]["diff"]
    assert hgcn["loss"] <= 1e-4 and hgcn["roc_auc"] <= 1e-3 and hgcn["average_precision"] <= 1e-3
    assert "cannot split 3 runs over 4 devices" in out["error"]


DATA_PARALLEL = """
    import json, sys
    import numpy as np
    from flax import nnx
    import geo.classifier_training as ct
    from experiments import spdnet
    from geo.devices import DeviceRequest
    from tests.experiments.test_spd_grassmann import _two_class_covariances

    programs = []
    compile_program = ct.compile_program

    def spy(fn, *args):
        compiled, seconds = compile_program(fn, *args)
        programs.append(compiled.as_text())
        return compiled, seconds

    ct.compile_program = spy
    train, test = _two_class_covariances(24, 0), _two_class_covariances(24, 1)
    config = spdnet.get_config("basic_motions")
    config.batchnorm = "rbn"

    def make_model(key):
        return spdnet.SPDNet(4, [3], 2, config, rngs=nnx.Rngs(params=key))

    runs = {
        d: ct.train_classifiers(make_model, [0, 1], train, test, optimizer="radam", lr=0.05,
                                epochs=4, batch_size=16, progress=False,
                                devices=DeviceRequest(d, "data"))
        for d in (1, 4)
    }
    out = {k: float(np.max(np.abs(runs[1][k] - runs[4][k])))
           for k in ("loss", "accuracy", "train_accuracy")}
    out["all_reduce"] = ["all-reduce" in text for text in programs]
    try:
        ct.train_classifiers(make_model, [0], train, test, optimizer="radam", lr=0.05,
                             epochs=1, batch_size=10, devices=DeviceRequest(4, "data"))
    except ValueError as err:
        out["error"] = str(err)
    print(json.dumps(out))
"""


def test_data_parallel_spdnet_equals_one_device():
    """Each batch split over 4 devices; XLA reduces the gradients and batch-norm means."""
    out = run_python(DATA_PARALLEL, 4)
    assert out["all_reduce"] == [False, True]  # one device: no collective; 4: XLA's own
    assert out["loss"] <= 1e-5 and out["accuracy"] == 0 and out["train_accuracy"] == 0
    assert "batch_size=10 does not split over 4 devices" in out["error"]


ROW_TABLES = """
    import json, sys
    from pathlib import Path
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import geo.optim as go
    from experiments import poincare_wordnet
    from geo.config import build_config
    from geo.devices import DeviceRequest
    from manifolds import PoincareBall

    tmp, tree = Path(sys.argv[1]), sys.argv[2]
    rng = np.random.default_rng(0)
    ball = PoincareBall()
    table = ball.proj(jnp.asarray(rng.uniform(-0.5, 0.5, (1000, 3)), jnp.float32))
    rows = jnp.asarray(np.r_[rng.integers(0, 1000, 200), [5] * 40, [999] * 20, [1000] * 4])
    grads = jnp.asarray(rng.standard_normal((len(rows), 3)), jnp.float32)
    tx = go.radam(0.1, ball)
    rsgd = jax.jit(lambda t, r, g: go.sparse_rsgd_step(t, r, g, ball, 0.3))
    radam = jax.jit(lambda t, s, r, g: go.sparse_row_update(tx, t, s, r, g, ball))
    ref_rsgd = rsgd(table, rows, grads)
    ref_radam = radam(table, tx.init(table), rows, grads)[0]
    out = {}
    for d in (2, 4):
        split = NamedSharding(Mesh(np.asarray(jax.devices()[:d]), ("rows",)), P("rows", None))
        sharded = jax.device_put(table, split)
        state = jax.tree.map(lambda a: jax.device_put(a, split) if a.shape == table.shape else a,
                             tx.init(table))
        new = rsgd(sharded, rows, grads)
        out[f"rsgd{d}"] = [float(jnp.max(jnp.abs(new - ref_rsgd))), len(new.addressable_shards)]
        new = radam(sharded, state, rows, grads)[0]
        out[f"radam{d}"] = float(jnp.max(jnp.abs(new - ref_radam)))
    config = build_config(poincare_wordnet, [f"dataset={tree}", *json.loads(sys.argv[3])])
    for d in (1, 2, 4):
        result = poincare_wordnet.train_and_evaluate(
            config, tmp / f"run{d}", DeviceRequest(d, "data"))
        out[f"devices{d}"] = result["devices"]
    emb = [np.load(tmp / f"run{d}" / "embeddings.npy") for d in (1, 2, 4)]
    out["shape"] = list(emb[0].shape)
    out["train_diff"] = [float(np.max(np.abs(emb[0] - e))) for e in emb[1:]]
    print(json.dumps(out))
"""


def test_row_sharded_tables_update_as_on_one_device(tmp_path):
    """Sparse updates with duplicate rows (and a dropped out-of-range row) on a table split
    by rows over 2 and 4 devices; then training of a 121-row table, padded to 122 and 124."""
    tree = toy_hierarchy(tmp_path / "tree.tsv", **TREE)
    out = run_python(ROW_TABLES, 4, str(tmp_path), str(tree), json.dumps(POINCARE))
    assert out["rsgd2"] == [0.0, 2] and out["rsgd4"] == [0.0, 4]  # exact, and split
    assert out["radam2"] <= 1e-6 and out["radam4"] <= 1e-6
    assert [out[f"devices{d}"] for d in (1, 2, 4)] == [1, 2, 4]
    assert out["shape"] == [121, 3] and out["train_diff"] == [0.0, 0.0]


def test_checkpoints_restore_on_other_device_counts(tmp_path):
    """A sweep killed after its second checkpoint on 4 devices resumes on 1 and on 2 and
    ends as the uninterrupted sweep on 1 device."""
    tree = toy_hierarchy(tmp_path / "tree.tsv", **TREE)
    items = [f"dataset={tree}", "epochs=4", "checkpoint_every=1", "eval_every=2",
             "burnin_epochs=1", "progress=false", "dim=3", "seed=0-5"]  # fmt: skip

    def sweep(workdir, devices, **env):
        done = geo_command(["sweep", "poincare_wordnet", "--workdir", str(workdir), *items,
                            "--devices", str(devices)], devices, **env)  # fmt: skip
        return done

    killed = sweep(tmp_path / "on1", 4, GEO_KILL_AFTER_CHECKPOINT="2")
    assert killed.returncode == -9, killed.stderr[-3000:]
    shutil.copytree(tmp_path / "on1", tmp_path / "on2")
    for workdir, devices in ((tmp_path / "on1", 1), (tmp_path / "on2", 2), (tmp_path / "ref", 1)):
        done = sweep(workdir, devices)
        assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted(p.name for p in (tmp_path / "ref").glob("seed=*"))
    reference = _embeddings(tmp_path / "ref", runs)
    for name in ("on1", "on2"):
        np.testing.assert_allclose(_embeddings(tmp_path / name, runs), reference, atol=1e-6)
        metrics = (tmp_path / name / runs[0] / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in metrics] == [2, 4]


def test_two_processes_run_one_sweep_together(tmp_path):
    """Two local processes of 2 CPU devices each form one jax.distributed job (gloo) whose
    sweep of 6 runs, split over the 4 devices, equals the sweep of one process."""
    tree = toy_hierarchy(tmp_path / "tree.tsv", **TREE)
    items = [f"dataset={tree}", *POINCARE, "seed=0-5"]
    address = f"localhost:{free_port()}"
    args = ["sweep", "poincare_wordnet", "--workdir", str(tmp_path / "job"), *items]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "geo.cli", *args],
            env=device_environment(
                2, JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i)
            ),  # fmt: skip
            cwd=device_environment(2)["PYTHONPATH"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=300) for p in processes]
    finally:  # one that failed early leaves the other waiting for it: stop both
        for p in processes:
            p.kill()
    for p, (_, err) in zip(processes, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert "| runs | map |" in outputs[0][0] and "| runs |" not in outputs[1][0]  # process 0
    single = geo_command(["sweep", "poincare_wordnet", "--workdir", str(tmp_path / "one"),
                          *items], 1)  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    runs = sorted(p.name for p in (tmp_path / "one").glob("seed=*"))
    assert len(runs) == 6
    np.testing.assert_allclose(
        _embeddings(tmp_path / "job", runs), _embeddings(tmp_path / "one", runs), atol=1e-6
    )
