"""The splits of a dataset kept on the device as uint8, loaded once per process.

The validation split is carved from the official training set with a fixed seed (the same for
every pipeline, seed and fidelity); the test set is only used by ``retrain``. A fidelity's
``train_subset`` takes the first images of the (already shuffled) training split, so every
evaluation at that fidelity sees the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl_env.backends.base import BackendSetupError
from automl_env.backends.training.datasets import READERS, VAL_SIZES, DataConfig, RawDataset
from automl_env.backends.training.deps import torch

SPLIT_SEED = 0
"""Seed of the train/validation split; fixed so validation accuracies are comparable across runs."""


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 (N, C, H, W) on the device
    labels: torch.Tensor  # int64 (N,) on the device

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def head(self, n: int | None) -> Split:
        return self if n is None or n >= len(self) else Split(self.images[:n], self.labels[:n])


@dataclass(frozen=True)
class DeviceData:
    """Training, validation and test splits on one device, and the per-channel normalisation."""

    name: str
    train: Split
    val: Split
    test: Split
    mean: torch.Tensor  # (1, C, 1, 1) float32, in [0, 255] units
    std: torch.Tensor
    num_classes: int

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    def train_and_val(self) -> Split:
        """The whole official training set (for final retraining)."""
        return Split(torch.cat([self.train.images, self.val.images]), torch.cat([self.train.labels, self.val.labels]))


_CACHE: dict[tuple[str, DataConfig, str], DeviceData] = {}


def load_device_data(dataset: str, config: DataConfig, device: torch.device) -> DeviceData:
    """Read ``dataset`` once per (process, config, device) and keep its splits on ``device``."""
    key = (dataset, config, str(device))
    if key not in _CACHE:
        if dataset not in READERS:
            raise BackendSetupError(f"no reader for dataset {dataset!r}; known: {sorted(READERS)} (add one to READERS)")
        _CACHE[key] = to_device(dataset, READERS[dataset](config), config, device)
    return _CACHE[key]


def validation_size(dataset: str, n_train: int, config: DataConfig) -> int:
    """The configured hold-out, capped at a fifth of the training set (tiny test datasets)."""
    wanted = config.val_size if config.val_size is not None else VAL_SIZES.get(dataset, n_train // 10)
    return max(1, min(wanted, n_train // 5))


def to_device(dataset: str, raw: RawDataset, config: DataConfig, device: torch.device) -> DeviceData:
    n = len(raw.train_labels)
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_val = validation_size(dataset, n, config)
    val_idx, train_idx = order[:n_val], order[n_val:]

    def split(images: np.ndarray, labels: np.ndarray) -> Split:
        return Split(torch.from_numpy(np.array(images, copy=True)).to(device), torch.from_numpy(labels).to(device))

    train_images = raw.train_images[train_idx]
    # Per-channel statistics in [0, 255] units from up to 10k training images (bounded memory).
    sample = train_images[:10_000].astype(np.float64)
    mean, std = sample.mean(axis=(0, 2, 3)), sample.std(axis=(0, 2, 3))
    shape = (1, -1, 1, 1)
    return DeviceData(
        name=dataset,
        train=split(train_images, raw.train_labels[train_idx]),
        val=split(raw.train_images[val_idx], raw.train_labels[val_idx]),
        test=split(raw.test_images, raw.test_labels),
        mean=torch.tensor(mean, dtype=torch.float32, device=device).reshape(shape),
        std=torch.tensor(np.maximum(std, 1e-3), dtype=torch.float32, device=device).reshape(shape),
        num_classes=raw.num_classes,
    )
