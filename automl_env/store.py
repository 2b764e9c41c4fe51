"""Persistent evaluation store: one SQLite row per (task, pipeline digest, fidelity, seed, context).

Why: a search never trains the same pipeline twice, a killed run resumes where it stopped (every
evaluation is committed as soon as it finishes, so only the ones in flight are lost), and the
recorded evaluations become a table for the ``table`` backend. SQLite in WAL mode lets several
processes read and write the same file at once. Rows hold JSON only (``Pipeline.to_json``,
``EvalResult.to_dict``, ``Fidelity.to_dict``): loading a store never executes code.

``context`` is what a result depends on besides the rest of the key: the training backend passes
its code version, a fingerprint of the dataset files and the split settings, so a store reused with
other data never serves a result trained on something else. It defaults to "" (callers without one).

    store = EvalStore("runs/cifar100.sqlite")
    result = store.get("cifar100", pipeline, fidelity, seed=0)   # None when not evaluated yet
    store.put("cifar100", pipeline, fidelity, 0, result)
    store.export("runs/cifar100.csv")                            # or .json

A store that cannot be written (a read-only file or folder) is opened read-only: ``get`` and
``records`` answer, ``put`` raises. A file that is not a store, is corrupt or holds a row that does
not decode raises ``StoreError`` naming the file (and the row).

Schema versions: 1 had no context; 2 adds ``context`` to the key. A schema-1 file is migrated when it
is first opened writable: its rows keep the empty context, so they stay readable and exported but are
never served to the training backend, whose results they may not match. Migrating keeps evaluations
that may have cost GPU-days, where refusing the file would leave every user to convert it by hand.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_env.backends.base import BackendSetupError, EvalResult, Fidelity
from automl_env.fs_errors import folder_problem, os_reason
from automl_env.pipeline import Pipeline

if TYPE_CHECKING:
    from automl_env.tasks import TaskSpec

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

_EVALUATIONS = """
CREATE TABLE evaluations (
    task TEXT NOT NULL,
    digest TEXT NOT NULL,
    fidelity TEXT NOT NULL,
    seed INTEGER NOT NULL,
    context TEXT NOT NULL DEFAULT '',
    pipeline TEXT NOT NULL,
    fidelity_json TEXT NOT NULL,
    result TEXT NOT NULL,
    status TEXT NOT NULL,
    accuracy REAL NOT NULL,
    backend TEXT NOT NULL,
    started_at REAL,
    finished_at REAL NOT NULL,
    version TEXT NOT NULL,
    host TEXT NOT NULL,
    PRIMARY KEY (task, digest, fidelity, seed, context)
)"""
_META = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_COLUMNS = (
    "task", "digest", "fidelity", "seed", "context", "pipeline", "fidelity_json", "result", "status", "accuracy",
    "backend", "started_at", "finished_at", "version", "host",
)  # fmt: skip

EXPORT_COLUMNS = (
    "task", "digest", "fidelity", "seed", "status", "accuracy", "flops", "params", "cost_seconds", "backend",
    "reason", "started_at", "finished_at", "version", "host", "pipeline", "metrics", "context",
)  # fmt: skip


class StoreError(BackendSetupError, ValueError):
    """The store file cannot be used (not a store, corrupt, a bad row, a write to a read-only store); names it."""


@dataclass(frozen=True)
class StoredEvaluation:
    """One row of the store, decoded."""

    task: str
    pipeline: Pipeline
    fidelity: Fidelity
    seed: int
    result: EvalResult
    started_at: float | None
    finished_at: float
    version: str
    host: str
    context: str = ""

    def to_row(self) -> dict[str, Any]:
        """Flat JSON-friendly record (the export format)."""
        r = self.result
        return {
            "task": self.task, "digest": self.pipeline.digest, "fidelity": self.fidelity.key, "seed": self.seed,
            "status": r.status, "accuracy": r.accuracy, "flops": r.flops, "params": r.params,
            "cost_seconds": r.cost_seconds, "backend": r.backend, "reason": r.reason, "started_at": self.started_at,
            "finished_at": self.finished_at, "version": self.version, "host": self.host,
            "pipeline": self.pipeline.to_json(), "metrics": json.dumps(r.metrics, sort_keys=True),
            "context": self.context,
        }  # fmt: skip


def _number(value: Any) -> float:
    """A number of an export row: JSON's as is, a CSV's text as the int or float it was written from."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return float(value)
    return value


