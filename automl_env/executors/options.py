"""Settings shared by the pool and Ray executors, and where their workers go (devices, threads, memory share)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from automl_env.backends.base import Evaluator, Fidelity
from automl_env.executors.worker import Placement
from automl_env.options import OptionTypeError, OptionValueError, integer, known_options, number, optional_integer

MAX_TIMEOUT = 30 * 24 * 3600.0
"""The longest evaluation timeout (30 days: past it, set none)."""
MAX_RETRIES = 100
MAX_PER_DEVICE = 64
"""Pipelines packed on one GPU at most (each gets 1/per_device of its memory)."""
MAX_THREADS = 1024
MAX_WORKERS = 4096
"""The most workers one executor starts (processes or Ray actors)."""


@dataclass(frozen=True)
class ExecutorOptions:
    """How workers run evaluations and what happens when one crashes or hangs."""

    timeout: float | None = None
    """Seconds one evaluation may take before its worker is killed and replaced (None: ``evaluation_timeout``'s
    default from the evaluation's expected cost). Counted from when a worker is given it, so a fresh worker's
    start-up and first dataset read count too: leave room."""
    retries: int = 1
    """How many more times an evaluation whose worker died or timed out is tried, each on a fresh worker, before
    it is recorded as failed with the reason. One retry survives a one-off crash (a node lost, a CUDA error)
    without spending a whole budget on a pipeline that kills every worker it runs on."""
    devices: tuple[str, ...] | None = None
    """Devices the workers are spread over round-robin ("cuda:0", "cuda:1", ...); None: every GPU where the backend
    trains on CUDA without an index, the backend's own device otherwise. Pool only: Ray places its actors itself."""
    per_device: int = 1
    """Pipelines packed on one GPU (k): k workers per device, each capped at 1/k of its memory."""
    threads: int | None = None
    """torch CPU threads per worker; None: the machine's cores split evenly between the workers (at least 1)."""
    ray_address: str | None = None
    """Address of a running Ray cluster ("ray://host:10001" or "auto"); None: Ray starts a local instance."""

    def __post_init__(self) -> None:
        where = "executor options"
        if self.timeout is not None:
            timeout = number(self.timeout, "timeout", where=where, low=0.0, low_open=True, high=MAX_TIMEOUT)
            object.__setattr__(self, "timeout", timeout)
        integer(self.retries, "retries", where=where, low=0, high=MAX_RETRIES + 1)
        integer(self.per_device, "per_device", where=where, low=1, high=MAX_PER_DEVICE + 1)
        optional_integer(self.threads, "threads", where=where, low=1, high=MAX_THREADS + 1)
        if self.ray_address is not None and not isinstance(self.ray_address, str):
            raise OptionTypeError(f"{where}: option 'ray_address' must be a string or None, got {self.ray_address!r}")
        if self.devices is not None:
            if isinstance(self.devices, str) or not isinstance(self.devices, Sequence) or not self.devices:
                raise OptionValueError(
                    f"{where}: option 'devices' must be a non-empty sequence of device names, got {self.devices!r}"
                )
            if not all(isinstance(device, str) and device for device in self.devices):
                raise OptionTypeError(f"{where}: option 'devices' holds a non-string or empty name: {self.devices!r}")
            object.__setattr__(self, "devices", tuple(self.devices))

    @classmethod
    def of(cls, options: ExecutorOptions | Mapping[str, Any] | None) -> ExecutorOptions:
        """``options`` as ExecutorOptions; a mapping with an unknown key names the known ones."""
        if options is None:
            return cls()
        if isinstance(options, ExecutorOptions):
            return options
        if not isinstance(options, Mapping):
            raise OptionTypeError(
                f"executor_options must be ExecutorOptions, a dict of its fields or None, got {options!r}"
            )
        known_options(options, [f.name for f in fields(cls)], where="executor options")
        return cls(**options)


DEFAULT_TIMEOUT = 600.0
"""The default timeout of an evaluation by a backend that does not train (synthetic, table, a custom one)."""
TRAINING_IMAGES_PER_SECOND = 10.0
"""A floor on training throughput for the default timeout: CPU training measured 167 to 310 images/s."""
TRAINING_START_SECONDS = 900.0
"""What the default timeout allows a fresh worker for start-up and its first dataset read."""
DEFAULT_TRAIN_IMAGES = 100_000
"""Training images per epoch assumed where the fidelity takes all of them (the largest task's CIFAR-size split)."""


def evaluation_timeout(backend: Evaluator, fidelity: Fidelity | None, options: ExecutorOptions) -> float:
    """Seconds an evaluation at ``fidelity`` may run before its worker is killed: ``options.timeout`` when set;
    else the backend's own ``evaluation_timeout(fidelity)`` where it has one; else, for real training,
    ``TRAINING_START_SECONDS + epochs x images / TRAINING_IMAGES_PER_SECOND`` (images: the fidelity's
    ``train_subset``, else ``DEFAULT_TRAIN_IMAGES``; 20 to 40 times what CPU training took), at most
    ``MAX_TIMEOUT``; else ``DEFAULT_TIMEOUT``. So a hung worker is replaced, never waited for forever."""
    if options.timeout is not None:
        return options.timeout
    own = getattr(backend, "evaluation_timeout", None)
    if callable(own):
        return float(own(fidelity))
    if backend.name == "train":
        fidelity = fidelity or backend.task.search_fidelity
        images = fidelity.epochs * (fidelity.train_subset or DEFAULT_TRAIN_IMAGES)
        return min(MAX_TIMEOUT, TRAINING_START_SECONDS + images / TRAINING_IMAGES_PER_SECOND)
    return DEFAULT_TIMEOUT


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one: containers and taskset shrink it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def backend_gpus(backend: Evaluator) -> tuple[str, ...]:
    """The GPUs a backend trains on: every visible one for a plain "cuda" device, the one it names otherwise.

    Asks torch only where the backend imported it, and only for device counts (no CUDA context in the parent).
    """
    device: Any = getattr(backend, "device", None)
    torch: Any = sys.modules.get("torch")
    if torch is None or getattr(device, "type", None) != "cuda":
        return ()
    if device.index is not None:
        return (str(device),)
    return tuple(f"cuda:{index}" for index in range(torch.cuda.device_count()))


def default_workers(backend: Evaluator, options: ExecutorOptions) -> int:
    """k workers per GPU where the backend trains on GPUs, one per core otherwise."""
    gpus = options.devices or backend_gpus(backend)
    if any(device.startswith("cuda") for device in gpus):
        return len(gpus) * options.per_device
    return cpu_cores()


def placements(backend: Evaluator, workers: int, options: ExecutorOptions) -> list[Placement]:
    """Where each of ``workers`` workers runs: devices round-robin, threads split, memory capped at 1/per_device."""
    devices = options.devices or backend_gpus(backend)
    threads = options.threads or max(1, cpu_cores() // workers)
    plan = []
    for index in range(workers):
        device = devices[index % len(devices)] if devices else None
        on_gpu = device is not None and device.startswith("cuda")
        fraction = 1 / options.per_device if on_gpu and options.per_device > 1 else None
        plan.append(Placement(device=device, threads=threads, memory_fraction=fraction))
    return plan


def check_workers(workers: int | None, backend: Evaluator, options: ExecutorOptions) -> int:
    """``workers`` as a positive int (None: ``default_workers``), or a ValueError saying what to pass."""
    if workers is None:
        return default_workers(backend, options)
    return integer(workers, "workers", where="executor", low=1, high=MAX_WORKERS + 1)
