"""Persistent evaluation store: one SQLite row per (task, pipeline digest, fidelity, seed).

Why: a search never trains the same pipeline twice, a killed run resumes where it stopped (every
evaluation is committed as soon as it finishes, so only the ones in flight are lost), and the
recorded evaluations become a table for the ``table`` backend. SQLite in WAL mode lets several
processes read and write the same file at once. Rows hold JSON only (``Pipeline.to_json``,
``EvalResult.to_dict``, ``Fidelity.to_dict``): loading a store never executes code.

    store = EvalStore("runs/cifar100.sqlite")
    result = store.get("cifar100", pipeline, fidelity, seed=0)   # None when not evaluated yet
    store.put("cifar100", pipeline, fidelity, 0, result)
    store.export("runs/cifar100.csv")                            # or .json
"""

from __future__ import annotations

import csv
import json
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_env.backends.base import EvalResult, Fidelity
from automl_env.pipeline import Pipeline

if TYPE_CHECKING:
    from automl_env.tasks import TaskSpec

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    task TEXT NOT NULL,
    digest TEXT NOT NULL,
    fidelity TEXT NOT NULL,
    seed INTEGER NOT NULL,
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
    PRIMARY KEY (task, digest, fidelity, seed)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

EXPORT_COLUMNS = (
    "task", "digest", "fidelity", "seed", "status", "accuracy", "flops", "params", "cost_seconds", "backend",
    "reason", "started_at", "finished_at", "version", "host", "pipeline", "metrics",
)  # fmt: skip


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

    def to_row(self) -> dict[str, Any]:
        """Flat JSON-friendly record (the export format)."""
        r = self.result
        return {
            "task": self.task, "digest": self.pipeline.digest, "fidelity": self.fidelity.key, "seed": self.seed,
            "status": r.status, "accuracy": r.accuracy, "flops": r.flops, "params": r.params,
            "cost_seconds": r.cost_seconds, "backend": r.backend, "reason": r.reason, "started_at": self.started_at,
            "finished_at": self.finished_at, "version": self.version, "host": self.host,
            "pipeline": self.pipeline.to_json(), "metrics": json.dumps(r.metrics, sort_keys=True),
        }  # fmt: skip


def _task_name(task: str | TaskSpec) -> str:
    return task if isinstance(task, str) else task.name


def _package_version() -> str:
    from automl_env import __version__

    return __version__


class EvalStore:
    """A SQLite file of evaluations; safe to share between processes (each call opens its own connection)."""

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            found = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        if int(found) != SCHEMA_VERSION:
            raise ValueError(f"{self.path} has store schema {found}; this package reads schema {SCHEMA_VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)) as db:
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
            yield db

    def get(self, task: str | TaskSpec, pipeline: Pipeline, fidelity: Fidelity, seed: int) -> EvalResult | None:
        """The stored result of this evaluation, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT result FROM evaluations WHERE task = ? AND digest = ? AND fidelity = ? AND seed = ?",
                (_task_name(task), pipeline.digest, fidelity.key, seed),
            ).fetchone()
        return EvalResult.from_dict(json.loads(row[0])) if row else None

    def get_many(
        self, task: str | TaskSpec, pipelines: Sequence[Pipeline], fidelity: Fidelity, seed: int
    ) -> list[EvalResult | None]:
        """One lookup per pipeline, in order, in a single query."""
        digests = sorted({p.digest for p in pipelines})
        found: dict[str, EvalResult] = {}
        with self._connect() as db:
            for i in range(0, len(digests), 500):  # stay under SQLite's bound-parameter limit
                chunk = digests[i : i + 500]
                rows = db.execute(
                    f"SELECT digest, result FROM evaluations WHERE task = ? AND fidelity = ? AND seed = ? "
                    f"AND digest IN ({','.join('?' * len(chunk))})",
                    (_task_name(task), fidelity.key, seed, *chunk),
                ).fetchall()
                found.update((d, EvalResult.from_dict(json.loads(r))) for d, r in rows)
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
    ) -> None:
        """Record an evaluation (committed at once); a later put of the same key replaces it."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _task_name(task), pipeline.digest, fidelity.key, seed, pipeline.to_json(),
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
            "SELECT task, pipeline, fidelity_json, seed, result, started_at, finished_at, version, host"
            " FROM evaluations"
        )
        params: tuple[Any, ...] = ()
        if task is not None:
            query, params = query + " WHERE task = ?", (_task_name(task),)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY finished_at", params).fetchall()
        for name, pipe, fid, seed, result, started, finished, version, host in rows:
            yield StoredEvaluation(
                task=name,
                pipeline=Pipeline.from_json(pipe),
                fidelity=Fidelity.from_dict(json.loads(fid)),
                seed=int(seed),
                result=EvalResult.from_dict(json.loads(result)),
                started_at=started,
                finished_at=finished,
                version=version,
                host=host,
            )

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
