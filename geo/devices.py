"""Where a program's work lies on the devices (`jax.sharding`): its runs, or one run's data.

    request = DeviceRequest(count=None, split="runs")     # geo sweep: all devices
    layout = runs_layout(len(configs), request)           # checks the request, pads the runs
    state = layout.place(state)                           # (R, ...) -> (R', ...) over "runs"
    step = layout.over_runs(step, run_args=(True, False)) # each device steps its own runs
    losses = layout.fetch(losses)                         # host copy of the R real runs

Two splits, one mechanism (a `Mesh` with one axis):
- `runs`: the runs of a sweep, padded to a multiple of the device count (padding repeats
  the last run; its results are dropped); each device runs the single-device program on its
  own runs (`jax.shard_map`), so a run's result does not depend on the device count.
- `data`: one run's batch (mini-batch models) or one table's rows (embeddings), placed with
  `NamedSharding`s; XLA partitions the program and inserts the reductions (data-parallel
  gradients, masked gathers and scatters of a row-sharded table).

One device (or `count=1`) keeps today's single-device program: no mesh, nothing placed.
Several processes (`geo.processes`) see the devices of all of them; a layout then spans the
global devices and `fetch` gathers from every process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

SPLITS = ("runs", "data")
AXIS = "devices"


@dataclasses.dataclass(frozen=True)
class DeviceRequest:
    """What the user asked for (`--devices`, `--split`).

    Attributes:
        count: devices to use; None: every device of the job.
        split: "runs" (the runs of a sweep) or "data" (one run's batch or table rows).
    """

    count: int | None = None
    split: str = "runs"

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"split={self.split!r}; valid choices are {', '.join(SPLITS)}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"devices must be >= 1, got {self.count}")


ONE_DEVICE = DeviceRequest(count=1)
ALL_DEVICES = DeviceRequest()


def _mesh(count: int) -> Mesh | None:
    """A one-axis mesh of the first `count` devices of the job, or None for one device."""
    available = jax.device_count()
    if count > available:
        raise ValueError(
            f"asked for {count} devices, but this job has {available} "
            f"({jax.devices()[0].platform}); on a CPU set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={count} before starting"
        )
    if jax.process_count() > 1 and count != available:
        raise ValueError(
            f"a job of {jax.process_count()} processes uses all its {available} devices; "
            f"got devices={count}"
        )
    if count == 1:
        return None
    return Mesh(np.asarray(jax.devices()[:count]), (AXIS,))


def _is_key(a) -> bool:
    return isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key)


def _to_host(a):
    """A NumPy copy of a (possibly multi-process) array; typed PRNG keys stay keys, on this
    process's default device."""
    if _is_key(a):
        data = _to_host(jax.random.key_data(a))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
    if isinstance(a, jax.Array) and not a.is_fully_addressable:
        return np.asarray(multihost_utils.process_allgather(a, tiled=True))
    return np.asarray(a)


def _put(a, sharding: NamedSharding):
    """`a` (host or device) placed with `sharding`, also when the job has several processes
    (every process holds the same value; each places its own devices' shards)."""
    if _is_key(a):
        impl = jax.random.key_impl(a)
        return jax.random.wrap_key_data(_put(jax.random.key_data(a), sharding), impl=impl)
    if jax.process_count() == 1:
        return jax.device_put(a, sharding)
    host = _to_host(a)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


@dataclasses.dataclass(frozen=True)
class RunsLayout:
    """R runs of one program over D devices ("runs" split).

    Attributes:
        runs: the real runs R.
        mesh: the devices' mesh, or None for one device.
    """

    runs: int
    mesh: Mesh | None = None

    @property
    def devices(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    @property
    def padded(self) -> int:
        """R rounded up to a multiple of the device count."""
        return -(-self.runs // self.devices) * self.devices

    def place(self, tree: Any) -> Any:
        """Every (R, ...) leaf padded to (R', ...) and sharded over the devices by run."""
        if self.mesh is None:
            return tree
        sharding = NamedSharding(self.mesh, P(AXIS))
        extra = self.padded - self.runs

        def pad(a):
            if extra:
                a = jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)])
            return _put(a, sharding)

        return jax.tree.map(pad, tree)

    def replicate(self, tree: Any) -> Any:
        """Every leaf on every device (data the runs share)."""
        if self.mesh is None:
            return tree
        return jax.tree.map(lambda a: _put(a, NamedSharding(self.mesh, P())), tree)

    def real(self, tree: Any) -> Any:
        """The R real runs of every (R', ...) leaf: `tree` itself on one device, else host
        copies (what a checkpoint saves, whatever the device count)."""
        return tree if self.mesh is None else self.fetch(tree)

    def fetch(self, tree: Any) -> Any:
        """Host copies of the R real runs of every leaf (NumPy; typed keys stay keys)."""
        return jax.tree.map(lambda a: _to_host(a)[: self.runs], tree)

    def over_runs(self, fn: Callable, run_args: Sequence[bool], donate: Sequence[int] = ()):
        """`fn` jitted to run each device's runs on that device (`jax.shard_map`); on one
        device, `fn` jitted.

        Args:
            fn: positional arguments -> a pytree of (R, ...) arrays; every argument whose
                `run_args` entry is True has a leading runs axis, the others are shared.
            run_args: per positional argument, whether it has the runs axis.
            donate: argument numbers whose buffers the call may reuse.
        """
        if self.mesh is None:
            return jax.jit(fn, donate_argnums=tuple(donate))
        specs = tuple(P(AXIS) if r else P() for r in run_args)
        mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=specs, out_specs=P(AXIS))
        return jax.jit(mapped, donate_argnums=tuple(donate))


