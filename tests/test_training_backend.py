"""The training backend end to end on CPU: real training, failures as results, store reuse and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from test_training_data import trust_cifar100_files, write_cifar100, write_fashion_mnist  # noqa: E402

from automl_env.backends.base import EvalResult, Fidelity  # noqa: E402
from automl_env.backends.training import TrainingBackend  # noqa: E402
from automl_env.backends.training import backend as backend_module  # noqa: E402
from automl_env.backends.training.data import Split  # noqa: E402
from automl_env.backends.training.datasets import DEBIAN_FASHION_MNIST  # noqa: E402
from automl_env.cost import arch_cost  # noqa: E402
from automl_env.modules.hparams import HParams  # noqa: E402
from automl_env.pipeline import Pipeline  # noqa: E402
from automl_env.store import EvalStore  # noqa: E402
from automl_env.tasks import get_task  # noqa: E402

TASK = get_task("fashion-mnist")
TINY = Fidelity(epochs=1, train_subset=64, cells=1, channels=2, batch_size=32, warmup_epochs=0)


def with_hparams(hparams: HParams, task=TASK) -> Pipeline:
    return Pipeline.of({**dict(task.default_pipeline().modules), "hpo": hparams})


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fashion_mnist(tmp_path_factory.mktemp("fashion"), n_train=600, n_test=100)


def tiny_backend(root: Path, **kwargs) -> TrainingBackend:
    return TrainingBackend(TASK, data_root=root, device="cpu", download=False, val_size=100, num_threads=1, **kwargs)


def test_construction_checks_the_files_but_reads_none(tmp_path: Path) -> None:
    root = write_fashion_mnist(tmp_path, n_train=50, n_test=10)
    raw = root / "FashionMNIST" / "raw"
    for path in raw.iterdir():
        path.write_bytes(b"")  # unreadable: only reading them would fail
    backend = TrainingBackend(TASK, data_root=root, device="cpu", download=False)
    assert backend.name == "train" and backend.task is TASK and backend.optimum() is None


@pytest.mark.slow  # ~20 s on a busy 2-core CPU
def test_short_real_training_beats_60_percent_in_a_minute(tmp_path: Path) -> None:
    """Debian's Fashion-MNIST when installed (CI), else the synthetic class-structured idx files."""
    root = tmp_path if DEBIAN_FASHION_MNIST.exists() else write_fashion_mnist(tmp_path, n_train=8000, n_test=100)
    backend = TrainingBackend(TASK, data_root=root, device="cpu", download=False, val_size=1000, num_threads=1)
    assert len(backend.data.val) == 1000  # reading the files is not part of the training budget
    fidelity = Fidelity(epochs=1, train_subset=6400, cells=2, channels=4, batch_size=32, warmup_epochs=0)
    pipeline = with_hparams(HParams(lr=0.08, weight_decay=1e-4))
    start = time.perf_counter()
    (result,) = backend.evaluate([pipeline], fidelity=fidelity)
    assert time.perf_counter() - start < 60
    assert result.status == "ok" and result.backend == "train", result.reason
    assert result.accuracy > 0.6, result
    cost = arch_cost(pipeline["nas"], num_classes=10, image_size=28, in_channels=1, cells=2, channels=4)
    assert (result.flops, result.params) == (cost.macs, cost.params)
    assert result.metrics["steps"] == 200 and result.cost_seconds > 0


def test_diverging_learning_rate_fails_without_raising(synthetic_root: Path) -> None:
    backend = tiny_backend(synthetic_root)
    bad, good = with_hparams(HParams(lr=1e9, weight_decay=1e-4)), with_hparams(HParams(lr=0.04, weight_decay=1e-4))
    results = backend.evaluate([bad, good], fidelity=TINY.with_(train_subset=128))
    assert results[0].status == "failed" and results[0].reason.startswith("diverged"), results[0]
    assert results[0].accuracy == 0.0 and results[0].flops > 0
    assert results[1].status == "ok"


