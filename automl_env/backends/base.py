"""The evaluator protocol every backend implements, and the types it exchanges.

A backend evaluates a batch of pipelines at a fidelity with a seed and returns one EvalResult per
pipeline, in order. It never raises for a pipeline that fails to train: it returns a result with
``status="failed"`` and a ``reason``, so a search never dies on one bad pipeline. What would make
every evaluation fail (unreadable data, a device that does not exist, a setting of the wrong type)
raises ``BackendSetupError`` naming the file, setting or device, at construction or at the first
evaluation at the latest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from automl_env.fidelity import Fidelity
from automl_env.pipeline import Pipeline
from automl_env.setting_checks import (
    SETTING_ERRORS,
    BackendSetupError,
    SettingTypeError,
    SettingValueError,
    check_int,
    check_seed,
)

if TYPE_CHECKING:
    from automl_env.tasks import TaskSpec

__all__ = [  # Fidelity and the setting checks live below tasks and backends; every backend imports them from here
    "SETTING_ERRORS",
    "BackendSetupError",
    "EvalResult",
    "Evaluator",
    "Fidelity",
    "Optimum",
    "SettingTypeError",
    "SettingValueError",
    "Status",
    "check_int",
    "check_seed",
]

Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class EvalResult:
    """What one evaluation produced.

    ``accuracy`` is top-1 on the validation split as a fraction in [0, 1]; ``flops`` counts
    multiply-accumulates (MACs) of one forward pass of one image, the mobile-network convention of
    the paper's FLOPs targets; ``cost_seconds`` is the measured (or, for surrogates, simulated)
    training time; ``backend`` always says which backend made it.
    """

    accuracy: float
    flops: float
    params: float
    cost_seconds: float
    backend: str
    status: Status = "ok"
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def failed(
        cls, *, reason: str, backend: str, flops: float = 0.0, params: float = 0.0, cost_seconds: float = 0.0
    ) -> EvalResult:
        return cls(
            accuracy=0.0,
            flops=flops,
            params=params,
            cost_seconds=cost_seconds,
            backend=backend,
            status="failed",
            reason=reason,
        )

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        return cls(**{**data, "metrics": dict(data.get("metrics", {}))})


@dataclass(frozen=True)
class Optimum:
    """The best reachable accuracy of a backend and a pipeline that reaches it (or comes close).

    ``exact`` is False when ``accuracy`` is an upper bound; ``pipeline_accuracy`` is then what the
    given pipeline achieves.
    """

    accuracy: float
    pipeline: Pipeline
    pipeline_accuracy: float
    exact: bool


@runtime_checkable
class Evaluator(Protocol):
    """A backend: evaluates pipelines of one task."""

    name: str
    task: TaskSpec

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        """One result per pipeline, in order. ``fidelity`` None means the task's search fidelity."""
        ...

    def optimum(self) -> Optimum | None:
        """Best reachable validation accuracy where the backend knows it (surrogates), else None."""
        ...


def is_noisy(backend: object) -> bool:
    """Whether a backend's result for one pipeline varies with the evaluation seed: an optional ``noisy`` attribute
    (True for the table backend serving per-seed runs and the synthetic backends with noise > 0), else False."""
    return bool(getattr(backend, "noisy", False))
