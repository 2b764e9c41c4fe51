"""The ``automl-env`` command: training, benchmarking and the leaderboard under one name.

    automl-env train --task nb201-cifar100-nodes --batches 42     # ma2ml_agents.train
    automl-env benchmark --seeds 0 1 --batches 10                  # baselines.benchmark
    automl-env leaderboard --suite tiny                            # baselines.leaderboard
    automl-env benchmark --help                                    # the command's own options

Each command is a package module's ``main(argv, program=...)``, imported only when it runs: this module
imports neither torch nor the agents, so ``import automl_env`` stays cheap. The commands work from any
install (wheel or editable) and any folder. ``python -m automl_env.cli`` works without the entry point.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

from automl_env import __version__


@dataclass(frozen=True)
class Command:
    """A sub-command: the module whose ``main(argv, program=...)`` runs it, the example script that runs the same,
    and one line for ``--help``."""

    module: str
    script: str
    description: str


COMMANDS: dict[str, Command] = {
    "train": Command(
        "ma2ml_agents.train", "train_ma2ml.py", "one search (MA2ML by default) on one task; writes a run folder"
    ),
    "benchmark": Command(
        "baselines.benchmark", "benchmark.py", "searches x seeds on one task; writes a results table, a CSV and plots"
    ),
    "leaderboard": Command(
        "baselines.leaderboard",
        "leaderboard.py",
        "every search on every real task and budget; a report with bootstrap intervals",
    ),
}


def example_script(name: str) -> ModuleType:
    """The module behind command ``name`` (``example_script("benchmark").main([...])``), imported now."""
    return importlib.import_module(COMMANDS[name].module)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``automl-env COMMAND [ARGS]``: the command's module with ARGS; returns the exit status."""
    listing = "\n".join(f"  {name:<12} {c.description}" for name, c in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="automl-env",
        description=f"Search, benchmark and rank AutoML pipelines.\n\ncommands:\n{listing}",
        epilog="`automl-env COMMAND --help` lists the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("command", choices=list(COMMANDS), help="what to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    module = example_script(args.command)
    program = f"automl-env {args.command}"
    saved = sys.argv[0]
    sys.argv[0] = program  # the command's argparse names itself after it in usage lines
    try:
        module.main(args.args, program=program)
    finally:
        sys.argv[0] = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
