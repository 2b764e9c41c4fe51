"""The ``automl-env`` command: the project's example scripts under one name.

    automl-env train --task nb201-cifar100-nodes --batches 42     # python examples/train_ma2ml.py ...
    automl-env benchmark --seeds 0 1 --batches 10                  # python examples/benchmark.py ...
    automl-env benchmark --help                                    # the script's own options

The scripts stay in ``examples/``, readable top to bottom, and are not part of any package: the command
finds them next to the package's source, where an editable install (``pip install -e .``, the way this
project is installed) leaves them; installed from a wheel, it says so. This module imports neither torch
nor the agents; the scripts do when they run. ``python -m automl_env.cli`` works without the entry point.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from automl_env import __version__

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
"""Where the example scripts are in a checkout of the repository (editable install)."""


@dataclass(frozen=True)
class Command:
    """A sub-command: the example script it runs (its ``main(argv)``) and one line for ``--help``."""

    script: str
    description: str


COMMANDS: dict[str, Command] = {
    "train": Command("train_ma2ml.py", "one search (MA2ML by default) on one task; writes a run folder"),
    "benchmark": Command("benchmark.py", "searches x seeds on one task; writes a results table, a CSV and plots"),
}


def example_script(name: str) -> ModuleType:
    """The example script behind command ``name``, imported as a module (``example_script("benchmark")``).

    It is imported by its own name from the examples folder put on ``sys.path``, not from a file location,
    so that the benchmark's worker processes (spawned, they inherit ``sys.path``) can import it again to
    unpickle its functions.
    """
    path = EXAMPLES / COMMANDS[name].script
    if not path.is_file():
        raise SystemExit(
            f"automl-env {name}: {path} not found. The example scripts come with a checkout of the repository, "
            'not with the package: install from a checkout with `pip install -e ".[agents]"`.'
        )
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    module = importlib.import_module(path.stem)
    found = Path(module.__file__ or "").resolve()
    if found != path:
        raise SystemExit(f"automl-env {name}: module {path.stem!r} was imported from {found}, not from {path}")
    return module


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``automl-env COMMAND [ARGS]``: the command's script with ARGS; returns the exit status."""
    listing = "\n".join(f"  {name:<10} {c.description} (examples/{c.script})" for name, c in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="automl-env",
        description=f"Run the project's example scripts.\n\ncommands:\n{listing}",
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
    script = example_script(args.command)
    program = sys.argv[0]
    sys.argv[0] = f"automl-env {args.command}"  # the script's argparse names itself after it in usage lines
    try:
        script.main(args.args)
    finally:
        sys.argv[0] = program
    return 0


if __name__ == "__main__":
    sys.exit(main())
