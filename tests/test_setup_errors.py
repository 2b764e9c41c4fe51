"""Setup errors stop a search; pipeline errors do not.

Each case here would fail every evaluation, so each raises ``BackendSetupError`` (a ``TypeError`` too
for a setting of the wrong type) naming the file, setting or device, in the constructor or at the
first evaluation, instead of ending as one failed result per pipeline. Failures caused by a pipeline
(divergence, out of memory) stay results: ``test_training_backend.py`` checks those.
"""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import automl_env
from automl_env.backends.base import BackendSetupError, Fidelity
from automl_env.codec import JointCodec
from automl_env.tasks import get_task

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from test_training_data import (  # noqa: E402
    trust_cifar100_files,
    write_cifar100,
    write_fashion_mnist,
    write_idx,
)

from automl_env.backends.training import TrainingBackend  # noqa: E402
from automl_env.store import EvalStore  # noqa: E402

TASK = get_task("fashion-mnist")
TINY = Fidelity(epochs=1, train_subset=64, cells=1, channels=2, batch_size=32, warmup_epochs=0)


def backend_on(root: Path, task: Any = TASK, **kwargs: Any) -> TrainingBackend:
    return TrainingBackend(task, data_root=root, device="cpu", download=False, val_size=100, num_threads=1, **kwargs)


def raw(root: Path) -> Path:
    return root / "FashionMNIST" / "raw"


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_fashion_mnist_file_names_it(tmp_path: Path, gz: bool) -> None:
    write_fashion_mnist(tmp_path, n_train=200, n_test=50, gz=gz)
    path = raw(tmp_path) / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BackendSetupError, match=rf"{path.name}.*truncated or corrupt"):
        backend_on(tmp_path).evaluate([TASK.default_pipeline()], fidelity=TINY)


def test_truncated_cifar_pickle_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trust_cifar100_files(monkeypatch, write_cifar100(tmp_path, n_train=100, n_test=20))
    path = tmp_path / "cifar-100-python" / "train"
    path.write_bytes(path.read_bytes()[:1000])
    task = get_task("cifar100")
    backend = TrainingBackend(task, data_root=tmp_path, device="cpu", download=False)
    with pytest.raises(BackendSetupError, match=r"cifar-100-python/train: md5 differs .*truncated or corrupt"):
        backend.evaluate([task.default_pipeline()], fidelity=TINY)


def test_label_outside_the_classes_names_the_file(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, n_train=200, n_test=50)
    labels = np.zeros(200, dtype=np.uint8)
    labels[17] = 10  # Fashion-MNIST has classes 0..9
    write_idx(raw(tmp_path) / "train-labels-idx1-ubyte", labels)
    with pytest.raises(BackendSetupError, match=r"train-labels-idx1-ubyte: label 10 at index 17 is outside"):
        backend_on(tmp_path).evaluate([TASK.default_pipeline()], fidelity=TINY)


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, n_train=200, n_test=50)
    write_idx(raw(tmp_path) / "t10k-labels-idx1-ubyte", np.zeros(49, dtype=np.uint8))
    with pytest.raises(BackendSetupError, match=r"t10k-images-idx3-ubyte holds 50 images but .*t10k-labels.* 49"):
        backend_on(tmp_path).evaluate([TASK.default_pipeline()], fidelity=TINY)


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fashion_mnist(tmp_path_factory.mktemp("fashion"), n_train=300, n_test=50)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"in_channels": 3}, r"has 1-channel images, task 'fashion-rgb' in_channels=3"),
        ({"image_size": 32}, r"has 28x28 images, task 'fashion-rgb' image_size=32"),
        ({"num_classes": 100}, r"has 10 classes, task 'fashion-rgb' num_classes=100"),
    ],
)
def test_data_that_does_not_match_the_task_names_the_setting(
    fashion_root: Path, change: dict[str, int], message: str
) -> None:
    task = dataclasses.replace(TASK, name="fashion-rgb", **change)
    with pytest.raises(BackendSetupError, match=message):
        backend_on(fashion_root, task).evaluate([task.default_pipeline()], fidelity=TINY)


