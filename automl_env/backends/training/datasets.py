"""Reading each dataset from disk into uint8 numpy arrays (N, C, H, W); nothing here touches a device.

Readers are registered by dataset name in ``READERS``; each returns the official train and test
sets. ``DATA_FILES`` lists the files each dataset is read from (the evaluation store keys results by
their fingerprint), and ``DATA_CHECKS`` checks cheaply that they are there (``data_check`` runs it when
a backend is built; it downloads them first where missing and allowed). Where a dataset is missing and
cannot be downloaded the error names the folder searched and the files expected there; a file that is
truncated, corrupt or holds labels outside the dataset's classes raises ``DatasetCorruptError`` naming it.
Both are ``BackendSetupError``: a search stops on them instead of failing every evaluation.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import BackendSetupError

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


class DatasetNotFoundError(BackendSetupError, FileNotFoundError):
    """A dataset's files are not where they are looked for; the message names the folder and files."""


class DatasetCorruptError(BackendSetupError, ValueError):
    """A dataset file cannot be read (truncated, corrupt, labels out of range); the message names it."""


DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the four gzipped idx files."""

FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class DataConfig:
    """Where the data lives and how it is prepared."""

    root: Path | None = None
    """Dataset folder (torchvision layout); None: ``~/.cache/automl_env/data``."""
    download: bool = True
    """Download CIFAR / Fashion-MNIST when missing (needs a network connection)."""
    val_size: int | None = None
    """Training images held out for validation; None: the dataset's default (VAL_SIZES)."""
    imagenet_classes_seed: int = 0
    """Seed of the draw of ImageNet-200's classes from ImageNet's 1000."""
    imagenet_storage_size: int = 160
    """ImageNet images are kept at this square size (uint8) and resized to each network's resolution."""
    decode_threads: int = 8

    def resolved_root(self) -> Path:
        return Path(self.root).expanduser() if self.root is not None else Path.home() / ".cache" / "automl_env" / "data"

    def result_settings(self) -> dict[str, int | None]:
        """The settings that change what is trained on (the folder, downloading and threads do not)."""
        return {
            "val_size": self.val_size,
            "imagenet_classes_seed": self.imagenet_classes_seed,
            "imagenet_storage_size": self.imagenet_storage_size,
        }


@dataclass(frozen=True)
class RawDataset:
    """The official train and test sets of one dataset, as uint8 (N, C, H, W) and int64 labels."""

    train_images: U8
    train_labels: I64
    test_images: U8
    test_labels: I64
    num_classes: int


def checked_labels(labels: Sequence[int] | npt.NDArray[np.integer], num_classes: int, where: str | Path) -> I64:
    """``labels`` as int64, each in [0, num_classes); DatasetCorruptError naming ``where`` otherwise."""
    array = np.asarray(labels, dtype=np.int64)
    bad = (array < 0) | (array >= num_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise DatasetCorruptError(
            f"{where}: label {array[i]} at index {i} is outside the dataset's {num_classes} classes [0, {num_classes})"
        )
    return array


def _cifar_class(num_classes: int) -> Any:
    from automl_env.backends.training.deps import torchvision

    return torchvision.datasets.CIFAR10 if num_classes == 10 else torchvision.datasets.CIFAR100


def cifar_files(config: DataConfig, *, num_classes: int) -> list[Path]:
    """CIFAR's batch and meta files, downloaded first where missing and allowed."""
    cls = _cifar_class(num_classes)
    root = config.resolved_root()
    folder = root / cls.base_folder
    expected = [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    missing = [name for name in expected if not (folder / name).exists()]
    if missing and config.download:
        try:
            cls(str(root), train=True, download=True)
        except Exception as error:  # offline: a chain of urllib errors; its last line says it all
            raise DatasetNotFoundError(_missing_message(folder, expected, cls.url, error)) from None
    elif missing:
        raise DatasetNotFoundError(_missing_message(folder, expected, cls.url, None))
    return [folder / name for name in expected]


def read_cifar(config: DataConfig, *, num_classes: int) -> RawDataset:
    """CIFAR-10/100 through torchvision's own dataset classes (which read the python pickle batches)."""
    cls = _cifar_class(num_classes)
    root = config.resolved_root()
    folder = root / cls.base_folder
    cifar_files(config, num_classes=num_classes)
    try:
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except Exception as error:  # torchvision says "Dataset not found or corrupted", naming no file
        raise DatasetCorruptError(_cifar_corrupt_message(cls, folder, error)) from error
    return RawDataset(
        train_images=np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)),
        train_labels=checked_labels(train.targets, num_classes, f"{folder} (training batches)"),
        test_images=np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)),
        test_labels=checked_labels(test.targets, num_classes, f"{folder} (test batch)"),
        num_classes=num_classes,
    )


