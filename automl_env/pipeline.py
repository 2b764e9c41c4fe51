"""Pipeline: the decoded joint action, one typed config per module.

Hashable and comparable; ``digest`` is a content hash of the canonical JSON, identical across
processes, machines and package versions (Python's ``hash()`` is salted per process, so it is
never used for storage keys).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from automl_env.modules.base import ModuleConfig, config_from_dict


@dataclass(frozen=True)
class Pipeline:
    """Module name -> config, kept as sorted pairs so equal pipelines are equal objects."""

    modules: tuple[tuple[str, ModuleConfig], ...]

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
        return cls.of({name: config_from_dict(dict(cfg)) for name, cfg in data.items()})

    @cached_property
    def _json(self) -> str:
        # Cached: a pipeline is immutable and its JSON is needed for both the info and the digest.
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace; the input of ``digest``."""
        return self._json

    @classmethod
    def from_json(cls, text: str) -> Pipeline:
        return cls.from_dict(json.loads(text))

    @cached_property
    def digest(self) -> str:
        """Stable 16-hex-digit content hash, the pipeline's key in stores and tables."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def describe(self) -> str:
        return "\n".join(f"{name}: {config.describe()}" for name, config in self.modules)
