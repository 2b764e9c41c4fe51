"""Datasets read from their real on-disk formats, split once, kept on the device.

Also the home of the fixture writers other ``test_training_*`` files import: Fashion-MNIST's idx
format from synthetic class-structured images, CIFAR-100's python pickle batches, an ImageFolder.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from automl_env.backends.training import data as D  # noqa: E402
from automl_env.backends.training.datasets import (  # noqa: E402
    DATA_FILES,
    DEBIAN_FASHION_MNIST,
    FASHION_FILES,
    READERS,
    DataConfig,
    read_idx,
)


def class_images(
    n: int, *, size: int = 28, channels: int = 1, classes: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is visible: an oriented stripe pattern and a blob placed per class, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((n, channels, size, size), dtype=np.uint8)
    for i, k in enumerate(labels):
        angle = np.pi * k / classes
        stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 0.7)
        cy, cx = (
            size / 2 + size / 4 * np.sin(2 * np.pi * k / classes),
            size / 2 + size / 4 * np.cos(2 * np.pi * k / classes),
        )
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 8) ** 2))
        img = 90 * stripes + 120 * blob + 100 + rng.normal(0, 25, (size, size))
        images[i] = np.clip(np.roll(img, rng.integers(-2, 3, 2), axis=(0, 1)), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_fashion_mnist(root: Path, *, n_train: int = 1500, n_test: int = 300, gz: bool = False) -> Path:
    """torchvision's layout: ``root/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = class_images(n, seed=seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images[:, 0])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return root


def write_cifar100(root: Path, *, n_train: int = 300, n_test: int = 100) -> dict[str, str]:
    """CIFAR-100's own files (python pickles as torchvision reads them); returns file -> md5."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = class_images(n, size=32, channels=3, classes=100, seed=seed)
        entry = {
            "data": images.reshape(n, -1),
            "fine_labels": labels.tolist(),
            "coarse_labels": (labels // 5).tolist(),
            "filenames": [f"{i}.png" for i in range(n)],
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {
        "fine_label_names": [f"class{i}" for i in range(100)],
        "coarse_label_names": [f"super{i}" for i in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in ("train", "test", "meta")}


def trust_cifar100_files(monkeypatch: pytest.MonkeyPatch, md5: dict[str, str]) -> None:
    """torchvision checks the official md5 sums; point them at the fixture's files instead."""
    cls = torchvision.datasets.CIFAR100
    monkeypatch.setattr(cls, "train_list", [["train", md5["train"]]])
    monkeypatch.setattr(cls, "test_list", [["test", md5["test"]]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5["meta"]})


def write_image_folder(root: Path, *, classes: int, per_class: int, size: int = 40) -> Path:
    from PIL import Image

    for split, n in (("train", per_class), ("val", 2)):
        for k in range(classes):
            folder = root / split / f"n{k:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            images, _ = class_images(n, size=size, channels=3, classes=classes, seed=k)
            for i, img in enumerate(images):
                Image.fromarray(img.transpose(1, 2, 0)).save(folder / f"img{i}.JPEG")
    return root


def test_idx_reader_reads_what_was_written(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "b-idx3-ubyte.gz"):
        write_idx(tmp_path / name, array)
        assert np.array_equal(read_idx(tmp_path / name), array)


def test_fashion_mnist_from_torchvision_layout(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, n_train=200, n_test=50, gz=True)
    raw = READERS["fashion-mnist"](DataConfig(root=tmp_path, download=False))
    assert raw.train_images.shape == (200, 1, 28, 28) and raw.test_images.shape == (50, 1, 28, 28)
    assert raw.train_images.dtype == np.uint8 and raw.train_labels.max() <= 9


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_found_in_debian_package(tmp_path: Path) -> None:
    raw = READERS["fashion-mnist"](DataConfig(root=tmp_path, download=False))
    assert raw.train_images.shape == (60_000, 1, 28, 28) and raw.test_images.shape == (10_000, 1, 28, 28)
    assert np.bincount(raw.train_labels).tolist() == [6000] * 10


