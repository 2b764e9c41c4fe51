"""Every file system and store error names the path and the reason; an asynchronous rerun says what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_agents_games import TokenGame

from automl_env.store import EvalStore, StoreError
from ma2ml_agents import make_algorithm, run_search
from ma2ml_agents.run_folder import RunFolderError

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def _search(out: Path) -> None:
    env = TokenGame()
    algorithm = make_algorithm("reinforce", env, seed=0, hidden_size=8)
    run_search(env, algorithm, batches=1, batch_size=2, top_k=2, out_dir=out, seed=0, progress=False)


def test_a_file_where_the_run_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match=r"file.* is a file, not a folder"):
        _search(tmp_path / "file")
    with pytest.raises(RunFolderError, match=r"file/run.*a file, not a folder"):
        _search(tmp_path / "file" / "run")


def test_a_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"longer than the file system allows"):
        _search(tmp_path / ("x" * 300))


@pytest.mark.skipif(ROOT, reason="root writes into read-only folders")
def test_a_read_only_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(RunFolderError, match=r"locked.*permission denied"):
            _search(locked / "run")
        with pytest.raises(StoreError, match=r"locked.*permission denied|locked.*not writable"):
            EvalStore(locked / "store" / "s.sqlite")
    finally:
        locked.chmod(0o700)


def test_unable_to_open_database_file_says_why(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(StoreError, match=r"a-file.*a file(, not| is there, not) a folder"):
        EvalStore(tmp_path / "a-file" / "s.sqlite")
    (tmp_path / "folder.sqlite").mkdir()
    with pytest.raises(StoreError, match=r"folder\.sqlite.*a folder, not a file"):
        EvalStore(tmp_path / "folder.sqlite")
    with pytest.raises(StoreError, match=r"longer than the file system allows"):
        EvalStore(tmp_path / ("y" * 300 + ".sqlite"))


def test_an_asynchronous_rerun_says_how_to_run_again(tmp_path: Path) -> None:
    import automl_env
    from automl_env.executors import SimulatedExecutor
    from ma2ml_agents.async_search import run_async_search
    from ma2ml_agents.run_folder import RunExistsError

    def run() -> None:
        env = automl_env.parallel_env("nb201-cifar100", backend="table")
        executor = SimulatedExecutor(env.backend, workers=2)
        algorithm = make_algorithm("ma2ml_lite", env, seed=0, hidden_size=8)
        run_async_search(
            env, algorithm, executor=executor, evaluations=4, top_k=2, synchronous=True, out_dir=tmp_path / "run"
        )

    run()
    with pytest.raises(
        RunExistsError, match=r"not resumable.*pass another out_dir, or move this folder away"
    ) as refused:
        run()
    assert "resume=True" not in str(refused.value)


@pytest.mark.parametrize(("code", "reason"), [(13, "permission denied"), (30, "the file system is read-only")])
def test_a_folder_that_cannot_be_written_says_why_even_as_root(
    code: int, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What root cannot see (it writes into read-only folders): the OS's refusal, as a read-only mount gives it."""
    import errno

    from ma2ml_agents import run_folder

    assert code in (errno.EACCES, errno.EROFS)

    def refuse(*args: object, **kwargs: object) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(run_folder.os, "open", refuse)
    with pytest.raises(RunFolderError, match=rf"cannot write in the run folder .*run: {reason}"):
        _search(tmp_path / "run")
