"""Checkpoints of a compiled program's state (orbax): asynchronous, atomic, the last few kept,
exact resume, and a refusal to mix another config's checkpoints into a workdir.

    checkpoints = Checkpointer(state_dir, configs, runtime_keys=("progress",))
    step, state = checkpoints.restore(initial_state)   # (0, initial_state) on a fresh workdir
    ...
    checkpoints.save(step, state)                      # returns at once; written in the back
    checkpoints.close()                                # waits for the last write

The state is any pytree of arrays; it is copied to the host before the asynchronous write,
so the next compiled call may donate its device buffers. Orbax writes each step into a
temporary folder and renames it when complete, so a killed process leaves either the whole
step or none of it.

Setting the environment variable GEO_KILL_AFTER_CHECKPOINT=N makes the process kill itself
with SIGKILL once its N-th checkpoint is on disk: the resume tests stop a run at a known
point with it.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from geo.config import settings_without
from geo.processes import is_primary

KILL_AFTER_VARIABLE = "GEO_KILL_AFTER_CHECKPOINT"


def check_resumable(state_dir: Path, settings: list[dict], defaults: dict | None = None) -> None:
    """Record `settings` in state_dir/program.json; a ValueError if it holds other runs'.
    Process 0 alone checks and writes it in a job of several processes.

    A key the recorded runs lack (one a newer version of the experiment added) is the same
    run when its value is its entry in `defaults`, the value that trains as before.
    """
    if not is_primary():
        return  # process 0 of a multi-process job checks and writes it
    path = state_dir / "program.json"
    if path.exists():
        before = json.loads(path.read_text())
        added = {
            k: v
            for k, v in (defaults or {}).items()
            if all(k not in old for old in before) and all(s.get(k) == v for s in settings)
        }
        before = [{**old, **added} for old in before]
        if before != settings:
            old, new = (before[0] if before else {}), (settings[0] if settings else {})
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            what = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:4])
            raise ValueError(
                f"{state_dir} holds checkpoints of different runs ({what or 'other runs'}); "
                "use a new --workdir, or delete its checkpoints to start over"
            )
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2))


def _is_key(a) -> bool:
    return isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key)


def host_copy(state: Any) -> Any:
    """NumPy copies of every array of `state` (the device buffers may be donated next);
    typed PRNG keys as their key data."""

    def copy(a):
        return np.array(jax.random.key_data(a) if _is_key(a) else a, copy=True)

    return jax.tree.map(copy, state)


def _like(template: Any, restored: Any) -> Any:
    """`restored` with the typed PRNG keys of `template` rebuilt from their key data."""

    def rebuild(t, r):
        return jax.random.wrap_key_data(r, impl=jax.random.key_impl(t)) if _is_key(t) else r

    return jax.tree.map(rebuild, template, restored)


# Checkpoints saved by this process, for GEO_KILL_AFTER_CHECKPOINT (counted across the
# Checkpointers of a run's phases).
_saves_in_process = 0


class Checkpointer:
    """The checkpoints of one compiled program under `state_dir/checkpoints`.

    Args:
        state_dir: folder of the program's checkpoints and program.json.
        configs: the configs of the program's runs (ml_collections.ConfigDict).
        runtime_keys: config keys a resumed run may change (progress bar, evaluation cadence).
        keep: how many of the latest checkpoints to keep.
        defaults: the experiment's default config: checkpoints written before a key existed
            resume when the key has its default.
    """

    def __init__(self, state_dir, configs, runtime_keys=(), keep: int = 2, defaults=None):
        self.state_dir = Path(state_dir)
        settings = [settings_without(c, runtime_keys) for c in configs]
        base = None if defaults is None else settings_without(defaults, runtime_keys)
        check_resumable(self.state_dir, settings, base)
        self._manager = ocp.CheckpointManager(
            (self.state_dir / "checkpoints").resolve(),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep),
        )
        kill_after = os.environ.get(KILL_AFTER_VARIABLE, "")
        self._kill_after = int(kill_after) if kill_after else None

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def restore(self, state: Any) -> tuple[int, Any]:
        """(step, state) of the latest checkpoint, with `state` as the template of shapes and
        dtypes; (0, state) when there is none."""
        step = self._manager.latest_step()
        if step is None:
            return 0, state
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, host_copy(state))
        restored = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        return step, _like(state, restored)

    def save(self, step: int, state: Any, force: bool = False) -> None:
        """Write `state` as `step` in the background (`force`: even if the step exists)."""
        global _saves_in_process
        self._manager.save(step, args=ocp.args.StandardSave(host_copy(state)), force=force)
        _saves_in_process += 1
        if self._kill_after is not None and _saves_in_process >= self._kill_after:
            self._manager.wait_until_finished()
            os.kill(os.getpid(), signal.SIGKILL)

    def close(self) -> None:
        """Wait for the last write and release the manager."""
        self._manager.wait_until_finished()
        self._manager.close()
