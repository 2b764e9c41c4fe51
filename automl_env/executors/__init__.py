"""Executors: where and when a backend's evaluations run (``automl_env.executors.base`` has the protocol).

``make_executor(kind, backend, workers=, options=)`` builds one by name from ``EXECUTORS``:

- ``"serial"``: this process, one evaluation after another (``SerialExecutor``);
- ``"pool"``: long-lived worker processes on this machine, spread over its GPUs or cores (``PoolExecutor``);
- ``"ray"``: the same workers as Ray actors, on a local instance or a cluster (``RayExecutor``, extra ``ray``).

``SimulatedExecutor`` (built directly: ``SimulatedExecutor(backend, workers=N)``) runs nothing in parallel: it
replays the training cost each result reports on N simulated workers, for comparing searches in simulated time.

Entries are "module:Class" strings, so importing this package imports neither multiprocessing's machinery
nor Ray. The env flavours and ``run_search`` take the same choice as ``executor=``, ``workers=`` and
``executor_options=`` (``automl_env.env_options``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from automl_env.backends.base import Evaluator
from automl_env.executors.base import Completed, Executor, ExecutorBackend, SerialExecutor
from automl_env.executors.options import ExecutorOptions, backend_gpus
from automl_env.executors.simulated import SimulatedExecutor

EXECUTORS: dict[str, str] = {
    "serial": "automl_env.executors.base:SerialExecutor",
    "pool": "automl_env.executors.pool:PoolExecutor",
    "ray": "automl_env.executors.ray_actors:RayExecutor",
}


def default_executor(backend: Evaluator) -> str:
    """ "pool" where the backend trains on more than one GPU (one worker per GPU), "serial" otherwise.

    Not "pool" for CPU cores: on this project's 2-core machine two workers of one thread each ran 1.75x the
    Fashion-MNIST evaluations per hour of one when the machine was idle, but 1.08x and 1.27x when other jobs
    shared it (``examples/bench_throughput.py``, README "Performance"), and each worker holds its own copy of the
    dataset: not enough to spawn processes behind every training env unasked. A pool of CPU workers is one
    argument away (``executor="pool"``) where cores are free.
    """
    return "pool" if backend.name == "train" and len(backend_gpus(backend)) > 1 else "serial"


def make_executor(
    kind: str,
    backend: Evaluator,
    *,
    workers: int | None = None,
    options: ExecutorOptions | Mapping[str, Any] | None = None,
) -> Executor:
    """The executor ``kind`` (a key of ``EXECUTORS``) running ``backend``'s evaluations."""
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; choose from {sorted(EXECUTORS)}")
    resolved = ExecutorOptions.of(options)
    if kind == "serial":
        if workers not in (None, 1) or resolved != ExecutorOptions():
            raise ValueError('executor="serial" runs one evaluation at a time here: it takes no workers or options')
        return SerialExecutor(backend)
    module, _, name = EXECUTORS[kind].partition(":")
    executor: Executor = getattr(importlib.import_module(module), name)(backend, workers=workers, options=resolved)
    return executor


__all__ = [
    "EXECUTORS",
    "Completed",
    "Executor",
    "ExecutorBackend",
    "ExecutorOptions",
    "SerialExecutor",
    "SimulatedExecutor",
    "default_executor",
    "make_executor",
]
