"""``RayExecutor``: the pool's workers as Ray actors, so one search runs on a Ray cluster by naming its address.

Needs ``pip install "automl-env[ray]"``. Without ``ray_address`` (``ExecutorOptions``) Ray starts a local
instance, shut down again by ``close``; with one (``"auto"`` on a cluster node, ``"ray://head:10001"`` from
outside) the actors are spread over the cluster.

Design, and why (DESIGN.md, "Distributed"):
- Actors, not tasks: a GPU task gets a new process per call (``max_calls=1``) and would read the dataset again
  for every evaluation; an actor keeps the backend, and its dataset on its device, for its whole life.
- GPU packing: ``num_gpus = 1/per_device`` lets Ray place ``per_device`` actors on each GPU, but Ray's fractions
  only schedule; each actor also caps its CUDA memory at ``1/per_device`` (``worker.Placement``).
- Faults: an actor that dies (``RayActorError``: its process crashed or its node was lost) or runs past
  ``timeout`` is killed and replaced, and its evaluation retried or failed as in the pool (``jobs``). Ray can
  report an actor's death after its evaluation finished; the retry is then answered from the backend's store,
  not trained again. On a cluster the store must be a path every node sees (a shared file system).
- The backend is pickled once and put in Ray's object store, so replacing an actor ships no new copy.
"""

from __future__ import annotations

import pickle
from typing import Any

from automl_env.backends.base import BackendSetupError, Evaluator, Fidelity
from automl_env.executors.jobs import Job, Jobs, WorkerExecutor
from automl_env.executors.options import ExecutorOptions, check_workers, cpu_cores, evaluation_timeout
from automl_env.executors.worker import Outcome, Placement, evaluate_one, load_backend
from automl_env.pipeline import Pipeline


def import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError('executor="ray" needs Ray: pip install "automl-env[ray]"') from error
    return ray


class RayWorker:
    """The actor: holds the backend, placed, and evaluates one pipeline per call (``worker.evaluate_one``)."""

    def __init__(self, payload: bytes, placement: Placement) -> None:
        self.backend: Evaluator | None = None
        self.broken = ""
        try:
            self.backend = load_backend(payload, placement)
        except Exception as error:  # reported at the first evaluation, as the pool's workers do
            self.broken = f"the Ray actor could not load the backend: {type(error).__name__}: {error}"

    def evaluate(self, pipeline: Pipeline, fidelity: Fidelity | None, seed: int) -> Outcome:
        if self.backend is None:
            return "setup_error", self.broken
        return evaluate_one(self.backend, pipeline, fidelity, seed)


class RayExecutor(WorkerExecutor):
    """Runs a backend's evaluations on ``workers`` Ray actors; see the module docstring.

    ``workers`` None: ``per_device`` per GPU of the cluster where the backend trains on CUDA, one per CPU otherwise.
    """

    def __init__(
        self,
        backend: Evaluator,
        *,
        workers: int | None = None,
        options: ExecutorOptions | None = None,
    ) -> None:
        options = options or ExecutorOptions()
        if workers is not None:  # checked before Ray starts, as the pool checks it
            workers = check_workers(workers, backend, options)
        self._ray = ray = import_ray()
        self.options = options
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=options.ray_address, include_dashboard=False)
        on_gpu = getattr(getattr(backend, "device", None), "type", None) == "cuda"
        resources = ray.cluster_resources()
        if workers is None:
            workers = int(resources.get("GPU", 0) * options.per_device) if on_gpu else int(resources.get("CPU", 1))
            if workers < 1:
                raise ValueError(
                    f"the Ray cluster has no {'GPU' if on_gpu else 'CPU'} for one worker: add nodes, or pass workers="
                )
        self.workers = workers
        self.backend_name = backend.name
        cpus = int(resources.get("CPU", cpu_cores()))
        threads = options.threads or max(1, cpus // workers)
        fraction = 1 / options.per_device if on_gpu and options.per_device > 1 else None
        # Ray makes the actor's GPU device 0 (CUDA_VISIBLE_DEVICES); on CPU the backend keeps its own device.
        self.placement = Placement(device="cuda:0" if on_gpu else None, threads=threads, memory_fraction=fraction)
        self._actor_class = ray.remote(
            num_cpus=threads, num_gpus=1 / options.per_device if on_gpu else 0, max_restarts=0
        )(RayWorker)
        self._payload = ray.put(pickle.dumps(backend))
        self._jobs = Jobs(
            backend_name=backend.name,
            retries=options.retries,
            timeout=lambda fidelity: evaluation_timeout(backend, fidelity, options),
        )
        self._actors: list[Any] = []
        self._running: dict[Any, tuple[int, Job]] = {}  # the evaluation's ObjectRef -> (worker, job)

    def _start_workers(self) -> None:
        if not self._actors:
            self._actors = [self._new_actor() for _ in range(self.workers)]

    def _collect(self, budget: float | None) -> None:
        ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=budget)
        for ref in ready:
            self._receive(ref)

    def close(self) -> None:
        self._jobs.abandon()
        self._running.clear()
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns_ray = False

    def _new_actor(self) -> Any:
        return self._actor_class.remote(self._payload, self.placement)

    def _dispatch(self) -> None:
        busy = {worker for worker, _ in self._running.values()}
        for index, actor in enumerate(self._actors):
            if index not in busy and self._jobs.queue:
                job = self._jobs.start()
                self._running[actor.evaluate.remote(job.pipeline, job.fidelity, job.seed)] = (index, job)

    def _receive(self, ref: Any) -> None:
        index, job = self._running.pop(ref)
        try:
            kind, value = self._ray.get(ref)
        except self._ray.exceptions.RayActorError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            self._replace(index)
            self._jobs.lost(job, f"Ray actor died: {first_line[:200]}", index)
            return
        if kind == "setup_error":
            raise BackendSetupError(value)
        self._jobs.finish(job, value, index)

    def _time_out(self) -> None:
        for ref, (index, job) in list(self._running.items()):
            if self.now() - job.started >= job.timeout:
                del self._running[ref]
                self._replace(index)
                self._jobs.lost(job, f"timed out after {job.timeout:g} s", index)

    def _seconds_to_next_timeout(self) -> float | None:
        if not self._running:
            return None
        return max(0.0, min(job.started + job.timeout for _, job in self._running.values()) - self.now())

    def _replace(self, index: int) -> None:
        self._ray.kill(self._actors[index], no_restart=True)
        self._actors[index] = self._new_actor()
