"""The k best distinct joint actions seen in a search, keyed so that a re-sampled pipeline counts once."""

from __future__ import annotations

from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` as plain Python types (JSON and ``torch.load(weights_only=True)`` safe)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or type(value) in (bool, int, float, str):
        return value
    for kind in (bool, int, float):  # subclasses (IntEnum, numpy-like) become the plain type
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def entry_key(tokens: str, info: dict[str, Any]) -> str:
    """The pipeline JSON when the env reports one, else the joint tokens."""
    pipeline = info.get("pipeline")
    return pipeline if isinstance(pipeline, str) and pipeline else tokens


class TopK:
    """Keeps at most k entries, one per key (its highest reward), ordered by reward then first appearance."""

    def __init__(self, k: int, entries: list[dict[str, Any]] | None = None) -> None:
        if k < 1:
            raise ValueError("top_k must be positive")
        self.k = k
        self.entries: list[dict[str, Any]] = list(entries or [])

    def add(self, entry: dict[str, Any]) -> None:
        """Insert an entry ``{"key", "reward", "batch", "index", ...}``."""
        for i, old in enumerate(self.entries):
            if old["key"] == entry["key"]:
                if entry["reward"] <= old["reward"]:
                    return
                del self.entries[i]
                break
        self.entries.append(entry)
        self.entries.sort(key=lambda e: (-e["reward"], e["batch"], e["index"]))
        del self.entries[self.k :]

    @property
    def mean(self) -> float:
        """Mean reward of the entries (NaN when empty)."""
        return float(np.mean([e["reward"] for e in self.entries])) if self.entries else float("nan")

    @property
    def best(self) -> dict[str, Any] | None:
        return self.entries[0] if self.entries else None

    def ranked(self) -> list[dict[str, Any]]:
        """Entries with their 1-based rank, best first."""
        return [{"rank": i + 1, **e} for i, e in enumerate(self.entries)]
