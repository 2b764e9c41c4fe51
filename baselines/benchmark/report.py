"""The benchmark's written results: the markdown table (mean ± std over seeds), the searches paired by seed against
the first (mean difference with a t interval), and the evaluations CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

CSV_DIGITS = 12
"""Significant digits of the floats in a CSV: more than any reward or cost carries, and no summation noise
(``0.47740000000000005`` is written ``0.4774``)."""


def csv_value(value: Any) -> Any:
    """A value as a CSV cell: floats at ``CSV_DIGITS`` significant digits, the rest unchanged."""
    return format(value, f".{CSV_DIGITS}g") if isinstance(value, float) else value


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """``rows`` (dicts with the same keys) as a CSV with a header line."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: csv_value(value) for key, value in row.items()} for row in rows)


def mean_std(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± std`` over the values that are not NaN (``n/a`` where there are none)."""
    array = np.asarray(values, dtype=np.float64)
    if np.all(np.isnan(array)):
        return "n/a"
    spread = f"{np.nanstd(array, ddof=1):.{digits}f}" if np.sum(~np.isnan(array)) > 1 else "n/a"
    return f"{np.nanmean(array):.{digits}f} ± {spread}"


def reached(values: Sequence[float]) -> str:
    """Mean evaluations to reach the target over the seeds that reached it, and how many did."""
    array = np.asarray(values, dtype=np.float64)
    hit = ~np.isnan(array)
    if not hit.any():
        return "not reached"
    return f"{np.mean(array[hit]):.0f} ({int(hit.sum())}/{array.size})"


def search_kind(name: str) -> str:
    """How search ``name`` searches: jointly, one module at a time, per token (a MARL library), or one-shot."""
    from baselines.marl import MARL_ALGORITHMS
    from baselines.registry import BASELINES, ONE_SHOT

    if name in MARL_ALGORITHMS:
        return "per token (MARL library)"
    if name in ONE_SHOT:
        return "one-shot"
    return "sequential" if name in BASELINES and not BASELINES[name].joint else "joint"


def table(
    algorithms: Sequence[str],
    metrics: dict[str, list[dict[str, float]]],
    walls: dict[str, list[float]],
    *,
    top_k: int,
    optimum: float | None,
    final_optimum: float | None = None,
) -> str:
    """The markdown results table (mean ± std over seeds), then what its columns mean."""
    noisy = all("clean_best" in m for runs in metrics.values() for m in runs)
    tested = all("test" in m for runs in metrics.values() for m in runs)
    reach = all("reach" in m for runs in metrics.values() for m in runs)
    clean_header = f"best, noise-free | top-{top_k}, noise-free | " if noisy else ""
    extra_header = ("final test acc. of best | test regret | " if tested else "") + (
        "evals to reach random's final best | " if reach else ""
    )
    columns = 8 + 2 * noisy + 2 * tested + reach
    lines = [
        f"| algorithm | search | seeds | best reward | top-{top_k} mean | {clean_header}regret | {extra_header}"
        "simulated GPU-days / run | wall s / run |",
        "|" + "---|" * columns,
    ]
    for name in algorithms:
        runs = metrics[name]
        clean = (
            f"{mean_std([m['clean_best'] for m in runs])} | {mean_std([m['clean_topk'] for m in runs])} | "
            if noisy
            else ""
        )
        extra = (
            f"{mean_std([m['test'] for m in runs])} | {mean_std([m['test_regret'] for m in runs])} | " if tested else ""
        ) + (f"{reached([m['reach'] for m in runs])} | " if reach else "")
        lines.append(
            f"| {name} | {search_kind(name)} | {len(runs)} | {mean_std([m['best'] for m in runs])} "
            f"| {mean_std([m['topk'] for m in runs])} | {clean}{mean_std([m['regret'] for m in runs])} "
            f"| {extra}{np.mean([m['gpu_days'] for m in runs]):.1f} | {np.mean(walls[name]):.1f} |"
        )
    lines += _notes(top_k=top_k, noisy=noisy, optimum=optimum, final_optimum=final_optimum if tested else None)
    if reach:
        lines.append(
            "\nEvaluations to reach random search's final best (mean over the seeds that reached it, and how many "
            "did); random search's own figure is its seeds' first evaluations at its mean final best."
        )
    return "\n".join(lines) + "\n"


def paired_interval(differences: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean, low, high) of paired differences with a 95% Student t interval; None with fewer than 2 of them
    (NaNs dropped). Constant differences have a point interval."""
    from scipy import stats

    x = np.asarray(differences, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return None
    mean = float(x.mean())
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def paired_table(algorithms: Sequence[str], metrics: dict[str, list[dict[str, float]]]) -> str:
    """Every algorithm after the first against the first, paired by seed: the mean difference of the regret (of the
    best reward where the backend has no known optimum) with a 95% t interval, and on how many seeds it is lower and
    higher. Empty with fewer than two algorithms or two seeds: a mean ± std table cannot rank searches, this can say
    when the seeds do not."""
    reference = algorithms[0]
    seeds = len(metrics[reference])
    if len(algorithms) < 2 or seeds < 2:
        return ""
    key = "regret" if not all(np.isnan(m["regret"]) for runs in metrics.values() for m in runs) else "best"
    lines = [
        f"\nPaired by seed against {reference} ({seeds} seeds): each search's {key} minus {reference}'s on the same "
        "seed, mean with a 95% t interval; lower / higher: the seeds on which it is lower / higher.\n",
        f"| algorithm | {key} minus {reference}'s | lower / higher |",
        "|---|---|---|",
    ]
    base = np.array([m[key] for m in metrics[reference]])
    for name in algorithms[1:]:
        differences = np.array([m[key] for m in metrics[name]]) - base
        found = paired_interval(differences)
        shown = "n/a" if found is None else f"{found[0]:+.4f} [{found[1]:+.4f}, {found[2]:+.4f}]"
        lines.append(f"| {name} | {shown} | {int(np.sum(differences < 0))} / {int(np.sum(differences > 0))} |")
    return "\n".join(lines) + "\n"


def _notes(*, top_k: int, noisy: bool, optimum: float | None, final_optimum: float | None) -> list[str]:
    lines = []
    if noisy:
        lines.append(
            f"\nObserved rewards are noisy; the noise-free columns score the best and the top-{top_k} pipelines "
            "(ranked by observed reward) again without noise, as retraining them would."
        )
    if optimum is not None:
        found = "noise-free reward of the best pipeline found" if noisy else "best reward found"
        lines.append(f"\nBackend optimum (noise-free): {optimum:.4f}; regret = optimum - {found}.")
    if final_optimum is not None:
        lines.append(
            f"\nFinal test accuracy (read after the search, never a reward) of the pipeline with the best reward; "
            f"test regret = the table's best test accuracy ({final_optimum:.4f}) - that accuracy."
        )
    return lines