def test_exception_and_out_of_memory_become_failed_results(
    synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = iter([torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), RuntimeError("boom")])
    real = backend_module.build_network

    def flaky(arch, shape):
        error = next(calls, None)
        if error is not None:
            raise error
        return real(arch, shape)

    monkeypatch.setattr(backend_module, "build_network", flaky)
    backend = tiny_backend(synthetic_root, store=tmp_path / "s.sqlite")
    pipelines = [with_hparams(HParams(lr=0.02 * (i + 1), weight_decay=1e-4)) for i in range(3)]
    results = backend.evaluate(pipelines, fidelity=TINY)
    assert results[0].status == "failed" and results[0].reason.startswith("out of memory")
    assert results[1].status == "failed" and results[1].reason == "RuntimeError: boom"
    assert results[2].status == "ok"
    # transient failures are not stored, so a later run retries them
    assert EvalStore(tmp_path / "s.sqlite").get_many(TASK, pipelines, TINY, 0)[:2] == [None, None]


def test_store_reads_back_instead_of_retraining(synthetic_root: Path, tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "evals.sqlite")
    pipeline = TASK.default_pipeline()
    first = tiny_backend(synthetic_root, store=store).evaluate([pipeline], fidelity=TINY, seed=3)
    again = tiny_backend(synthetic_root, store=store)
    assert again.evaluate([pipeline, pipeline], fidelity=TINY, seed=3) == first * 2
    assert again.stats == {"trained": 0, "reused": 2, "failed": 0}
    assert store.get(TASK, pipeline, TINY, 4) is None  # another seed is another evaluation


def _other_images(root: Path) -> Path:
    """The same files but for the training images' bytes (same size: only the contents tell them apart)."""
    path = root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    data = path.read_bytes()
    path.write_bytes(data[:16] + data[16:][::-1])
    return root