MAX_EXPORT_BYTES = 2**31
"""The largest export read (2 GiB; an export of a million evaluations is about 1 GiB)."""


def read_export(path: str | Path) -> tuple[list[dict[str, Any]], bool]:
    """The rows of an ``EvalStore.export`` file and whether their values are text (a CSV's) or JSON values.

    The one reader of the export format, strict about the file; what a row means is for its caller
    (``EvalStore.restore``, the table backend's ``read_store_export``). A JSON export is an object whose
    ``rows`` are flat objects (strings, numbers, booleans or null). A file over ``MAX_EXPORT_BYTES``, a suffix
    other than ``.csv`` or ``.json`` (never a pickle), JSON nested deeper than flat rows, or a file that cannot
    be read raise ``StoreError`` naming the file (and the row).
    """
    path = Path(path)
    if path.suffix not in (".csv", ".json"):
        raise StoreError(f"{path}: read an EvalStore export (.csv or .json), not {path.suffix!r}; never pickles")
    try:
        size = path.stat().st_size
        if size > MAX_EXPORT_BYTES:
            raise StoreError(f"export {path} holds {size} bytes, more than the {MAX_EXPORT_BYTES} an export may hold")
        if path.suffix == ".csv":
            with path.open(newline="") as handle:
                return list(csv.DictReader(handle)), True
        data = json.loads(path.read_text())
    except RecursionError:
        raise StoreError(
            f"cannot read export {path}: its JSON is nested too deeply (an export's rows are flat)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
        raise StoreError(f"cannot read export {path}: {error}") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise StoreError(f"{path}: expected an EvalStore JSON export ({{'schema_version', 'rows'}})")
    for number, row in enumerate(rows, start=1):
        for column, value in row.items():
            if isinstance(value, (dict, list)):
                raise StoreError(
                    f"{path} row {number}: {column} holds a JSON {type(value).__name__}; an export's values are "
                    "strings, numbers or null"
                )
    return rows, False


def _task_name(task: str | TaskSpec) -> str:
    return task if isinstance(task, str) else task.name


def _package_version() -> str:
    from automl_env import __version__

    return __version__


class EvalStore:
    """A SQLite file of evaluations; safe to share between processes (each call opens its own connection).

    ``read_only`` is True where the file or its folder cannot be written: the store is then opened with
    SQLite's ``mode=ro`` (and ``immutable`` where even reading would need to write, as a WAL file's
    shared-memory file in a read-only folder does).
    """

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        try:
            exists = self.path.exists()
        except OSError as error:  # a name too long for the file system, say
            raise StoreError(f"cannot open evaluation store {self.path}: {os_reason(error)}") from None
        self.read_only = exists and not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK))
        self._uri: str | None = None
        if self.read_only:
            self._open_read_only()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"cannot create the folder of evaluation store {self.path}: {os_reason(error)} ({error})"
            ) from None
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")  # one process creates or migrates the file; the others find it done
            try:
                found = self._schema(db)
                if found is None:
                    db.execute(_EVALUATIONS)
                    db.execute(_META)
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif found == 1:
                    self._migrate_from_1(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if found not in (None, 1, SCHEMA_VERSION):
            raise StoreError(f"{self.path} has store schema {found}; this package reads schema {SCHEMA_VERSION}")

    def _open_read_only(self) -> None:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=self.timeout)) as db:
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            self._uri = uri
        except sqlite3.DatabaseError:  # a WAL file needs its -shm file, which a read-only folder cannot hold
            self._uri = uri + "&immutable=1"
        with self._connect() as db:
            found = self._schema(db)
        if found != SCHEMA_VERSION:
            has = "no store schema (an empty file)" if found is None else f"store schema {found}"
            raise StoreError(
                f"{self.path} is read-only and has {has}; this package reads schema {SCHEMA_VERSION}"
                + (": open a writable copy once to migrate it" if found == 1 else "")
            )

    def _schema(self, db: sqlite3.Connection) -> int | None:
        """The file's schema version; None for an empty file."""
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if not {"evaluations", "meta"} <= tables:
            raise StoreError(
                f"{self.path} is an SQLite file but not an evaluation store (its tables: {sorted(tables)})"
            )
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise StoreError(f"{self.path}: its meta table holds no valid schema_version ({row})") from None

    def _migrate_from_1(self, db: sqlite3.Connection) -> None:
        """Schema 1 -> 2: the context joins the key; existing rows get the empty context."""
        columns = ", ".join(c for c in _COLUMNS if c != "context")
        db.execute(_EVALUATIONS.replace("CREATE TABLE evaluations", "CREATE TABLE evaluations_new"))
        db.execute(f"INSERT INTO evaluations_new ({columns}) SELECT {columns} FROM evaluations")
        db.execute("DROP TABLE evaluations")
        db.execute("ALTER TABLE evaluations_new RENAME TO evaluations")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        log.info("migrated evaluation store %s from schema 1 to %d", self.path, SCHEMA_VERSION)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            if self._uri is not None:
                db = sqlite3.connect(self._uri, uri=True, timeout=self.timeout, isolation_level=None)
            else:
                db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            with closing(db):
                if not self.read_only:
                    db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
                yield db
        except sqlite3.DatabaseError as error:
            raise StoreError(self._unusable(error)) from error

    def _unusable(self, error: sqlite3.DatabaseError) -> str:
        text = str(error)
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return (
                f"evaluation store {self.path} is not an SQLite database or is corrupt ({text}); "
                "move it aside (a new store starts empty) or restore a copy"
            )
        if "unable to open" in text:
            why = folder_problem(self.path) or "SQLite could not create or open the file there"
            return f"cannot open evaluation store {self.path}: {why} (SQLite: {text}); pass a writable path"
        return f"evaluation store {self.path}: {text}"

    def _result(self, rowid: int, text: Any) -> EvalResult:
        """A row's result column decoded; StoreError naming the file and row where it does not decode."""
        try:
            result = EvalResult.from_dict(json.loads(text))
            if result.status not in ("ok", "failed") or not isinstance(result.accuracy, (int, float)):
                raise ValueError(f"status {result.status!r}, accuracy {result.accuracy!r}")
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise StoreError(
                f"{self.path} row {rowid}: the stored result is not a valid evaluation ({error})"
            ) from None
        return result

    def get(
        self, task: str | TaskSpec, pipeline: Pipeline, fidelity: Fidelity, seed: int, *, context: str = ""
    ) -> EvalResult | None:
        """The stored result of this evaluation, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT rowid, result FROM evaluations"
                " WHERE task = ? AND digest = ? AND fidelity = ? AND seed = ? AND context = ?",
                (_task_name(task), pipeline.digest, fidelity.key, seed, context),
            ).fetchone()
        return self._result(*row) if row else None

    def get_many(
        self, task: str | TaskSpec, pipelines: Sequence[Pipeline], fidelity: Fidelity, seed: int, *, context: str = ""
    ) -> list[EvalResult | None]:
        """One lookup per pipeline, in order, in a single query."""
        digests = sorted({p.digest for p in pipelines})
        found: dict[str, EvalResult] = {}
        with self._connect() as db:
            for i in range(0, len(digests), 500):  # stay under SQLite's bound-parameter limit
                chunk = digests[i : i + 500]
                rows = db.execute(
                    f"SELECT rowid, digest, result FROM evaluations WHERE task = ? AND fidelity = ? AND seed = ? "
                    f"AND context = ? AND digest IN ({','.join('?' * len(chunk))})",
                    (_task_name(task), fidelity.key, seed, context, *chunk),
                ).fetchall()
                found.update((digest, self._result(rowid, text)) for rowid, digest, text in rows)
        return [found.get(p.digest) for p in pipelines]

    def put(
        self,
        task: str | TaskSpec,
        pipeline: Pipeline,
        fidelity: Fidelity,
        seed: int,
        result: EvalResult,
        *,
        started_at: float | None = None,
        context: str = "",
    ) -> None:
        """Record an evaluation (committed at once); a later put of the same key replaces it."""
        if self.read_only:
            raise StoreError(f"evaluation store {self.path} is read-only (file or folder not writable); cannot record")
        with self._connect() as db:
            db.execute(
                f"INSERT OR REPLACE INTO evaluations ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                (
                    _task_name(task), pipeline.digest, fidelity.key, seed, context, pipeline.to_json(),
                    json.dumps(fidelity.to_dict(), sort_keys=True), json.dumps(result.to_dict(), sort_keys=True),
                    result.status, result.accuracy, result.backend, started_at, time.time(), _package_version(),
                    socket.gethostname(),
                ),
            )  # fmt: skip

    def __len__(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])

    def records(self, task: str | TaskSpec | None = None) -> Iterator[StoredEvaluation]:
        """Every stored evaluation (of one task if given), oldest first."""
        query = (
            "SELECT rowid, task, pipeline, fidelity_json, seed, result, started_at, finished_at, version, host, context"
            " FROM evaluations"
        )
        params: tuple[Any, ...] = ()
        if task is not None:
            query, params = query + " WHERE task = ?", (_task_name(task),)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY finished_at", params).fetchall()
        for rowid, name, pipe, fid, seed, result, started, finished, version, host, context in rows:
            try:
                pipeline, fidelity = Pipeline.from_json(pipe), Fidelity.from_dict(json.loads(fid))
            except (TypeError, ValueError, KeyError, AttributeError) as error:
                raise StoreError(
                    f"{self.path} row {rowid}: the stored pipeline or fidelity does not decode ({error})"
                ) from None
            yield StoredEvaluation(
                task=name,
                pipeline=pipeline,
                fidelity=fidelity,
                seed=int(seed),
                result=self._result(rowid, result),
                started_at=started,
                finished_at=finished,
                version=version,
                host=host,
                context=context,
            )

    def restore(self, path: str | Path) -> int:
        """Add the rows of an ``export`` (``.csv`` or ``.json``) that this store lacks; the number added.

        Rows keep their times, package version and host; a row whose key (task, pipeline, fidelity, seed,
        context) is already stored is left as stored. This is how a collection continues on a machine that
        has its committed export but not its store: the evaluations already made are not trained again.
        """
        source = Path(path)
        if self.read_only:
            raise StoreError(f"evaluation store {self.path} is read-only (file or folder not writable); cannot restore")
        rows, _ = read_export(source)
        values = [self._restored(source, number, row) for number, row in enumerate(rows, start=1)]
        with self._connect() as db:
            before = db.total_changes
            db.executemany(
                f"INSERT OR IGNORE INTO evaluations ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                values,
            )
            return db.total_changes - before

    @staticmethod
    def _restored(source: Path, number: int, row: Any) -> tuple[Any, ...]:
        """One export row as the store's column values; StoreError naming the file and row if it does not decode."""
        try:
            missing = [c for c in EXPORT_COLUMNS if c not in row]
            if missing:
                raise ValueError(f"missing columns {missing}")
            pipeline, fidelity = Pipeline.from_json(row["pipeline"]), Fidelity.from_key(str(row["fidelity"]))
            if pipeline.digest != row["digest"]:
                raise ValueError(f"digest {row['digest']!r} is not its pipeline's ({pipeline.digest})")
            if row["status"] not in ("ok", "failed"):
                raise ValueError(f"status {row['status']!r} is neither 'ok' nor 'failed'")
            metrics = json.loads(row["metrics"]) if isinstance(row["metrics"], str) else row["metrics"]
            result = EvalResult(
                accuracy=_number(row["accuracy"]),
                flops=_number(row["flops"]),
                params=_number(row["params"]),
                cost_seconds=_number(row["cost_seconds"]),
                backend=str(row["backend"]),
                status=row["status"],
                reason=str(row["reason"] or ""),
                metrics={str(k): float(v) for k, v in dict(metrics).items()},
            )
            started = row["started_at"]
            return (
                str(row["task"]), pipeline.digest, fidelity.key, int(row["seed"]), str(row["context"] or ""),
                pipeline.to_json(), json.dumps(fidelity.to_dict(), sort_keys=True),
                json.dumps(result.to_dict(), sort_keys=True), result.status, result.accuracy, result.backend,
                None if started in ("", None) else float(started), float(row["finished_at"]), str(row["version"]),
                str(row["host"]),
            )  # fmt: skip
        except (TypeError, ValueError, KeyError, AttributeError, json.JSONDecodeError) as error:
            raise StoreError(f"{source} row {number}: not an EvalStore export row ({error})") from None

    def export(self, path: str | Path, *, task: str | TaskSpec | None = None) -> Path:
        """Write the store as a table: ``.csv`` (one row per evaluation) or ``.json`` (a list of rows)."""
        out = Path(path)
        rows = [record.to_row() for record in self.records(task)]
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".json":
            out.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "rows": rows}, indent=1))
        elif out.suffix == ".csv":
            with out.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=EXPORT_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
        else:
            raise ValueError(f"export to .csv or .json, not {out.suffix!r}")
        return out
