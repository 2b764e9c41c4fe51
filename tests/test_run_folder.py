"""Run folders that cannot be corrupted: one process at a time, resumes only of the same run and only when
evaluations.csv matches the checkpoint, never an overwrite without resume, never filler in a file."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from test_agents_games import TokenGame

import automl_env
from automl_env.backends.base import Fidelity
from baselines import make_search
from ma2ml_agents import BatchEvaluator, make_algorithm, run_search
from ma2ml_agents.run_folder import (
    LOCK,
    ResumeMismatchError,
    RunExistsError,
    RunFolderError,
    RunFolderInUseError,
    lock_folder,
)


@contextmanager
def _held_by_another_thread(folder: Path) -> Iterator[None]:
    """``folder``'s lock held by another thread (its own open file, as another process would hold it)."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock_folder(folder):
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_the_lock_names_its_holder_is_reentrant_and_is_released(tmp_path: Path) -> None:
    with _held_by_another_thread(tmp_path), pytest.raises(RunFolderInUseError) as refused:
        _search(tmp_path, batches=1)
    message = str(refused.value)
    assert str(tmp_path) in message and f"process {os.getpid()} on host {socket.gethostname()}" in message
    assert not (tmp_path / "config.json").exists()  # refused before writing anything
    holder = json.loads((tmp_path / LOCK).read_text())
    assert {"pid", "host", "started", "command"} <= set(holder)

    with lock_folder(tmp_path):  # a script holding its folder around run_search, which locks it again
        _search(tmp_path, batches=1)
    _search(tmp_path, batches=2, resume=True)  # released on the way out


def _search(out: Path, *, batches: int, resume: bool = False, seed: int = 7, every: int = 1) -> Any:
    env = TokenGame()
    algorithm = make_algorithm("reinforce", env, seed=11, hidden_size=16)
    return run_search(env, algorithm, batches=batches, batch_size=4, top_k=3, out_dir=out, seed=seed,
                      resume=resume, progress=False, checkpoint_every=every)  # fmt: skip


def _cut(data: bytes) -> bytes:
    return data[:-10]


def _row_removed(data: bytes) -> bytes:
    header, _first, rest = data.split(b"\n", 2)
    return header + b"\n" + rest


def _rows_swapped(data: bytes) -> bytes:
    """The first two rows swapped: the same length, rows, header and last batch; only the content differs."""
    header, first, second, rest = data.split(b"\n", 3)
    assert first != second
    return b"\n".join([header, second, first, rest])


