"""examples/train_ma2ml.py, the README's main job: run folder, exact resume, retraining of the top-k, and a real
training run stopped (Ctrl-C or kill) after its first evaluation and resumed without training it again."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "train_ma2ml.py"
TINY_RETRAIN = ("epochs=1", "cells=1", "channels=2", "warmup_epochs=0", "train_subset=64", "batch_size=32")


@pytest.fixture(scope="module")
def train_ma2ml() -> ModuleType:
    return importlib.import_module("ma2ml_agents.train")


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
    assert (config["algorithm"], config["algorithm_config"]["lam"], config["batches"]) == ("ma2ml_screened", 0.05, 4)

    train_ma2ml.main(_argv(tmp_path / "split", 2))
    resumed = train_ma2ml.main(_argv(tmp_path / "split", 4, "--resume"))
    assert resumed.best_reward == whole.best_reward
    assert [r["reward"] for r in _rows(tmp_path / "split")] == [r["reward"] for r in _rows(tmp_path / "whole")]


def test_a_noisy_run_reports_its_returned_pipeline_and_regrets_without_noise(
    train_ma2ml: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import automl_env

    result = train_ma2ml.main(_argv(tmp_path, 2, "--algorithm", "reinforce", "--noise", "0.05"))
    out = capsys.readouterr().out
    chosen = result.incumbent
    assert f"returned pipeline {chosen['digest']}: the best of the top 3 re-evaluated" in out
    quiet = automl_env.parallel_env("cifar100", backend="synthetic-rugged", backend_options={"noise": 0.0})
    optimum = quiet.backend.optimum().accuracy
    [(returned, _), (best, _)] = quiet.evaluation.run(
        [automl_env.Pipeline.from_json(info["pipeline"]) for info in (chosen, result.best_info)]
    )
    assert f"noise-free regret of the returned pipeline {optimum - returned:.4f}" in out
    observed = optimum - result.best_reward
    assert f"of the best observed one {optimum - best:.4f} (its observed regret {observed:.4f})" in out
    assert optimum - best != pytest.approx(observed, abs=1e-4)  # the noise the line is about


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


@pytest.mark.parametrize("option", ["--fidelity", "--retrain-fidelity"])
@pytest.mark.parametrize(
    ("item", "message"),
    [("epoch=3", "FIELD one of"), ("epochs=three", "must be an integer"), ("channels=3", "channels must be even")],
)
def test_bad_fidelity_is_a_usage_error(
    train_ma2ml: ModuleType, option: str, item: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        train_ma2ml.parse_args([option, item])
    err = capsys.readouterr().err
    assert option in err and message in err


def test_options_of_real_training(train_ma2ml: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = train_ma2ml.parse_args(["--task", "fashion-mnist", "--backend", "train", "--out", str(tmp_path)])
    options = train_ma2ml.backend_options(args)
    assert options["store"] == tmp_path / "evaluations.sqlite" and options["num_threads"] == train_ma2ml.DEFAULT_THREADS
    assert args.fidelity == train_ma2ml.automl_env.get_task("fashion-mnist").search_fidelity
    assert train_ma2ml.parse_args(["--fidelity", "epochs=2"]).fidelity.epochs == 2
    with pytest.raises(SystemExit):
        train_ma2ml.parse_args(["--threads", "0"])
    assert "argument --threads: must be at least 1, got 0" in capsys.readouterr().err


TINY_SEARCH = ("epochs=1", "cells=1", "channels=2", "warmup_epochs=0", "train_subset=192", "batch_size=32")


def _stop_after_first_evaluation(argv: list[str], store: Path, sig: signal.Signals) -> tuple[int, str]:
    """Start the example, send ``sig`` once the store holds a finished evaluation; (exit code, stderr)."""
    child = subprocess.Popen(
        [sys.executable, *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job ignores SIGINT, and Python then installs no KeyboardInterrupt handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    from automl_env.store import EvalStore

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and child.poll() is None:
        if store.exists() and len(EvalStore(store)) >= 1:
            break
        time.sleep(0.02)
    if child.poll() is not None:
        pytest.fail(f"the run ended (code {child.returncode}) before it could be stopped:\n{child.communicate()[1]}")
    os.kill(child.pid, sig)
    _, err = child.communicate(timeout=120)
    return child.returncode, err


@pytest.mark.parametrize(
    "sig",
    [signal.SIGINT, pytest.param(signal.SIGKILL, marks=pytest.mark.slow)],  # the store's own kill test is fast
    ids=["ctrl-c", "kill"],
)
def test_stopped_real_search_resumes_without_retraining(tmp_path: Path, sig: signal.Signals) -> None:
    pytest.importorskip("torchvision")
    from test_training_data import write_fashion_mnist

    from automl_env.store import EvalStore

    root = write_fashion_mnist(tmp_path / "data", n_train=600, n_test=60)
    out, store = tmp_path / "run", tmp_path / "run" / "evaluations.sqlite"
    fidelity = [arg for item in TINY_SEARCH for arg in ("--fidelity", item)]
    args = ["--task", "fashion-mnist", "--backend", "train", "--data-root", str(root), "--threads", "1", *fidelity]
    args += ["--batches", "1", "--batch-size", "6", "--top-k", "3", "--out", str(out)]  # with the progress display
    code, err = _stop_after_first_evaluation(["examples/train_ma2ml.py", *args], store, sig)
    kept = {r.pipeline.digest: r.finished_at for r in EvalStore(store).records()}
    assert 1 <= len(kept) < 6, "the run finished before it could be stopped; make its evaluations longer"

    resume = ["examples/train_ma2ml.py", *args, "--resume"]
    if sig == signal.SIGINT:
        assert code == 130, err
        assert f"{len(kept)} finished evaluations (store {store})" in err, err
        assert "lost only the evaluations in flight" in err
        assert err.rstrip().splitlines()[-2:] == ["resume with:", f"  {shlex.join(['python', *resume])}"]
    done = subprocess.run(
        [sys.executable, *resume], cwd=REPO, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = {r.pipeline.digest: r.finished_at for r in EvalStore(store).records()}
    assert {digest: after[digest] for digest in kept} == kept  # read back, not trained again
    rows = _rows(out)
    assert len(rows) == 6 and {row["digest"] for row in rows} <= set(after)


def test_resume_of_a_folder_without_a_run_is_refused(
    train_ma2ml: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        train_ma2ml.parse_args(["--out", str(tmp_path / "missing"), "--resume"])
    assert refused.value.code == 2 and f"{tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()
    with pytest.raises(SystemExit):
        train_ma2ml.parse_args(["--out", str(tmp_path), "--resume"])
    assert f"{tmp_path} holds no run" in capsys.readouterr().err


def test_resume_with_other_settings_is_refused(
    train_ma2ml: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_ma2ml.main(_argv(tmp_path, 1, "--algorithm", "reinforce"))
    with pytest.raises(SystemExit) as refused:
        train_ma2ml.main(_argv(tmp_path, 2, "--algorithm", "reinforce", "--noise", "0.05", "--resume"))
    assert refused.value.code == 1
    assert "env.backend.options.noise: " in capsys.readouterr().err  # the rugged default -> 0.05


class FailingBackend:
    """Every pipeline fails, for one reason (a setup no pipeline gets through) or for one reason each."""

    name = "failing"
    same_reason = True

    def __init__(self, task: Any) -> None:
        self.task = task

    def evaluate(self, pipelines: Any, *, fidelity: Any = None, seed: int = 0) -> list[Any]:
        from automl_env.backends.base import EvalResult

        return [
            EvalResult.failed(
                reason="out of memory" if self.same_reason else f"diverged ({pipeline.digest[:8]})", backend=self.name
            )
            for pipeline in pipelines
        ]

    def optimum(self) -> None:
        return None


class VariedFailingBackend(FailingBackend):
    same_reason = False


class HalfFailingBackend(FailingBackend):
    """Every other pipeline fails, all for the same reason: the search goes on."""

    def evaluate(self, pipelines: Any, *, fidelity: Any = None, seed: int = 0) -> list[Any]:
        from automl_env.backends.base import EvalResult

        failed = super().evaluate(pipelines)
        return [f if i % 2 else EvalResult(0.5, 1.0, 1.0, 1.0, self.name) for i, f in enumerate(failed)]


def test_a_search_goes_on_past_failed_evaluations(
    train_ma2ml: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl_env.backends.registry import BACKENDS

    monkeypatch.setitem(BACKENDS, "failing-half", f"{__name__}:HalfFailingBackend")
    result = train_ma2ml.main(_argv(tmp_path, 2, "--algorithm", "reinforce", "--backend", "failing-half"))
    assert (result.evaluations, result.failed, result.failure_reasons) == (8, 4, {"out of memory": 4})


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("failing", "every one of the 4 evaluations of batch 0 failed for the same reason, so the search stopped"),
        ("failing-varied", "every one of the 8 evaluations failed, so the search found nothing: 1 x diverged ("),
    ],
    ids=["one-reason", "a-reason-each"],
)
def test_a_search_whose_evaluations_all_failed_exits_non_zero(
    train_ma2ml: ModuleType,
    backend: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from automl_env.backends.registry import BACKENDS

    pytest.importorskip("torchvision")
    from test_training_data import trust_cifar100_files, write_cifar100

    monkeypatch.setitem(BACKENDS, "failing", f"{__name__}:FailingBackend")
    monkeypatch.setitem(BACKENDS, "failing-varied", f"{__name__}:VariedFailingBackend")
    trust_cifar100_files(monkeypatch, write_cifar100(tmp_path / "data", n_train=20, n_test=5))  # for --retrain-top
    data = ("--data-root", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as failed:
        train_ma2ml.main(
            _argv(tmp_path / "run", 2, "--algorithm", "reinforce", "--backend", backend, "--retrain-top", "1", *data)
        )
    err = capsys.readouterr().err
    assert failed.value.code == 1 and message in err, err
    assert not (tmp_path / "run" / "retrain.json").exists()


def test_a_second_process_is_refused_and_a_killed_one_leaves_the_folder_resumable(
    train_ma2ml: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two processes on one run folder: the second is told who has it; once the first is killed it resumes."""
    args = _argv(tmp_path, 100_000, "--algorithm", "reinforce")
    first = subprocess.Popen(
        [sys.executable, str(EXAMPLE), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "checkpoint.pt").exists():
            if first.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the first run did not get going:\n{first.communicate(timeout=60)[1]}")
            time.sleep(0.05)
        with pytest.raises(SystemExit) as refused:
            train_ma2ml.main([*args, "--resume"])
        err = capsys.readouterr().err
        assert refused.value.code == 1
        assert f"{tmp_path} is in use by process {first.pid} on host {socket.gethostname()}" in err, err
    finally:
        first.kill()  # SIGKILL: no chance to release anything itself
        first.communicate(timeout=60)
    done = train_ma2ml.checkpointed_batches(tmp_path)
    resumed = train_ma2ml.main([*_argv(tmp_path, done + 1, "--algorithm", "reinforce"), "--resume"])
    assert resumed.evaluations == 4 * (done + 1) == len(_rows(tmp_path))
