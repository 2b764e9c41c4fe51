"""Backend registry: name -> "module.path:ClassName" entry point, imported only when made.

String entry points keep ``import automl_env`` cheap: the training backend (torch) is imported only
when someone asks for it. Add a backend by adding an entry.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from automl_env.backends.base import Evaluator
from automl_env.options import known_options
from automl_env.tasks import TaskSpec

BACKENDS: dict[str, str] = {
    "synthetic": "automl_env.backends.synthetic:SyntheticBackend",
    "synthetic-rugged": "automl_env.backends.synthetic:RuggedSyntheticBackend",
    "table": "automl_env.backends.table:TableBackend",
    "train": "automl_env.backends.training:TrainingBackend",
    "weight-sharing": "automl_env.backends.weight_sharing:WeightSharingBackend",
}


def make_backend(name: str, task: TaskSpec, **options: Any) -> Evaluator:
    """Build the backend registered as ``name`` for ``task``; ``options`` go to its constructor."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known backends: {sorted(BACKENDS)}")
    module_path, _, class_name = BACKENDS[name].partition(":")
    cls = getattr(importlib.import_module(module_path), class_name)
    parameters = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        known = [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        known_options(options, known, where=f"{name} backend")
    backend: Evaluator = cls(task, **options)
    return backend