def test_a_setup_error_stops_the_env_instead_of_failing_each_pipeline(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, n_train=200, n_test=50)
    write_idx(raw(tmp_path) / "t10k-labels-idx1-ubyte", np.full(50, 12, dtype=np.uint8))
    env = automl_env.parallel_env(TASK, backend=backend_on(tmp_path), fidelity=TINY)
    env.reset(seed=0)
    with pytest.raises(BackendSetupError, match=r"t10k-labels-idx1-ubyte: label 12"):
        env.step({a: env.action_space(a).sample() for a in env.agents})


def test_gzip_that_is_not_gzip_names_the_file(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, n_train=200, n_test=50, gz=True)
    path = raw(tmp_path) / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"plain bytes, no gzip header" + gzip.decompress(path.read_bytes())[:100])
    with pytest.raises(BackendSetupError, match=r"cannot read .*t10k-images-idx3-ubyte\.gz"):
        backend_on(tmp_path).evaluate([TASK.default_pipeline()], fidelity=TINY)


def _no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cuda", r"device='cuda': this machine has no cuda device"),
        ("cuda:0", r"device='cuda:0': this machine has no cuda device"),
        ("nonsense", r"device='nonsense' is not a device torch knows"),
        ("meta", r"device='meta': training runs on cpu, cuda, mps or xpu"),
    ],
)
def test_device_that_does_not_exist_is_refused_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: str, message: str
) -> None:
    _no_cuda(monkeypatch)
    with pytest.raises(BackendSetupError, match=message):
        TrainingBackend(TASK, data_root=tmp_path, device=device)


def test_cuda_index_past_the_machines_devices_is_refused(tmp_path: Path) -> None:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(BackendSetupError, match=rf"device='cuda:{count + 6}'"):
        TrainingBackend(TASK, data_root=tmp_path, device=f"cuda:{count + 6}")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("epochs", 1.5, "an int"),
        ("epochs", True, "an int"),
        ("cells", 2.0, "an int"),
        ("batch_size", "32", "an int"),
        ("train_subset", 100.0, "an int or None"),
    ],
)
def test_fidelity_fields_must_be_ints(field: str, value: object, expected: str) -> None:
    with pytest.raises(TypeError, match=rf"Fidelity\.{field} must be {expected}, got {type(value).__name__}"):
        Fidelity(**{field: value})  # type: ignore[arg-type]


def test_fidelity_takes_numpy_integers_as_ints() -> None:
    fidelity = Fidelity(epochs=np.int64(3), train_subset=np.int32(100))  # type: ignore[arg-type]
    assert type(fidelity.epochs) is int and type(fidelity.train_subset) is int
    assert fidelity == Fidelity(epochs=3, train_subset=100) and fidelity.key == Fidelity(epochs=3, train_subset=100).key


@pytest.mark.parametrize("seed", [1.5, True, "0", None])
def test_evaluate_and_retrain_refuse_a_seed_that_is_not_an_int(fashion_root: Path, seed: object) -> None:
    backend = TrainingBackend(TASK, data_root=fashion_root, device="cpu", download=False)
    for call in (
        lambda: backend.evaluate([TASK.default_pipeline()], fidelity=TINY, seed=seed),  # type: ignore[arg-type]
        lambda: backend.retrain(TASK.default_pipeline(), fidelity=TINY, seed=seed),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=rf"seed must be an int, got {type(seed).__name__}") as raised:
            call()
        assert isinstance(raised.value, BackendSetupError)  # stops an env's search rather than failing each batch


def test_read_only_store_is_refused_by_the_training_backend(tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "s.sqlite")
    store.read_only = True  # what EvalStore finds for a file it may not write (test_store checks that)
    with pytest.raises(BackendSetupError, match=r"s\.sqlite is read-only"):
        TrainingBackend(TASK, data_root=tmp_path, device="cpu", store=store)


