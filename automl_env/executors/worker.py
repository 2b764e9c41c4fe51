"""What runs inside one worker (a pool process or a Ray actor): placement, then evaluations one at a time.

A worker receives the backend pickled once by the parent and keeps it for its whole life, so a training
backend reads its dataset onto the worker's device at the first evaluation and reuses it for every later one.
``Placement`` says where the worker runs: which device, how many torch CPU threads, and which share of the
GPU's memory it may take when several pipelines are packed on one GPU.

Why a memory cap: Ray's fractional GPUs (``num_gpus=1/k``) and a pool's k workers per GPU only *schedule* k
processes on the device; nothing stops one of them from taking all its memory and making the others fail.
``torch.cuda.set_per_process_memory_fraction(1/k)`` turns that into an out-of-memory error of the one pipeline
that is too big (a failed result), not of its neighbours.

Why threads = cores // workers on CPU: torch starts one thread per core in every process, so two workers on
two cores run four threads that preempt each other; one thread each is what a single process would get.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from automl_env.backends.base import BackendSetupError, EvalResult, Evaluator, Fidelity
from automl_env.pipeline import Pipeline

PARENT_POLL_SECONDS = 1.0
"""How often a pool worker checks that the search process is still alive."""


@dataclass(frozen=True)
class Placement:
    """Where one worker runs: ``device`` (None: the backend's own), torch ``threads``, GPU ``memory_fraction``."""

    device: str | None = None
    threads: int | None = None
    memory_fraction: float | None = None

    def limit_threads(self) -> None:
        """Cap the OpenMP/MKL threads before torch is imported (torch reads these once, at import)."""
        if self.threads is not None:
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ[name] = str(self.threads)

    def apply(self, backend: Evaluator) -> None:
        """Move ``backend`` to this placement; torch is touched only where the backend already imported it."""
        torch: Any = sys.modules.get("torch")
        if torch is None:
            return
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        if self.device is None:
            return
        device = torch.device(self.device)
        if hasattr(backend, "device"):  # a training backend: its data is loaded lazily, on this device
            backend.device = device
        if device.type == "cuda":
            torch.cuda.set_device(device)
            if self.memory_fraction is not None:
                torch.cuda.set_per_process_memory_fraction(self.memory_fraction, device)


def load_backend(payload: bytes, placement: Placement) -> Evaluator:
    """The parent's backend, unpickled and placed (threads are limited before its imports run)."""
    placement.limit_threads()
    backend: Evaluator = pickle.loads(payload)
    placement.apply(backend)
    return backend


Outcome = tuple[str, Any]
"""What a worker sends back for one evaluation: ("result", EvalResult) or ("setup_error", message)."""


def evaluate_one(backend: Evaluator, pipeline: Pipeline, fidelity: Fidelity | None, seed: int) -> Outcome:
    """One evaluation as the parent expects it back; an exception of the backend never kills the worker.

    A setup error (missing data or dependency) goes back as such, so the parent raises it to the search as a
    serial backend would; any other exception is that pipeline's failure, as ``Evaluation.run`` treats it.
    """
    try:
        [result] = backend.evaluate([pipeline], fidelity=fidelity, seed=seed)
    except (BackendSetupError, ImportError) as error:
        return "setup_error", f"{type(error).__name__}: {error}"
    except Exception as error:
        reason = f"backend raised {type(error).__name__}: {error}"
        return "result", EvalResult.failed(reason=reason, backend=backend.name)
    return "result", result


def exit_with_parent(parent: int) -> None:
    """Exit this worker as soon as process ``parent`` is gone (a SIGKILLed search leaves no orphan training).

    Spawned workers are the parent's children, so a changed parent id (re-parented to init) means it died.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # nothing to clean up: every finished evaluation is already in the store

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def serve(connection: Any, payload: bytes, placement: Placement, parent: int) -> None:
    """A pool worker's main: evaluate each (pipeline, fidelity, seed) received until None or the pipe closes.

    A backend that cannot even be unpickled here (a module the worker cannot import) is reported as
    ("setup_error", ...) once, then the worker exits: no evaluation could run in it. Ctrl-C reaches every
    process of the terminal's group; the worker ignores it and lets the search stop it (``PoolExecutor.close``),
    so an interrupted search prints one message, not one traceback per worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(parent)
    try:
        backend = load_backend(payload, placement)
    except Exception as error:
        connection.send(("setup_error", f"the worker could not load the backend: {type(error).__name__}: {error}"))
        return
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        if job is None:
            return
        pipeline, fidelity, seed = job
        connection.send(evaluate_one(backend, pipeline, fidelity, seed))
