"""The folder every search writes: config.json, evaluations.csv, topk.json, history.json, checkpoint.pt, plots.

Real training adds its evaluation store there (``STORE``), so a stopped run keeps every finished evaluation.

One process at a time: ``lock_folder`` holds an OS file lock (``fcntl.flock``) on the folder's ``run.lock`` for
as long as a search or a benchmark uses it. The OS drops the lock when the process ends, however it ends
(SIGKILL included), so a lock file left behind never blocks anyone. The file names its last holder (pid, host,
start time, command): a second process is refused with that name. The lock is advisory (it keeps out this
project's searches, not an editor or ``rm``) and as good as the file system's ``flock`` (Linux's NFS client
emulates it with byte-range locks). Where the OS has no ``flock`` (Windows), folders are not locked: a warning.

The CSV is append-only and the checkpoint records its length in bytes, its row count, its last batch and the
SHA-256 of those bytes (kept up to date as rows are appended, so a checkpoint never re-reads the file). A resumed
run first checks that the CSV still starts with exactly what the checkpoint recorded (content, not only length:
values swapped between rows are refused), then cuts off the rows of batches evaluated after the last checkpoint
and appends exactly what an uninterrupted run would have written. A CSV that is shorter than the checkpoint says,
or holds other rows, is refused and left as it is: nothing is ever padded or rewritten to make it fit.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import math
import os
import shlex
import shutil
import socket
import sys
import threading
import warnings
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import torch

from automl_env.fs_errors import os_reason
from ma2ml_agents.topk import plain

if sys.platform != "win32":
    import fcntl

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
EVALUATIONS = "evaluations.csv"
LOCK = "run.lock"
STORE = "evaluations.sqlite"
"""The evaluation store's name in the run folder (``automl_env.store.EvalStore``: SQLite, one row per evaluation)."""
RUN_FILES = (CONFIG, EVALUATIONS, CHECKPOINT)
"""The files whose presence means a folder holds a run (a search started there)."""


class RunFolderError(Exception):
    """A run folder cannot be used as asked: in use, not matching its checkpoint, or not what a resume needs."""


class RunFolderInUseError(RunFolderError):
    """Another process (or thread) holds the folder's lock."""


class RunExistsError(RunFolderError, FileExistsError):
    """The folder already holds a run and the caller did not ask to resume it."""


class ResumeMismatchError(RunFolderError, ValueError):
    """A resume with settings that differ from the run's: it would not continue the same search."""


def run_files(path: str | os.PathLike[str]) -> list[str]:
    """The names of ``RUN_FILES`` present in ``path`` (empty where there is no folder): creates nothing."""
    folder = Path(path)
    return [name for name in RUN_FILES if (folder / name).is_file()]


def check_same_run(
    path: str | os.PathLike[str],
    saved: dict[str, Any],
    now: dict[str, Any],
    *,
    may_change: Collection[str],
    warn: Collection[str] = (),
) -> None:
    """``ResumeMismatchError`` listing every field of the config ``now`` that differs from the ``saved`` one (the
    checkpoint's, or config.json's), ``may_change`` aside; a warning listing those of ``warn`` that differ."""
    saved, now = _as_json(saved), _as_json(now)
    differences = [
        d for key in now if key not in may_change for d in _differences(saved.get(key, _ABSENT), now[key], key)
    ]
    if differences:
        raise ResumeMismatchError(
            f"cannot resume {path}: {len(differences)} setting(s) differ from the run's (saved -> now): "
            + "; ".join(differences)
            + ". Resume with the run's own settings (its config.json), or start a new run in another folder"
        )
    warned = [d for key in warn if key in now for d in _differences(saved.get(key, _ABSENT), now[key], key)]
    if warned:
        warnings.warn(
            f"resuming {path} with other {', '.join(warn)} ({'; '.join(warned)}): its results may differ from "
            "an uninterrupted run's",
            stacklevel=4,  # the caller of run_search
        )


