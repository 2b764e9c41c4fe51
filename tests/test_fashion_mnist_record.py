"""The recorded Fashion-MNIST evaluations (automl_env/data/fashion_mnist_record) as the table backend serves them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import automl_env
from automl_env.backends.registry import make_backend
from automl_env.pipeline import Pipeline

RECORD = Path(automl_env.__file__).parent / "data" / "fashion_mnist_record"


def test_the_table_backend_serves_every_recorded_evaluation_at_its_seed() -> None:
    task = automl_env.get_task("fashion-mnist")
    backend = make_backend("table", task, table=str(RECORD / "evaluations.csv"))
    with open(RECORD / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        [result] = backend.evaluate([Pipeline.from_json(row["pipeline"])], seed=int(row["seed"]))
        assert result.accuracy == float(row["accuracy"])


def test_the_provenance_counts_the_rows_it_describes() -> None:
    provenance = json.loads((RECORD / "provenance.json").read_text())
    with open(RECORD / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    plan = provenance["plan"]
    assert sum(provenance["evaluations"].values()) == plan["held"] >= plan["prefix"]
    assert len(rows) == provenance["rows"] <= plan["held"]
    fidelity = ",".join(f"{key}={value}" for key, value in sorted(provenance["fidelity"].items()))
    assert {row["fidelity"] for row in rows} == {fidelity}
