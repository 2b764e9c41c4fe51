"""Pipeline: the decoded joint action, one typed config per module.

Hashable and comparable; ``digest`` is a content hash of the canonical JSON, identical across
processes, machines and package versions (Python's ``hash()`` is salted per process, so it is
never used for storage keys). Loading JSON is strict: every field is checked by its config's
constructor, so a pipeline has one JSON form and equal pipelines have equal digests; anything
else raises a ValueError or TypeError naming the module and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from automl_env.modules.base import CONFIG_TYPES, ModuleConfig, config_from_dict
from automl_env.modules.fields import located, shown


@dataclass(frozen=True)
class Pipeline:
    """Module name -> config, kept as sorted pairs so equal pipelines are equal objects."""

    modules: tuple[tuple[str, ModuleConfig], ...]

    def __post_init__(self) -> None:
        pairs = tuple(self.modules)
        if not pairs:
            raise ValueError("pipeline has no modules")
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"pipeline modules must be (name, config) pairs, got {shown(pair)}")
            name, config = pair
            if not isinstance(name, str) or not name:
                raise TypeError(f"pipeline module names must be non-empty strings, got {shown(name)}")
            if not isinstance(config, ModuleConfig):
                raise TypeError(f"pipeline module {name!r}: config must be a ModuleConfig, got {shown(config)}")
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline has a module twice: {sorted(names)}")
        if names != sorted(names):
            object.__setattr__(self, "modules", tuple(sorted(pairs, key=lambda pair: pair[0])))
        elif not isinstance(self.modules, tuple):
            object.__setattr__(self, "modules", pairs)

    @classmethod
    def of(cls, configs: Mapping[str, ModuleConfig]) -> Pipeline:
        return cls(modules=tuple(sorted(configs.items())))

    def __getitem__(self, module: str) -> ModuleConfig:
        for name, config in self.modules:
            if name == module:
                return config
        raise KeyError(f"pipeline has no module {module!r}; it has {[n for n, _ in self.modules]}")

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.modules)

    def to_dict(self) -> dict[str, Any]:
        return {name: config.to_dict() for name, config in self.modules}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        """Rebuild a pipeline from ``to_dict()`` output; errors name the module and the field."""
        if not isinstance(data, Mapping):
            raise TypeError(f"pipeline JSON must be an object of module name -> config, got {shown(data)}")
        configs = {}
        for name, config in data.items():
            kind = config.get("kind") if isinstance(config, Mapping) else None
            known = isinstance(kind, str) and kind in CONFIG_TYPES
            with located(f"pipeline module {name!r}" + (f" ({kind})" if known else "")):
                configs[name] = config_from_dict(config)
        return cls.of(configs)

    @cached_property
    def _json(self) -> str:
        # Cached: a pipeline is immutable and its JSON is needed for both the info and the digest.
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace; the input of ``digest``."""
        return self._json

    @classmethod
    def from_json(cls, text: str | bytes) -> Pipeline:
        """Rebuild a pipeline from ``to_json()`` output (any whitespace or key order)."""
        if not isinstance(text, (str, bytes, bytearray)):
            raise TypeError(f"pipeline JSON must be text (str or bytes), got {type(text).__name__}")
        try:
            data = json.loads(text, object_pairs_hook=_object_without_repeated_keys)
        except RecursionError:
            raise ValueError("pipeline JSON is nested too deeply to be a pipeline") from None
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, a repeated key
            raise ValueError(f"pipeline JSON is not valid: {error}") from None
        return cls.from_dict(data)

    @cached_property
    def digest(self) -> str:
        """Stable 16-hex-digit content hash, the pipeline's key in stores and tables."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def describe(self) -> str:
        return "\n".join(f"{name}: {config.describe()}" for name, config in self.modules)


def _object_without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads keeps the last of repeated keys; a pipeline has one value per field, so refuse them."""
    data = dict(pairs)
    if len(data) != len(pairs):
        repeated = next(key for i, (key, _) in enumerate(pairs) if any(key == k for k, _ in pairs[:i]))
        raise ValueError(f"duplicate key {repeated!r}")
    return data
