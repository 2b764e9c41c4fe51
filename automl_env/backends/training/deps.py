"""The one place the training backend imports torch and torchvision, with an actionable error."""

from __future__ import annotations

INSTALL_HINT = 'the training backend needs torch and torchvision: pip install "automl-env[train]"'

try:
    import torch
    import torchvision
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"{INSTALL_HINT} ({error})") from error

__all__ = ["INSTALL_HINT", "torch", "torchvision"]
