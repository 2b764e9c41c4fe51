"""Reading each dataset from disk into uint8 numpy arrays (N, C, H, W); nothing here touches a device.

Readers are registered by dataset name in ``READERS``; each returns the official train and test
sets. Where a dataset is missing and cannot be downloaded the error names the folder searched and
the files expected there.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import BackendSetupError

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


class DatasetNotFoundError(BackendSetupError, FileNotFoundError):
    """A dataset's files are not where they are looked for; the message names the folder and files."""


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


@dataclass(frozen=True)
class RawDataset:
    """The official train and test sets of one dataset, as uint8 (N, C, H, W) and int64 labels."""

    train_images: U8
    train_labels: I64
    test_images: U8
    test_labels: I64
    num_classes: int


def read_cifar(config: DataConfig, *, num_classes: int) -> RawDataset:
    """CIFAR-10/100 through torchvision's own dataset classes (which read the python pickle batches)."""
    from automl_env.backends.training.deps import torchvision

    cls = torchvision.datasets.CIFAR10 if num_classes == 10 else torchvision.datasets.CIFAR100
    root = config.resolved_root()
    folder = root / cls.base_folder
    expected = [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    missing = [name for name in expected if not (folder / name).exists()]
    if missing and config.download:
        try:
            cls(str(root), train=True, download=True)
        except Exception as error:
            raise DatasetNotFoundError(_missing_message(folder, expected, cls.url, error)) from error
    elif missing:
        raise DatasetNotFoundError(_missing_message(folder, expected, cls.url, None))
    train, test = cls(str(root), train=True), cls(str(root), train=False)
    return RawDataset(
        train_images=np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)),
        train_labels=np.asarray(train.targets, dtype=np.int64),
        test_images=np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)),
        test_labels=np.asarray(test.targets, dtype=np.int64),
        num_classes=num_classes,
    )


def _missing_message(folder: Path, files: list[str], url: str, error: Exception | None) -> str:
    why = f"download failed ({error})" if error else "download=False"
    return f"dataset not found in {folder} ({why}); expected files there: {', '.join(files)} (from {url})"


def read_idx(path: Path) -> npt.NDArray[np.uint8]:
    """An idx file (the MNIST format), gzipped or not: magic, big-endian dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not a uint8 idx file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find_idx(folders: list[Path], name: str) -> Path | None:
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    return None


def fashion_mnist_folders(config: DataConfig) -> list[Path]:
    root = config.resolved_root()
    return [root / "FashionMNIST" / "raw", root, DEBIAN_FASHION_MNIST]


def read_fashion_mnist(config: DataConfig) -> RawDataset:
    """torchvision's ``FashionMNIST/raw`` folder under the root, the root itself, or Debian's package."""
    folders = fashion_mnist_folders(config)
    paths = [_find_idx(folders, name) for name in FASHION_FILES]
    if any(p is None for p in paths) and config.download:
        from automl_env.backends.training.deps import torchvision

        try:
            torchvision.datasets.FashionMNIST(str(config.resolved_root()), train=True, download=True)
        except Exception as error:
            raise DatasetNotFoundError(_fashion_message(folders, error)) from error
        paths = [_find_idx(folders, name) for name in FASHION_FILES]
    if any(p is None for p in paths):
        raise DatasetNotFoundError(_fashion_message(folders, None))
    train_x, train_y, test_x, test_y = (read_idx(p) for p in paths if p is not None)
    return RawDataset(
        train_images=np.ascontiguousarray(train_x[:, None]),
        train_labels=train_y.astype(np.int64),
        test_images=np.ascontiguousarray(test_x[:, None]),
        test_labels=test_y.astype(np.int64),
        num_classes=10,
    )


def _fashion_message(folders: list[Path], error: Exception | None) -> str:
    why = f"download failed ({error})" if error else "download=False"
    return (
        f"Fashion-MNIST not found ({why}); searched {', '.join(map(str, folders))} for "
        f"{', '.join(FASHION_FILES)} (each optionally .gz). On Debian/Ubuntu: apt-get install dataset-fashion-mnist"
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


def _read_split(folder: Path, classes: list[str], config: DataConfig) -> tuple[U8, I64]:
    files = [(path, label) for label, name in enumerate(classes) for path in _image_files(folder / name)]
    size = config.imagenet_storage_size
    images = np.empty((len(files), 3, size, size), dtype=np.uint8)

    def load(i: int) -> None:
        images[i] = _decode_square(files[i][0], size)

    with ThreadPoolExecutor(config.decode_threads) as pool:
        list(pool.map(load, range(len(files))))
    return images, np.asarray([label for _, label in files], dtype=np.int64)


def read_imagenet_subset(config: DataConfig, *, num_classes: int) -> RawDataset:
    """``num_classes`` classes drawn with a fixed seed from an ImageFolder tree ``root/{train,val}/<class>/``.

    ImageNet's official validation images (sorted into class folders) serve as the test set.
    """
    root = config.resolved_root()
    train_dir, test_dir = root / "train", root / "val"
    if not train_dir.is_dir() or not test_dir.is_dir():
        raise DatasetNotFoundError(
            f"ImageNet not found: expected ImageFolder trees {train_dir}/<wnid>/*.JPEG and {test_dir}/<wnid>/*.JPEG"
        )
    all_classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if len(all_classes) < num_classes:
        raise ValueError(f"{train_dir} has {len(all_classes)} class folders, fewer than the {num_classes} to draw")
    rng = np.random.default_rng(config.imagenet_classes_seed)
    classes = sorted(rng.choice(all_classes, size=num_classes, replace=False).tolist())
    train_x, train_y = _read_split(train_dir, classes, config)
    test_x, test_y = _read_split(test_dir, classes, config)
    return RawDataset(train_x, train_y, test_x, test_y, num_classes=num_classes)


READERS: dict[str, Callable[[DataConfig], RawDataset]] = {
    "cifar10": lambda config: read_cifar(config, num_classes=10),
    "cifar100": lambda config: read_cifar(config, num_classes=100),
    "fashion-mnist": read_fashion_mnist,
    "imagenet200": lambda config: read_imagenet_subset(config, num_classes=200),
}
"""Dataset name (TaskSpec.dataset) -> reader; register a reader here to add a dataset."""

VAL_SIZES: dict[str, int] = {"cifar10": 5000, "cifar100": 5000, "fashion-mnist": 5000, "imagenet200": 10_000}
"""Training images held out for validation (ImageNet-200: the paper's 10k)."""

CROP_PADDING: dict[str, int] = {"cifar10": 4, "cifar100": 4, "fashion-mnist": 2}
"""Zero padding of the standard pad-and-crop (CIFAR's usual 4 px; 2 px keeps 28x28 garments whole)."""