@pytest.mark.parametrize("change", ["other data files", "other validation size", "newer training code"])
def test_store_never_serves_a_result_of_other_data_or_code(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """Same pipeline, fidelity and seed; what else decides the result changed, so the store must not answer."""
    store = EvalStore(tmp_path / "evals.sqlite")
    pipeline = TASK.default_pipeline()
    (first,) = tiny_backend(synthetic_root, store=store).evaluate([pipeline], fidelity=TINY)
    root, val_size = synthetic_root, 100
    if change == "other data files":
        root = _other_images(write_fashion_mnist(tmp_path / "other", n_train=600, n_test=100))
    elif change == "other validation size":
        val_size = 120
    else:
        monkeypatch.setattr(backend_module, "TRAINING_VERSION", backend_module.TRAINING_VERSION + 1)
    other = TrainingBackend(
        TASK, data_root=root, device="cpu", download=False, val_size=val_size, num_threads=1, store=store
    )
    other.evaluate([pipeline], fidelity=TINY)
    assert other.stats == {"trained": 1, "reused": 0, "failed": 0}
    assert len(store) == 2 and len({record.context for record in store.records()}) == 2
    monkeypatch.undo()
    again = tiny_backend(synthetic_root, store=store)  # the first data and code again: their result comes back
    assert again.evaluate([pipeline], fidelity=TINY) == [first] and again.stats["reused"] == 1


def test_data_moved_elsewhere_keeps_its_stored_results(synthetic_root: Path, tmp_path: Path) -> None:
    import shutil

    store = EvalStore(tmp_path / "evals.sqlite")
    (first,) = tiny_backend(synthetic_root, store=store).evaluate([TASK.default_pipeline()], fidelity=TINY)
    moved = tiny_backend(Path(shutil.copytree(synthetic_root, tmp_path / "copy")), store=store)
    assert moved.evaluate([TASK.default_pipeline()], fidelity=TINY) == [first] and moved.stats["reused"] == 1


def test_same_seed_same_result(synthetic_root: Path) -> None:
    backend = tiny_backend(synthetic_root)
    a, b = (backend.evaluate([TASK.default_pipeline()], fidelity=TINY, seed=7)[0] for _ in range(2))
    assert a.accuracy == b.accuracy and a.metrics["final_loss"] == b.metrics["final_loss"]


def test_retrain_reports_test_accuracy(synthetic_root: Path) -> None:
    backend = tiny_backend(synthetic_root)
    result = backend.retrain(TASK.default_pipeline(), fidelity=TINY.with_(train_subset=None, epochs=2))
    assert result.status == "ok"
    assert result.metrics["train_images"] == 2 * (600 // 32) * 32  # train + validation: the whole training set
    assert result.accuracy * 100 == pytest.approx(round(result.accuracy * 100))  # 100 test images


def test_retrain_scales_the_learning_rate(synthetic_root: Path, tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "s.sqlite")
    backend = tiny_backend(synthetic_root, store=store)
    backend.retrain(with_hparams(HParams(lr=0.01, weight_decay=1e-4)), fidelity=TINY, lr_scale=4.0)
    (record,) = store.records()
    assert record.task == "fashion-mnist/retrain" and record.pipeline["hpo"] == HParams(lr=0.04, weight_decay=1e-4)


def test_missing_torch_names_the_extra() -> None:
    code = "import sys; sys.modules['torch'] = None; import automl_env.backends.training.deps"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and 'pip install "automl-env[train]"' in done.stderr


def test_recipe_fields_train(synthetic_root: Path) -> None:
    """Every optimiser and mixup, dropout, drop path and EMA run and produce a finite result."""
    backend = tiny_backend(synthetic_root)
    recipes = [
        HParams(lr=0.05, weight_decay=1e-4, optimizer=opt, mixup=0.2, dropout=0.1, drop_path=0.1, ema=True)
        for opt in ("sgd", "nesterov", "rmsprop", "adam", "adamw")
    ]
    results = backend.evaluate([with_hparams(h) for h in recipes], fidelity=TINY)
    assert all(r.status == "ok" for r in results), [r.reason for r in results]


def test_cifar100_task_trains_from_its_own_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trust_cifar100_files(monkeypatch, write_cifar100(tmp_path))
    task = get_task("cifar100")
    backend = TrainingBackend(task, data_root=tmp_path, device="cpu", download=False, num_threads=1)
    (result,) = backend.evaluate([task.default_pipeline()], fidelity=TINY)
    assert result.status == "ok", result.reason
    assert len(backend.data.val) == 60 and backend.data.in_channels == 3  # capped at a fifth of 300


RUN = textwrap.dedent(
    """
    import sys
    from automl_env.backends.base import Fidelity
    from automl_env.backends.training import TrainingBackend
    from automl_env.modules.hparams import HParams
    from automl_env.pipeline import Pipeline
    from automl_env.tasks import get_task

    task = get_task("fashion-mnist")
    base = dict(task.default_pipeline().modules)
    pipelines = [Pipeline.of({**base, "hpo": HParams(lr=0.001 * (i + 1), weight_decay=1e-4)}) for i in range(12)]
    fidelity = Fidelity(epochs=1, train_subset=64, cells=1, channels=2, batch_size=32, warmup_epochs=0)
    backend = TrainingBackend(task, data_root=sys.argv[1], store=sys.argv[2], device="cpu", download=False,
                              val_size=100, num_threads=1)
    backend.evaluate(pipelines, fidelity=fidelity)
    """
)


def test_killed_run_resumes_without_retraining_finished_work(synthetic_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", RUN, str(synthetic_root), str(db)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if db.exists() and len(EvalStore(db)) >= 2:
            break
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    finished = {r.pipeline.digest: r.result for r in EvalStore(db).records()}
    assert 2 <= len(finished) < 12, "the run finished before it could be killed; make it longer"

    namespace: dict[str, object] = {}
    exec(RUN.split("backend = ")[0], namespace)  # the same pipelines and fidelity as the killed run
    backend = tiny_backend(synthetic_root, store=db)
    results = backend.evaluate(namespace["pipelines"], fidelity=namespace["fidelity"])  # type: ignore[arg-type]
    assert backend.stats["reused"] == len(finished) and backend.stats["trained"] == 12 - len(finished)
    for pipeline, result in zip(namespace["pipelines"], results, strict=True):  # type: ignore[call-overload]
        if pipeline.digest in finished:
            assert result == finished[pipeline.digest]
    assert len(EvalStore(db)) == 12 and all(isinstance(r, EvalResult) for r in results)


def test_mobilenet_recipe_trains_through_resized_crops(synthetic_root: Path) -> None:
    """The ImageNet-200 spaces (MobileNet, recipe) on small stored images resized to the searched resolution."""
    import dataclasses

    task = dataclasses.replace(
        get_task("imagenet200"),
        name="mobile-fashion",
        dataset="fashion-mnist",
        num_classes=10,
        image_size=28,
        in_channels=1,
    )
    space = task.modules["nas"]
    pipeline = Pipeline.of({**dict(task.default_pipeline().modules), "nas": space.decode([0] * len(space.nvec))})
    backend = TrainingBackend(task, data_root=synthetic_root, device="cpu", download=False, val_size=100, num_threads=1)
    fidelity = Fidelity(epochs=1, train_subset=8, batch_size=4, warmup_epochs=0)
    (result,) = backend.evaluate([pipeline], fidelity=fidelity)
    assert result.status == "ok", result.reason
    assert result.flops == backend.cost(pipeline, fidelity).macs > 10e6  # at 160 px, not 28


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_bf16_channels_last(synthetic_root: Path) -> None:
    backend = TrainingBackend(TASK, data_root=synthetic_root, device="cuda", download=False, val_size=100)
    (result,) = backend.evaluate([TASK.default_pipeline()], fidelity=TINY.with_(train_subset=256))
    assert result.status == "ok", result.reason
    assert backend.data.train.images.device.type == "cuda" and backend.data.train.images.dtype == torch.uint8
    bad = backend.evaluate([with_hparams(HParams(lr=1e9, weight_decay=1e-4))], fidelity=TINY.with_(train_subset=256))
    assert bad[0].status == "failed" and bad[0].reason.startswith("diverged")


def test_inputs_made_per_call_fit_the_device_and_image_size() -> None:
    from automl_env.backends.training.loop import CUDA_AUGMENT_BATCHES, augment_batches

    cuda = torch.device("cuda")
    assert augment_batches(torch.device("cpu"), 128, 3 * 32 * 32) == 1  # CPU: batch by batch, as recorded
    assert augment_batches(cuda, 128, 3 * 32 * 32) == CUDA_AUGMENT_BATCHES > 1  # small images: many batches a call
    assert augment_batches(cuda, 128, 3 * 224 * 224) == 1  # MobileNet inputs: one batch is already large
    assert 1 < augment_batches(cuda, 256, 3 * 64 * 64) < CUDA_AUGMENT_BATCHES  # in between: within the cap


def test_batches_augmented_together_cover_the_epoch_as_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several batches a call yields the same shuffled batches, one augmentation call per chunk."""
    from automl_env.backends.training import loop

    class CountingView:
        calls = 0

        def train(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            CountingView.calls += 1
            return images.float()

    images = torch.arange(150, dtype=torch.uint8).view(150, 1, 1, 1)
    split = Split(images, torch.arange(150))
    model, hparams, cpu = torch.nn.Linear(1, 2), HParams(lr=0.1, weight_decay=0), torch.device("cpu")
    epochs = {}
    for per_call in (1, 4):
        monkeypatch.setattr(loop, "augment_batches", lambda *_, n=per_call: n)
        CountingView.calls = 0
        trainer = loop.Trainer(model, CountingView(), hparams, device=cpu, seed=3)
        epochs[per_call] = list(trainer.inputs(split, batch_size=16))  # 9 full batches, 6 images dropped
        assert CountingView.calls == -(-9 // per_call)
    for (x1, y1), (x4, y4) in zip(epochs[1], epochs[4], strict=True):
        assert x4.shape == (16, 1, 1, 1) and torch.equal(x1, x4) and torch.equal(y1, y4)
        assert torch.equal(x4.view(-1).long(), y4)  # each image keeps its own label


def test_training_with_batches_augmented_together(synthetic_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_env.backends.training import loop

    monkeypatch.setattr(loop, "augment_batches", lambda *_: 4)  # what CUDA does, on the CPU
    (result,) = tiny_backend(synthetic_root).evaluate([TASK.default_pipeline()], fidelity=TINY.with_(train_subset=None))
    assert result.status == "ok", result.reason
    assert result.metrics["steps"] == 500 // 32 and result.metrics["train_images"] == 500 // 32 * 32
