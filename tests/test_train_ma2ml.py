"""examples/train_ma2ml.py, the README's main job: run folder, exact resume, retraining of the top-k."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_ma2ml.py"
TINY_RETRAIN = ("epochs=1", "cells=1", "channels=2", "warmup_epochs=0", "train_subset=64", "batch_size=32")


@pytest.fixture(scope="module")
def train_ma2ml() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_ma2ml_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "evaluations.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _argv(out: Path, batches: int, *extra: str) -> list[str]:
    return ["--batches", str(batches), "--batch-size", "4", "--top-k", "3", "--out", str(out), "--no-progress", *extra]


def test_main_job_writes_its_folder_and_resumes_exactly(train_ma2ml: ModuleType, tmp_path: Path) -> None:
    whole = train_ma2ml.main(_argv(tmp_path / "whole", 4))
    assert whole.evaluations == 16
    for name in ("config.json", "evaluations.csv", "topk.json", "checkpoint.pt", "learning_curve.png"):
        assert (tmp_path / "whole" / name).stat().st_size > 0, name
    config = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert (config["algorithm"], config["algorithm_config"]["lam"], config["batches"]) == ("ma2ml", 0.2, 4)

    train_ma2ml.main(_argv(tmp_path / "split", 2))
    resumed = train_ma2ml.main(_argv(tmp_path / "split", 4, "--resume"))
    assert resumed.best_reward == whole.best_reward
    assert [r["reward"] for r in _rows(tmp_path / "split")] == [r["reward"] for r in _rows(tmp_path / "whole")]


def test_retrain_top_trains_the_best_pipelines_for_real(train_ma2ml: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    from test_training_data import write_fashion_mnist

    root = write_fashion_mnist(tmp_path / "data", n_train=300, n_test=60)
    fidelity = [arg for item in TINY_RETRAIN for arg in ("--retrain-fidelity", item)]
    search = ["--task", "fashion-mnist", "--backend", "synthetic", "--data-root", str(root)]
    result = train_ma2ml.main(_argv(tmp_path / "run", 2, *search, "--retrain-top", "2", *fidelity))
    retrained = json.loads((result.out_dir / "retrain.json").read_text())
    assert [row["rank"] for row in retrained] == [0, 1]
    for row, entry in zip(retrained, result.topk, strict=False):
        assert row["search_reward"] == entry["reward"]
        assert row["result"]["status"] == "ok", row["result"]["reason"]
        assert 0.0 <= row["result"]["accuracy"] <= 1.0  # test accuracy after the final training
        assert row["result"]["flops"] > 0


@pytest.mark.parametrize(
    ("item", "message"),
    [("epoch=3", "FIELD one of"), ("epochs=three", "must be an integer"), ("channels=3", "channels must be even")],
)
def test_bad_retrain_fidelity_is_a_usage_error(
    train_ma2ml: ModuleType, item: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        train_ma2ml.parse_args(["--retrain-fidelity", item])
    assert message in capsys.readouterr().err
