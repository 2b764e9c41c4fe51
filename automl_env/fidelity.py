"""``Fidelity``: how much training one evaluation gets (epochs, training subset, network size, batch size).

A task names a search fidelity and a final one; a backend evaluates at a fidelity; the store keys results by
it. It sits below tasks and backends, which both use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from automl_env.setting_checks import SettingTypeError, check_int


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
