"""Validated command-line values: ``argparse`` ``type=`` callables shared by the ``automl-env`` commands.

A value that would make a run fail late (a traceback after the run folder is locked) or produce garbage
(``--noise inf`` reporting negative regret, ``--batches 0`` reporting "best nan") is refused while the
command line is parsed: argparse turns the ``ArgumentTypeError`` into a one-line usage error and exit
status 2, before any work, lock or folder exists. Each message names the value and what is allowed.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def integer(*, minimum: int) -> Callable[[str], int]:
    """A ``type=`` for an integer at least ``minimum`` (``integer(minimum=1)``: a count of things)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its "invalid <type> value" message
    return parse


def real(*, minimum: float | None = None, positive: bool = False) -> Callable[[str], float]:
    """A ``type=`` for a finite float, at least ``minimum`` (or above 0 with ``positive``); inf and nan refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if positive and value <= 0.0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {value:g}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {value:g}")
        return value

    parse.__name__ = "number"
    return parse


def key_value(text: str) -> tuple[str, str]:
    """A ``type=`` for ``KEY=VALUE`` with both parts non-empty."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def numeric_option(text: str) -> tuple[str, float]:
    """A ``type=`` for ``KEY=NUMBER`` with a finite number (a backend option such as ``noise=0.01``)."""
    key, value = key_value(text)
    return key, real()(value)


def output_folder(text: str) -> Path:
    """A ``type=`` for a folder a run may write: an existing folder we can write, or one we can create.

    Nothing is created here; the check walks up to the nearest existing ancestor and asks whether it is a
    writable folder, so a file in the way or a read-only parent is named before any work starts.
    """
    if not text:
        raise argparse.ArgumentTypeError("an empty path is not a folder")
    path = Path(text)
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is" if existing == path else f"lies under {existing}, which is"
        raise argparse.ArgumentTypeError(f"{path} {where} a file, not a folder; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" (its nearest existing folder {existing})"
        raise argparse.ArgumentTypeError(f"{path}{where} is not writable by this user; choose another path")
    for part in path.parts:
        if len(os.fsencode(part)) > 255:
            raise argparse.ArgumentTypeError(f"{path}: the name {part[:40]}... is longer than 255 bytes")
    return path


def command_line(argv: Sequence[str], *, program: str | None = None, fallback: str = "python") -> str:
    """The shell command that runs ``program`` (default: this process's script) with ``argv``, for a report.

    A Python script is written ``python PATH`` (relative to the working folder when under it); a console
    entry point (``automl-env benchmark``) as it was invoked; anything else (``python -c``, a test runner)
    as ``fallback``. The command names the script the user ran, so a
    search registered by that script (the README's ``my_benchmark.py``) is found again when it is rerun.
    """
    program = program if program is not None else sys.argv[0]
    if program.endswith(".py"):
        path = Path(program)
        if path.is_absolute() and Path.cwd() in path.parents:
            path = path.relative_to(Path.cwd())
        words = ["python", str(path)]
    elif program.startswith("automl-env"):
        words = shlex.split(program)
    else:
        words = shlex.split(fallback)
    return shlex.join([*words, *argv])
