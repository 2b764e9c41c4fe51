"""Throughput of the fast backends (synthetic, table): evaluations per second, per task and batch size.

Each task is measured on ``--backend`` or its fast backend (``TaskSpec.fast_backend``: its recorded
table, else the rugged synthetic benchmark). Two paths: ``evaluate_tokens`` on random token matrices (what a vectorised
search uses) and ``evaluate`` on lists of Pipelines (what the env calls; includes encoding every
pipeline to tokens, looking up or pricing its FLOPs and building the results). The encoding share
is printed separately. Timings are taken after a warm-up call, as the best of ``--repeats`` runs of
at least ``--min-seconds`` each.

    python examples/bench_backend.py
    python examples/bench_backend.py --tasks cifar100 nb201-cifar100 --batch-sizes 24 10000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from automl_env.backends.registry import make_backend
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task, list_tasks


def rate(call: Callable[[], object], items: int, *, min_seconds: float, repeats: int) -> float:
    """Best items/second over ``repeats`` timings, each looping ``call`` for at least ``min_seconds``."""
    call()  # warm-up: builds cached tables
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds or calls == 0:
            call()
            calls += 1
        best = max(best, calls * items / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tasks", nargs="+", default=None, help="tasks to benchmark (default: every task a fast backend serves)"
    )
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[24, 10_000], help="pipelines per call")
    parser.add_argument("--backend", default=None, help="backend for every task (default: each task's fast backend)")
    parser.add_argument("--noise", type=float, default=0.0, help="synthetic backends' noise (std of accuracy)")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="minimum duration of one timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement; the best is kept")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pipelines")
    args = parser.parse_args()

    print(
        f"{'task':>22} {'backend':>9} {'batch':>6} {'tokens evals/s':>15} {'evaluate() evals/s':>19} "
        f"{'encode us/pipeline':>19}"
    )
    timing = {"min_seconds": args.min_seconds, "repeats": args.repeats}
    for name in args.tasks or list_tasks():
        task = get_task(name)
        name = args.backend or task.fast_backend
        options = {"noise": args.noise} if name.startswith("synthetic") else {}
        try:
            backend = make_backend(name, task, **options)
        except ValueError as error:
            if args.tasks:  # asked for by name: say why it cannot be measured
                raise
            print(f"{task.name:>22} skipped: {error}")
            continue
        rng = np.random.default_rng(args.seed)
        spaces = list(task.modules.items())
        for batch in args.batch_sizes:
            tokens = {m: rng.integers(0, s.nvec, size=(batch, s.num_tokens)) for m, s in spaces}
            pipelines = [Pipeline.of({m: s.decode(tokens[m][i]) for m, s in spaces}) for i in range(batch)]
            # The synthetic backend takes one matrix per module; the table one matrix of all tokens in task order.
            matrix = (
                tokens
                if backend.name.startswith("synthetic")
                else np.concatenate([tokens[m] for m, _ in spaces], axis=1)
            )
            vectorised = rate(partial(backend.evaluate_tokens, matrix, seed=1), batch, **timing)  # type: ignore[attr-defined]
            listed = rate(partial(backend.evaluate, pipelines, seed=1), batch, **timing)
            encoded = rate(partial(encode_all, task, pipelines), batch, **timing)
            print(
                f"{name:>22} {backend.name:>9} {batch:>6} {vectorised:>15,.0f} {listed:>19,.0f} {1e6 / encoded:>19.1f}"
            )


def encode_all(task: TaskSpec, pipelines: list[Pipeline]) -> list[np.ndarray]:
    """The encoding step of ``evaluate``, timed on its own."""
    return [space.encode(p[m]) for p in pipelines for m, space in task.modules.items()]


if __name__ == "__main__":
    main()
