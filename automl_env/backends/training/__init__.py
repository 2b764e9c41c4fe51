"""The ``train`` backend: pipelines trained for real with PyTorch.

Importing this package is cheap: torch is imported only when ``TrainingBackend`` (or one of the
submodules) is first used, and fails with the ``pip install "automl-env[train]"`` line when absent.

Files: ``deps`` (the guarded torch import), ``datasets`` (reading the datasets from disk),
``data`` (splits kept on the device), ``augment`` (batched on-device AutoAugment), ``nasnet`` and
``mobilenet`` (the networks ``automl_env.cost`` counts), ``networks`` (config type -> builder),
``loop`` (one training run), ``backend`` (``TrainingBackend``: evaluate, retrain, store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl_env.backends.training.backend import TrainingBackend

__all__ = ["TrainingBackend"]


def __getattr__(name: str) -> Any:
    if name == "TrainingBackend":
        from automl_env.backends.training.backend import TrainingBackend

        return TrainingBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
