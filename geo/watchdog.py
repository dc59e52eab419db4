"""A watchdog for long runs: stop with a clear message when no work completes for a while.

A compiled step that never finishes (a deadlock inside XLA's CPU runtime, see
docs/known_issues.md) leaves the main thread blocked in C++, where no Python exception can
reach it, and the process sits at 0% CPU with no error. The training loops therefore call
`beat(what)` whenever a compilation, a compiled chunk of epochs or an evaluation block
completes. Inside `Watchdog(timeout, name)` a daemon thread checks the beats; if none has
come for `timeout` seconds it prints what was done last, the CPU the process used since
(stuck or merely slow), the likely cause, and the Python stacks of every thread, then ends
the process with exit status `EXIT_STATUS`. Checkpoints already on disk are kept, so the
same command resumes. Outside a `Watchdog`, `beat` does nothing.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from typing import TextIO

EXIT_STATUS = 3
DEFAULT_TIMEOUT = 300.0
# A stalled process that used less CPU than this share of one core is stuck, not slow.
_STUCK_CPU_SHARE = 0.1
_BROKEN_JAXLIB_SERIES = ("0.10.",)

_active: Watchdog | None = None


def beat(what: str) -> None:
    """Report completed work (`what`, e.g. "epoch 12") to the active watchdog, if any."""
    dog = _active
    if dog is not None:
        dog.beat(what)


def broken_jaxlib() -> str | None:
    """The installed jaxlib version if it is in a series known to hang on CPU, else None.

    jaxlib 0.10.0 to 0.10.2 parallelize LAPACK calls over their batch axis on the CPU; two
    or more such calls running at once (batched Cholesky, triangular or linear solves, LU)
    can deadlock the intra-op thread pool (docs/known_issues.md).
    """
    from jaxlib import version

    v = version.__version__
    return v if v.startswith(_BROKEN_JAXLIB_SERIES) else None


def likely_cause() -> str:
    """One paragraph naming the most likely cause of a run that makes no progress."""
    broken = broken_jaxlib()
    if broken:
        return (
            f"Likely cause: jaxlib {broken}, whose CPU LAPACK calls (batched Cholesky, "
            "triangular and linear solves) can deadlock when several run at once. Install "
            "a release outside 0.10.x (`pip install -e .` in this project does: "
            "pyproject.toml excludes them); see docs/known_issues.md."
        )
    return (
        "Likely cause: a deadlock inside the XLA runtime or a device that stopped "
        "responding (docs/known_issues.md lists the known ones); the stacks below show "
        "where Python waits."
    )


class Watchdog:
    """Context manager: end the process if `beat` is not called for `timeout` seconds.

    Args:
        timeout: seconds without a beat before the run is stopped (> 0).
        name: what is running, for the message (e.g. "geo run hgcn --workdir runs/x").
        stream: where the message and stacks go (a real file; default sys.stderr).
    """

    def __init__(self, timeout: float, name: str, stream: TextIO | None = None):
        if not timeout > 0:
            raise ValueError(f"watchdog timeout must be > 0 seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.name = name
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last = (time.monotonic(), time.process_time(), "start")

    def beat(self, what: str) -> None:
        with self._lock:
            self._last = (time.monotonic(), time.process_time(), what)

    def __enter__(self) -> Watchdog:
        global _active
        if _active is not None:
            raise RuntimeError("a Watchdog is already active in this process")
        _active = self
        self.beat("start")
        self._thread = threading.Thread(target=self._watch, name="geo-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        global _active
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        _active = None

    def _watch(self) -> None:
        period = min(self.timeout / 4, 5.0)
        before = time.monotonic()
        while not self._stop.wait(period):
            now = time.monotonic()
            # A wait that overran by far: the whole process was stopped (Ctrl-Z, SIGSTOP, a
            # suspended machine) and nothing could beat; that time is not the run's.
            overrun = now - before - period
            before = now
            with self._lock:
                if overrun > max(period, 1.0):
                    self._last = (self._last[0] + overrun, *self._last[1:])
                wall, cpu, what = self._last
            idle = now - wall
            if idle >= self.timeout:
                self._fire(idle, time.process_time() - cpu, what)

    def _fire(self, idle: float, cpu: float, what: str) -> None:
        if cpu < _STUCK_CPU_SHARE * idle:
            state = (
                f"the process used {cpu:.1f} s of CPU in that time: it is stuck, not slow. "
                + likely_cause()
            )
        else:
            state = (
                f"the process used {cpu:.1f} s of CPU in that time: it is busy, so one step "
                "may simply take longer than the watchdog allows; raise --watchdog SECONDS "
                "(0 turns it off)."
            )
        message = (
            f"geo: error: {self.name}: no progress for {idle:.0f} s (the last completed work: "
            f"{what}); {state} Checkpoints on disk are kept: the same command resumes from "
            f"the last one. Stopping with exit status {EXIT_STATUS}; Python stacks follow.\n"
        )
        self.stream.write(message)
        self.stream.flush()
        faulthandler.dump_traceback(file=self.stream, all_threads=True)
        self.stream.flush()
        os._exit(EXIT_STATUS)
