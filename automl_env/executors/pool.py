"""``PoolExecutor``: long-lived worker processes on this machine, one evaluation at a time each.

Design, and why:
- Processes are started with ``spawn``: a forked child of a process that touched CUDA cannot use CUDA, and
  forking a process with threads (torch's, the search display's) can deadlock the child.
- Each worker receives the backend pickled once (at construction, before a search attaches a progress display
  to it) and keeps it, so a training backend reads its dataset onto the worker's device at the first evaluation
  only. A replaced worker gets the same bytes and keeps its number. Workers start at the first ``submit``, not
  at construction: an env built only to be described or pickled spawns nothing.
- One pipe per worker; ``wait`` blocks in ``multiprocessing.connection.wait`` on every worker's pipe and process
  sentinel, so a result and a death are both seen at once, with no polling.
- A worker that dies (segfault, SIGKILL, the OOM killer, a CUDA error that kills the process) or runs past
  ``timeout`` is killed and replaced; its evaluation is retried on a fresh worker up to ``retries`` times,
  then recorded as failed with the reason ("worker killed by SIGKILL", "timed out after 600 s"): see ``jobs``.
- No orphans: ``close`` (also called by the env's ``close`` and at interpreter exit) stops the workers, and a
  worker exits by itself within a second when the search process is gone, even after a SIGKILL.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from automl_env.backends.base import BackendSetupError, Evaluator
from automl_env.executors.jobs import Job, Jobs, WorkerExecutor
from automl_env.executors.options import ExecutorOptions, check_workers, evaluation_timeout, placements
from automl_env.executors.worker import Placement, serve

STOP_SECONDS = 5.0
"""How long ``close`` lets a worker finish its current step and exit before it is killed."""


@dataclass
class _Worker:
    process: BaseProcess
    connection: Connection
    job: Job | None = None


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"worker killed by signal {-exitcode}"
    return f"worker exited with code {exitcode}"


def _stop(workers: list[_Worker]) -> None:
    """Ask every worker to exit, then kill the ones still running (also the interpreter-exit finalizer)."""
    for worker in workers:
        with contextlib.suppress(OSError, ValueError):  # already gone
            worker.connection.send(None)
    for worker in workers:
        worker.process.join(STOP_SECONDS if worker.job is None else 0)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.connection.close()
    workers.clear()


class PoolExecutor(WorkerExecutor):
    """Runs a backend's evaluations on ``workers`` local processes; see the module docstring.

    ``workers`` None: one per GPU slot (``per_device`` per GPU) where the backend trains on GPUs, one per core
    otherwise (``ExecutorOptions``).
    """

    def __init__(
        self,
        backend: Evaluator,
        *,
        workers: int | None = None,
        options: ExecutorOptions | None = None,
    ) -> None:
        self.options = options or ExecutorOptions()
        self.workers = check_workers(workers, backend, self.options)
        self.backend_name = backend.name
        self.placements = placements(backend, self.workers, self.options)
        try:
            self._payload = pickle.dumps(backend)
        except Exception as error:
            raise ValueError(
                f"backend {backend.name!r} cannot be pickled for the worker processes ({error}); "
                "build it without lambdas, open files or progress callbacks"
            ) from None
        options = self.options
        self._jobs = Jobs(
            backend_name=backend.name,
            retries=options.retries,
            timeout=lambda fidelity: evaluation_timeout(backend, fidelity, options),
        )
        self._context = multiprocessing.get_context("spawn")
        self._pool: list[_Worker] = []
        self._closer = weakref.finalize(self, _stop, self._pool)

    def _start_workers(self) -> None:
        if not self._pool:
            self._pool.extend(self._spawn(index) for index in range(self.workers))
            if not self._closer.alive:  # started again after close()
                self._closer = weakref.finalize(self, _stop, self._pool)

    def _collect(self, budget: float | None) -> None:
        ready = wait([w.connection for w in self._pool] + [w.process.sentinel for w in self._pool], budget)
        for index, worker in enumerate(self._pool):
            if worker.connection in ready or worker.process.sentinel in ready:
                self._receive(index)

    def close(self) -> None:
        self._jobs.abandon()
        self._closer()

    def __getstate__(self) -> Any:
        raise TypeError("a PoolExecutor holds worker processes and cannot be pickled; build one in each process")

    def _spawn(self, index: int) -> _Worker:
        parent, child = self._context.Pipe()
        placement: Placement = self.placements[index]
        process = self._context.Process(
            target=serve,
            args=(child, self._payload, placement, os.getpid()),
            name=f"automl-env-worker-{index}",
            daemon=True,  # a daemon is also killed by multiprocessing's own exit handler
        )
        process.start()
        child.close()  # the parent's copy: the pipe then reports EOF when the worker dies
        return _Worker(process, parent)

    def _dispatch(self) -> None:
        for worker in self._pool:
            if worker.job is None and self._jobs.queue:
                job = self._jobs.start()
                worker.job = job
                worker.connection.send((job.pipeline, job.fidelity, job.seed))

    def _receive(self, index: int) -> None:
        """Read what worker ``index`` sent; a worker that died is replaced and its evaluation retried or failed."""
        worker = self._pool[index]
        try:
            while worker.connection.poll():  # a result sent just before dying still counts
                kind, value = worker.connection.recv()
                if kind == "setup_error":
                    raise BackendSetupError(value)
                assert worker.job is not None, "a worker answered without a job"
                self._jobs.finish(worker.job, value, index)
                worker.job = None
        except (EOFError, OSError):
            pass  # the pipe closed: the process is gone or going; its sentinel says so below
        if not worker.process.is_alive():
            worker.process.join()
            self._replace(index, _death_reason(worker.process.exitcode))

    def _time_out(self) -> None:
        for index, worker in enumerate(self._pool):
            job = worker.job
            if job is not None and self.now() - job.started >= job.timeout:
                worker.process.kill()
                worker.process.join()
                self._replace(index, f"timed out after {job.timeout:g} s")

    def _seconds_to_next_timeout(self) -> float | None:
        ends = [w.job.started + w.job.timeout for w in self._pool if w.job is not None]
        return max(0.0, min(ends) - self.now()) if ends else None

    def _replace(self, index: int, reason: str) -> None:
        worker = self._pool[index]
        worker.connection.close()
        if worker.job is not None:
            self._jobs.lost(worker.job, reason, index)
        self._pool[index] = self._spawn(index)
