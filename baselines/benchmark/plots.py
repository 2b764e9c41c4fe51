"""The benchmark's anytime plots: best reward so far against evaluations and against simulated training time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from baselines.benchmark.metrics import SECONDS_PER_GPU_DAY

PLOTS = {"evaluation": "anytime_evaluations.png", "cumulative_cost_seconds": "anytime_cost.png"}
"""The x axis of each plot (a column of the evaluations) -> its file name."""


def plot_anytime(
    curves: dict[str, list[list[dict[str, Any]]]], out: Path, *, optimum: float | None, title: str = ""
) -> list[Path]:
    """Best reward so far against evaluations and against simulated GPU-days, mean ± std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"evaluation": "evaluations", "cumulative_cost_seconds": "simulated training time (GPU-days)"}
    paths = []
    for axis_key, name in PLOTS.items():
        figure, axis = plt.subplots(figsize=(7, 4.5))
        for algorithm, runs in curves.items():
            end = min(r[-1][axis_key] for r in runs)
            grid = np.linspace(min(r[0][axis_key] for r in runs), end, 200)
            # Best-so-far is a step function: take the value of the last evaluation at or before each point.
            values = np.stack(
                [step_at([row[axis_key] for row in r], [row["best_so_far"] for row in r], grid) for r in runs]
            )
            scale = SECONDS_PER_GPU_DAY if axis_key != "evaluation" else 1.0
            mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
            if grid[0] == grid[-1]:  # one answer per run (a one-shot search): a point with its spread
                axis.errorbar(grid[:1] / scale, mean[:1], yerr=std[:1], fmt="o", capsize=3, label=algorithm)
                continue
            axis.plot(grid / scale, mean, label=algorithm)
            axis.fill_between(grid / scale, mean - std, mean + std, alpha=0.15)
        if optimum is not None:
            axis.axhline(optimum, color="black", linestyle="--", linewidth=1, label="optimum")
        axis.set_xlabel(labels[axis_key])
        axis.set_ylabel("best reward so far")
        axis.legend(fontsize=7, ncol=2)
        axis.set_title(title, fontsize=9)
        figure.tight_layout()
        figure.savefig(out / name, dpi=120)
        plt.close(figure)
        paths.append(out / name)
    return paths


def step_at(xs: Sequence[float], ys: Sequence[float], grid: np.ndarray) -> np.ndarray:
    """The step function through (xs, ys) at each point of ``grid``: the last y at or before it (NaN before)."""
    index = np.searchsorted(np.asarray(xs), grid, side="right") - 1
    return np.where(index >= 0, np.asarray(ys)[np.clip(index, 0, None)], np.nan)
