"""The contract every module search space follows.

A module space turns a fixed-length vector of integer tokens (one MultiDiscrete action) into a
typed, frozen config and back. Position ``i`` takes values in ``range(nvec[i])``, so every sample
of ``MultiDiscrete(nvec)`` is a valid config and no masking is needed in pipeline mode.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from automl_env.modules.fields import ConfigTypeError, ConfigValueError, located, shown

TokenArray = npt.NDArray[np.int64]


class ModuleConfig:
    """Base of the frozen dataclasses a module decodes into (AugmentPolicy, CellGenotype, ...).

    Subclasses set ``kind`` (a stable name used in JSON) and implement ``to_dict``/``from_dict``
    with plain JSON types only, so pipelines round-trip through JSON without pickles. ``from_dict``
    reads through ``fields.config_fields`` and the constructor checks every field with the readers
    of ``automl_env.modules.fields``: one canonical form, errors naming the field.
    """

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Any) -> ModuleConfig:
        raise NotImplementedError

    def describe(self) -> str:
        """One or more human-readable lines, used by the env's render()."""
        raise NotImplementedError


CONFIG_TYPES: dict[str, type[ModuleConfig]] = {}
"""kind -> config class, filled by ``register_config``; JSON decoding looks types up here."""


C = TypeVar("C", bound=ModuleConfig)


def register_config(cls: type[C]) -> type[C]:
    """Class decorator: make a config type decodable from JSON by its ``kind``."""
    if cls.kind in CONFIG_TYPES and CONFIG_TYPES[cls.kind] is not cls:
        raise ValueError(f"config kind {cls.kind!r} is already registered to {CONFIG_TYPES[cls.kind]}")
    CONFIG_TYPES[cls.kind] = cls
    return cls


def config_from_dict(data: Any) -> ModuleConfig:
    """Rebuild any registered config from its ``to_dict()`` output (which carries ``kind``).

    Raises a ``ConfigError`` (a ValueError or TypeError) naming the field for anything else.
    """
    with located("module config"):
        if not isinstance(data, Mapping):
            raise ConfigTypeError(f"must be a JSON object with a 'kind', got {shown(data)}")
        if "kind" not in data:
            raise ConfigValueError("is missing", ("kind",))
        kind = data["kind"]
        if not isinstance(kind, str):
            raise ConfigTypeError(f"must be a config kind, one of {sorted(CONFIG_TYPES)}, got {shown(kind)}", ("kind",))
        if kind not in CONFIG_TYPES:
            raise ConfigValueError(
                f"is an unknown module config kind {shown(kind)}; known kinds: {sorted(CONFIG_TYPES)}. "
                "Import the module that defines it (custom modules register with @register_config).",
                ("kind",),
            )
    return CONFIG_TYPES[kind].from_dict(data)


class ModuleSpace(ABC, Generic[C]):
    """A module's search space: tokens <-> typed config.

    ``nvec[i]`` is the number of choices at position ``i``; ``position_names[i]`` says what the
    position chooses (used in error messages and in the token-mode observation).
    """

    nvec: tuple[int, ...]
    position_names: tuple[str, ...]
    one_to_one: ClassVar[bool] = False
    """True where every token vector decodes to its own config (``encode(decode(t)) == t``): ``canonical`` is
    then the identity. Spaces where several vectors give one config (a mean of tokens) leave it False."""

    @abstractmethod
    def decode(self, tokens: Sequence[int] | TokenArray) -> C:
        """Tokens (one per position) -> config. Tokens must already be validated."""

    @abstractmethod
    def encode(self, config: C) -> TokenArray:
        """Config -> tokens with ``decode(encode(config)) == config``."""

    @abstractmethod
    def default(self) -> C:
        """The config used when this module is not searched (the task's hand-made choice)."""

    def canonical(self, tokens: TokenArray) -> TokenArray:
        """``encode(decode(row))`` of each row of an (N, num_tokens) matrix of valid tokens, as one matrix.

        What a backend sees of a pipeline is its encoding, so the vector env's token fast path hands backends
        these tokens. Row by row here; a one-to-one space returns the matrix as it is.
        """
        if self.one_to_one or len(tokens) == 0:
            return tokens
        return np.stack([self.encode(self.decode(row)) for row in tokens])

    @property
    def num_tokens(self) -> int:
        return len(self.nvec)

    def log10_size(self) -> float:
        """log10 of the number of distinct token vectors (the paper's space-size convention)."""
        return float(sum(math.log10(n) for n in self.nvec))

    def validate(self, tokens: Any, *, agent: str) -> TokenArray:
        """Check an action and return it as int64 tokens, or raise ValueError naming agent and position."""
        return checked_tokens(
            tokens,
            self.nvec,
            agent=agent,
            names=self.position_names,
            shape_error=f"action has shape {{shape}}, expected ({self.num_tokens},) - one token per position of "
            f"MultiDiscrete({list(self.nvec)})",
        )


def checked_tokens(
    action: Any, nvec: Sequence[int] | TokenArray, *, agent: str, names: Sequence[str] | None, shape_error: str
) -> TokenArray:
    """``action`` as int64 tokens, each in ``range(nvec[i])``, or a ValueError naming the agent and the position
    (with ``names[i]`` where given). ``shape_error`` says what shape was expected; ``{shape}`` is the action's."""
    try:
        arr = np.asarray(action)
    except (ValueError, TypeError, OverflowError) as error:  # ragged nested lists, unconvertible objects
        raise ValueError(f"agent {agent!r}: action is not an array of tokens ({error})") from None
    if arr.shape != (len(nvec),):
        raise ValueError(f"agent {agent!r}: " + shape_error.format(shape=arr.shape))

    def where(i: int) -> str:
        return f"position {i} ({names[i]})" if names is not None else f"position {i}"

    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"agent {agent!r}: {where(i)} is {float(arr[i])}; actions must be integers")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"agent {agent!r}: action dtype {arr.dtype} is not an integer type")
    # Range first, in the action's own dtype: casting 1e300 or 2**63 to int64 would wrap.
    bad = np.flatnonzero((arr < 0) | (arr >= np.asarray(nvec)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"agent {agent!r}: {where(i)} is {arr[i].item()}, outside [0, {int(nvec[i])})")
    return arr.astype(np.int64)
