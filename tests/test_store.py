"""The SQLite evaluation store: round trips, several writing processes, export, no pickles, the context in
the key, schema migration, and errors that name the file (and row) of a corrupt or read-only store."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import traceback
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from automl_env.backends.base import BackendSetupError, EvalResult, Fidelity, Status
from automl_env.backends.table.store_export import read_store_export
from automl_env.pipeline import Pipeline
from automl_env.store import SCHEMA_VERSION, EvalStore, StoreError
from automl_env.tasks import get_task

TASK = get_task("cifar10")
FIDELITY = Fidelity(epochs=2, train_subset=100)


def pipelines(n: int) -> list[Pipeline]:
    from automl_env.modules.hparams import HParams

    base = dict(TASK.default_pipeline().modules)
    return [Pipeline.of({**base, "hpo": HParams(lr=0.001 * (i + 1), weight_decay=1e-4)}) for i in range(n)]


def result(i: int, status: Status = "ok") -> EvalResult:
    return EvalResult(
        0.5 + i / 1000, 1e6 + i, 1e4, 1.5, "train", status, "" if status == "ok" else "diverged", {"steps": 3.0}
    )


def test_round_trip_by_full_key(tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "s.sqlite")
    p = pipelines(1)[0]
    assert store.get(TASK, p, FIDELITY, 0) is None
    store.put(TASK, p, FIDELITY, 0, result(1), started_at=10.0)
    assert store.get(TASK, p, FIDELITY, 0) == result(1)
    assert store.get("cifar10", p, FIDELITY, 1) is None
    assert store.get(TASK, p, FIDELITY.with_(epochs=3), 0) is None
    assert store.get("cifar100", p, FIDELITY, 0) is None
    (record,) = store.records()
    assert record.pipeline == p and record.fidelity == FIDELITY and record.started_at == 10.0
    assert record.version and record.host


def test_get_many_in_order_with_gaps(tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "s.sqlite")
    ps = pipelines(4)
    store.put(TASK, ps[1], FIDELITY, 0, result(1))
    store.put(TASK, ps[3], FIDELITY, 0, result(3, "failed"))
    assert store.get_many(TASK, [ps[3], ps[0], ps[1], ps[1]], FIDELITY, 0) == [
        result(3, "failed"),
        None,
        result(1),
        result(1),
    ]


def _writer(path: str, start: int) -> None:
    store = EvalStore(path)
    for i, p in enumerate(pipelines(60)[start : start + 20]):
        store.put(TASK, p, FIDELITY, 0, result(start + i))


def test_several_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    EvalStore(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), start)) for start in (0, 20, 40)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    store = EvalStore(path)
    assert len(store) == 60
    assert store.get_many(TASK, pipelines(60), FIDELITY, 0) == [result(i) for i in range(60)]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_export_csv_and_json(tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "s.sqlite")
    for i, p in enumerate(pipelines(3)):
        store.put(TASK, p, FIDELITY, 0, result(i))
    with store.export(tmp_path / "table.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and float(rows[2]["accuracy"]) == pytest.approx(0.502)
    assert Pipeline.from_json(rows[0]["pipeline"]) in pipelines(3)
    table = json.loads(store.export(tmp_path / "table.json").read_text())
    assert len(table["rows"]) == 3 and table["rows"][0]["fidelity"] == FIDELITY.key
    with pytest.raises(ValueError, match=r"csv or \.json"):
        store.export(tmp_path / "table.pkl")


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_restore_reads_an_export_back_without_replacing_what_is_stored(tmp_path: Path, suffix: str) -> None:
    """A collection continued on another machine: the export's rows come back exactly, stored rows stay."""
    store = EvalStore(tmp_path / "s.sqlite")
    ps = pipelines(3)
    for i, p in enumerate(ps):
        store.put(TASK, p, FIDELITY, i % 2, result(i, "failed" if i == 2 else "ok"), started_at=5.0 + i)
    exported = store.export(tmp_path / f"table{suffix}")
    fresh = EvalStore(tmp_path / "fresh.sqlite")
    fresh.put(TASK, ps[0], FIDELITY, 0, result(7))
    assert fresh.restore(exported) == 2
    assert fresh.restore(exported) == 0
    assert fresh.get(TASK, ps[0], FIDELITY, 0) == result(7)
    assert fresh.get(TASK, ps[2], FIDELITY, 0) == result(2, "failed")
    again = EvalStore(tmp_path / "again.sqlite")
    again.restore(exported)
    assert again.export(tmp_path / f"again{suffix}").read_text() == exported.read_text()


