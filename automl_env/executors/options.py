"""Settings shared by the pool and Ray executors, and where their workers go (devices, threads, memory share)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from automl_env.backends.base import Evaluator
from automl_env.executors.worker import Placement


@dataclass(frozen=True)
class ExecutorOptions:
    """How workers run evaluations and what happens when one crashes or hangs."""

    timeout: float | None = None
    """Seconds one evaluation may take before its worker is killed and replaced (None: no limit). Counted from
    when a worker is given it, so a fresh worker's start-up and first dataset read count too: leave room."""
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
        if self.timeout is not None and not (isinstance(self.timeout, int | float) and self.timeout > 0):
            raise ValueError(f"executor timeout must be a positive number of seconds or None, got {self.timeout!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"executor retries must be an int >= 0, got {self.retries!r}")
        if isinstance(self.per_device, bool) or not isinstance(self.per_device, int) or self.per_device < 1:
            raise ValueError(f"per_device (pipelines packed per GPU) must be an int >= 1, got {self.per_device!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads per worker must be an int >= 1 or None, got {self.threads!r}")
        if self.devices is not None:
            if isinstance(self.devices, str) or not self.devices:
                raise ValueError(f"devices must be a non-empty sequence of device names, got {self.devices!r}")
            object.__setattr__(self, "devices", tuple(str(device) for device in self.devices))

    @classmethod
    def of(cls, options: ExecutorOptions | Mapping[str, Any] | None) -> ExecutorOptions:
        """``options`` as ExecutorOptions; a mapping with an unknown key names the known ones."""
        if options is None:
            return cls()
        if isinstance(options, ExecutorOptions):
            return options
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown executor option(s) {unknown}; choose from {sorted(known)}")
        return cls(**options)


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
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1 (or None for one per GPU slot or core), got {workers!r}")
    return workers
