"""The folder every search writes: config.json, evaluations.csv, topk.json, history.json, checkpoint.pt, plots.

Real training adds its evaluation store there (``STORE``), so a stopped run keeps every finished evaluation.

The CSV is append-only and the checkpoint records its length in bytes, so a resumed run first cuts off
the rows of batches evaluated after the last checkpoint and then appends exactly what an uninterrupted
run would have written.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "checkpoint.pt"
STORE = "evaluations.sqlite"
"""The evaluation store's name in the run folder (``automl_env.store.EvalStore``: SQLite, one row per evaluation)."""


class RunFolder:
    """Paths and writers of one search run."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.path / "evaluations.csv"
        self.checkpoint_path = self.path / CHECKPOINT

    def write_json(self, name: str, data: Any) -> None:
        _atomic_write_bytes(self.path / name, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())

    def start_csv(self, columns: list[str]) -> int:
        """Write the header (replacing any old file); returns the file's length in bytes."""
        return self._write_csv(columns=columns, rows=[], append=False)

    def append_csv(self, columns: list[str], rows: list[dict[str, Any]]) -> int:
        """Append rows (keys outside ``columns`` dropped); returns the file's new length in bytes."""
        return self._write_csv(columns=columns, rows=rows, append=True)

    def _write_csv(self, *, columns: list[str], rows: list[dict[str, Any]], append: bool) -> int:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        if not append:
            writer.writeheader()
        writer.writerows(rows)
        with open(self.csv_path, "ab" if append else "wb") as handle:
            handle.write(buffer.getvalue().encode())
        return self.csv_path.stat().st_size

    def truncate_csv(self, length: int) -> None:
        """Cut the CSV back to ``length`` bytes (its length at the checkpoint)."""
        with open(self.csv_path, "r+b") as handle:
            handle.truncate(length)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """torch.save of tensors and plain types, written atomically."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _atomic_write_bytes(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        state: dict[str, Any] = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        return state

    def plot(self, *, batch_means: list[float], topk_means: list[float], top_k: int, title: str) -> Path:
        """The paper's learning-pattern figure: top-k mean reward and each batch's mean against batch number."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ImportError('plots need matplotlib: pip install "automl-env[agents]"') from error
        batches = list(range(1, len(batch_means) + 1))
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot(batches, topk_means, label=f"mean of top-{top_k}")
        axis.plot(batches, batch_means, label="batch mean", alpha=0.7)
        axis.set_xlabel("batch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel("reward")
        axis.set_title(title)
        axis.legend()
        figure.tight_layout()
        path = self.path / "learning_curve.png"
        figure.savefig(path, dpi=120)
        plt.close(figure)
        return path


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write then rename, so a killed run never leaves a half-written file."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
