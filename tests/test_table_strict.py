"""The table loader is strict and linear: one evaluation recorded twice with other values, metrics that are not
numbers, ok rows without a finite accuracy, hostile JSON and wrong option types are refused with the row (or
option) named; a 300k-row export loads."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl_env import Pipeline, get_task
from automl_env.backends.table.backend import TableBackend
from automl_env.backends.table.records import TableError
from automl_env.backends.table.store_export import read_store_export

TASK = get_task("nb201-cifar100")
(MODULE, SPACE), *_ = TASK.modules.items()
FIDELITY = TASK.search_fidelity.key


def pipeline(index: int) -> str:
    """The JSON of the task's pipeline number ``index`` (mixed radix over its tokens)."""
    tokens = np.unravel_index(index, tuple(int(n) for n in SPACE.nvec))
    return Pipeline.of({MODULE: SPACE.decode(np.array(tokens))}).to_json()


def row(index: int = 0, seed: Any = 0, accuracy: Any = 0.5, status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"task": TASK.name, "fidelity": FIDELITY, "seed": seed, "status": status, "accuracy": accuracy,
            "pipeline": pipeline(index), **extra}  # fmt: skip


def write_json(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"schema_version": 2, "rows": rows}))
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("write", [write_json, write_csv])
def test_disagreeing_duplicates_are_refused_naming_both_rows(write: Any, tmp_path: Path) -> None:
    rows = [row(0, accuracy=0.99), row(1), row(0, accuracy=0.5)]
    path = write(tmp_path / f"t.{'json' if write is write_json else 'csv'}", rows)
    with pytest.raises(TableError, match=r"rows 1 and 3 record the same evaluation .* different accuracy"):
        read_store_export(TASK, path)


def test_identical_duplicates_collapse_and_other_seeds_are_runs(tmp_path: Path) -> None:
    rows = [row(0, seed=0, accuracy=0.6), row(0, seed=0, accuracy=0.6), row(0, seed=1, accuracy=0.8)]
    records = read_store_export(TASK, write_json(tmp_path / "t.json", rows)).groups[FIDELITY, "validation"]
    assert records.rows == 1 and records.seeds == (0, 1)
    assert records.accuracy.tolist() == [[0.6, 0.8]]


JSON_NOT_NUMBERS = {"true": True, "string": "0.7", "list": [0.7]}


@pytest.mark.parametrize("case", sorted(JSON_NOT_NUMBERS))
def test_json_metrics_must_be_json_numbers(case: str, tmp_path: Path) -> None:
    path = write_json(tmp_path / "t.json", [row(0, accuracy=JSON_NOT_NUMBERS[case])])
    with pytest.raises(TableError, match=r"row 1: accuracy"):
        read_store_export(TASK, path)


def test_csv_numbers_parse_from_text(tmp_path: Path) -> None:
    records = read_store_export(TASK, write_csv(tmp_path / "t.csv", [row(0, accuracy="0.7")]))
    assert records.groups[FIDELITY, "validation"].accuracy.tolist() == [[0.7]]


@pytest.mark.parametrize("accuracy", ["nan", "inf", "", None])
@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_an_ok_row_without_a_finite_accuracy_is_refused(accuracy: Any, suffix: str, tmp_path: Path) -> None:
    value = accuracy if suffix == "csv" or accuracy in ("", None) else float(accuracy)
    rows = [row(1), row(0, accuracy=value)]
    path = (write_csv if suffix == "csv" else write_json)(tmp_path / f"t.{suffix}", rows)
    expected = r"row 2: (status 'ok' with accuracy|accuracy='' is not a number)"
    with pytest.raises(TableError, match=expected):
        read_store_export(TASK, path)


def test_a_failed_row_keeps_its_reason(tmp_path: Path) -> None:
    rows = [row(0, accuracy=0.0, status="failed", reason="diverged"), row(1)]
    records = read_store_export(TASK, write_json(tmp_path / "t.json", rows)).groups[FIDELITY, "validation"]
    assert records.failures == {0: "diverged"}


@pytest.mark.parametrize("depth", [100_000])
def test_deeply_nested_json_is_a_table_error(depth: int, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"rows": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(TableError, match=r"deep\.json"):
        read_store_export(TASK, path)


def test_a_nested_value_in_a_row_is_refused(tmp_path: Path) -> None:
    path = write_json(tmp_path / "t.json", [row(0, metrics={"a": [1]})])
    with pytest.raises(TableError, match=r"row 1: metrics holds a JSON dict"):
        read_store_export(TASK, path)


@pytest.mark.parametrize("table", [123, 1.5, ["a.csv"], b"a.csv"])
def test_a_table_option_of_another_type_names_the_option(table: Any) -> None:
    with pytest.raises(TableError, match=r"table=.* pass the path of an EvalStore export"):
        TableBackend(TASK, table=table)


def test_a_folder_as_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"is not a file"):
        TableBackend(TASK, table=tmp_path)


@pytest.mark.slow
def test_300k_rows_load_in_one_linear_pass(tmp_path: Path) -> None:
    """Every pipeline of the space at 20 seeds (312,500 rows): the old loader searched the seed list per row and
    took minutes; this one reads each row once."""
    pipelines = [pipeline(i) for i in range(int(np.prod(SPACE.nvec)))]
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["task", "fidelity", "seed", "status", "accuracy", "pipeline"])
        writer.writerows(
            (TASK.name, FIDELITY, seed, "ok", 0.5, text) for seed, text in itertools.product(range(20), pipelines)
        )
    records = read_store_export(TASK, path).groups[FIDELITY, "validation"]
    assert records.rows == len(pipelines) and records.seeds == tuple(range(20))
    assert np.all(records.accuracy == 0.5)
