"""When a search writes its checkpoint: after every batch where batches are slow, at a bounded share of the time
where they are fast.

A checkpoint (algorithm weights, optimiser states, replay buffer, generators, the loop's state: about 1.6 MB for
MA2ML on the CIFAR spaces) costs a few milliseconds; a batch of a recorded table costs about as much, so writing
one after every batch took a quarter to a half of a fast run's wall time (``examples/bench_checkpoint.py``).
Resume is exact from any checkpoint (the env's state is a pure function of the seed and the batch, the CSV is cut
back to the checkpoint), so which batches are checkpointed never changes a run's files, only how much work a
kill loses. The default schedule therefore keeps checkpointing under ``OVERHEAD`` of the wall time:

- the first batch a process evaluates, and the last batch of the run, are always checkpointed;
- after any other batch, a checkpoint is written when the time since the end of the last one is at least
  ``(1 / OVERHEAD - 1)`` times what the last one took (19 times, for 5%).

So a batch slower than that (real training: minutes per batch) is checkpointed every time, and a kill of a fast
run loses at most one batch plus about 19 checkpoint-times of work (a fraction of a second). ``every=N`` instead
checkpoints exactly every N batches (and after the last), whatever they cost: for tests and for callers that need
a checkpoint at a known batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

OVERHEAD = 0.05
"""The share of a run's wall time the default schedule lets checkpoints take."""


class CheckpointSchedule:
    """Decides after each batch whether to checkpoint, and learns what a checkpoint costs from the ones written."""

    def __init__(self, *, every: int | None, batches: int, clock: Callable[[], float] = time.perf_counter) -> None:
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(
                f"checkpoint_every is how many batches go between checkpoints, a positive int, or None for the "
                f"schedule that keeps checkpoints under {OVERHEAD:.0%} of the wall time; got {every!r}"
            )
        self.every, self.batches, self.clock = every, batches, clock
        self._last_end: float | None = None  # when the last checkpoint of this process was written
        self._last_cost = 0.0

    def due(self, next_batch: int) -> bool:
        """Whether to checkpoint now that batches up to ``next_batch - 1`` are recorded."""
        if next_batch >= self.batches:
            return True
        if self.every is not None:
            return next_batch % self.every == 0
        if self._last_end is None:
            return True
        return self.clock() - self._last_end >= self._last_cost * (1 / OVERHEAD - 1)

    def write(self, checkpoint: Callable[[], None]) -> None:
        """Run ``checkpoint`` and remember what it cost."""
        start = self.clock()
        checkpoint()
        self._last_end = self.clock()
        self._last_cost = self._last_end - start
