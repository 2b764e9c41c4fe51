"""The keyword arguments every env flavour (parallel, vector, joint) takes, and what they resolve to.

Each flavour's constructor takes ``**options: Unpack[EnvOptions]`` and hands them to ``resolve_env``,
so the flavours share one argument list, one set of defaults and one validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from automl_env.backends.base import Evaluator, Fidelity
from automl_env.codec import JointCodec
from automl_env.evaluation import Evaluation
from automl_env.executors import Executor, ExecutorOptions
from automl_env.modules.base import ModuleConfig
from automl_env.objectives import Objective
from automl_env.tasks import TaskSpec, get_task


class EnvOptions(TypedDict, total=False):
    """The arguments past ``task`` that every env flavour shares; defaults are ``resolve_env``'s."""

    backend: str | Evaluator | None
    """Backend name or Evaluator; the task's default when None."""
    backend_options: Mapping[str, Any] | None
    """Keyword arguments of a backend given by name."""
    modules: Sequence[str] | None
    """The searched modules (the agents); all of the task's when None."""
    fixed: Mapping[str, ModuleConfig] | None
    """Configs of the modules that are not searched; the task's default config for those left out."""
    objective: str | Objective | None
    """Objective name or Objective; the task's when None."""
    fidelity: Fidelity | None
    """How much training one evaluation gets; the task's search fidelity when None."""
    seed: int
    """The evaluation seed: the same pipeline with the same seed gets the same result."""
    executor: str | Executor | None
    """Where evaluations run: "serial" (this process), "pool" (worker processes on this machine's GPUs or cores),
    "ray" (Ray actors, locally or on a cluster), or an Executor (``automl_env.executors``); None: a pool where
    real training has several GPUs, else serial (``automl_env.executors.default_executor``)."""
    workers: int | None
    """Workers of a pool or Ray executor; None: one per GPU slot where the backend trains on GPUs, else per core."""
    executor_options: ExecutorOptions | Mapping[str, Any] | None
    """``ExecutorOptions`` (or its fields as a dict): timeout, retries, devices, per_device, threads, ray_address."""


def resolve_env(
    task: str | TaskSpec,
    *,
    backend: str | Evaluator | None = None,
    backend_options: Mapping[str, Any] | None = None,
    modules: Sequence[str] | None = None,
    fixed: Mapping[str, ModuleConfig] | None = None,
    objective: str | Objective | None = None,
    fidelity: Fidelity | None = None,
    seed: int = 0,
    executor: str | Executor | None = None,
    workers: int | None = None,
    executor_options: ExecutorOptions | Mapping[str, Any] | None = None,
    max_workers: int | None = None,
) -> tuple[TaskSpec, JointCodec, Evaluation]:
    """The task, its joint-action codec and its evaluation, from an env's arguments; ``max_workers`` (a vector
    env's batch) caps a default pool's workers."""
    spec = get_task(task)
    codec = JointCodec(spec, modules, fixed)
    evaluation = Evaluation(
        spec,
        backend=backend,
        backend_options=backend_options,
        objective=objective,
        fidelity=fidelity,
        seed=seed,
        executor=executor,
        workers=workers,
        executor_options=executor_options,
        max_workers=max_workers,
    )
    return spec, codec, evaluation
