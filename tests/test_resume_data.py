"""A real-training run's config records its data (fingerprint and split settings), and a resume on other data
is refused listing what differs, like any other setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

from test_training_backend import TASK, TINY
from test_training_data import write_fashion_mnist

import automl_env
from ma2ml_agents import make_algorithm, run_search
from ma2ml_agents.run_folder import ResumeMismatchError


def _search(root: Path, out: Path, *, batches: int, resume: bool = False, val_size: int = 100) -> None:
    options = {"data_root": str(root), "device": "cpu", "download": False, "val_size": val_size, "num_threads": 1}
    env = automl_env.vector_env(TASK.name, num_envs=2, backend="train", backend_options=options, fidelity=TINY)
    algorithm = make_algorithm("reinforce", env, seed=0, hidden_size=8)
    run_search(env, algorithm, batches=batches, batch_size=2, top_k=2, out_dir=out, seed=0, resume=resume,
               progress=False)  # fmt: skip


@pytest.mark.slow  # trains 2 tiny pipelines (~10 s on a busy CPU)
def test_resume_refuses_another_dataset_or_split(tmp_path: Path) -> None:
    first = write_fashion_mnist(tmp_path / "first", n_train=300, n_test=50)
    other = write_fashion_mnist(tmp_path / "other", n_train=320, n_test=50)
    _search(first, tmp_path / "run", batches=1)
    data = json.loads((tmp_path / "run" / "config.json").read_text())["env"]["backend"]["options"]["data"]
    assert set(data) >= {"code", "data", "split_seed", "val_size"} and data["val_size"] == "100"
    with pytest.raises(
        ResumeMismatchError, match=r"env\.backend\.options\.data\.data: '[0-9a-f]{16}' -> '[0-9a-f]{16}'"
    ):
        _search(other, tmp_path / "run", batches=2, resume=True)
    with pytest.raises(ResumeMismatchError, match=r"data\.val_size: '100' -> '90'"):
        _search(first, tmp_path / "run", batches=2, resume=True, val_size=90)
    moved = tmp_path / "moved"
    first.rename(moved)  # the same files elsewhere: the same data, so the run continues
    _search(moved, tmp_path / "run", batches=2, resume=True)