_ABSENT = "(absent)"


def _as_json(value: Any) -> Any:
    """``value`` as config.json holds it (lists for tuples, string keys), so saved and current configs compare."""
    return json.loads(json.dumps(plain(value)))


def _differences(saved: Any, now: Any, path: str) -> list[str]:
    """``"path.to.field: saved -> now"`` for every leaf that differs (lists compare whole; NaN equals NaN)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        keys = [*now, *(k for k in saved if k not in now)]
        return [d for k in keys for d in _differences(saved.get(k, _ABSENT), now.get(k, _ABSENT), f"{path}.{k}")]
    both_nan = isinstance(saved, float) and isinstance(now, float) and math.isnan(saved) and math.isnan(now)
    if saved == now or both_nan:
        return []
    return [f"{path}: {_shown(saved)} -> {_shown(now)}"]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# The locks this process holds, by (folder, thread): a script may hold its folder around run_search, which locks it.
_HELD: dict[tuple[Path, int], int] = {}


@contextmanager
def lock_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``path``'s lock (creating the folder) while the block runs; re-entrant within a thread.

    Raises ``RunFolderInUseError`` naming the folder and its holder when another process (or another thread of
    this one) holds it.
    """
    folder = Path(path)
    make_folder(folder)
    key = (folder.resolve(), threading.get_ident())
    if key in _HELD:
        yield folder
        return
    _HELD[key] = _acquire(folder)
    try:
        yield folder
    finally:
        _release(_HELD.pop(key))


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents); ``RunFolderError`` naming it and why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunFolderError(
            f"cannot use {folder} as a run folder: it (or a folder above it) is a file, not a folder; choose another "
            "path"
        ) from None
    except OSError as error:
        raise RunFolderError(
            f"cannot create the run folder {folder}: {os_reason(error)} ({error.strerror}); choose another path"
        ) from None


def _acquire(folder: Path) -> int:
    """Open and lock the folder's lock file, then write this process into it; returns the open descriptor."""
    try:
        descriptor = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: it may name the holder
    except OSError as error:
        raise RunFolderError(
            f"cannot write in the run folder {folder}: {os_reason(error)}; a run writes its results there, so "
            "choose a writable folder"
        ) from None
    if sys.platform == "win32":
        warnings.warn(f"{folder}: run folders are not locked on Windows (no flock)", stacklevel=4)
        return descriptor
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(descriptor)
        os.close(descriptor)
        raise RunFolderInUseError(
            f"{folder} is in use by {holder}; one process at a time may use a run folder: wait for it to end "
            "(or stop it), or choose another folder"
        ) from None
    except BaseException:
        os.close(descriptor)
        raise
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
    }
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, (json.dumps(me) + "\n").encode(), 0)
    return descriptor


def _holder(descriptor: int) -> str:
    """Who holds the lock, as its lock file says."""
    try:
        holder = json.loads(os.pread(descriptor, 65536, 0))
        return f"process {holder['pid']} on host {holder['host']}, started {holder['started']} ({holder['command']})"
    except (OSError, ValueError, KeyError, TypeError):  # written a moment after the lock is taken
        return "another process (which has just started and not yet written its name into the lock file)"


def _release(descriptor: int) -> None:
    if sys.platform != "win32":
        fcntl.flock(descriptor, fcntl.LOCK_UN)
    os.close(descriptor)


