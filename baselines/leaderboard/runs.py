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
from ma2ml_agents.topk import TopK

INCUMBENT = "incumbent.json"
"""The pipeline a search returns after re-evaluating its top-k (keys digest, pipeline, observed_mean,
reevaluations, settings), where the search wrote one; else the pipeline with the best observed reward is returned."""


@dataclass(frozen=True)
class RunScore:
    """One run of one algorithm on one task, scored without noise over its first ``budget`` evaluations."""

    task: str
    algorithm: str
    seed: int
    budget: int
    returned: float
    """Noise-free value of the pipeline a search of ``budget`` evaluations returns (its incumbent, else its best
    observed reward)."""
    best_evaluated: float
    """Noise-free value of the best pipeline it evaluated."""
    returned_score: float
    best_score: float
    target: float
    """Random search's exact expected best of ``budget`` evaluations (noise-free)."""
    reach: float
    """The evaluation at which the best noise-free value so far first reaches ``target``; inf: not within budget."""
    incumbent: bool
    """Whether ``returned`` is an incumbent (the run's ``incumbent.json``, or the same step on its first ``budget``
    evaluations) rather than the best observed."""
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
    from automl_env import Pipeline

    scorer = task_scorer(entry.task, backend, {}, sample=suite.random_sample)
    envs = _Envs(entry.task, backend)
    scores = []
    try:
        for (algorithm, seed), rows in result.evaluations.items():
            spec = result.done[algorithm, seed]["spec"]
            folder = Path(spec["out_dir"])
            recorded = _recorded(folder)
            pipelines = {row["digest"]: Pipeline.from_json(row["pipeline"]) for row in recorded}
            digests = [row["digest"] for row in rows]
            distinct = list(dict.fromkeys(digests))
            value_of = dict(zip(distinct, scorer.values([pipelines[d] for d in distinct]), strict=True))
            clean = np.asarray([value_of[d] for d in digests])
            incumbents = _incumbents(folder, recorded, spec, entry.budgets, scorer, envs)
            wall = float(result.done[algorithm, seed]["wall_seconds"])
            for budget in entry.budgets:
                scores.append(
                    _score(entry.task, algorithm, seed, budget, rows, clean, scorer, incumbents.get(budget), wall)
                )
    finally:
        envs.close()
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
    wall: float,
) -> RunScore:
    """The scores of one run over its first ``budget`` evaluations (``incumbent``: the noise-free value of its
    incumbent at that budget, where it has one)."""
    observed = np.asarray([row["reward"] for row in rows[:budget]])
    returned = incumbent if incumbent is not None else float(clean[int(np.argmax(observed))])
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
        incumbent=incumbent is not None,
        wall_seconds=wall,
    )


def _recorded(folder: Path) -> list[dict[str, str]]:
    """The rows of the run's evaluations.csv."""
    with open(folder / "evaluations.csv", newline="") as handle:
        return list(csv.DictReader(handle))


class _Envs:
    """The task's env in pipeline mode, one per set of backend options, to re-evaluate top-k pipelines on."""

    def __init__(self, task: str, backend: str) -> None:
        self.task, self.backend = task, backend
        self.made: dict[tuple[tuple[str, Any], ...], Any] = {}

    def get(self, options: Sequence[Sequence[Any]]) -> Any:
        import automl_env

        key = tuple((str(k), v) for k, v in options)
        if key not in self.made:
            self.made[key] = automl_env.vector_env(
                self.task, num_envs=8, backend=self.backend, backend_options=dict(key)
            )
        return self.made[key]

    def close(self) -> None:
        for env in self.made.values():
            env.close()


def _incumbents(
    folder: Path,
    rows: Sequence[dict[str, str]],
    spec: dict[str, Any],
    budgets: Sequence[int],
    scorer: TaskScorer,
    envs: _Envs,
) -> dict[int, float]:
    """Budget -> the noise-free value of the incumbent a search of that budget returns, where the run took the
    incumbent step (it wrote incumbent.json): at the run's own budget that file's pipeline; at a smaller one the same
    step on the top-k of its first evaluations, recomputed (the step is a pure function of them, the run's evaluation
    seed and the backend), as the search stopped there would have ended."""
    from automl_env import Pipeline
    from ma2ml_agents.evaluator import BatchEvaluator
    from ma2ml_agents.incumbent import Incumbent, choose_incumbent, env_is_noisy, evaluator_measure

    path = folder / INCUMBENT
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    out = {max(budgets): _value(data["pipeline"], scorer)}
    smaller = [b for b in budgets if b < min(len(rows), max(budgets))]  # a one-shot run's one row has no prefix
    env = envs.get(spec.get("backend_options", ()))
    if not smaller or not env_is_noisy(env):
        return out
    settings = Incumbent(**data["settings"]) if "settings" in data else Incumbent()
    codec, measure = env.codec, evaluator_measure(BatchEvaluator(env), seed=int(spec["seed"]))
    searched = int(data["seeds"][0]) - 1 if data.get("seeds") else int(spec["seed"])
    for budget in smaller:
        topk = TopK(int(spec["top_k"]))
        for row in rows[:budget]:
            info = {"status": row.get("status") or "ok", "digest": row["digest"], "pipeline": row["pipeline"]}
            topk.add({"key": row["pipeline"], "reward": float(row["reward"]), "batch": int(row["batch"]),
                      "index": int(row["index"]), "info": info})  # fmt: skip
        ranked = [{**e, "actions": codec.tokens_of(Pipeline.from_json(e["key"]))} for e in topk.ranked()]
        chosen = choose_incumbent(ranked, settings=settings, searched_seed=searched, measure=measure)
        if chosen is not None:
            out[budget] = _value(chosen["pipeline"], scorer)
    return out


def _value(pipeline: Any, scorer: TaskScorer) -> float:
    """The noise-free value of a pipeline given as JSON (text or parsed)."""
    from automl_env import Pipeline

    text = pipeline if isinstance(pipeline, str) else json.dumps(pipeline)
    return float(scorer.values([Pipeline.from_json(text)])[0])
