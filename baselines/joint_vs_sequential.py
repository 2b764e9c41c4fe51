"""Joint versus sequential search on a record of real evaluations served with a surrogate, and whether it decides.

The record (an ``EvalStore`` export of a task) is served by the ``table`` backend with a surrogate for the
pipelines it does not hold (``runs="mean"``: a recorded pipeline's seed mean, a prediction otherwise). Each search
of ``PAIRS`` (a joint search and the sequential search with the same inner algorithm, ``baselines.sequential``)
runs on it, with random search (``REFERENCE``) as the floor, at equal budgets over several seeds, and is scored
by the served value of the best pipeline it found (noise-free by construction). A budget is evaluations;
sequential search gives each module a third of it.

What this can decide is bounded by the surrogate: the searches climb the surrogate's landscape, not real
training. ``surrogate_spread`` measures how well each kind predicts recorded pipelines it was not fitted on
(Spearman and R^2 over ``splits`` random 80/20 splits of the recorded pipelines' seed means); ``verdict`` refuses
to read a difference as evidence when the served surrogate's mean held-out Spearman is below ``DECIDES_AT``.

The loop is ``run_search``'s (``act``, evaluate the batch, ``update``) without a run folder: on a deterministic
table nothing needs a checkpoint, and the whole comparison stays in one process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import automl_env
from automl_env.backends.table.backend import TableBackend
from automl_env.backends.table.surrogate import fit_held_out
from automl_env.record_analysis import Estimate, FloatArray, IntArray, RecordSample, canonical_tokens
from baselines.registry import make_search
from ma2ml_agents.spaces import JointActionSpace

PAIRS = (("tpe", "sequential_tpe"), ("rea", "sequential_rea"))
REFERENCE = ("random",)
"""Searches run beside the pairs, as the floor they are read against."""
DECIDES_AT = 0.5
"""Mean held-out Spearman below which a surrogate's landscape is not read as the record's (a loose bar:
surrogate benchmarks such as NAS-Bench-301 report 0.8 to 0.9)."""


@dataclass(frozen=True)
class SurrogateSpread:
    """A surrogate kind's held-out fit over random splits: mean and 2.5-97.5% range over the splits."""

    kind: str
    pipelines: int
    held_out_rows: int
    splits: int
    spearman: Estimate
    r2: Estimate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pipeline_means(sample: RecordSample) -> tuple[IntArray, FloatArray]:
    """(distinct recorded pipelines, their seed-mean accuracy): what the table backend's surrogate is fitted on."""
    rows, inverse = np.unique(sample.tokens, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    return rows, np.bincount(inverse, weights=sample.accuracy) / np.bincount(inverse)


def surrogate_spread(
    sample: RecordSample, kind: str, *, splits: int = 10, train_fraction: float = 0.8
) -> SurrogateSpread:
    """``kind``'s held-out Spearman and R^2 over ``splits`` random splits (``fit_held_out`` seeds 0, 1, ...; the
    table backend serves the fit of seed 0)."""
    tokens, accuracy = pipeline_means(sample)
    fits = [
        fit_held_out(kind, sample.nvec, tokens, accuracy, train_fraction=train_fraction, seed=s)[1]
        for s in range(splits)
    ]

    def spread(values: list[float]) -> Estimate:
        low, high = np.quantile(values, [0.025, 0.975])
        return Estimate(float(np.mean(values)), float(low), float(high), int(tokens.shape[0]))

    return SurrogateSpread(
        kind=kind,
        pipelines=int(tokens.shape[0]),
        held_out_rows=fits[0].held_out_rows,
        splits=splits,
        spearman=spread([f.spearman for f in fits]),
        r2=spread([f.r2 for f in fits]),
    )


def search_scores(
    backend: TableBackend, algorithm: str, *, seeds: Sequence[int], budgets: Sequence[int], batch_size: int
) -> dict[int, FloatArray]:
    """Per budget, the served value of the best pipeline of each seed's run of that many evaluations (a run per
    budget: a sequential search shares its budget between the modules by thirds, so it is no prefix of a longer
    one)."""
    if any(b % batch_size or b < 3 * batch_size for b in budgets):
        raise ValueError(f"budgets {list(budgets)} must be multiples of the batch size {batch_size}, 3 batches or more")
    task = backend.task
    env = automl_env.parallel_env(task, backend=backend)
    space = JointActionSpace.from_env(env)
    if space.agents != tuple(task.modules):
        raise ValueError(f"the env's agents {space.agents} are not the task's modules in order")
    scores = {b: np.empty(len(seeds)) for b in budgets}
    for budget in budgets:
        for i, seed in enumerate(seeds):
            scores[budget][i] = _best_found(backend, space, algorithm, env, seed, budget // batch_size, batch_size)
    return scores


def _best_found(
    backend: TableBackend, space: JointActionSpace, algorithm: str, env: Any, seed: int, batches: int, size: int
) -> float:
    """One run: the served value of the best pipeline it evaluated (served values are deterministic)."""
    search = make_search(algorithm, env, seed=seed, batches=batches)
    best = -math.inf
    for _ in range(batches):
        actions = search.act(size)
        rewards = backend.noise_free(canonical_tokens(backend.task, space.rows_from_env(actions)))
        search.update(actions, rewards)
        best = max(best, float(rewards.max()))
    return best


def mean_interval(values: FloatArray, *, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Mean over seeds with a percentile bootstrap 95% interval."""
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    low, high = np.quantile(draws, [0.025, 0.975])
    return Estimate(float(values.mean()), float(low), float(high), int(values.size))


def difference_interval(a: FloatArray, b: FloatArray, *, resamples: int = 2000, seed: int = 0) -> Estimate:
    """mean(a) - mean(b) of independent runs, with a percentile bootstrap 95% interval."""
    rng = np.random.default_rng(seed)
    draws = a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=1) - b[
        rng.integers(0, b.size, size=(resamples, b.size))
    ].mean(axis=1)
    low, high = np.quantile(draws, [0.025, 0.975])
    return Estimate(float(a.mean() - b.mean()), float(low), float(high), int(min(a.size, b.size)))


@dataclass(frozen=True)
class Comparison:
    """Every search's scores per budget, the joint-minus-sequential differences, and what they can say."""

    surrogate: str
    served_fit: SurrogateSpread
    scores: dict[str, dict[int, list[float]]]
    differences: dict[str, dict[int, Estimate]]
    verdicts: dict[str, dict[int, str]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(difference: Estimate, fit: SurrogateSpread) -> str:
    """What a joint-minus-sequential difference says, given how well the served surrogate ranks held-out pipelines."""
    if not fit.spearman.value >= DECIDES_AT:
        return "undecided: the surrogate is too weak to decide"
    if difference.low > 0:
        return "joint better on the surrogate"
    if difference.high < 0:
        return "sequential better on the surrogate"
    return "no difference detected on the surrogate"


def compare(
    export: str,
    sample: RecordSample,
    *,
    surrogate: str = "hist_gb",
    seeds: Sequence[int] = tuple(range(10)),
    budgets: Sequence[int] = (96, 312),
    batch_size: int = 24,
    pairs: Sequence[tuple[str, str]] = PAIRS,
    reference: Sequence[str] = REFERENCE,
    splits: int = 10,
    served_fit: SurrogateSpread | None = None,
) -> Comparison:
    """Each pair of ``pairs``, and the ``reference`` searches, on the record ``export`` served with ``surrogate``;
    see the module docstring. ``served_fit``: ``surrogate_spread(sample, surrogate, splits=splits)`` where the
    caller has it already (its fits are the slow part), else it is measured here."""
    if served_fit is not None and (served_fit.kind, served_fit.splits) != (surrogate, splits):
        raise ValueError(
            f"served_fit is {served_fit.kind!r} over {served_fit.splits} splits; the comparison serves {surrogate!r} "
            f"and reads it over {splits}: pass that kind's spread, or None to measure it here"
        )
    backend = TableBackend(sample.task, table=export, surrogate=surrogate, runs="mean")
    names = [*reference, *(name for pair in pairs for name in pair)]
    scores = {name: search_scores(backend, name, seeds=seeds, budgets=budgets, batch_size=batch_size) for name in names}
    fit = served_fit if served_fit is not None else surrogate_spread(sample, surrogate, splits=splits)
    differences = {
        f"{joint} - {sequential}": {b: difference_interval(scores[joint][b], scores[sequential][b]) for b in budgets}
        for joint, sequential in pairs
    }
    return Comparison(
        surrogate=surrogate,
        served_fit=fit,
        scores={name: {b: v.tolist() for b, v in by_budget.items()} for name, by_budget in scores.items()},
        differences=differences,
        verdicts={pair: {b: verdict(d, fit) for b, d in by_budget.items()} for pair, by_budget in differences.items()},
    )


def describe_comparison(comparison: Comparison) -> str:
    """Markdown: each search's mean served score per budget, then the differences and their verdicts."""
    budgets = sorted(next(iter(comparison.scores.values())))
    lines = [
        f"| search | {' | '.join(f'{b} evaluations' for b in budgets)} |",
        "|---|" + "---|" * len(budgets),
    ]
    for name, scores in comparison.scores.items():
        cells = [str(mean_interval(np.asarray(scores[b]))) for b in budgets]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    for pair, differences in comparison.differences.items():
        cells = [f"{differences[b]}: {comparison.verdicts[pair][b]}" for b in budgets]
        lines.append(f"| {pair} | {' | '.join(cells)} |")
    fit = comparison.served_fit
    lines.append(
        f"\nThe served surrogate ({fit.kind}) ranks held-out recorded pipelines with Spearman {fit.spearman.value:.3f} "
        f"[{fit.spearman.low:.3f}, {fit.spearman.high:.3f}] ({fit.pipelines} pipelines, {fit.splits} splits); "
        f"a difference is read only at {DECIDES_AT} or more."
    )
    return "\n".join(lines) + "\n"


def describe_fits(fits: Sequence[SurrogateSpread]) -> str:
    lines = [
        "| surrogate | pipelines (held out per split) | splits | held-out Spearman | held-out R^2 |",
        "|---|---|---|---|---|",
    ]
    for f in fits:
        lines.append(
            f"| {f.kind} | {f.pipelines} ({f.held_out_rows}) | {f.splits} | {f.spearman.value:.3f} "
            f"[{f.spearman.low:.3f}, {f.spearman.high:.3f}] | {f.r2.value:.3f} [{f.r2.low:.3f}, {f.r2.high:.3f}] |"
        )
    return "\n".join(lines) + "\n"