def _cifar_corrupt_message(cls: Any, folder: Path, error: Exception) -> str:
    from automl_env.backends.training.deps import torchvision

    check = torchvision.datasets.utils.check_integrity
    files = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    bad = [str(folder / name) for name, md5 in files if not check(str(folder / name), md5)]
    if bad:
        return (
            f"{', '.join(bad)}: md5 differs from the official file's (truncated or corrupt download?); "
            "delete it and read again with download=True"
        )
    return f"cannot read the CIFAR files in {folder}: {type(error).__name__}: {error}"


def _why_missing(error: Exception | None) -> str:
    reason = " ".join(str(error).split())  # torchvision's download errors span lines
    return f"download failed: {type(error).__name__}: {reason}" if error else "download=False"


def _missing_message(folder: Path, files: list[str], url: str, error: Exception | None) -> str:
    why = _why_missing(error)
    return f"dataset not found in {folder} ({why}); expected files there: {', '.join(files)} (from {url})"


def read_idx(path: Path, *, ndim: int | None = None) -> npt.NDArray[np.uint8]:
    """An idx file (the MNIST format), gzipped or not: magic, big-endian dims, then uint8 data.

    A truncated or corrupt file (or one of another rank than ``ndim``) raises DatasetCorruptError naming it.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as error:  # a gzip cut short raises EOFError
        raise DatasetCorruptError(
            f"cannot read {path}: {error} (truncated or corrupt? delete it and read again with download=True)"
        ) from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetCorruptError(f"{path} is not a uint8 idx file")
    rank, offset = data[3], 4 + 4 * data[3]
    if ndim is not None and rank != ndim:
        raise DatasetCorruptError(f"{path} holds a {rank}-dimensional array, expected {ndim} dimensions")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    if len(data) != offset + int(np.prod(dims)):
        raise DatasetCorruptError(
            f"{path} is truncated or corrupt: its header announces {dims} ({int(np.prod(dims))} bytes), "
            f"it holds {max(len(data) - offset, 0)} bytes of data"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find_idx(folders: list[Path], name: str) -> Path | None:
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    return None


def fashion_mnist_folders(config: DataConfig) -> list[Path]:
    root = config.resolved_root()
    return [root / "FashionMNIST" / "raw", root, DEBIAN_FASHION_MNIST]


def fashion_mnist_files(config: DataConfig) -> list[Path]:
    """The four idx files (``FASHION_FILES`` order) where found, downloaded first where missing and allowed."""
    folders = fashion_mnist_folders(config)
    paths = [_find_idx(folders, name) for name in FASHION_FILES]
    if any(p is None for p in paths) and config.download:
        from automl_env.backends.training.deps import torchvision

        try:
            torchvision.datasets.FashionMNIST(str(config.resolved_root()), train=True, download=True)
        except Exception as error:
            raise DatasetNotFoundError(_fashion_message(folders, error)) from None
        paths = [_find_idx(folders, name) for name in FASHION_FILES]
    found = [p for p in paths if p is not None]
    if len(found) != len(FASHION_FILES):
        raise DatasetNotFoundError(_fashion_message(folders, None))
    return found


def read_fashion_mnist(config: DataConfig) -> RawDataset:
    """torchvision's ``FashionMNIST/raw`` folder under the root, the root itself, or Debian's package."""
    train_images, train_labels, test_images, test_labels = fashion_mnist_files(config)
    splits = []
    for images_path, labels_path in ((train_images, train_labels), (test_images, test_labels)):
        images, labels = read_idx(images_path, ndim=3), read_idx(labels_path, ndim=1)
        if len(images) != len(labels):
            raise DatasetCorruptError(
                f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels"
            )
        splits.append((np.ascontiguousarray(images[:, None]), checked_labels(labels, 10, labels_path)))
    (train_x, train_y), (test_x, test_y) = splits
    return RawDataset(train_x, train_y, test_x, test_y, num_classes=10)


def _fashion_message(folders: list[Path], error: Exception | None) -> str:
    return (
        f"Fashion-MNIST not found ({_why_missing(error)}); searched {', '.join(map(str, folders))} for "
        f"{', '.join(FASHION_FILES)} (each optionally .gz)"
    )


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _decode_square(path: Path, size: int) -> U8:
    """Resize the shorter side to ``size`` and centre-crop a square, as uint8 (3, size, size)."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
        scale = size / min(rgb.size)
        w, h = max(size, round(rgb.width * scale)), max(size, round(rgb.height * scale))
        rgb = rgb.resize((w, h), Image.Resampling.BILINEAR)
        left, top = (w - size) // 2, (h - size) // 2
        rgb = rgb.crop((left, top, left + size, top + size))
        return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def _decode_or_raise(path: Path, size: int) -> U8:
    try:
        return _decode_square(path, size)
    except (OSError, ValueError) as error:  # PIL: UnidentifiedImageError, "image file is truncated"
        raise DatasetCorruptError(f"cannot decode image {path}: {error}") from None


