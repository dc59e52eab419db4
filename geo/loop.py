"""The training loop every experiment shares: compiled chunks of epochs with a progress bar,
compile time reported apart, and a non-finite check that names the runs (`DivergedRunsError`).

    compiled, compile_seconds = compile_program(run_chunk, state)
    loop = TrainingLoop(total=config.epochs, start=step, desc="hgcn lp disease_lp x10",
                        progress=config.progress, run_names=workdirs)
    state = loop.run(advance, state, after_chunk=checkpoint_and_evaluate)

`advance(state, done)` runs the next compiled chunk and returns a `Chunk`; Python never loops
over batches, only over chunks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from geo.watchdog import beat


def compile_program(jitted, *args, **kwargs) -> tuple[Any, float]:
    """(`jitted` lowered and compiled for these arguments, seconds it took)."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    seconds = time.perf_counter() - t0
    beat("compilation")
    return compiled, seconds


@dataclasses.dataclass
class Chunk:
    """What one call of `advance` returns.

    Attributes:
        state: the program's state after the chunk.
        done: epochs completed after it (of every run; the most, if runs stop early).
        loss: per-run losses (R,) of the chunk's last epoch, checked for non-finite values.
        figures: more figures for the progress bar, e.g. {"edges_per_s": 1.2e5}.
        finished: True when every run has stopped before `total` (early stopping).
    """

    state: Any
    done: int
    loss: np.ndarray
    figures: dict = dataclasses.field(default_factory=dict)
    finished: bool = False


class TrainingLoop:
    """Epochs `start` .. `total` in compiled chunks.

    Args:
        total: epochs in all.
        start: epochs already done (a resumed run).
        desc: the progress bar's label.
        progress: show the bar.
        run_names: one name per run (its workdir), for the non-finite error.
        train_seconds: training time already spent (a resumed run).
        hint: what to try when the loss is not finite.
    """

    def __init__(
        self,
        *,
        total: int,
        start: int = 0,
        desc: str = "train",
        progress: bool = True,
        run_names: Sequence[Any] = ("run",),
        train_seconds: float = 0.0,
        hint: str = "lower lr or use dtype=float64",
    ):
        self.total, self.start, self.done = total, start, start
        self.desc, self.progress, self.run_names, self.hint = desc, progress, run_names, hint
        self.train_seconds = float(train_seconds)
        self.loss = np.full(len(run_names), np.nan)

    def run(
        self,
        advance: Callable[[Any, int], Chunk],
        state: Any,
        after_chunk: Callable[[Any, int], None] | None = None,
    ) -> Any:
        """Call `advance` until `total` epochs are done (or every run has stopped), then
        `after_chunk(state, done)` after each chunk (checkpoints, evaluations); returns the
        final state. `train_seconds` counts the chunks only."""
        bar = tqdm(
            total=self.total,
            initial=self.start,
            disable=not self.progress,
            desc=self.desc,
            unit="epoch",
        )
        try:
            while self.done < self.total:
                t0 = time.perf_counter()
                chunk = advance(state, self.done)
                loss = np.asarray(chunk.loss, np.float64).reshape(-1)  # waits for the chunk
                self.train_seconds += time.perf_counter() - t0
                state, self.loss = chunk.state, loss
                bar.update(chunk.done - self.done)
                self.done = chunk.done
                beat(f"{self.desc}: epoch {self.done}")
                bar.set_postfix(loss=f"{np.mean(loss):.4f}", **chunk.figures)
                self._check_finite(loss)
                if after_chunk is not None:
                    after_chunk(state, self.done)
                if chunk.finished:
                    break
        finally:
            bar.close()
        return state

    def _check_finite(self, loss: np.ndarray) -> None:
        bad = np.flatnonzero(~np.isfinite(loss))
        if bad.size:
            named = ", of ".join(f"{self.run_names[r]} is {loss[r]}" for r in bad)
            raise DivergedRunsError(
                f"{self.desc}: after epoch {self.done} the loss of {named}; {self.hint}",
                runs=[int(r) for r in bad],
                epoch=self.done,
            )


class DivergedRunsError(FloatingPointError):
    """A non-finite loss: `runs` are the positions of the runs it struck in their program,
    `epoch` the epochs done. `geo sweep` trains the program's other runs without them."""

    def __init__(self, message: str, runs: list[int], epoch: int):
        super().__init__(message)
        self.runs, self.epoch = runs, epoch
