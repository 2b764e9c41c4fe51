"""The evaluator protocol every backend implements, and the types it exchanges.

A backend evaluates a batch of pipelines at a fidelity with a seed and returns one EvalResult per
pipeline, in order. It never raises for a pipeline that fails to train: it returns a result with
``status="failed"`` and a ``reason``, so a search never dies on one bad pipeline. What would make
every evaluation fail (unreadable data, a device that does not exist, a setting of the wrong type)
raises ``BackendSetupError`` naming the file, setting or device, at construction or at the first
evaluation at the latest.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from automl_env.pipeline import Pipeline

if TYPE_CHECKING:
    from automl_env.tasks import TaskSpec

Status = Literal["ok", "failed"]


class BackendSetupError(RuntimeError):
    """The backend can evaluate nothing (data missing, dependency absent): raised to the caller.

    Unlike a pipeline that fails to train, this is never turned into a failed result, so a search
    stops at once with the message instead of recording thousands of failures.
    """


class SettingTypeError(BackendSetupError, TypeError):
    """A setting of the wrong type (a float seed, a bool epoch count): no evaluation could use it."""


def check_int(value: object, name: str, *, expected: str = "an int") -> int:
    """``value`` as a plain int; bools, floats and strings raise SettingTypeError naming ``name``.

    numpy integers are accepted (and converted: stores and keys need plain ints).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SettingTypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    return int(value)


def check_seed(seed: object) -> int:
    """A backend's ``seed`` argument as a plain int (where a backend's ``evaluate`` takes it in)."""
    return check_int(seed, "seed")


@dataclass(frozen=True)
class Fidelity:
    """How much training one evaluation gets.

    ``cells``/``channels`` size the NASNet network (ignored by the MobileNet space, whose width and
    depth are searched); ``train_subset`` caps the number of training images (None: all). Every field
    is an int (numpy integers are converted; bools and floats raise ``SettingTypeError``).
    """

    epochs: int = 12
    train_subset: int | None = None
    cells: int = 8
    channels: int = 16
    batch_size: int = 64
    warmup_epochs: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            optional = f.name == "train_subset"
            if not (optional and value is None):
                expected = "an int or None" if optional else "an int"
                object.__setattr__(self, f.name, check_int(value, f"Fidelity.{f.name}", expected=expected))
        if self.epochs < 1 or self.batch_size < 1 or self.cells < 1 or self.channels < 2:
            raise ValueError(f"invalid fidelity {self}: epochs, batch_size, cells >= 1 and channels >= 2")
        if self.channels % 2:
            raise ValueError(f"channels must be even (factorized reductions halve it), got {self.channels}")
        if self.train_subset is not None and self.train_subset < 1:
            raise ValueError(f"train_subset must be positive or None, got {self.train_subset}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs), got {self.warmup_epochs}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fidelity:
        return cls(**data)

    @property
    def key(self) -> str:
        """Compact stable string used in storage keys."""
        return ",".join(f"{k}={v}" for k, v in sorted(asdict(self).items()))

    @classmethod
    def from_key(cls, key: str) -> Fidelity:
        """Inverse of ``key`` (store exports and tables write fidelities as keys)."""
        values: dict[str, int | None] = {}
        for item in key.split(","):
            name, _, value = item.partition("=")
            try:
                values[name] = None if value == "None" else int(value)
            except ValueError:
                raise ValueError(f"fidelity key {key!r}: {name}={value!r} is not an integer") from None
        try:
            return cls(**values)  # type: ignore[arg-type]
        except SettingTypeError as error:
            raise ValueError(f"fidelity key {key!r}: {error}") from None
        except TypeError as error:
            raise ValueError(f"fidelity key {key!r} does not name Fidelity's fields: {error}") from None

    def with_(self, **changes: Any) -> Fidelity:
        return replace(self, **changes)


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
