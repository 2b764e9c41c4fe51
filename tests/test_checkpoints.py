"""The checkpoint schedule: every batch when checkpoints are cheap next to batches, a bounded share of the time
when they are not, always the first and the last batch; exact every-N on request."""

from __future__ import annotations

import itertools

import pytest

from ma2ml_agents.checkpoints import OVERHEAD, CheckpointSchedule


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(schedule: CheckpointSchedule, clock: _Clock, *, batches: int, batch_s: float, write_s: float) -> list[int]:
    """The batches (as next_batch) after which ``schedule`` checkpoints, for batches and writes of fixed cost."""
    written = []
    for next_batch in range(1, batches + 1):
        clock.now += batch_s
        if schedule.due(next_batch):

            def write() -> None:
                clock.now += write_s

            schedule.write(write)
            written.append(next_batch)
    return written


def test_slow_batches_are_checkpointed_every_time() -> None:
    clock = _Clock()
    schedule = CheckpointSchedule(every=None, batches=10, clock=clock)
    assert _run(schedule, clock, batches=10, batch_s=60.0, write_s=0.01) == list(range(1, 11))


def test_fast_batches_keep_checkpoints_under_the_overhead_and_always_write_the_first_and_last() -> None:
    clock = _Clock()
    schedule = CheckpointSchedule(every=None, batches=100, clock=clock)
    written = _run(schedule, clock, batches=100, batch_s=0.01, write_s=0.01)
    assert written[0] == 1 and written[-1] == 100
    assert 2 < len(written) < 100
    assert (len(written) - 2) * 0.01 / clock.now <= OVERHEAD  # the share spent writing, beyond the forced two
    gaps = [b - a for a, b in itertools.pairwise(written)]
    assert max(gaps) <= round(1 / OVERHEAD)  # a kill loses a bounded number of batches


def test_every_n_is_exact_whatever_checkpoints_cost() -> None:
    clock = _Clock()
    schedule = CheckpointSchedule(every=3, batches=10, clock=clock)
    assert _run(schedule, clock, batches=10, batch_s=0.001, write_s=1.0) == [3, 6, 9, 10]


@pytest.mark.parametrize("every", [0, -1, 1.5, True, "2"])
def test_a_wrong_every_is_refused_naming_it(every: object) -> None:
    with pytest.raises(ValueError, match="checkpoint_every"):
        CheckpointSchedule(every=every, batches=3)  # type: ignore[arg-type]