def _read_split(files: list[tuple[Path, int]], config: DataConfig) -> tuple[U8, I64]:
    size = config.imagenet_storage_size
    images = np.empty((len(files), 3, size, size), dtype=np.uint8)

    def load(i: int) -> None:
        images[i] = _decode_or_raise(files[i][0], size)

    with ThreadPoolExecutor(config.decode_threads) as pool:
        list(pool.map(load, range(len(files))))
    return images, np.asarray([label for _, label in files], dtype=np.int64)


def imagenet_folders(config: DataConfig) -> list[Path]:
    """The ImageFolder trees ``root/train`` and ``root/val`` (not downloadable); DatasetNotFoundError where absent."""
    root = config.resolved_root()
    train_dir, test_dir = root / "train", root / "val"
    if not train_dir.is_dir() or not test_dir.is_dir():
        raise DatasetNotFoundError(
            f"ImageNet not found in {root}: expected ImageFolder trees {train_dir}/<wnid>/*.JPEG and "
            f"{test_dir}/<wnid>/*.JPEG (ImageNet cannot be downloaded automatically)"
        )
    return [train_dir, test_dir]


def _imagenet_splits(config: DataConfig, num_classes: int) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(image, label) pairs of the training and test splits of the ``num_classes`` classes drawn."""
    train_dir, test_dir = imagenet_folders(config)
    all_classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if len(all_classes) < num_classes:
        raise DatasetCorruptError(
            f"{train_dir} has {len(all_classes)} class folders, fewer than the {num_classes} to draw"
        )
    rng = np.random.default_rng(config.imagenet_classes_seed)
    classes = sorted(rng.choice(all_classes, size=num_classes, replace=False).tolist())
    missing = [str(test_dir / name) for name in classes if not (test_dir / name).is_dir()]
    if missing:
        raise DatasetNotFoundError(f"ImageNet's validation images of the classes drawn are missing: {missing[:5]}")

    def labelled(folder: Path) -> list[tuple[Path, int]]:
        return [(path, label) for label, name in enumerate(classes) for path in _image_files(folder / name)]

    return labelled(train_dir), labelled(test_dir)


def imagenet_files(config: DataConfig, *, num_classes: int) -> list[Path]:
    """Every image of the classes drawn, training then test."""
    train, test = _imagenet_splits(config, num_classes)
    return [path for path, _ in train + test]


def read_imagenet_subset(config: DataConfig, *, num_classes: int) -> RawDataset:
    """``num_classes`` classes drawn with a fixed seed from an ImageFolder tree ``root/{train,val}/<class>/``.

    ImageNet's official validation images (sorted into class folders) serve as the test set.
    """
    train, test = _imagenet_splits(config, num_classes)
    train_x, train_y = _read_split(train, config)
    test_x, test_y = _read_split(test, config)
    return RawDataset(train_x, train_y, test_x, test_y, num_classes=num_classes)


READERS: dict[str, Callable[[DataConfig], RawDataset]] = {
    "cifar10": lambda config: read_cifar(config, num_classes=10),
    "cifar100": lambda config: read_cifar(config, num_classes=100),
    "fashion-mnist": read_fashion_mnist,
    "imagenet200": lambda config: read_imagenet_subset(config, num_classes=200),
}
"""Dataset name (TaskSpec.dataset) -> reader; register a reader here (and its files in DATA_FILES) to add a dataset."""

DATA_FILES: dict[str, Callable[[DataConfig], list[Path]]] = {
    "cifar10": lambda config: cifar_files(config, num_classes=10),
    "cifar100": lambda config: cifar_files(config, num_classes=100),
    "fashion-mnist": fashion_mnist_files,
    "imagenet200": lambda config: imagenet_files(config, num_classes=200),
}
"""Dataset name -> the files its reader reads; an evaluation store tells one dataset's results from
another's by their fingerprint (``fingerprint.data_context``), so a dataset without an entry cannot
be used with a store."""

DATA_CHECKS: dict[str, Callable[[DataConfig], object]] = {
    "cifar10": lambda config: cifar_files(config, num_classes=10),
    "cifar100": lambda config: cifar_files(config, num_classes=100),
    "fashion-mnist": fashion_mnist_files,
    "imagenet200": imagenet_folders,
}
"""Dataset name -> a check that its files are where its reader looks, which reads none of them (ImageNet's: the two
trees exist, not their 250k images), downloading them first where missing and allowed; DatasetNotFoundError
otherwise (``data_check.check_dataset`` runs it when a backend is built). A dataset without an entry (one made
in memory) is checked when it is read."""


VAL_SIZES: dict[str, int] = {"cifar10": 5000, "cifar100": 5000, "fashion-mnist": 5000, "imagenet200": 10_000}
"""Training images held out for validation (ImageNet-200: the paper's 10k)."""

CROP_PADDING: dict[str, int] = {"cifar10": 4, "cifar100": 4, "fashion-mnist": 2}
"""Zero padding of the standard pad-and-crop (CIFAR's usual 4 px; 2 px keeps 28x28 garments whole)."""
