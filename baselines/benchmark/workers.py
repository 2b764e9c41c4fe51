"""Running the missing runs of a benchmark on worker processes that end with the main process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from baselines.benchmark.runs import RunSpec, finished, run_one

PARENT_POLL_SECONDS = 0.5
"""How often a worker checks that the main process is alive: the longest a killed benchmark's workers outlive it."""


def run_all(specs: Sequence[RunSpec], *, workers: int) -> dict[tuple[str, int], dict[str, Any]]:
    """Every run's ``done.json`` by (algorithm, seed), running the missing ones in ``workers`` processes."""
    results: dict[tuple[str, int], dict[str, Any]] = {}
    todo = []
    for spec in specs:
        done = finished(spec)
        if done is None:
            todo.append(spec)
        else:
            results[spec.algorithm, spec.seed] = done
    print(f"{len(specs) - len(todo)} runs reused, {len(todo)} to run on {workers} worker(s)", flush=True)
    if workers <= 1:
        for spec in todo:
            results[spec.algorithm, spec.seed] = _report(run_one(spec))
        return results
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=exit_with_parent, initargs=(os.getpid(),)
    )
    with pool:
        futures = [pool.submit(run_one, spec) for spec in todo]
        try:
            for future in as_completed(futures):
                done = _report(future.result())
                results[done["spec"]["algorithm"], done["spec"]["seed"]] = done
        except BaseException:  # a run failed (or Ctrl-C): start no other run; the running ones end theirs
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def exit_with_parent(parent: int) -> None:
    """Worker initializer: exit as soon as the main process ``parent`` is gone.

    A ProcessPoolExecutor worker otherwise runs its current run to the end when the main process is killed
    (SIGKILL leaves it no time to stop them). A killed worker leaves its run folder as any killed run does:
    resumable, its lock released by the OS. Spawned workers are the main process's children, so a changed
    parent (re-parented to init or a sub-reaper) means it died.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # no cleanup to wait for: the run's files are written atomically or cut back on resume

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _report(done: dict[str, Any]) -> dict[str, Any]:
    spec = done["spec"]
    print(
        f"  {spec['algorithm']:>16} seed {spec['seed']}: best {done['best_reward']:.4f} in {done['wall_seconds']:.1f}s",
        flush=True,
    )
    return done