def runs_layout(runs: int, request: DeviceRequest = ONE_DEVICE) -> RunsLayout:
    """The layout of `runs` runs for `request` ("runs" split); a ValueError when the runs
    cannot be split as asked. By default (count None) min(devices, runs) devices are used."""
    if request.split != "runs":
        raise ValueError(f"runs_layout needs split='runs', got {request.split!r}")
    count = min(jax.device_count(), runs) if request.count is None else request.count
    if count > runs:
        raise ValueError(
            f"cannot split {runs} run{'s' * (runs != 1)} over {count} devices: use "
            f"--devices {runs} or fewer, sweep more runs, or --split data for one run"
        )
    return RunsLayout(runs, _mesh(count))


@dataclasses.dataclass(frozen=True)
class DataLayout:
    """One run's data over D devices ("data" split): a batch axis or a table's rows.

    Attributes:
        mesh: the devices' mesh, or None for one device.
    """

    mesh: Mesh | None = None

    @property
    def devices(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    def spec(self, ndim: int, axis: int) -> NamedSharding:
        """The sharding of an ndim array split over the devices along `axis`."""
        parts = [None] * ndim
        parts[axis] = AXIS
        return NamedSharding(self.mesh, P(*parts))

    def split(self, tree: Any, axis: int) -> Any:
        """Every leaf placed split along `axis` (its size a multiple of the device count)."""
        if self.mesh is None:
            return tree
        return jax.tree.map(lambda a: _put(a, self.spec(np.ndim(a), axis)), tree)

    def replicate(self, tree: Any) -> Any:
        """Every leaf on every device."""
        if self.mesh is None:
            return tree
        return jax.tree.map(lambda a: _put(a, NamedSharding(self.mesh, P())), tree)

    def constrain(self, tree: Any, axis: int) -> Any:
        """Inside a jitted function: every leaf split along `axis` (a sharding annotation;
        under `jax.vmap` the axis counts the unbatched dimensions)."""
        if self.mesh is None:
            return tree
        return jax.tree.map(
            lambda a: jax.lax.with_sharding_constraint(a, self.spec(a.ndim, axis)), tree
        )

    def constrain_replicated(self, tree: Any) -> Any:
        """Inside a jitted function: every leaf on every device."""
        if self.mesh is None:
            return tree
        replicated = NamedSharding(self.mesh, P())
        return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, replicated), tree)

    def rows(self, count: int) -> int:
        """`count` rounded up to a multiple of the device count (a row-sharded table)."""
        return -(-count // self.devices) * self.devices


def data_layout(request: DeviceRequest, what: str, size: int | None = None) -> DataLayout:
    """The layout for one run's `what` (e.g. "batch_size") of `size` over the requested
    devices ("data" split; count None: every device); a ValueError when `size` is given and
    is not a multiple of the device count."""
    if request.split != "data":
        raise ValueError(f"data_layout needs split='data', got {request.split!r}")
    count = jax.device_count() if request.count is None else request.count
    if size is not None and size % count:
        raise ValueError(
            f"{what}={size} does not split over {count} devices; use a multiple of {count} "
            f"or --devices with a divisor of {size}"
        )
    return DataLayout(_mesh(count))
