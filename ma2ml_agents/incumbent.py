"""The incumbent step: on a noisy backend, the pipeline a search returns is chosen by re-evaluations.

With noisy rewards the best *observed* pipeline is often a lucky draw: among many pipelines of nearly equal
value, the one whose noise was highest wins (the winner's curse). As the MA2ML paper retrains its top-k
before choosing, ``run_search`` (and ``run_async_search``, and a MARL library's run) ends a search on a noisy
backend with this step, in two stages (successive halving with one cut):

1. the ``top_k`` best distinct pipelines by observed reward (the run's top-k, best first) are candidates, and
   each is evaluated once more, under evaluation seed ``s + 1`` where ``s`` is the one the search ran under
   (the env's ``env.evaluation.seed``);
2. the ``finalists`` candidates with the best mean of all their rewards so far (the search's and the new one) are
   evaluated under seeds ``s + 2, ..., s + reevaluations``;
3. the returned pipeline (the incumbent) is the finalist with the best mean of all its rewards. Ties go to the
   better observed rank.

The search-time reward counts in the means: it was what ranked the candidate, and it is also one more
measurement of it. Given every reward seen, how the candidates were picked changes nothing about which is
best (each candidate has as many rewards as the others of its stage, so ranking by their means is ranking
by any common prior's posterior). Only ``observed_mean``, the value reported for the incumbent, leaves the
search-time reward out: as an estimate of the value, that one is biased up by the selection.

On a table with k recorded runs, seeds ``s .. s + k - 1`` read each run of a pipeline once
(``Records.runs_at``), so with ``reevaluations = k - 1`` the finalists' means are their seed-means. The
defaults (7 candidates, 4 finalists, 3 re-evaluations: 7 + 4 x 2 = 15 evaluations, the cost of re-evaluating the
top 5 three times each, the step's rule before 2026-12-06) were measured against that rule on the leaderboard's
HPOLib runs and on synthetic-rugged (docs/hpolib.md, "The incumbent step").

The re-evaluations are reported beside the budget, not counted in it: ``SearchResult.evaluations``,
evaluations.csv and every anytime curve hold the search's own evaluations only, so searches compare at
equal budgets and each pays the same fixed ``Incumbent.cost`` for its incumbent (recorded in incumbent.json
as ``reevaluations``). A backend says it is noisy with a true ``noisy`` attribute (the table backend with
per-seed runs, the synthetic backends with noise > 0); on other backends (NAS-Bench-201's seed means) nothing
is re-evaluated and no incumbent.json is written: the best observed pipeline is the result.

incumbent.json: ``digest`` (the pipeline digest as evaluations.csv writes it), ``pipeline`` (its JSON),
``observed_mean`` (the mean of its re-evaluations), ``reevaluations`` (all of the step's evaluations),
``settings`` (the ``Incumbent`` it was chosen with), and the candidates with their observed rewards,
re-evaluations and means (of all their rewards), finalists marked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_env.backends.base import is_noisy
from ma2ml_agents.evaluator import BatchEvaluator

INCUMBENT_FILE = "incumbent.json"


@dataclass(frozen=True)
class Incumbent:
    """Settings of the incumbent step: how many candidates, how many finalists, and how many re-evaluations each
    finalist gets in all (every candidate gets the first)."""

    top_k: int = 7
    reevaluations: int = 3
    finalists: int = 4

    def __post_init__(self) -> None:
        for name in ("top_k", "reevaluations", "finalists"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Incumbent.{name} must be an int >= 1, got {value!r}")
        if self.finalists > self.top_k:
            raise ValueError(
                f"Incumbent.finalists ({self.finalists}) must be at most top_k ({self.top_k}): the finalists are "
                "chosen among the candidates"
            )

    @property
    def cost(self) -> int:
        """Re-evaluations the step takes when the run has ``top_k`` candidates."""
        return self.top_k + self.finalists * (self.reevaluations - 1)


def env_is_noisy(env: Any) -> bool:
    """Whether the env's backend says one pipeline's reward varies with the evaluation seed (``is_noisy``), and the
    env has an evaluation seed to change (automl_env's envs: ``env.evaluation.seed``)."""
    return is_noisy(getattr(env, "backend", None)) and hasattr(getattr(env, "evaluation", None), "seed")


Measure = Callable[[list[dict[str, Any]], list[int]], Sequence[float]]
"""``measure(entries, seeds)``: the reward of each top-k entry ``entries[i]`` under evaluation seed ``seeds[i]``."""


def choose_incumbent(
    ranked: list[dict[str, Any]], *, settings: Incumbent, searched_seed: int, measure: Measure
) -> dict[str, Any] | None:
    """The incumbent.json record chosen among ``ranked`` (top-k entries, best first) by re-evaluating them with
    ``measure`` under evaluation seeds ``searched_seed + 1, ...``; None without a candidate."""
    candidates = [e for e in ranked if e["info"].get("status", "ok") != "failed"][: settings.top_k]
    if not candidates:
        return None
    seeds = [searched_seed + 1 + j for j in range(settings.reevaluations)]
    rewards: list[list[float]] = [[] for _ in candidates]

    def reevaluate(which: list[int], under: list[int]) -> None:
        """Each candidate of ``which`` under each evaluation seed of ``under``, as one request."""
        pairs = [(i, other) for other in under for i in which]
        results = measure([candidates[i] for i, _ in pairs], [other for _, other in pairs])
        for (i, _), reward in zip(pairs, results, strict=True):
            rewards[i].append(float(reward))

    def mean(i: int) -> float:
        """Candidate i's mean over all its rewards, the search's included."""
        return float(np.mean([candidates[i]["reward"], *rewards[i]]))

    reevaluate(list(range(len(candidates))), seeds[:1])
    # Stable sorts: equal means keep the better observed rank.
    finalists = sorted(sorted(range(len(candidates)), key=mean, reverse=True)[: settings.finalists])
    reevaluate(finalists, seeds[1:])
    chosen = max(finalists, key=mean)  # the first of equal means: the better observed rank
    info = candidates[chosen]["info"]
    return {
        "digest": str(info.get("digest", candidates[chosen]["key"])),
        "pipeline": str(info.get("pipeline", "")),
        "observed_mean": float(np.mean(rewards[chosen])),
        "reevaluations": sum(len(r) for r in rewards),
        "top_k": len(candidates),
        "seeds": seeds,
        "settings": dataclasses.asdict(settings),
        "candidates": [
            {
                "key": c["key"],
                "observed_reward": float(c["reward"]),
                "mean": mean(i),
                "rewards": rewards[i],
                "finalist": i in finalists,
            }
            for i, c in enumerate(candidates)
        ],
    }


def evaluator_measure(evaluator: BatchEvaluator, *, seed: int) -> Measure:
    """``Measure`` on the search's own env: the entries of each evaluation seed evaluated together, with the env's
    ``evaluation.seed`` set for them and restored (``seed``: the reset seed of the env's episodes)."""

    def measure(entries: list[dict[str, Any]], seeds: list[int]) -> list[float]:
        evaluation = evaluator.env.evaluation
        searched = evaluation.seed
        rewards = [0.0] * len(entries)
        try:
            for other in dict.fromkeys(seeds):
                rows = [i for i, s in enumerate(seeds) if s == other]
                actions = {
                    a: np.asarray([entries[i]["actions"][a] for i in rows], dtype=np.int64)
                    for a in evaluator.space.agents
                }
                evaluation.seed = other
                for i, reward in zip(rows, _evaluate(evaluator, actions, seed=seed), strict=True):
                    rewards[i] = float(reward)
        finally:
            evaluation.seed = searched
        return rewards

    return measure


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
