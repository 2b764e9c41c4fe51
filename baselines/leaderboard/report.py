"""The leaderboard's report: ``leaderboard.md`` (per-task tables and the aggregate), ``runs.csv`` (every run at
every budget), ``aggregate.csv`` and ``iqm.png``."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from baselines.benchmark.report import write_csv
from baselines.leaderboard.aggregate import Aggregate
from baselines.leaderboard.runs import RunScore
from baselines.leaderboard.scores import TaskScorer
from baselines.leaderboard.stats import mean_interval, median_interval
from baselines.leaderboard.suites import SOURCES, Suite, seed_list

METRICS = """\
Normalised score s = (v - mu) / (v* - mu) of a pipeline's noise-free value v: 0 is the mean of one uniformly
random pipeline (mu), 1 the task's optimum (v*); normalised regret = 1 - s. "Returned" is the pipeline a search of
that budget returns: where the run ends with the incumbent step (a noisy backend), its incumbent (its top-k
re-evaluated, chosen by the mean of their rewards; ma2ml_agents/incumbent.py): at the run's full budget its
incumbent.json, at a smaller one the same step recomputed on its first N evaluations; else the pipeline with its
best observed reward. "Best evaluated" is the best noise-free pipeline it evaluated. Mean over seeds with a 95%
BCa bootstrap interval (scipy.stats.bootstrap). "Evals to random's best":
the evaluations until the best noise-free value so far reaches random search's exact expected best of N
(automl_env.order_statistics, N = the budget); median over seeds (the count by which half the runs reached it)
with a 95% distribution-free interval
(scipy.stats.quantile_test); a run that does not reach it within N counts as "> N" (censored, never dropped),
and "n/a" is an interval too few seeds can give. Across tasks: IQM of the returned pipelines' normalised scores
and the probability of improvement, 95% stratified bootstrap intervals (rliable, Agarwal et al., NeurIPS 2021).
"""


def write_report(
    out: Path,
    suite: Suite,
    scores: list[RunScore],
    scorers: dict[str, TaskScorer],
    aggregates: list[Aggregate],
    *,
    missing: list[str],
    skipped: dict[str, dict[str, str]],
    wall_seconds: float,
) -> str:
    """Write every file of the report into ``out``; returns the markdown."""
    lines = [f"# Leaderboard: suite `{suite.name}`\n"]
    lines.append(
        f"{len(suite.algorithms)} searches x {len(scorers)} tasks x {len(suite.seeds)} seeds "
        f"({seed_list(suite.seeds)}), {suite.batch_size} pipelines per batch. Wall time of the whole leaderboard: "
        f"{wall_seconds:.0f} s on {os.cpu_count()} CPU core(s) ({platform.machine()}), finished runs reused.\n"
    )
    if suite.note:
        lines.append(f"Note: {suite.note}\n")
    if missing:
        lines.append(f"Not run: {', '.join(missing)} (not registered in this install).\n")
    for task, reasons in skipped.items():
        for algorithm, reason in reasons.items():
            lines.append(f"Not in this suite: {algorithm} on {task} ({reason}); left out of the aggregate.\n")
    lines.append(METRICS)
    for task, scorer in scorers.items():
        lines += _task_section(task, scorer, [s for s in scores if s.task == task], suite.algorithms)
    lines += _aggregate_section(aggregates, suite.algorithms)
    used = list(dict.fromkeys(_source(t) for t in scorers))
    lines.append("## Sources\n")
    lines += [f"- {SOURCES[key]}" for key in used]
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.md").write_text(text)
    if scores:
        write_csv(out / "runs.csv", [dataclasses.asdict(s) for s in scores])
    rows = [
        {"budget": a.budget, "statistic": kind, "name": name, "value": v[0], "low": v[1], "high": v[2]}
        for a in aggregates
        for kind, values in (("iqm", a.iqm), ("probability_of_improvement", a.improvement))
        for name, v in values.items()
    ]
    if rows:
        write_csv(out / "aggregate.csv", rows)
        _plot_iqm(aggregates, suite, out)
    return text


def _source(task: str) -> str:
    return "nb201" if task.startswith("nb201") else "hpolib" if task.startswith("hpolib") else "synthetic"


def _task_section(task: str, scorer: TaskScorer, scores: list[RunScore], algorithms: Sequence[str]) -> list[str]:
    kind = (
        "exact over the whole space" if scorer.exact else f"estimated from {scorer.random_values.size} random pipelines"
    )
    lines = [
        f"## {task} ({scorer.backend})\n",
        f"Optimum v* = {scorer.optimum:.4f}; random pipeline mean mu = {scorer.mean:.4f} ({kind}).\n",
    ]
    for budget in sorted({s.budget for s in scores}):
        at = [s for s in scores if s.budget == budget]
        target = at[0].target
        lines += [
            f"### {budget} evaluations (random search's expected best: {target:.4f})\n",
            "| algorithm | seeds | regret of returned | regret of best evaluated | evals to random's best | reached |",
            "|---|---|---|---|---|---|",
        ]
        for algorithm in algorithms:
            runs = [s for s in at if s.algorithm == algorithm]
            if not runs:
                continue
            returned = _interval(mean_interval([1 - s.returned_score for s in runs]))
            best = _interval(mean_interval([1 - s.best_score for s in runs]))
            reach = median_interval([s.reach for s in runs], budget=budget)
            hit = sum(math.isfinite(s.reach) for s in runs)
            lines.append(
                f"| {algorithm} | {len(runs)} | {returned} | {best} | {_count(reach, budget)} | {hit}/{len(runs)} |"
            )
        lines.append("")
    return lines


def _aggregate_section(aggregates: list[Aggregate], algorithms: Sequence[str]) -> list[str]:
    lines = ["## Across tasks\n"]
    for a in aggregates:
        lines += [
            f"### {a.budget} evaluations (best baseline by IQM: {a.best_baseline or 'none run'})\n",
            "| algorithm | IQM of normalised score | P(better than random) | P(better than best baseline) |",
            "|---|---|---|---|",
        ]
        for algorithm in (name for name in algorithms if name in a.iqm):
            over = [a.improvement.get(f"{algorithm} over {other}") for other in ("random", a.best_baseline)]
            cells = [_interval(v) if v is not None else "-" for v in over]
            lines.append(f"| {algorithm} | {_interval(a.iqm[algorithm])} | {cells[0]} | {cells[1]} |")
        lines.append("")
    return lines


def _interval(value: tuple[float, float, float]) -> str:
    mean, low, high = value
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _count(value: tuple[float, float, float], budget: int) -> str:
    def one(v: float) -> str:
        return "n/a" if math.isnan(v) else f"> {budget}" if math.isinf(v) else f"{v:.0f}"

    median, low, high = value
    return f"{one(median)} [{one(low)}, {one(high)}]"


def _plot_iqm(aggregates: list[Aggregate], suite: Suite, out: Path) -> None:
    """IQM of normalised score with its interval, one panel per budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(aggregates), figsize=(4 * len(aggregates), 0.4 * len(suite.algorithms) + 1.5))
    for axis, a in zip(np.atleast_1d(axes), aggregates, strict=True):
        names = [name for name in suite.algorithms if name in a.iqm]
        points = np.asarray([a.iqm[name] for name in names])
        y = np.arange(len(names))
        axis.errorbar(points[:, 0], y, xerr=[points[:, 0] - points[:, 1], points[:, 2] - points[:, 0]], fmt="o")
        axis.set_yticks(y, names, fontsize=8)
        axis.set_title(f"{a.budget} evaluations", fontsize=9)
        axis.set_xlabel("IQM of normalised score")
    figure.suptitle(f"suite {suite.name}: 95% stratified bootstrap intervals", fontsize=9)
    figure.tight_layout()
    figure.savefig(out / "iqm.png", dpi=120)
    plt.close(figure)