def test_fixed_config_of_the_wrong_module_type_is_refused_at_construction() -> None:
    task = get_task("cifar10")
    policy = task.modules["aug"].default()
    message = r"fixed\['hpo'\] has type AugmentPolicy, but module 'hpo' of task 'cifar10' takes HParams"
    with pytest.raises(TypeError, match=message):
        JointCodec(task, ("aug", "nas"), {"hpo": policy})
    with pytest.raises(TypeError, match=message):
        automl_env.parallel_env("cifar10", backend="synthetic", modules=("aug", "nas"), fixed={"hpo": policy})
    JointCodec(task, ("aug", "nas"), {"hpo": task.modules["hpo"].default()})  # the right type is taken


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads fail as they do on a machine without a network (no test downloads anything)."""
    import urllib.error

    def refuse(*_: object, **__: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    for dataset in ("CIFAR10", "CIFAR100", "FashionMNIST"):
        monkeypatch.setattr(getattr(torchvision.datasets, dataset), "download", refuse)


def test_the_default_download_offline_stops_the_build_in_a_few_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """download=True (the default) is tried when the env is built; offline, the build stops with the reason on one
    line, the folder, data_root and the offline alternatives, and no chained traceback."""
    from automl_env.backends.training.datasets import DatasetNotFoundError

    _offline(monkeypatch)
    with pytest.raises(DatasetNotFoundError) as missing:
        automl_env.parallel_env("cifar100", backend_options={"data_root": tmp_path})
    message = str(missing.value)
    first, *rest = message.splitlines()
    assert first.startswith(f"dataset not found in {tmp_path / 'cifar-100-python'} (download failed: URLError: ")
    assert f"data_root='{tmp_path}'" in rest[0] and "download=True" not in message
    assert 'automl_env.parallel_env("cifar100", backend="synthetic-rugged")' in rest[1] and len(rest) == 2
    assert missing.value.__cause__ is None and missing.value.__suppress_context__


def test_missing_fashion_mnist_names_its_folders_and_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl_env.backends.training import datasets

    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "debian")  # as on a machine without it
    with pytest.raises(datasets.DatasetNotFoundError) as missing:
        TrainingBackend(TASK, data_root=tmp_path, device="cpu", download=False)
    message = str(missing.value)
    for folder in (raw(tmp_path), tmp_path / "debian"):
        assert str(folder) in message
    assert "download=True where the machine is online" in message and "apt-get install dataset-fashion-mnist" in message


def test_the_weight_sharing_backend_checks_its_data_when_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_env.backends.training import datasets

    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    options = {"data_root": tmp_path, "download": False}
    with pytest.raises(datasets.DatasetNotFoundError, match=r"Fashion-MNIST not found \(download=False\)"):
        automl_env.parallel_env("fashion-mnist-nb201", backend="weight-sharing", backend_options=options)
    write_fashion_mnist(tmp_path, n_train=50, n_test=10)
    env = automl_env.parallel_env("fashion-mnist-nb201", backend="weight-sharing", backend_options=options)
    assert env.backend.name == "weight-sharing"


def test_imagenet_and_a_dataset_without_a_reader_are_refused_at_build(tmp_path: Path) -> None:
    from automl_env.backends.training.datasets import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match=rf"ImageNet not found in {tmp_path}: expected ImageFolder") as no:
        TrainingBackend("imagenet200", data_root=tmp_path, device="cpu")
    assert "download=True" not in str(no.value)  # ImageNet is never downloaded
    with pytest.raises(BackendSetupError, match=r"no reader for dataset 'imagenet16-120'"):
        TrainingBackend("nb201-imagenet16", data_root=tmp_path, device="cpu")


def test_train_command_without_its_data_exits_with_the_message_and_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ma2ml_agents import train

    _offline(monkeypatch)
    out = tmp_path / "run"
    argv = ["--task", "cifar100", "--backend", "train", "--data-root", str(tmp_path / "data"), "--out", str(out)]
    with pytest.raises(SystemExit) as stopped:
        train.main([*argv, "--batches", "1", "--batch-size", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and err.startswith("error: dataset not found in "), err
    assert "Traceback" not in err and "--data-root FOLDER" in err and len(err.splitlines()) == 3
    assert not out.exists()


def test_benchmark_command_without_its_data_exits_with_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from baselines.benchmark import cli

    _offline(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))  # the default data folder, ~/.cache/automl_env/data, is empty
    argv = ["--task", "cifar100", "--backend", "train", "--algorithms", "random", "--seeds", "0", "--workers", "1"]
    with pytest.raises(SystemExit) as stopped:
        cli.main([*argv, "--batches", "1", "--batch-size", "2", "--out", str(tmp_path / "bench")])
    assert str(stopped.value.code).startswith(f"error: dataset not found in {tmp_path}/.cache/automl_env/data/")
