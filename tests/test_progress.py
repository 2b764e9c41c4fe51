"""Per-evaluation progress: the training backend reports each finished evaluation; the search display shows it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("rich")

import torch

import automl_env
from automl_env.backends.base import EvalResult, Fidelity
from automl_env.backends.synthetic.backend import SyntheticBackend
from automl_env.pipeline import Pipeline
from automl_env.tasks import get_task
from ma2ml_agents.registry import make_algorithm
from ma2ml_agents.search import _SearchDisplay, run_search

TASK = get_task("fashion-mnist")


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The agents' networks are tiny: more threads only contend on a busy CPU (as train_ma2ml.py sets)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_training_backend_reports_every_evaluation_in_order(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    from test_training_data import write_fashion_mnist

    from automl_env.backends.training import TrainingBackend
    from automl_env.modules.hparams import HParams

    root = write_fashion_mnist(tmp_path / "data", n_train=300, n_test=50)
    tiny = Fidelity(epochs=1, train_subset=32, cells=1, channels=2, batch_size=16, warmup_epochs=0)
    base = dict(TASK.default_pipeline().modules)
    a, b = (Pipeline.of({**base, "hpo": HParams(lr=lr, weight_decay=1e-4)}) for lr in (0.01, 0.02))
    backend = TrainingBackend(
        TASK, data_root=root, device="cpu", download=False, val_size=50, num_threads=1, store=tmp_path / "s.sqlite"
    )
    calls: list[tuple[int, int]] = []
    backend.progress = lambda done, total: calls.append((done, total))
    backend.evaluate([a], fidelity=tiny)
    backend.evaluate([a, b, b], fidelity=tiny)  # a from the store, b trained once and read back once
    assert calls == [(1, 1), (1, 3), (2, 3), (3, 3)]
    assert backend.stats == {"trained": 2, "reused": 2, "failed": 0}


class ReportingSynthetic(SyntheticBackend):
    """The synthetic backend with the training backend's per-evaluation ``progress`` hook."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.progress: Callable[[int, int], None] | None = None
        self.calls: list[tuple[int, int]] = []

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        assert self.progress is not None, "run_search(progress=True) sets the hook during the search"
        results = []
        for done, pipeline in enumerate(pipelines, start=1):
            results.extend(super().evaluate([pipeline], fidelity=fidelity, seed=seed))
            self.calls.append((done, len(pipelines)))
            self.progress(done, len(pipelines))
        return results


@pytest.mark.parametrize("vector", [True, False])
def test_search_display_takes_the_backend_reports_and_gives_the_hook_back(vector: bool, tmp_path: Path) -> None:
    task = get_task("cifar100")
    backend = ReportingSynthetic(task)
    env = (
        automl_env.vector_env(task, num_envs=4, backend=backend)
        if vector
        else automl_env.parallel_env(task, backend=backend)
    )
    algorithm = make_algorithm("ma2ml", env, seed=0)
    result = run_search(env, algorithm, batches=2, batch_size=4, top_k=2, out_dir=tmp_path / "run", seed=0)
    assert result.evaluations == 8 and backend.progress is None
    per_call = [(1, 4), (2, 4), (3, 4), (4, 4)] if vector else [(1, 1)] * 4
    assert backend.calls == per_call * 2


def test_display_counts_the_evaluations_of_a_batch_and_estimates_the_rest() -> None:
    class Env:
        backend = ReportingSynthetic(get_task("cifar100"))

    display = _SearchDisplay(Env(), batches=3, batch_size=4, done=1)
    with display:
        hook = Env.backend.progress
        assert hook == display.evaluation_done
        display.start_batch(1)
        for _ in range(2):  # a ParallelEnv's backend: one pipeline per call
            hook(1, 1)
        search, batch = display.bar.tasks
        assert batch.completed == 2 and batch.fields["summary"].startswith("of batch 1  ETA ")
        assert search.completed == 1.5 and "ETA " in search.fields["summary"]
    assert Env.backend.progress is None


def test_display_without_a_reporting_backend_shows_batches_only() -> None:
    env = automl_env.vector_env("cifar100", num_envs=4, backend="synthetic")
    assert not hasattr(env.backend, "progress")
    display = _SearchDisplay(env, batches=2, batch_size=4, done=0)
    assert display.backend is None and not display.bar.tasks[1].visible