class RunFolder:
    """Paths and writers of one search run."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        make_folder(self.path)
        self.csv_path = self.path / EVALUATIONS
        self.checkpoint_path = self.path / CHECKPOINT
        self._csv_hash: Any = None  # hashlib's running SHA-256 of the CSV's bytes (None: not yet read)

    def lock(self) -> AbstractContextManager[Path]:
        """``lock_folder`` of this folder."""
        return lock_folder(self.path)

    def run_files(self) -> list[str]:
        return run_files(self.path)

    def clear(self) -> None:
        """Delete everything in the folder but its lock file, to start a run afresh (hold the lock)."""
        for item in self.path.iterdir():
            if item.name == LOCK:
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()

    def write_json(self, name: str, data: Any) -> None:
        _atomic_write_bytes(self.path / name, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())

    def read_config(self) -> dict[str, Any] | None:
        """The run's config.json, or None without one."""
        path = self.path / CONFIG
        if not path.is_file():
            return None
        try:
            config: dict[str, Any] = json.loads(path.read_text())
        except ValueError as error:
            raise RunFolderError(f"{path} is not valid JSON ({error}); restore it or start a new run") from None
        return config

    def start_csv(self, columns: list[str]) -> int:
        """Write the header (replacing any old file); returns the file's length in bytes."""
        return self._write_csv(columns=columns, rows=[], append=False)

    def append_csv(self, columns: list[str], rows: list[dict[str, Any]]) -> int:
        """Append rows (keys outside ``columns`` dropped); returns the file's new length in bytes."""
        return self._write_csv(columns=columns, rows=rows, append=True)

    def _write_csv(self, *, columns: list[str], rows: list[dict[str, Any]], append: bool) -> int:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        if not append:
            writer.writeheader()
        writer.writerows(rows)
        data = buffer.getvalue().encode()
        if not append:
            self._csv_hash = hashlib.sha256()
        elif self._csv_hash is None:  # appending to a file this object has not read: hash what is there first
            self._csv_hash = hashlib.sha256(self.csv_path.read_bytes() if self.csv_path.is_file() else b"")
        try:
            with open(self.csv_path, "ab" if append else "wb") as handle:
                handle.write(data)
        except OSError as error:
            raise RunFolderError(f"cannot write {self.csv_path}: {os_reason(error)}") from None
        self._csv_hash.update(data)
        return self.csv_path.stat().st_size

    def csv_digest(self) -> str:
        """The SHA-256 (hex) of the CSV's bytes as this object wrote or checked them: what a checkpoint records."""
        if self._csv_hash is None:
            self._csv_hash = hashlib.sha256(self.csv_path.read_bytes() if self.csv_path.is_file() else b"")
        digest: str = self._csv_hash.hexdigest()
        return digest

    def last_csv_batch(self) -> int | None:
        """The highest batch number in the CSV (None without rows)."""
        if not self.csv_path.is_file():
            return None
        try:
            with open(self.csv_path, newline="") as handle:
                batches = [int(row["batch"]) for row in csv.DictReader(handle)]
        except (ValueError, KeyError, TypeError, csv.Error) as error:  # a row without a batch number, or no header
            raise RunFolderError(f"{self.csv_path} cannot be read as a run's evaluations ({error!r})") from None
        return max(batches, default=None)

    def check_csv(self, *, columns: list[str], rows: int, last_batch: int, length: int, sha256: str = "") -> None:
        """``RunFolderError`` unless the CSV's first ``length`` bytes are the header ``columns`` and ``rows`` rows, the
        last of batch ``last_batch``, with SHA-256 ``sha256``: what the checkpoint recorded (an empty ``sha256``, a
        checkpoint written before digests were recorded, checks the rest). Rows after them (batches evaluated after
        the checkpoint) are allowed; the resume cuts them off."""
        expected = f"the checkpoint recorded {rows} rows, the last of batch {last_batch}, in its first {length} bytes"
        if not self.csv_path.is_file():
            raise RunFolderError(f"cannot resume {self.path}: {EVALUATIONS} is missing, but {expected}")
        with open(self.csv_path, "rb") as handle:
            head = handle.read(length)
        problems = _csv_problems(head, columns=columns, rows=rows, last_batch=last_batch, length=length)
        digest = hashlib.sha256(head)
        if not problems and sha256 and digest.hexdigest() != sha256:
            problems.append(
                f"the SHA-256 of its first {length} bytes is {digest.hexdigest()[:12]}..., not the checkpoint's "
                f"{sha256[:12]}...: rows were edited in place"
            )
        if problems:
            raise RunFolderError(
                f"cannot resume {self.path}: {EVALUATIONS} does not match the checkpoint ({'; '.join(problems)}; "
                f"{expected}). It was cut, edited or replaced: restore it, or start a new run in another folder"
            )

    def truncate_csv(self, length: int) -> None:
        """Cut the CSV back to ``length`` bytes (its length at the checkpoint); shorter is an error, never padded."""
        size = self.csv_path.stat().st_size
        if size < length:
            raise RunFolderError(f"{self.csv_path} holds {size} bytes, fewer than the checkpoint's {length}")
        if size > length:
            with open(self.csv_path, "r+b") as handle:
                handle.truncate(length)
            self._csv_hash = None  # hashed again from the file at the next append

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """torch.save of tensors and plain types, written atomically."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _atomic_write_bytes(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint's state, None without one; ``RunFolderError`` naming the file when it cannot be read.

        Loaded with ``weights_only=True`` (no code runs), and torch's own error is not repeated: for a checkpoint
        holding anything but tensors and plain types it recommends ``weights_only=False``, which would run
        whatever code the file holds. This project's checkpoints never need it.
        """
        if not self.checkpoint_path.exists():
            return None
        try:
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ... on a bad file
            raise RunFolderError(
                f"cannot read the checkpoint {self.checkpoint_path} ({type(error).__name__}): it is truncated, "
                "corrupt or not a checkpoint of this project. Its evaluations are still in "
                f"{self.csv_path.name}; to start over, move the folder away and run without --resume"
            ) from None
        if not isinstance(state, dict) or not {"run", "search", "algorithm"} <= state.keys():
            raise RunFolderError(f"{self.checkpoint_path} is not a checkpoint of this project (missing its run state)")
        return state

    def plot(self, *, batch_means: list[float], topk_means: list[float], top_k: int, title: str) -> Path:
        """The paper's learning-pattern figure: top-k mean reward and each batch's mean against batch number."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ImportError('plots need matplotlib: pip install "automl-env[agents]"') from error
        batches = list(range(1, len(batch_means) + 1))
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot(batches, topk_means, label=f"mean of top-{top_k}")
        axis.plot(batches, batch_means, label="batch mean", alpha=0.7)
        axis.set_xlabel("batch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel("reward")
        axis.set_title(title)
        axis.legend()
        figure.tight_layout()
        path = self.path / "learning_curve.png"
        figure.savefig(path, dpi=120)
        plt.close(figure)
        return path


def _csv_problems(head: bytes, *, columns: list[str], rows: int, last_batch: int, length: int) -> list[str]:
    """How the CSV's first ``length`` bytes differ from what the checkpoint recorded (empty: they agree)."""
    if len(head) < length:
        return [f"it holds only {len(head)} bytes"]
    if length and not head.endswith(b"\n"):
        return [f"its byte {length} does not end a row"]
    try:
        records = list(csv.reader(io.StringIO(head.decode())))
    except (UnicodeDecodeError, csv.Error) as error:
        return [f"it cannot be read as CSV ({error})"]
    header, body = (records[0], records[1:]) if records else ([], [])
    problems = []
    if header != columns:
        problems.append(f"its header is {header[:4]}..., not {columns[:4]}...")
    if len(body) != rows:
        problems.append(f"its first {length} bytes hold {len(body)} rows")
    elif body and header == columns and "batch" in columns:
        last = body[-1]
        batch = last[columns.index("batch")] if len(last) == len(columns) else "(a malformed row)"
        if batch != str(last_batch):
            problems.append(f"its last row there is of batch {batch}")
    return problems


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write then rename, so a killed run never leaves a half-written file."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except OSError as error:
        raise RunFolderError(f"cannot write {path}: {os_reason(error)}") from None
