"""Turning pipelines into rewards and info dicts: backend + objective + fidelity + seed.

Every env flavour (parallel, vector, joint) evaluates through ``Evaluation``, and shows each result
in one of two views, chosen per env with ``infos=``; either view has the same keys and types at reset
and at every step (TorchRL fixes the info schema at reset).

- ``"full"``: what a search records: the numbers, ``status`` ("ok", "failed", "pending"), ``reason``,
  ``backend``, the pipeline as JSON (``Pipeline.from_json``) and its ``digest``. The default of the
  vector env (what searches use) and of the joint Gymnasium env.
- ``"numeric"``: numbers only (``shown_info`` lists them), the status as ``status_code``
  (``STATUS_CODES``: ok 1, failed 0, pending -1). The default of the parallel and AEC envs, the ones
  MARL libraries wrap: TorchRL's ``PettingZooWrapper`` (and BenchMARL through it) turns every info
  value into a tensor and fails on a string (``TypeError: new(): invalid data type 'str'``). Those envs
  keep the full info of their last evaluation (``last_info``) for whoever needs the pipeline.

Where evaluations run is the executor's business (``automl_env.executors``): ``executor="serial"`` (the
default, except for real training on several GPUs: ``default_executor``) calls the backend here, in this
process; ``"pool"`` and ``"ray"`` hand each batch to workers through an ``ExecutorBackend`` and get the
results back in the batch's order. ``backend`` stays the backend itself either way: the executor changes
where and how fast, never what a pipeline scores, so a run's description (and whether it may be resumed)
does not depend on it, and a search started serially may resume on a pool.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import BackendSetupError, EvalResult, Evaluator, Fidelity
from automl_env.batch import BatchResults, IntArray, same_owner
from automl_env.executors import Executor, ExecutorBackend, ExecutorOptions, default_executor, make_executor
from automl_env.executors.options import default_workers
from automl_env.modules.fields import shown
from automl_env.objectives import OBJECTIVES, Objective
from automl_env.options import OptionTypeError, integer
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec

log = logging.getLogger(__name__)

InfoMode = Literal["numeric", "full"]
INFO_MODES: tuple[str, ...] = ("numeric", "full")
STATUS_CODES: dict[str, int] = {"ok": 1, "failed": 0, "pending": -1}
"""``status`` -> ``status_code`` in numeric infos."""
_NUMBERS = ("reward", "accuracy", "flops", "params", "cost_seconds")  # floats in both views


def check_info_mode(infos: str) -> InfoMode:
    """``infos`` as an InfoMode, or a ValueError naming the choices (checked where an env is built)."""
    if infos not in INFO_MODES:
        raise ValueError(f"infos must be one of {INFO_MODES}, got {infos!r}")
    return cast(InfoMode, infos)


def shown_info(info: dict[str, Any], mode: InfoMode) -> dict[str, Any]:
    """A full info (``result_info`` or ``pending_info``) as an env with ``infos=mode`` reports it (a new dict).

    Numeric: ``reward``, ``accuracy``, ``flops``, ``params``, ``cost_seconds`` (floats), ``status_code`` and
    ``masked_remaps`` (ints).
    """
    if mode == "full":
        return dict(info)
    numbers = {key: info[key] for key in _NUMBERS}
    return {**numbers, "status_code": STATUS_CODES[info["status"]], "masked_remaps": info["masked_remaps"]}


def pending_info(mode: InfoMode = "full") -> dict[str, Any]:
    """The info of an agent whose pipeline has not been evaluated yet (same keys and types as a result's).

    Zeros, not NaN, with status "pending": NaN != NaN breaks the equality checks of clients' testers.
    """
    full = {
        **dict.fromkeys(_NUMBERS, 0.0),
        "status": "pending",
        "reason": "",
        "backend": "",
        "pipeline": "",
        "digest": "",
        "masked_remaps": 0,
        "metrics": {},
    }
    return shown_info(full, mode)


def result_info(result: EvalResult, pipeline: Pipeline, reward: float) -> dict[str, Any]:
    return {
        "reward": reward,
        "accuracy": float(result.accuracy),
        "flops": float(result.flops),
        "params": float(result.params),
        "cost_seconds": float(result.cost_seconds),
        "status": result.status,
        "reason": result.reason,
        "backend": result.backend,
        "pipeline": pipeline.to_json(),
        "digest": pipeline.digest,
        "masked_remaps": 0,
        "metrics": dict(result.metrics),
    }


def resolve_backend(task: TaskSpec, backend: str | Evaluator | None, options: Mapping[str, Any] | None) -> Evaluator:
    if backend is None or isinstance(backend, str):
        from automl_env.backends.registry import make_backend

        return make_backend(backend or task.default_backend, task, **dict(options or {}))
    if options:
        raise ValueError("backend_options apply only when the backend is given by name")
    if backend.task.name != task.name:
        raise ValueError(f"backend was built for task {backend.task.name!r}, not {task.name!r}")
    return backend


def resolve_objective(task: TaskSpec, objective: str | Objective | None) -> Objective:
    if objective is not None and not isinstance(objective, str):
        return objective
    name = objective or task.objective
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose from {sorted(OBJECTIVES)}")
    if name == "flops_constrained":
        if task.flops_target is None:
            raise ValueError(f"task {task.name!r} has no flops_target; pass a FlopsConstrained objective explicitly")
        return OBJECTIVES[name](target_flops=task.flops_target)
    return OBJECTIVES[name]()


def resolve_executor(
    backend: Evaluator,
    executor: str | Executor | None,
    workers: int | None,
    options: ExecutorOptions | Mapping[str, Any] | None,
) -> Executor | None:
    """The executor that runs ``backend``'s evaluations, or None to call the backend in this process (serial).

    ``executor`` None: ``default_executor`` (a pool where real training has several GPUs, else serial); naming
    ``workers`` or options without an executor is an error, not a silent serial run.
    """
    if executor is None and (workers is not None or options):
        raise ValueError('workers and executor_options need an executor: pass executor="pool" or "ray"')
    if executor is None:
        executor = default_executor(backend)
    if executor == "serial":
        make_executor("serial", backend, workers=workers, options=options)  # rejects workers= and options=
        return None
    if isinstance(executor, str):
        return make_executor(executor, backend, workers=workers, options=options)
    if workers is not None or options:
        raise ValueError("workers and executor_options apply only when the executor is given by name")
    return executor


class Evaluation:
    """Evaluates batches of pipelines for one env and turns results into (reward, info) pairs.

    ``close`` stops the executor's workers when it was built here (by name or by default); one given as an
    object belongs to its caller.
    """

    def __init__(
        self,
        task: TaskSpec,
        *,
        backend: str | Evaluator | None = None,
        backend_options: Mapping[str, Any] | None = None,
        objective: str | Objective | None = None,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        executor: str | Executor | None = None,
        workers: int | None = None,
        executor_options: ExecutorOptions | Mapping[str, Any] | None = None,
        max_workers: int | None = None,
    ) -> None:
        self.task = task
        seed = integer(seed, "seed", where="env", low=0, high=2**63)
        if fidelity is not None and not isinstance(fidelity, Fidelity):
            raise OptionTypeError(f"env: option 'fidelity' must be a Fidelity or None, got {shown(fidelity)}")
        if backend_options is not None and not isinstance(backend_options, Mapping):
            raise OptionTypeError(
                f"env: option 'backend_options' must be a dict of the backend's options or None, got "
                f"{shown(backend_options)}"
            )
        self.backend = resolve_backend(task, backend, backend_options)
        self.objective = resolve_objective(task, objective)
        self.fidelity = fidelity or task.search_fidelity
        self.seed = seed
        if workers is None and executor == "pool" and max_workers is not None:
            # A default pool (one worker per core or GPU slot) never starts more workers than a batch keeps busy.
            workers = min(default_workers(self.backend, ExecutorOptions.of(executor_options)), max_workers)
        self.executor = resolve_executor(self.backend, executor, workers, executor_options)
        self._owns_executor = executor is None or isinstance(executor, str)  # built here: closed here
        self._batched = ExecutorBackend(self.backend, self.executor) if self.executor is not None else None

    def _evaluate(self, pipelines: Sequence[Pipeline]) -> list[EvalResult]:
        if self._batched is None:
            return self.backend.evaluate(pipelines, fidelity=self.fidelity, seed=self.seed)
        # A search's progress display sets the backend's callback; here the workers' completions report to it.
        self._batched.progress = getattr(self.backend, "progress", None)
        # A pipeline twice in a batch is evaluated once, as the training backend does within one call: on two
        # workers it would otherwise train twice at the same time, neither finding the other in the store.
        unique = list({pipeline.digest: pipeline for pipeline in pipelines}.values())
        results = self._batched.evaluate(unique, fidelity=self.fidelity, seed=self.seed)
        by_digest = {pipeline.digest: result for pipeline, result in zip(unique, results, strict=True)}
        return [by_digest[pipeline.digest] for pipeline in pipelines]

    def close(self) -> None:
        if self.executor is not None and self._owns_executor:
            self.executor.close()

    def run(self, pipelines: Sequence[Pipeline]) -> list[tuple[float, dict[str, Any]]]:
        """One (reward, info) per pipeline. A backend that raises fails the batch, not the caller,
        except for setup errors (missing data or dependency), which no retry would fix."""
        try:
            results = self._evaluate(pipelines)
        except (BackendSetupError, ImportError):
            raise
        except Exception as error:  # a crashed backend must not end a search
            log.exception("backend %s failed on a batch of %d pipelines", self.backend.name, len(pipelines))
            reason = f"backend raised {type(error).__name__}: {error}"
            results = [EvalResult.failed(reason=reason, backend=self.backend.name) for _ in pipelines]
        if len(results) != len(pipelines):
            raise RuntimeError(
                f"backend {self.backend.name} returned {len(results)} results for {len(pipelines)} pipelines"
            )
        return [self.outcome(pipeline, result) for pipeline, result in zip(pipelines, results, strict=True)]

    @property
    def serves_batches(self) -> bool:
        """Whether ``run_batch`` can serve this env: evaluations run in this process, on a backend whose
        ``evaluate`` is built on ``evaluate_batch``, for an objective whose ``__call__`` has an ``of_batch``."""
        return (
            self._batched is None
            and same_owner(self.backend, "evaluate", "evaluate_batch")
            and same_owner(self.objective, "__call__", "of_batch")
        )

    def run_batch(self, tokens: Mapping[str, IntArray]) -> tuple[npt.NDArray[np.float64], BatchResults]:
        """``run`` on canonical token matrices of every task module (``automl_env.batch``): the rewards and the
        results as arrays, equal to what ``run`` gives for the pipelines the rows decode to."""
        if not self.serves_batches:
            raise RuntimeError(f"backend {self.backend.name} or this objective cannot evaluate token batches")
        n = len(next(iter(tokens.values())))
        try:
            results: BatchResults = self.backend.evaluate_batch(  # type: ignore[attr-defined]
                tokens, fidelity=self.fidelity, seed=self.seed
            )
        except (BackendSetupError, ImportError):
            raise
        except Exception as error:  # as in ``run``: a crashed backend must not end a search
            log.exception("backend %s failed on a batch of %d pipelines", self.backend.name, n)
            reason = f"backend raised {type(error).__name__}: {error}"
            results = BatchResults.all_failed(n, reason=reason, backend=self.backend.name)
        if len(results) != n:
            raise RuntimeError(f"backend {self.backend.name} returned {len(results)} results for {n} pipelines")
        rewards = self.objective.of_batch(results.accuracy, results.flops, results.ok)
        return np.asarray(rewards, dtype=np.float64), results

    def outcome(self, pipeline: Pipeline, result: EvalResult) -> tuple[float, dict[str, Any]]:
        """The reward and full info of one result (what ``run`` gives per pipeline; an executor's results too)."""
        reward = float(self.objective(result))
        return reward, result_info(result, pipeline, reward)
