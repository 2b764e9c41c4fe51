"""Landscape statistics of benchmarks side by side: how rugged, coupled and noisy each one is.

For each task (on its fast backend: the recorded table, else the synthetic benchmark, unless
``--backend`` says otherwise) prints ``automl_env.landscape.landscape_statistics`` as a markdown table.

    python examples/landscape.py
    python examples/landscape.py --tasks cifar100 nb201-cifar100 --samples 4000 --restarts 30
    python examples/landscape.py --tasks cifar100 --backend-option noise=0.01
    python examples/landscape.py --tasks fashion-mnist cifar100 --backend synthetic-rugged --backend-option version=2
"""

from __future__ import annotations

import argparse
import time

from automl_env import list_tasks
from automl_env.landscape import describe, landscape_statistics, token_objective

DEFAULT_TASKS = ["cifar10", "cifar100", "fashion-mnist", "nb201-cifar10", "nb201-cifar100", "nb201-imagenet16"]


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, and every option's default."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, choices=list_tasks(), metavar="TASK")
    parser.add_argument("--backend", default=None, help="backend for every task (default: each task's fast backend)")
    parser.add_argument(
        "--backend-option", action="append", default=[], metavar="KEY=VALUE", help="e.g. noise=0.01 (numbers only)"
    )
    parser.add_argument("--samples", type=int, default=4000, help="uniform pipelines sampled")
    parser.add_argument("--restarts", type=int, default=30, help="hill climbs from random starts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples and the climbs")
    args = parser.parse_args()
    options = {}
    for item in args.backend_option:
        key, _, value = item.partition("=")
        try:
            options[key] = float(value)
        except ValueError:
            parser.error(f"--backend-option takes KEY=NUMBER, got {item!r}")
    stats = []
    for task in args.tasks:
        start = time.perf_counter()
        objective = token_objective(task, args.backend, backend_options=options or None)
        stats.append(landscape_statistics(objective, samples=args.samples, restarts=args.restarts, seed=args.seed))
        print(f"{task}: {stats[-1].evaluations:,} evaluations in {time.perf_counter() - start:.1f} s", flush=True)
    print()
    print(describe(stats))


if __name__ == "__main__":
    main()
