"""The watchdog stops a run whose compiled step never finishes, with a clear message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from geo import watchdog

ROOT = Path(__file__).resolve().parents[2]

# A compiled step that never returns: a host callback waiting on an event nobody sets,
# so the main thread blocks inside XLA exactly as in a runtime deadlock.
_STALLED_STEP = """
import threading
import jax
import jax.numpy as jnp

_never = threading.Event()

def _wait(x):
    _never.wait()
    return x

@jax.jit
def stalled_step(x):
    return jax.pure_callback(_wait, jax.ShapeDtypeStruct(x.shape, x.dtype), x)
"""


def _run(body: str, timeout: float = 120) -> subprocess.CompletedProcess:
    script = textwrap.dedent(_STALLED_STEP) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_stalled_compiled_step_is_stopped_with_the_cause():
    done = _run(
        """
        from geo.watchdog import Watchdog, beat
        step = stalled_step.lower(jnp.ones(3)).compile()  # compiled before the last beat
        with Watchdog(2.0, "stall test"):
            beat("epoch 7")
            step(jnp.ones(3)).block_until_ready()
        print("not reached")
        """
    )
    assert done.returncode == watchdog.EXIT_STATUS, done.stderr
    assert "not reached" not in done.stdout
    assert "stall test: no progress for" in done.stderr
    assert "the last completed work: epoch 7" in done.stderr
    assert "it is stuck, not slow" in done.stderr
    assert "Likely cause:" in done.stderr
    assert "most recent call first" in done.stderr  # the Python stacks follow
    assert "in _wait" in done.stderr  # and name where the stalled step waits


def test_a_busy_step_is_reported_as_slow_not_stuck():
    done = _run(
        """
        import time
        from geo.watchdog import Watchdog
        with Watchdog(1.0, "busy test"):
            while True:  # busy, no beats
                sum(range(10_000))
        """
    )
    assert done.returncode == watchdog.EXIT_STATUS, done.stderr
    assert "it is busy" in done.stderr
    assert "raise --watchdog SECONDS" in done.stderr


def test_beats_keep_a_run_alive_and_the_watchdog_leaves_cleanly():
    done = _run(
        """
        import time
        from geo.watchdog import Watchdog, beat
        with Watchdog(5.0, "alive test"):
            for epoch in range(8):
                time.sleep(1.0)  # 8 s in all, more than the timeout, beats every second
                beat(f"epoch {epoch}")
        print("finished")
        """
    )
    assert done.returncode == 0, done.stderr
    assert "finished" in done.stdout


def test_geo_run_stops_a_stalled_experiment(tmp_path):
    done = _run(
        f"""
        import sys, types
        import ml_collections
        from geo import cli, experiment
        from geo.watchdog import beat

        module = types.ModuleType("experiments.stalls")
        module.get_config = lambda: ml_collections.ConfigDict({{"seed": 0}})
        module.DESCRIPTION = "an experiment whose step never finishes"
        module.PRESET_KEYS, module.SWEEP_AXES, module.CONFIG_HELP = (), (), {{}}
        module.validate = lambda config: None
        module.train_and_evaluate_many = lambda configs, workdirs, state_dir: []
        def train_and_evaluate(config, workdir):
            beat("compilation")
            stalled_step(jnp.ones(3)).block_until_ready()
        module.train_and_evaluate = train_and_evaluate
        sys.modules["experiments.stalls"] = module
        experiment.register("stalls", "experiments.stalls")
        sys.exit(cli.main(["run", "stalls", "--workdir", {str(tmp_path)!r}, "--watchdog", "1"]))
        """
    )
    assert done.returncode == watchdog.EXIT_STATUS, done.stderr
    assert f"geo run stalls --workdir {tmp_path}: no progress for" in done.stderr
    assert "the last completed work: compilation" in done.stderr


def test_watchdog_rejects_a_bad_timeout(capsys):
    from geo import cli

    with pytest.raises(SystemExit, match="--watchdog must be >= 0"):
        cli.main(["run", "poincare_wordnet", "--workdir", "unused", "--watchdog", "-1"])
    with pytest.raises(ValueError, match="must be > 0 seconds"):
        watchdog.Watchdog(0, "x")


def test_the_broken_jaxlib_series_is_named(monkeypatch):
    from jaxlib import version

    monkeypatch.setattr(version, "__version__", "0.10.2")
    assert watchdog.broken_jaxlib() == "0.10.2"
    assert "jaxlib 0.10.2" in watchdog.likely_cause()
    monkeypatch.setattr(version, "__version__", "0.9.2")
    assert watchdog.broken_jaxlib() is None
    assert "docs/known_issues.md" in watchdog.likely_cause()


def test_a_stopped_process_is_not_taken_for_a_stuck_one():
    """SIGSTOP (Ctrl-Z) for longer than the timeout, then SIGCONT: the run goes on."""
    import signal
    import time

    script = textwrap.dedent(
        """
        import sys
        from geo.watchdog import Watchdog, beat
        with Watchdog(3.0, "stop test"):
            beat("epoch 1")
            print("ready", flush=True)
            sys.stdin.readline()  # blocked, no beats, until the parent writes
            beat("epoch 2")
        print("finished")
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGSTOP)
    time.sleep(5.0)  # stopped for longer than the timeout
    child.send_signal(signal.SIGCONT)
    time.sleep(1.0)  # 1 s of running time without a beat: under the timeout
    out, err = child.communicate("go\n", timeout=60)
    assert child.returncode == 0, err
    assert "finished" in out