CORRUPTIONS: dict[str, Callable[[bytes], bytes | None]] = {
    "rows swapped": _rows_swapped,
    "cut": _cut,  # today's code pads it with NUL bytes back to the checkpoint's length
    "row removed": _row_removed,
    "emptied": lambda data: b"",
    "deleted": lambda data: None,
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_resume_refuses_an_evaluations_csv_that_does_not_match_the_checkpoint(corruption: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _search(out, batches=3, every=2)  # checkpoint after batch 1; batch 2's rows follow it in the CSV
    path = out / "evaluations.csv"
    changed = CORRUPTIONS[corruption](path.read_bytes())
    if changed is None:
        path.unlink()
    else:
        path.write_bytes(changed)
    with pytest.raises(RunFolderError, match=r"evaluations\.csv") as refused:
        _search(out, batches=4, resume=True, every=2)
    assert "checkpoint" in str(refused.value)
    if changed is None:
        assert not path.exists()
    else:
        assert path.read_bytes() == changed  # left as it was: nothing cut, nothing padded
        assert b"\0" not in path.read_bytes()


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip file at all", b"PK\x03\x04 cut short"],
    ids=["empty", "garbage", "truncated zip"],
)
def test_an_unreadable_checkpoint_names_the_file_and_never_suggests_weights_only_false(
    content: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    _search(out, batches=2)
    checkpoint = out / "checkpoint.pt"
    checkpoint.write_bytes(content)
    with pytest.raises(RunFolderError, match="checkpoint") as refused:
        _search(out, batches=3, resume=True)
    assert str(checkpoint) in str(refused.value)
    assert "weights_only" not in str(refused.value)
    assert checkpoint.read_bytes() == content  # left for the user to inspect


def test_a_checkpoint_of_something_else_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _search(out, batches=1)
    torch.save({"weights": torch.zeros(2)}, out / "checkpoint.pt")
    with pytest.raises(RunFolderError, match="not a checkpoint of this project"):
        _search(out, batches=2, resume=True)


def test_a_folder_with_evaluations_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _search(out, batches=1)
    (out / "checkpoint.pt").unlink()  # as if killed between writing batch 0's rows and its checkpoint
    rows = (out / "evaluations.csv").read_bytes()
    with pytest.raises(RunExistsError, match="resume"):
        _search(out, batches=1, seed=8)
    assert (out / "evaluations.csv").read_bytes() == rows
    _search(out, batches=1, resume=True)  # resuming a run stopped before its first checkpoint: batch 0 again
    assert (out / "evaluations.csv").read_bytes() == rows

    _search(out, batches=3, resume=True)
    (out / "checkpoint.pt").unlink()  # a lost checkpoint: starting again would overwrite three batches
    rows = (out / "evaluations.csv").read_bytes()
    with pytest.raises(RunFolderError, match="no checkpoint"):
        _search(out, batches=3, resume=True)
    assert (out / "evaluations.csv").read_bytes() == rows


def _automl_env(**changes: Any) -> Any:
    options: dict[str, Any] = {"backend": "synthetic", "backend_options": {}, "seed": 3}
    options.update(changes)
    task = options.pop("task", "cifar100")
    return automl_env.vector_env(task, num_envs=4, **options)


def _automl_search(env: Any, out: Path, *, batches: int, resume: bool) -> Any:
    algorithm = make_search("random", env, seed=3, batches=batches)
    return run_search(
        env, algorithm, batches=batches, batch_size=4, top_k=3, out_dir=out, seed=3, resume=resume, progress=False
    )


@pytest.fixture(scope="module")
def automl_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("automl") / "run"
    _automl_search(_automl_env(), out, batches=1, resume=False)
    return out


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"task": "cifar10"}, "env.task.name: 'cifar100' -> 'cifar10'"),
        ({"backend": "synthetic-rugged"}, "env.backend.name: 'synthetic' -> 'synthetic-rugged'"),
        ({"backend_options": {"noise": 0.01}}, "env.backend.options.noise: 0.0 -> 0.01"),
        ({"fidelity": Fidelity(epochs=2, warmup_epochs=0)}, "env.fidelity.epochs: 12 -> 2"),
        ({"modules": ("nas", "hpo")}, "env.modules: ['aug', 'nas', 'hpo'] -> ['nas', 'hpo']"),
        ({"seed": 4}, "env.evaluation_seed: 3 -> 4"),
    ],
    ids=["task", "backend", "noise", "fidelity", "modules", "evaluation-seed"],
)
def test_resume_refuses_another_env_and_lists_what_differs(
    changes: dict[str, Any], field: str, automl_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(automl_run, out)
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.name != LOCK}
    with pytest.raises(ResumeMismatchError) as refused:
        _automl_search(_automl_env(**changes), out, batches=2, resume=True)
    assert field in str(refused.value), str(refused.value)
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.name != LOCK} == before


def test_config_records_what_determines_the_results(automl_run: Path, tmp_path: Path) -> None:
    config = json.loads((automl_run / "config.json").read_text())
    env = config["env"]
    assert env["task"] == {"name": "cifar100", "version": 0}
    assert env["backend"]["name"] == "synthetic" and env["backend"]["options"]["noise"] == 0.0
    assert env["backend"]["options"]["calibration"]["default_accuracy"] == 0.735
    assert env["fidelity"]["epochs"] == 12 and env["objective"]["name"] == "accuracy"
    assert env["modules"] == ["aug", "nas", "hpo"] and env["fixed"] == {}
    assert config["algorithm"] == "random" and config["seed"] == 3 and config["batch_size"] == 4
    assert "automl-env" in config["versions"]

    described = BatchEvaluator(_automl_env(modules=("nas",))).describe()  # the unsearched modules' configs
    assert described["modules"] == ["nas"] and set(described["fixed"]) == {"aug", "hpo"}
    assert described["fixed"]["hpo"]["kind"] == "hparams"


def test_resume_with_other_package_versions_warns(
    automl_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ma2ml_agents.search

    out = tmp_path / "run"
    shutil.copytree(automl_run, out)
    versions = ma2ml_agents.search.package_versions()
    monkeypatch.setattr(ma2ml_agents.search, "package_versions", lambda: {**versions, "automl-env": "9.9"})
    with pytest.warns(UserWarning, match=r"versions\.automl-env: '[^']+' -> '9\.9'"):
        result = _automl_search(_automl_env(), out, batches=2, resume=True)
    assert result.evaluations == 8
