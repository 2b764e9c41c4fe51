"""The SQLite evaluation store: round trips, several writing processes, export, no pickles."""

from __future__ import annotations

import csv
import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from automl_env.backends.base import EvalResult, Fidelity, Status
from automl_env.pipeline import Pipeline
from automl_env.store import EvalStore
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


def test_rows_are_plain_json(tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "s.sqlite")
    store.put(TASK, pipelines(1)[0], FIDELITY, 0, result(0))
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        pipeline_json, result_json = db.execute("SELECT pipeline, result FROM evaluations").fetchone()
    assert json.loads(result_json)["accuracy"] == 0.5
    assert Pipeline.from_json(pipeline_json) == pipelines(1)[0]
