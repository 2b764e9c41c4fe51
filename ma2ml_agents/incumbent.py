"""The incumbent step: on a noisy backend, the pipeline a search returns is chosen by re-evaluations.

With noisy rewards the best *observed* pipeline is often a lucky draw: among many pipelines of nearly equal
value, the one whose noise was highest wins (the winner's curse). As the MA2ML paper retrains its top-k
before choosing, ``run_search`` ends a search on a noisy backend with this step:

1. the ``top_k`` best distinct pipelines by observed reward (the run's top-k, best first) are candidates;
2. each is evaluated again under ``reevaluations`` other evaluation seeds, ``s + 1, ..., s + r`` where ``s``
   is the env's (``env.evaluation.seed``, set for the step and restored): on a table with k recorded runs,
   seeds ``s .. s + k - 1`` read each run of a pipeline once (``Records.runs_at``), so the re-evaluations
   are the runs the search did not see (with r = k - 1, all of them);
3. the returned pipeline (the incumbent) is the candidate with the highest mean of its re-evaluations; its
   search-time reward is left out of the mean, since it was selected for being high. Ties go to the
   better observed rank.

The re-evaluations are reported beside the budget, not counted in it: ``SearchResult.evaluations``,
evaluations.csv and every anytime curve hold the search's own evaluations only, so searches compare at
equal budgets and each pays the same fixed ``top_k * reevaluations`` for its incumbent (recorded in
incumbent.json as ``reevaluations``). A backend says it is noisy with a true ``noisy`` attribute (the table
backend with per-seed runs, the synthetic backends with noise > 0); on other backends (NAS-Bench-201's seed
means) nothing is re-evaluated and no incumbent.json is written: the best observed pipeline is the result.

incumbent.json: ``digest`` (the pipeline digest as evaluations.csv writes it), ``pipeline`` (its JSON),
``observed_mean`` (the mean of its re-evaluations), ``reevaluations`` (all of the step's evaluations), and
the candidates with their observed rewards and re-evaluation means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_env.backends.base import is_noisy
from ma2ml_agents.evaluator import BatchEvaluator

INCUMBENT_FILE = "incumbent.json"


@dataclass(frozen=True)
class Incumbent:
    """Settings of the incumbent step: how many top pipelines, and how many re-evaluations each."""

    top_k: int = 5
    reevaluations: int = 3

    def __post_init__(self) -> None:
        for name in ("top_k", "reevaluations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Incumbent.{name} must be an int >= 1, got {value!r}")


def env_is_noisy(env: Any) -> bool:
    """Whether the env's backend says one pipeline's reward varies with the evaluation seed (``is_noisy``), and the
    env has an evaluation seed to change (automl_env's envs: ``env.evaluation.seed``)."""
    return is_noisy(getattr(env, "backend", None)) and hasattr(getattr(env, "evaluation", None), "seed")


def choose_incumbent(
    evaluator: BatchEvaluator, ranked: list[dict[str, Any]], *, settings: Incumbent, seed: int
) -> dict[str, Any] | None:
    """The incumbent.json record chosen among ``ranked`` (top-k entries, best first); None without a candidate."""
    candidates = [e for e in ranked if e["info"].get("status", "ok") != "failed"][: settings.top_k]
    if not candidates:
        return None
    actions = {a: np.asarray([c["actions"][a] for c in candidates], dtype=np.int64) for a in evaluator.space.agents}
    evaluation = evaluator.env.evaluation
    searched = int(evaluation.seed)
    seeds = [searched + 1 + j for j in range(settings.reevaluations)]
    try:
        rows = []
        for other in seeds:
            evaluation.seed = other
            rows.append(_evaluate(evaluator, actions, seed=seed))
    finally:
        evaluation.seed = searched
    rewards = np.stack(rows)
    means = rewards.mean(axis=0)
    chosen = int(np.argmax(means))  # the first of equal means: the better observed rank
    info = candidates[chosen]["info"]
    return {
        "digest": str(info.get("digest", candidates[chosen]["key"])),
        "pipeline": str(info.get("pipeline", "")),
        "observed_mean": float(means[chosen]),
        "reevaluations": int(rewards.size),
        "top_k": len(candidates),
        "seeds": seeds,
        "candidates": [
            {"key": c["key"], "observed_reward": float(c["reward"]), "mean": float(m), "rewards": r.tolist()}
            for c, m, r in zip(candidates, means, rewards.T, strict=True)
        ],
    }


def _evaluate(evaluator: BatchEvaluator, actions: dict[str, np.ndarray], *, seed: int) -> np.ndarray:
    """Rewards of the n joint actions under ``seed``; a vector env's fixed batch is filled by repeating them."""
    n = len(next(iter(actions.values())))
    size = evaluator.batch_size
    if size is None:
        return evaluator.evaluate(actions, seed=seed)[0]
    rewards = np.empty(n)
    for start in range(0, n, size):
        index = np.arange(start, start + size) % n
        batch_rewards, _ = evaluator.evaluate({a: v[index] for a, v in actions.items()}, seed=seed)
        rewards[index[: min(size, n - start)]] = batch_rewards[: min(size, n - start)]
    return rewards
