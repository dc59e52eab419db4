"""geo.loop and geo.checkpoint: chunks, early finish, the non-finite error naming the run,
checkpoints restored exactly, and a workdir of another config refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from geo.checkpoint import Checkpointer
from geo.loop import Chunk, TrainingLoop
from geo.run_files import RunFiles


def _advance_by(step):
    def advance(state, done):
        return Chunk(state + 1, done + step, np.zeros(2), finished=state + 1 >= 3)

    return advance


def test_the_loop_runs_chunks_until_total_or_finished():
    seen = []
    loop = TrainingLoop(total=100, run_names=["a", "b"], progress=False)
    assert loop.run(_advance_by(10), 0, lambda s, d: seen.append(d)) == 3
    assert seen == [10, 20, 30] and loop.done == 30
    loop = TrainingLoop(total=25, start=5, run_names=["a", "b"], progress=False)
    assert loop.run(lambda s, d: Chunk(s, d + 10, np.zeros(2)), 0) == 0
    assert loop.done == 25


def test_a_non_finite_loss_names_the_run_and_the_epoch():
    loop = TrainingLoop(total=10, desc="toy", run_names=["runs/a", "runs/b"], progress=False)
    with pytest.raises(FloatingPointError, match="toy: after epoch 2 the loss of runs/b is nan"):
        loop.run(lambda s, d: Chunk(s, d + 2, np.array([0.1, np.nan])), 0)


def _config(**values):
    return ml_collections.ConfigDict({"seed": 0, "dim": 2, "progress": True, **values})


def test_checkpoints_restore_exactly_and_refuse_another_config(tmp_path):
    state = {"w": jnp.arange(6.0).reshape(2, 3), "key": jax.random.split(jax.random.key(3), 2)}
    checkpoints = Checkpointer(tmp_path, [_config()], runtime_keys=("progress",))
    assert checkpoints.restore(state)[0] == 0
    checkpoints.save(4, {"w": state["w"] + 1, "key": state["key"]})
    checkpoints.close()
    again = Checkpointer(tmp_path, [_config(progress=False)], runtime_keys=("progress",))
    step, restored = again.restore(state)
    again.close()
    assert step == 4
    np.testing.assert_array_equal(restored["w"], state["w"] + 1)
    assert jax.dtypes.issubdtype(restored["key"].dtype, jax.dtypes.prng_key)  # a typed key again
    np.testing.assert_array_equal(
        jax.random.key_data(restored["key"]), jax.random.key_data(state["key"])
    )
    with pytest.raises(ValueError, match="holds checkpoints of different runs .*dim: 2 -> 3"):
        Checkpointer(tmp_path, [_config(dim=3)], runtime_keys=("progress",))


def test_a_key_added_later_resumes_at_its_default_only(tmp_path):
    """Checkpoints written before an experiment gained a key: same run at the key's default."""
    Checkpointer(tmp_path, [_config()]).close()
    defaults = _config(mode=1)
    Checkpointer(tmp_path, [_config(mode=1)], defaults=defaults).close()  # resumes
    with pytest.raises(ValueError, match="different runs .*mode: 1 -> 2"):
        Checkpointer(tmp_path, [_config(mode=2)], defaults=defaults)


def test_run_files_keep_the_evaluations_of_the_checkpoint_resumed_from(tmp_path):
    files = RunFiles(tmp_path / "run", _config())
    for epoch in (10, 20, 30):
        files.append_metrics({"epoch": epoch, "loss": 1.0 / epoch})
    files.resume_metrics(20)
    assert [m["epoch"] for m in files.metrics()] == [10, 20]
    files.write_results({"map": 0.5})
    assert (tmp_path / "run" / "config.json").exists()
