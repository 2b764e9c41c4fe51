"""What a training result depends on besides the pipeline, the fidelity and the seed: the data and its split.

The evaluation store keys every result of the ``train`` backend by this context, so a store reused
with other data files, another validation size or another ImageNet class draw never serves a result
trained on something else. The data's fingerprint is taken once per process and dataset settings:

    data_context("cifar10", DataConfig())
    # 'data=3c0f1d2e4a5b6c7d split_seed=0 val_size=5000 imagenet_classes_seed=0 imagenet_storage_size=160'
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from automl_env.backends.base import BackendSetupError
from automl_env.backends.training.data import SPLIT_SEED
from automl_env.backends.training.datasets import DATA_FILES, READERS, VAL_SIZES, DataConfig

CONTENT_LIMIT = 1 << 30
"""Datasets of up to this many bytes are fingerprinted by content (CIFAR, Fashion-MNIST: well under a
second); larger ones (ImageNet trees of tens of GB) by each file's name, size and modification time."""

_CONTEXTS: dict[tuple[str, DataConfig], str] = {}


def files_fingerprint(files: Sequence[Path]) -> str:
    """16 hex digits that change when any file (its bytes, or for large trees its size or mtime) changes.

    Names count relative to the files' common folder, so a dataset moved elsewhere keeps its fingerprint.
    """
    try:
        stats = [(path, path.stat()) for path in files]
    except OSError as error:
        raise BackendSetupError(f"cannot read dataset file {error.filename}: {error.strerror}") from None
    base = Path(os.path.commonpath([str(p) for p in files])) if files else Path()
    by_content = sum(stat.st_size for _, stat in stats) <= CONTENT_LIMIT
    digest = hashlib.blake2b(b"content" if by_content else b"stat", digest_size=8)
    for path, stat in sorted(stats, key=lambda item: item[0].as_posix()):
        name = path.name if path == base else path.relative_to(base).as_posix()
        digest.update(f"\0{name}\0{stat.st_size}\0".encode())
        digest.update(_content_digest(path) if by_content else str(stat.st_mtime_ns).encode())
    return digest.hexdigest()


def _content_digest(path: Path) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as error:
        raise BackendSetupError(f"cannot read dataset file {path}: {error}") from None
    return digest.digest()


def data_context(dataset: str, config: DataConfig) -> str:
    """The data fingerprint and split settings of ``dataset`` read with ``config`` (cached per process)."""
    key = (dataset, config)
    if key not in _CONTEXTS:
        if dataset not in READERS:
            raise BackendSetupError(f"no reader for dataset {dataset!r}; known: {sorted(READERS)} (add one to READERS)")
        if dataset not in DATA_FILES:
            raise BackendSetupError(
                f"dataset {dataset!r} has a reader but no entry in DATA_FILES, so an evaluation store cannot tell "
                "its results from other data's: register the files it reads there, or evaluate without a store"
            )
        settings = config.result_settings()
        if settings["val_size"] is None:  # the default and the same size given explicitly are one setting
            settings["val_size"] = VAL_SIZES.get(dataset)
        parts = [f"data={files_fingerprint(DATA_FILES[dataset](config))}", f"split_seed={SPLIT_SEED}"]
        _CONTEXTS[key] = " ".join(parts + [f"{name}={value}" for name, value in settings.items()])
    return _CONTEXTS[key]
