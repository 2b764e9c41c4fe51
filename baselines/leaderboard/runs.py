"""The leaderboard's runs: one benchmark per task (finished runs reused through their ``done.json``), then
every run scored without noise at every budget of its task."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from baselines.leaderboard.scores import TaskScorer, task_scorer
from baselines.leaderboard.suites import Suite, SuiteTask

INCUMBENT = "incumbent.json"
"""The pipeline a search returns after re-evaluating its top-k (keys digest, pipeline, observed_mean,
reevaluations), where the search wrote one; else the pipeline with the best observed reward is returned."""


@dataclass(frozen=True)
class RunScore:
    """One run of one algorithm on one task, scored without noise over its first ``budget`` evaluations."""

    task: str
    algorithm: str
    seed: int
    budget: int
    returned: float
    """Noise-free value of the pipeline the search returns (its incumbent, else its best observed reward)."""
    best_evaluated: float
    """Noise-free value of the best pipeline it evaluated."""
    returned_score: float
    best_score: float
    target: float
    """Random search's exact expected best of ``budget`` evaluations (noise-free)."""
    reach: float
    """The evaluation at which the best noise-free value so far first reaches ``target``; inf: not within budget."""
    incumbent: bool
    """Whether ``returned`` is the search's incumbent (``incumbent.json``) rather than its best observed."""
    wall_seconds: float


def not_applicable(algorithm: str, task: str, backend: str, *, batches: int) -> str | None:
    """Why search ``algorithm`` cannot run on ``task`` (e.g. a sequential search on a one-module task), else None."""
    import automl_env
    from baselines.marl import MARL_ALGORITHMS
    from baselines.registry import make_search

    if algorithm in MARL_ALGORITHMS:
        return None  # they run on any task's token mode
    env = automl_env.vector_env(task, num_envs=1, backend=backend)
    try:
        make_search(algorithm, env, seed=0, batches=batches)
    except ValueError as error:
        return str(error)
    finally:
        env.close()
    return None


def benchmark_task(suite: Suite, entry: SuiteTask, *, out: Path, workers: int) -> tuple[Any, str, dict[str, str]]:
    """Run (or reuse) every applicable algorithm and seed of ``suite`` on one task: the ``BenchmarkResult``, the
    backend, and why each algorithm left out cannot run there."""
    import automl_env
    from baselines.benchmark import BenchmarkConfig, run_benchmark

    backend = entry.backend or automl_env.get_task(entry.task).fast_backend
    batches = max(entry.budgets) // suite.batch_size
    reasons = {a: not_applicable(a, entry.task, backend, batches=batches) for a in suite.algorithms}
    skipped = {a: reason for a, reason in reasons.items() if reason is not None}
    skipped.update((a, reason) for a, reason in entry.excluded if a in suite.algorithms)
    config = BenchmarkConfig(
        task=entry.task,
        backend=backend,
        algorithms=tuple(a for a in suite.algorithms if a not in skipped),
        seeds=suite.seeds,
        batches=batches,
        batch_size=suite.batch_size,
        top_k=suite.top_k,
        budgets=entry.budgets,
        workers=workers,
        out=out / entry.task,
    )
    return run_benchmark(config), backend, skipped


def score_task(suite: Suite, entry: SuiteTask, result: Any, backend: str) -> tuple[TaskScorer, list[RunScore]]:
    """Every run of one task's benchmark scored at each budget of ``entry``."""
    scorer = task_scorer(entry.task, backend, {}, sample=suite.random_sample)
    scores = []
    for (algorithm, seed), rows in result.evaluations.items():
        folder = Path(result.done[algorithm, seed]["spec"]["out_dir"])
        pipelines = _pipelines(folder)
        digests = [row["digest"] for row in rows]
        distinct = list(dict.fromkeys(digests))
        value_of = dict(zip(distinct, scorer.values([pipelines[d] for d in distinct]), strict=True))
        clean = np.asarray([value_of[d] for d in digests])
        incumbent = _incumbent(folder, scorer)
        wall = float(result.done[algorithm, seed]["wall_seconds"])
        for budget in entry.budgets:
            last = budget == max(entry.budgets)
            scores.append(_score(entry.task, algorithm, seed, budget, rows, clean, scorer, incumbent, last, wall))
    return scorer, scores


def _score(
    task: str,
    algorithm: str,
    seed: int,
    budget: int,
    rows: Sequence[dict[str, Any]],
    clean: np.ndarray,
    scorer: TaskScorer,
    incumbent: float | None,
    last: bool,
    wall: float,
) -> RunScore:
    """The scores of one run over its first ``budget`` evaluations (``last``: the run's whole budget)."""
    observed = np.asarray([row["reward"] for row in rows[:budget]])
    returned = incumbent if last and incumbent is not None else float(clean[int(np.argmax(observed))])
    best = float(np.nanmax(clean[:budget]))
    target = scorer.random_target(budget)
    hits = np.flatnonzero(np.fmax.accumulate(clean[:budget]) >= target)
    return RunScore(
        task=task,
        algorithm=algorithm,
        seed=seed,
        budget=budget,
        returned=returned,
        best_evaluated=best,
        returned_score=scorer.normalised(returned),
        best_score=scorer.normalised(best),
        target=target,
        reach=float(hits[0] + 1) if hits.size else float("inf"),
        incumbent=last and incumbent is not None,
        wall_seconds=wall,
    )


def _pipelines(folder: Path) -> dict[str, Any]:
    """Digest -> pipeline of every evaluation of the run in ``folder``."""
    from automl_env import Pipeline

    with open(folder / "evaluations.csv", newline="") as handle:
        return {row["digest"]: Pipeline.from_json(row["pipeline"]) for row in csv.DictReader(handle)}


def _incumbent(folder: Path, scorer: TaskScorer) -> float | None:
    """The noise-free value of the run's incumbent, where it wrote one."""
    from automl_env import Pipeline

    path = folder / INCUMBENT
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    pipeline = data["pipeline"]
    pipeline = Pipeline.from_json(pipeline if isinstance(pipeline, str) else json.dumps(pipeline))
    return float(scorer.values([pipeline])[0])
