"""examples/benchmark.py on a tiny budget: folders, CSV, table, plots, and reuse of finished runs."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "benchmark.py"


@pytest.fixture(scope="module")
def benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def test_benchmark_writes_table_csv_plots_and_reuses_runs(benchmark: ModuleType, tmp_path: Path) -> None:
    def argv(batches: int) -> list[str]:
        return [
            *("--algorithms", "random", "rea", "ma2ml_lite", "sequential_rea", "--seeds", "0", "1"),
            *("--batches", str(batches), "--batch-size", "4", "--top-k", "5", "--workers", "1", "--out", str(tmp_path)),
        ]

    benchmark.main(argv(3))
    for algorithm in ("random", "rea", "ma2ml_lite", "sequential_rea"):
        for seed in (0, 1):
            assert (tmp_path / algorithm / f"seed{seed}" / "done.json").exists()
    with open(tmp_path / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 2 * 3 * 4
    assert {"algorithm", "seed", "evaluation", "reward", "cost_seconds", "best_so_far"} <= set(rows[0])
    table = (tmp_path / "results.md").read_text()
    assert "| sequential_rea | sequential | 2 |" in table and "regret" in table and "optimum" in table
    assert (tmp_path / "anytime_evaluations.png").stat().st_size > 0
    assert (tmp_path / "anytime_cost.png").stat().st_size > 0

    done = tmp_path / "rea" / "seed0" / "done.json"
    stamp = json.loads(done.read_text())["wall_seconds"]
    benchmark.main(argv(3))  # same arguments: every run is reused, nothing is recomputed
    assert json.loads(done.read_text())["wall_seconds"] == stamp

    benchmark.main(argv(4))
    assert json.loads(done.read_text())["spec"]["batches"] == 4  # a changed budget reruns


def test_noisy_runs_are_rescored_without_noise(benchmark: ModuleType, tmp_path: Path) -> None:
    import automl_env

    argv = ["--algorithms", "random", "--seeds", "0", "--batches", "2", "--batch-size", "6", "--top-k", "3"]
    benchmark.main([*argv, "--workers", "1", "--backend-option", "noise=0.02", "--out", str(tmp_path)])
    table = (tmp_path / "results.md").read_text()
    assert "| best, noise-free | top-3, noise-free |" in table

    run = benchmark.RunSpec(
        "random", 0, "cifar100", "synthetic", (("noise", 0.02),), 2, 6, 3, str(tmp_path / "random" / "seed0")
    )
    rescorer = benchmark.noise_free_rescorer("cifar100", "synthetic", {"noise": 0.02})
    metrics = benchmark.run_metrics(
        benchmark.load_evaluations(run), top_k=3, optimum=0.851, rescore=lambda digests: rescorer(run, digests)
    )
    with open(tmp_path / "random" / "seed0" / "evaluations.csv", newline="") as handle:
        recorded = list(csv.DictReader(handle))
    best = max(recorded, key=lambda row: float(row["reward"]))
    clean_env = automl_env.parallel_env("cifar100", backend="synthetic")
    [(clean, _)] = clean_env.evaluation.run([automl_env.Pipeline.from_json(best["pipeline"])])
    assert metrics["best"] == float(best["reward"]) != clean  # the observed best carries noise
    assert metrics["clean_best"] == clean and metrics["regret"] == 0.851 - clean
    assert benchmark.noise_free_rescorer("cifar100", "synthetic", {}) is None
