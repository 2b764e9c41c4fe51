"""Time an MA2ML search under each checkpoint schedule: what checkpointing costs a fast backend.

    python examples/bench_checkpoint.py [--task nb201-cifar100] [--batches 42] [--batch-size 24] [--repeats 3]
        [--schedules every auto end]

Runs the same seeded search (42 batches of 24 = 1,008 evaluations on the recorded NAS-Bench-201 table, one torch
thread) with a checkpoint after every batch (``checkpoint_every=1``, the default before the schedule), with the
default schedule (``checkpoint_every=None``: under 5% of the wall time, ``ma2ml_agents.checkpoints``) and with a
checkpoint only at the end, after one discarded warm-up run (imports, the table's first load), each ``--repeats``
times alternating. Prints the median process CPU time of each (wall time on a shared machine varies by 2x), the
cost of checkpointing (the difference to the end-only run), how many checkpoints a run wrote and the mean time
of one (``RunFolder.save_checkpoint``).
``--schedules every end`` runs on code without the schedule, to measure the code before it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import torch

import automl_env
from ma2ml_agents import make_algorithm
from ma2ml_agents.run_folder import RunFolder
from ma2ml_agents.search import run_search


def one_run(args: argparse.Namespace, *, every: int | None, out: str) -> tuple[float, list[float]]:
    """Process CPU seconds of one search (what a shared machine distorts least) and the wall seconds of each
    checkpoint it wrote."""
    env = automl_env.vector_env(args.task, num_envs=args.batch_size, seed=0)
    algorithm = make_algorithm("ma2ml", env, seed=0)
    saves: list[float] = []
    original = RunFolder.save_checkpoint

    def timed(self: RunFolder, state: dict[str, Any]) -> None:
        start = time.perf_counter()
        original(self, state)
        saves.append(time.perf_counter() - start)

    RunFolder.save_checkpoint = timed  # type: ignore[method-assign]
    try:
        start = time.process_time()
        run_search(
            env,
            algorithm,
            batches=args.batches,
            batch_size=args.batch_size,
            out_dir=out,
            seed=0,
            progress=False,
            checkpoint_every=every,
        )
        return time.process_time() - start, saves
    finally:
        RunFolder.save_checkpoint = original  # type: ignore[method-assign]
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="nb201-cifar100")
    parser.add_argument("--batches", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--schedules", nargs="+", choices=["every", "auto", "end"], default=["every", "auto", "end"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    every = {"every": 1, "auto": None, "end": args.batches}
    walls: dict[str, list[float]] = {name: [] for name in args.schedules}
    saves: dict[str, list[list[float]]] = {name: [] for name in args.schedules}
    with tempfile.TemporaryDirectory() as out:
        one_run(args, every=args.batches, out=out)  # warm-up
    for _ in range(args.repeats):
        for name in args.schedules:
            with tempfile.TemporaryDirectory() as out:
                wall, times = one_run(args, every=every[name], out=out)
            walls[name].append(wall)
            saves[name].append(times)
    evaluations = args.batches * args.batch_size
    print(f"{args.task}, MA2ML, {evaluations} evaluations ({args.batches} x {args.batch_size}), 1 torch thread")
    end = statistics.median(walls["end"]) if "end" in walls else None
    for name, values in walls.items():
        median = statistics.median(values)
        writes = [t for run in saves[name] for t in run]
        cost = f", checkpointing {median - end:.2f} s ({(median - end) / median:.0%})" if end is not None else ""
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(
            f"{name:5}: median {median:.2f} CPU s of {len(values)} runs ({runs}){cost}; "
            f"{len(writes) / len(values):.0f} checkpoints a run, {statistics.mean(writes) * 1e3:.1f} ms each"
        )


if __name__ == "__main__":
    main()