def test_restore_names_the_row_it_cannot_read(tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "s.sqlite")
    for i, p in enumerate(pipelines(2)):
        store.put(TASK, p, FIDELITY, 0, result(i))
    with store.export(tmp_path / "table.csv").open() as f:
        rows = list(csv.DictReader(f))
    rows[1]["digest"] = "0" * 16
    with (tmp_path / "bad.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fresh = EvalStore(tmp_path / "fresh.sqlite")
    with pytest.raises(BackendSetupError, match=r"bad\.csv row 2: .*digest"):
        fresh.restore(tmp_path / "bad.csv")
    assert len(fresh) == 0, "a bad row restores nothing"
    with pytest.raises(BackendSetupError, match=r"\.csv or \.json"):
        fresh.restore(tmp_path / "table.pkl")


def test_rows_are_plain_json(tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "s.sqlite")
    store.put(TASK, pipelines(1)[0], FIDELITY, 0, result(0))
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        pipeline_json, result_json = db.execute("SELECT pipeline, result FROM evaluations").fetchone()
    assert json.loads(result_json)["accuracy"] == 0.5
    assert Pipeline.from_json(pipeline_json) == pipelines(1)[0]


def test_context_is_part_of_the_key(tmp_path: Path) -> None:
    """The same pipeline, fidelity and seed on other data (another context) is another evaluation."""
    store = EvalStore(tmp_path / "s.sqlite")
    p = pipelines(1)[0]
    store.put(TASK, p, FIDELITY, 0, result(1), context="data=aaaa")
    assert store.get(TASK, p, FIDELITY, 0, context="data=bbbb") is None
    assert store.get_many(TASK, [p], FIDELITY, 0, context="data=bbbb") == [None]
    assert store.get(TASK, p, FIDELITY, 0) is None  # callers without a context do not see it either
    store.put(TASK, p, FIDELITY, 0, result(2), context="data=bbbb")
    assert store.get(TASK, p, FIDELITY, 0, context="data=aaaa") == result(1)
    assert store.get_many(TASK, [p], FIDELITY, 0, context="data=bbbb") == [result(2)]
    assert sorted(r.context for r in store.records()) == ["data=aaaa", "data=bbbb"]
    with store.export(tmp_path / "table.csv").open() as f:
        assert sorted(row["context"] for row in csv.DictReader(f)) == ["data=aaaa", "data=bbbb"]


SCHEMA_1 = """
CREATE TABLE evaluations (
    task TEXT NOT NULL, digest TEXT NOT NULL, fidelity TEXT NOT NULL, seed INTEGER NOT NULL, pipeline TEXT NOT NULL,
    fidelity_json TEXT NOT NULL, result TEXT NOT NULL, status TEXT NOT NULL, accuracy REAL NOT NULL,
    backend TEXT NOT NULL, started_at REAL, finished_at REAL NOT NULL, version TEXT NOT NULL, host TEXT NOT NULL,
    PRIMARY KEY (task, digest, fidelity, seed)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_schema_1_store_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path, p = tmp_path / "old.sqlite", pipelines(1)[0]
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(SCHEMA_1)
        db.execute(
            "INSERT INTO evaluations VALUES (?, ?, ?, 0, ?, ?, ?, 'ok', 0.501, 'train', NULL, 1.0, '0.1.0', 'h')",
            (
                TASK.name,
                p.digest,
                FIDELITY.key,
                p.to_json(),
                json.dumps(FIDELITY.to_dict()),
                json.dumps(result(1).to_dict()),
            ),
        )
    store = EvalStore(path)
    assert store.get(TASK, p, FIDELITY, 0) == result(1)  # kept, under the empty context
    assert store.get(TASK, p, FIDELITY, 0, context="train-v1 data=abc") is None  # never served as other data's
    (record,) = store.records()
    assert record.context == "" and record.result == result(1)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    assert EvalStore(path).get(TASK, p, FIDELITY, 0) == result(1)  # opening it again changes nothing


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_store_file_names_it(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "evals.sqlite"
    store = EvalStore(path)
    for i, p in enumerate(pipelines(30)):
        store.put(TASK, p, FIDELITY, 0, result(i))
    data = path.read_bytes()
    path.write_bytes(b"these bytes are not an SQLite file " * 100 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(BackendSetupError, match=r"evals\.sqlite is not an SQLite database or is corrupt"):
        EvalStore(path).get_many(TASK, pipelines(30), FIDELITY, 0)


def test_sqlite_file_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE photos (name TEXT)")
    with pytest.raises(BackendSetupError, match=r"other\.sqlite is an SQLite file but not an evaluation store"):
        EvalStore(path)


def test_bad_row_names_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "evals.sqlite"
    store = EvalStore(path)
    ps = pipelines(3)
    for i, p in enumerate(ps):
        store.put(TASK, p, FIDELITY, 0, result(i))
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE evaluations SET result = '{\"accuracy\": 0.5' WHERE digest = ?", (ps[1].digest,))
        (rowid,) = db.execute("SELECT rowid FROM evaluations WHERE digest = ?", (ps[1].digest,)).fetchone()
    where = rf"evals\.sqlite row {rowid}: the stored result is not a valid evaluation"
    assert store.get(TASK, ps[0], FIDELITY, 0) == result(0)  # the other rows still read
    for read in (
        lambda: store.get(TASK, ps[1], FIDELITY, 0),
        lambda: store.get_many(TASK, ps, FIDELITY, 0),
        lambda: list(store.records()),
    ):
        with pytest.raises(BackendSetupError, match=where):
            read()


def run_where_file_modes_bind(check: Callable[[], None]) -> None:
    """Run ``check`` here, or, when this process is root (which ignores file modes), in a forked child as nobody."""
    if os.geteuid() != 0:
        check()
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe and its exit status
        os.close(read)
        status = 0
        try:
            try:
                os.setgid(65534)
                os.setuid(65534)
            except OSError:
                os._exit(3)
            check()
        except BaseException:
            os.write(write, traceback.format_exc().encode())
            status = 1
        os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 3:
        pytest.skip("running as root and cannot drop to an unprivileged user, so file modes cannot bind")
    assert status == 0, report


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX file modes")
@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_read_only_store_can_be_read(read_only: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="automl-store-"))  # outside pytest's root-only temp folder
    path, ps = folder / "shared.sqlite", pipelines(3)
    try:
        store = EvalStore(path)
        for i, p in enumerate(ps[:2]):
            store.put(TASK, p, FIDELITY, 0, result(i))
        before = path.read_bytes()
        path.chmod(0o444 if read_only == "file" else 0o644)
        folder.chmod(0o777 if read_only == "file" else 0o555)

        def check() -> None:
            store = EvalStore(path)
            assert store.read_only
            assert store.get(TASK, ps[0], FIDELITY, 0) == result(0)
            assert store.get_many(TASK, ps, FIDELITY, 0) == [result(0), result(1), None]
            assert len(store) == 2 and len(list(store.records())) == 2
            with pytest.raises(BackendSetupError, match=r"shared\.sqlite is read-only"):
                store.put(TASK, ps[2], FIDELITY, 0, result(2))

        run_where_file_modes_bind(check)
        assert path.read_bytes() == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_restore_and_the_table_backend_read_an_export_with_one_strict_reader(tmp_path: Path) -> None:
    """A nested JSON value is refused the same way by both readers of the export format (read_export)."""
    path = tmp_path / "nested.json"
    rows = [{"task": TASK.name, "metrics": {"a": [1]}}]
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "rows": rows}))
    with pytest.raises(StoreError, match=r"nested\.json row 1: metrics holds a JSON dict"):
        EvalStore(tmp_path / "s.sqlite").restore(path)
    with pytest.raises(BackendSetupError, match=r"nested\.json row 1: metrics holds a JSON dict"):
        read_store_export(TASK, path)
