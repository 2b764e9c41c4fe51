"""``automl-env benchmark`` (and ``python examples/benchmark.py``): the benchmark's command line.

Every value is checked while the command line is parsed (``automl_env.arguments``): a bad one is a one-line
usage error with exit status 2, before any run, lock or folder exists. A folder in use, or data or a device
the runs need and this machine lacks (``BackendSetupError``), exits with status 1 and the message.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from automl_env.arguments import command_line, integer, key_value, numeric_option, output_folder
from baselines.benchmark.api import DEFAULT_ALGORITHMS, BenchmarkConfig, BenchmarkResult, run_benchmark

DESCRIPTION = """Benchmark searches (MA2ML variants, baselines, dha) on one task and backend: algorithms x seeds.

    automl-env benchmark --task cifar100 --seeds 0 1 2 3 4 --batches 40
    automl-env benchmark --task nb201-cifar100 --batches 42 --budgets 96 312 1008

Every (algorithm, seed) run is ma2ml_agents.run_search in its own folder OUT/<algorithm>/seed<k>/, run in
parallel worker processes (dha, one-shot: one network trained for one step per evaluation of the budget, or
--set steps=N, and the pipeline it returns evaluated once by the backend; docs/peers.md). A finished run
leaves done.json; re-running with the same arguments reuses it, and resumes a run killed half-way from its
checkpoint. Writes OUT/evaluations.csv, OUT/results.md (per algorithm and budget: mean and std over seeds of
the best reward, top-k mean, regret, evaluations to reach random search's final best, simulated and wall
time) and OUT/anytime_*.png. docs/benchmark.md has the details.
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser; its choices are read now, not at import (a script may register its own search first)."""
    import automl_env
    from automl_env.backends.registry import BACKENDS
    from baselines.marl import MARL_ALGORITHMS
    from baselines.registry import BASELINES, ONE_SHOT
    from ma2ml_agents.registry import ALGORITHMS

    parser = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add(
        "--task",
        default="cifar100",
        choices=automl_env.list_tasks(),
        metavar="TASK",
        help="task to search, one of: %(choices)s (default: %(default)s)",
    )
    add(
        "--backend",
        default=None,
        choices=sorted(BACKENDS),
        help="how pipelines are evaluated (default: the task's fast backend: table for NAS-Bench-201, "
        "else synthetic-rugged)",
    )
    add(
        "--backend-option",
        action="append",
        default=[],
        type=numeric_option,
        metavar="KEY=VALUE",
        help="a numeric backend option, repeatable, e.g. noise=0.005 (default: none)",
    )
    # With the searches a script registered:
    names = list(dict.fromkeys([*ALGORITHMS, *BASELINES, *MARL_ALGORITHMS, *ONE_SHOT]))
    add(
        "--algorithms",
        nargs="+",
        default=list(DEFAULT_ALGORITHMS),
        choices=names,
        metavar="NAME",
        help=f"searches to run, any of: %(choices)s (default: {' '.join(DEFAULT_ALGORITHMS)})",
    )
    add(
        "--seeds",
        nargs="+",
        type=integer(minimum=0),
        default=[0, 1, 2, 3, 4],
        metavar="SEED",
        help="one run per algorithm and seed (default: 0 1 2 3 4)",
    )
    add("--batches", type=integer(minimum=1), default=40, help="batches per run, the budget (default: %(default)s)")
    add(
        "--batch-size",
        type=integer(minimum=1),
        default=24,
        help="pipelines evaluated together per batch (default: %(default)s)",
    )
    add(
        "--top-k",
        type=integer(minimum=1),
        default=30,
        help="k of the top-k mean reward (default: %(default)s, the paper's)",
    )
    add(
        "--budgets",
        nargs="+",
        type=integer(minimum=1),
        default=None,
        metavar="EVALUATIONS",
        help="report at these evaluation counts (default: the end of the run)",
    )
    add(
        "--workers",
        type=integer(minimum=1),
        default=os.cpu_count() or 1,
        help="parallel processes (default: %(default)s, the number of CPUs)",
    )
    add(
        "--executor",
        default="serial",
        choices=["serial", "pool", "ray"],
        help="where each run's evaluations run: in the run's process, on worker processes, on Ray actors "
        "(default: %(default)s; with pool or ray, --workers 1 runs the searches one at a time)",
    )
    add(
        "--eval-workers",
        type=integer(minimum=1),
        default=None,
        help="pool or Ray workers per run (default: one per GPU or core)",
    )
    add("--ray-address", default=None, help="Ray cluster for --executor ray (default: local)")
    add("--out", type=output_folder, default=Path("runs/benchmark"), help="output folder (default: %(default)s)")
    add(
        "--set",
        action="append",
        default=[],
        type=key_value,
        metavar="FIELD=VALUE",
        help="override a config field of every algorithm whose config has it, repeatable, e.g. policy_lr=4e-3; "
        "a field no chosen algorithm has is refused",
    )
    return parser


def parse_config(argv: Sequence[str], *, program: str | None = None) -> BenchmarkConfig:
    """The benchmark config of a command line; a usage error (exit 2) for any bad value."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option, values in (("--algorithms", args.algorithms), ("--seeds", args.seeds)):
        repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
        if repeated:  # two runs of one (algorithm, seed) would share, and corrupt, one folder
            parser.error(f"{option} names {', '.join(map(str, repeated))} more than once; give each once")
    total = args.batches * args.batch_size
    if args.budgets and max(args.budgets) > total:
        parser.error(f"--budgets must be between 1 and the run's {total} evaluations, got {sorted(args.budgets)}")
    if args.executor == "serial" and (args.eval_workers is not None or args.ray_address is not None):
        parser.error("--eval-workers and --ray-address apply to --executor pool or ray only")
    if args.ray_address is not None and args.executor != "ray":
        parser.error("--ray-address applies to --executor ray only")
    executor = (
        ()
        if args.executor == "serial"
        else (
            ("executor", args.executor),
            ("workers", args.eval_workers),
            ("executor_options", {"ray_address": args.ray_address}),
        )
    )
    try:
        return BenchmarkConfig(
            task=args.task,
            backend=args.backend,
            backend_options=tuple(sorted(dict(args.backend_option).items())),
            algorithms=tuple(args.algorithms),
            seeds=tuple(args.seeds),
            batches=args.batches,
            batch_size=args.batch_size,
            top_k=args.top_k,
            budgets=tuple(args.budgets or ()),
            workers=args.workers,
            out=args.out,
            config_overrides=tuple(args.set),
            executor=executor,
            command=command_line(argv, program=program, fallback="automl-env benchmark"),
        )
    except ValueError as error:
        parser.error(str(error))


def main(argv: Sequence[str] | None = None, *, program: str | None = None) -> Path:
    """Run the benchmark of a command line (``sys.argv[1:]`` by default); returns its output folder."""
    from automl_env.backends.base import BackendSetupError
    from ma2ml_agents.run_folder import RunFolderError

    argv = list(sys.argv[1:] if argv is None else argv)
    config = parse_config(argv, program=program)
    try:
        result: BenchmarkResult = run_benchmark(config)
    except (RunFolderError, BackendSetupError) as error:  # a folder in use; missing data, a device it lacks
        raise SystemExit(f"error: {error}") from None
    print(result.text)
    print(f"wrote {result.out}/results.md, evaluations.csv, anytime_*.png in {result.wall_seconds:.1f}s")
    return result.out