def test_cifar100_in_its_own_format_read_by_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trust_cifar100_files(monkeypatch, write_cifar100(tmp_path))
    raw = READERS["cifar100"](DataConfig(root=tmp_path, download=False))
    assert raw.train_images.shape == (300, 3, 32, 32) and raw.num_classes == 100
    expected, labels = class_images(300, size=32, channels=3, classes=100, seed=0)
    assert np.array_equal(raw.train_images, expected) and np.array_equal(raw.train_labels, labels)


def test_missing_cifar_names_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py.*data_batch_1.*test_batch"):
        READERS["cifar10"](DataConfig(root=tmp_path, download=False))


def test_missing_fashion_mnist_names_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_env.backends.training import datasets

    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"FashionMNIST/raw.*train-images-idx3-ubyte"):
        READERS["fashion-mnist"](DataConfig(root=tmp_path, download=False))


def test_imagenet_subset_draws_classes_with_a_fixed_seed(tmp_path: Path) -> None:
    from automl_env.backends.training.datasets import read_imagenet_subset

    write_image_folder(tmp_path, classes=5, per_class=4)
    config = DataConfig(root=tmp_path, imagenet_storage_size=24, decode_threads=2)
    a, b = read_imagenet_subset(config, num_classes=3), read_imagenet_subset(config, num_classes=3)
    assert a.train_images.shape == (12, 3, 24, 24) and a.test_images.shape == (6, 3, 24, 24)
    assert np.array_equal(a.train_images, b.train_images)
    assert sorted(set(a.train_labels.tolist())) == [0, 1, 2]


def test_splits_are_fixed_disjoint_and_on_the_device(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, n_train=500, n_test=50)
    config = DataConfig(root=tmp_path, download=False, val_size=100)
    data = D.load_device_data("fashion-mnist", config, torch.device("cpu"))
    assert D.load_device_data("fashion-mnist", config, torch.device("cpu")) is data  # once per process
    assert len(data.train) == 400 and len(data.val) == 100 and len(data.test) == 50
    assert data.train.images.dtype == torch.uint8
    train_rows = {bytes(x.numpy().tobytes()) for x in data.train.images}
    assert not any(bytes(x.numpy().tobytes()) in train_rows for x in data.val.images)
    raw = READERS["fashion-mnist"](config)
    order = np.random.default_rng(D.SPLIT_SEED).permutation(500)
    assert np.array_equal(data.val.images.numpy(), raw.train_images[order[:100]])


def test_fingerprint_follows_the_files_not_their_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_env.backends.training import fingerprint

    write_fashion_mnist(tmp_path / "a", n_train=50, n_test=10)
    files = DATA_FILES["fashion-mnist"](DataConfig(root=tmp_path / "a", download=False))
    assert [p.name for p in files] == list(FASHION_FILES)
    before = fingerprint.files_fingerprint(files)
    write_fashion_mnist(tmp_path / "b", n_train=50, n_test=10)  # the same bytes elsewhere
    assert fingerprint.files_fingerprint(DATA_FILES["fashion-mnist"](DataConfig(root=tmp_path / "b"))) == before
    data = files[0].read_bytes()
    files[0].write_bytes(data[:16] + bytes(255 - b for b in data[16:]))  # same size, other images
    assert fingerprint.files_fingerprint(files) != before
    monkeypatch.setattr(fingerprint, "CONTENT_LIMIT", 0)  # large trees: names, sizes and modification times
    by_stat = fingerprint.files_fingerprint(files)
    os.utime(files[0], ns=(files[0].stat().st_atime_ns, files[0].stat().st_mtime_ns + 1_000_000_000))
    assert fingerprint.files_fingerprint(files) != by_stat


def test_a_reader_without_its_files_cannot_be_used_with_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from automl_env.backends.base import BackendSetupError
    from automl_env.backends.training.fingerprint import data_context

    monkeypatch.setitem(READERS, "in-memory", lambda config: None)
    with pytest.raises(BackendSetupError, match=r"'in-memory' has a reader but no entry in DATA_FILES"):
        data_context("in-memory", DataConfig())
