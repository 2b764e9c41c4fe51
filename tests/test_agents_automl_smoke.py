"""Smoke test of the agents on the project's own vector env (synthetic backend), where it is available."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ma2ml_agents import make_algorithm, run_search


def test_ma2ml_search_on_the_automl_vector_env(tmp_path: Path) -> None:
    automl_env = pytest.importorskip("automl_env")
    try:
        env = automl_env.vector_env("cifar100", num_envs=4, backend="synthetic")
    except Exception as error:  # the backend may not be registered yet in a partial checkout
        pytest.skip(f"synthetic vector env unavailable: {error}")
    algorithm = make_algorithm("ma2ml", env, seed=0, hidden_size=16, critic_hidden_size=16, baseline_samples=4)
    result = run_search(env, algorithm, batches=2, batch_size=4, top_k=3, out_dir=tmp_path, seed=0, progress=False)
    assert result.evaluations == 8 and len(result.topk) == 3
    rows = list(csv.DictReader((tmp_path / "evaluations.csv").open()))
    assert len(rows) == 8 and all(row["pipeline"] for row in rows)
    resumed = run_search(
        automl_env.vector_env("cifar100", num_envs=4, backend="synthetic"),
        make_algorithm("ma2ml", env, seed=0, hidden_size=16, critic_hidden_size=16, baseline_samples=4),
        batches=3, batch_size=4, top_k=3, out_dir=tmp_path, seed=0, resume=True, progress=False,
    )  # fmt: skip
    assert resumed.evaluations == 12
