"""Per-run metrics of a benchmark: best and top-k reward, noise-free regret, final test accuracy, evaluations
to reach random search's best, simulated cost."""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from baselines.benchmark.runs import RunSpec

SECONDS_PER_GPU_DAY = 86400.0


def load_evaluations(spec: RunSpec) -> list[dict[str, Any]]:
    """The run's evaluations in order, with evaluation number, best-so-far and cumulative cost added.

    The number is the row's place in the run, or its ``evaluation`` column where the run wrote one (a one-shot
    search's single row counts at the run's last evaluation, when its answer exists)."""
    with open(Path(spec.out_dir) / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    best, cost = -np.inf, 0.0
    out = []
    for number, row in enumerate(rows, start=1):
        reward = float(row["reward"])
        best, cost = max(best, reward), cost + float(row.get("cost_seconds") or 0.0)
        out.append(
            {
                "algorithm": spec.algorithm,
                "seed": spec.seed,
                "evaluation": int(row.get("evaluation") or number),
                "batch": int(row["batch"]),
                "index": int(row["index"]),
                "reward": reward,
                "accuracy": float(row.get("accuracy") or reward),
                "cost_seconds": float(row.get("cost_seconds") or 0.0),
                "cumulative_cost_seconds": cost,
                "best_so_far": best,
                "digest": row.get("digest", ""),
            }
        )
    return out


@dataclass(frozen=True)
class FinalScorer:
    """Digest of a run's pipeline -> its final (test) accuracy, and the best final accuracy of the backend."""

    score: Callable[[str], float]
    optimum: float


def run_metrics(
    rows: list[dict[str, Any]],
    *,
    top_k: int,
    optimum: float | None,
    rescore: Callable[[list[str]], list[float]] | None = None,
    final: FinalScorer | None = None,
) -> dict[str, float]:
    """Best reward, mean reward of the top-k distinct pipelines, regret, simulated cost of one run.

    With ``rescore`` (digests -> noise-free rewards, for a noisy backend) the pipeline with the best observed
    reward and the top-k by observed reward are also scored without noise, as the paper retrains its top-k:
    the observed best of a noisy search is biased upwards, most for the search that samples most widely.
    With ``final``, the pipeline with the best reward also gets its final test accuracy and its regret.
    Without rows (a one-shot search before its answer exists) every metric is NaN.
    """
    if not rows:
        return (
            {key: float("nan") for key in ("best", "topk", "regret", "gpu_days")}
            | ({"clean_best": math.nan, "clean_topk": math.nan} if rescore is not None else {})
            | ({"test": math.nan, "test_regret": math.nan} if final is not None else {})
        )
    by_pipeline: dict[str, float] = {}
    for row in rows:
        key = row["digest"] or f"{row['batch']}:{row['index']}"
        by_pipeline[key] = max(by_pipeline.get(key, -np.inf), row["reward"])
    ranked = sorted(by_pipeline, key=by_pipeline.__getitem__, reverse=True)
    best = by_pipeline[ranked[0]]
    metrics = {
        "best": best,
        "topk": float(np.mean([by_pipeline[key] for key in ranked[:top_k]])),
        "regret": optimum - best if optimum is not None else float("nan"),
        "gpu_days": rows[-1]["cumulative_cost_seconds"] / SECONDS_PER_GPU_DAY,
    }
    if rescore is not None:
        clean = rescore(ranked[:top_k])
        metrics.update(clean_best=clean[0], clean_topk=float(np.mean(clean)))
        if optimum is not None:
            metrics["regret"] = optimum - clean[0]
    if final is not None:
        metrics["test"] = final.score(ranked[0])
        metrics["test_regret"] = final.optimum - metrics["test"]
    return metrics


def evaluations_to_reach(rows: list[dict[str, Any]], target: float) -> float:
    """The number of the first evaluation whose best-so-far reaches ``target`` (NaN: never)."""
    return next((float(row["evaluation"]) for row in rows if row["best_so_far"] >= target), float("nan"))


def budget_metrics(
    specs: Sequence[RunSpec],
    rows_of: dict[tuple[str, int], list[dict[str, Any]]],
    budget: int,
    *,
    optimum: float | None,
    final: Callable[[RunSpec], FinalScorer] | None,
) -> dict[str, list[dict[str, float]]]:
    """Every run's metrics over its first ``budget`` evaluations, by algorithm (in ``specs`` order)."""
    first = specs[0]
    rescorer = noise_free_rescorer(first.task, first.backend, dict(first.backend_options))
    metrics: dict[str, list[dict[str, float]]] = {s.algorithm: [] for s in specs}
    for s in specs:
        rescore = functools.partial(rescorer, s) if rescorer is not None else None
        rows = [row for row in rows_of[s.algorithm, s.seed] if row["evaluation"] <= budget]
        scorer = final(s) if final is not None else None
        metrics[s.algorithm].append(run_metrics(rows, top_k=s.top_k, optimum=optimum, rescore=rescore, final=scorer))
    if "random" in metrics:
        target = float(np.mean([m["best"] for m in metrics["random"]]))
        for algorithm, runs in metrics.items():
            run_specs = [s for s in specs if s.algorithm == algorithm]
            for m, s in zip(runs, run_specs, strict=True):
                rows = [row for row in rows_of[s.algorithm, s.seed] if row["evaluation"] <= budget]
                m["reach"] = evaluations_to_reach(rows, target)
    return metrics


def run_pipelines(spec: RunSpec, digests: Sequence[str]) -> list[Any]:
    """The pipelines of ``digests`` as the run recorded them in its evaluations.csv, in order."""
    import automl_env

    wanted = set(digests)
    with open(Path(spec.out_dir) / "evaluations.csv", newline="") as handle:
        found = {row["digest"]: row["pipeline"] for row in csv.DictReader(handle) if row["digest"] in wanted}
    missing = wanted - set(found)
    if missing:
        raise ValueError(f"{spec.out_dir}: no pipeline recorded for digests {sorted(missing)[:3]}")
    return [automl_env.Pipeline.from_json(found[d]) for d in digests]


def benchmark_optimum(task: str, backend: str, options: dict[str, float]) -> float | None:
    """The backend's optimal accuracy where it knows one and the task's reward is accuracy."""
    import automl_env

    spec = automl_env.get_task(task)
    if spec.objective != "accuracy":
        return None  # the optimum is one of accuracy; regret in another reward would be meaningless
    env = automl_env.parallel_env(task, backend=backend, backend_options=options)
    optimum = env.backend.optimum()
    return None if optimum is None else float(optimum.accuracy)


def final_scorer(task: str, backend: str, options: dict[str, float]) -> Callable[[RunSpec], FinalScorer] | None:
    """For a recorded table with final test accuracy (NAS-Bench-201): run -> FinalScorer, else None.

    Test accuracy is read only for reporting, after the search, for the pipeline it chose by validation reward.
    """
    if backend != "table":
        return None
    import automl_env
    from automl_env.backends.registry import make_backend

    spec = automl_env.get_task(task)
    table = make_backend("table", spec, **options)
    optimum = table.optimum(split="test", fidelity=spec.final_fidelity)  # type: ignore[call-arg]
    if optimum is None:
        return None

    def scorer(run: RunSpec) -> FinalScorer:
        def score(digest: str) -> float:
            return float(table.retrain(run_pipelines(run, [digest])[0]).accuracy)  # type: ignore[attr-defined]

        return FinalScorer(score, optimum.accuracy)

    return scorer


def noise_free_evaluation(task: str, backend: str, options: dict[str, Any], **evaluation: Any) -> Any | None:
    """For a noisy backend (``automl_env.backends.base.is_noisy``), an ``Evaluation`` that scores without its noise:
    a synthetic backend with ``noise=0``, a table of per-seed runs with ``runs="mean"`` (the recorded seed mean);
    None for a noise-free backend or one with no noise-free version (real training). ``evaluation``: the
    ``Evaluation``'s other arguments (e.g. ``fidelity``)."""
    import automl_env
    from automl_env.backends.base import is_noisy
    from automl_env.backends.registry import make_backend
    from automl_env.evaluation import Evaluation

    spec = automl_env.get_task(task)
    made = make_backend(backend, spec, **options)
    if not is_noisy(made):
        return None
    quiet = {"runs": "mean"} if hasattr(made, "noise_free_accuracy") else {"noise": 0.0}
    return Evaluation(spec, backend=backend, backend_options={**options, **quiet}, **evaluation)


def noise_free_rescorer(
    task: str, backend: str, options: dict[str, float]
) -> Callable[[RunSpec, list[str]], list[float]] | None:
    """For a noisy backend: (run, digests) -> rewards from it without noise (``noise_free_evaluation``)."""
    evaluation = noise_free_evaluation(task, backend, options)
    if evaluation is None:
        return None

    def rescore(spec: RunSpec, digests: list[str]) -> list[float]:
        return [reward for reward, _ in evaluation.run(run_pipelines(spec, digests))]

    return rescore
