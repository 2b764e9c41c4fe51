"""How hard a benchmark is: statistics of the reward landscape over a task's joint token space.

Real AutoML landscapes are rugged, coupled and noisy; a benchmark that is smooth and additive rewards
algorithms that would fail on real ones. ``landscape_statistics`` measures, on any objective over
token rows (``token_objective`` builds one for any backend):

- ``mutation_correlation``: Pearson correlation between the reward of a uniform random pipeline and
  that of a one-token mutant (one position changed to another value): 1 for a smooth landscape, 0 for
  an unpredictable one (the autocorrelation of a one-step random walk);
- ``additive_r2``: R^2, on held-out uniform samples, of the best per-token additive model (ridge
  regression on one-hot tokens): how much of the landscape needs no interaction between positions;
- ``climbs`` local optima reached by first-improvement hill climbing under one-token moves from
  random starts: the distinct optima found and their mean reward; and, where the space is small
  enough to enumerate, ``local_optima`` (pipelines no one-token neighbour beats; plateaus of equal
  rewards count) and ``strict_local_optima`` (pipelines better than all their one-token neighbours);
- ``noise_std``: the standard deviation of a pipeline's reward between two evaluation seeds (0 for
  seed-averaged tables and noise-free benchmarks), and ``icc``, the intraclass correlation ICC(1) of one
  evaluation over the same pairs (``one_way_anova``): the share of its variance that is the pipeline's rather than
  the seed's (1 where there is no noise);
- ``quantiles`` of the reward under uniform sampling.

    from automl_env.landscape import landscape_statistics, token_objective
    stats = landscape_statistics(token_objective("nb201-cifar100"), seed=0)

Command line: ``python examples/landscape.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import Evaluator
from automl_env.objectives import Objective
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
ENUMERATE_AT_MOST = 200_000


@dataclass(frozen=True)
class TokenObjective:
    """Rewards of joint token rows (n, T): every module of the task, in task order."""

    nvec: tuple[int, ...]
    evaluate: Callable[[IntArray, int], FloatArray]
    """(rows, evaluation seed) -> rewards."""
    name: str = ""


@dataclass(frozen=True)
class LandscapeStats:
    """What ``landscape_statistics`` measured; see the module docstring."""

    name: str
    log10_size: float
    mutation_correlation: float
    additive_r2: float
    restarts: int
    distinct_optima: int
    mean_optimum: float
    best_optimum: float
    local_optima: int | None
    strict_local_optima: int | None
    noise_std: float
    icc: float
    quantiles: dict[str, float] = field(default_factory=dict)
    evaluations: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def token_objective(
    task: str | TaskSpec,
    backend: str | Evaluator | None = None,
    *,
    backend_options: Mapping[str, Any] | None = None,
    objective: str | Objective | None = None,
) -> TokenObjective:
    """The task's reward as a function of token rows, through any backend (the task's fast backend by default).

    The synthetic and table backends are scored on their vectorised token paths; others evaluate pipelines.
    """
    from automl_env.evaluation import Evaluation

    spec = get_task(task)
    evaluation = Evaluation(
        spec, backend=backend or spec.fast_backend, backend_options=backend_options, objective=objective
    )
    spaces = list(spec.modules.items())
    widths = np.cumsum([0] + [s.num_tokens for _, s in spaces])
    nvec = tuple(n for _, s in spaces for n in s.nvec)
    backend_ = evaluation.backend
    vectorised = hasattr(backend_, "evaluate_tokens") and evaluation.objective.name == "accuracy"

    def evaluate(rows: IntArray, seed: int) -> FloatArray:
        if vectorised and backend_.name.startswith("synthetic"):
            split = {name: rows[:, widths[i] : widths[i + 1]] for i, (name, _) in enumerate(spaces)}
            return np.asarray(backend_.evaluate_tokens(split, seed=seed), dtype=np.float64)  # type: ignore[attr-defined]
        if vectorised:
            return np.asarray(backend_.evaluate_tokens(rows, seed=seed), dtype=np.float64)  # type: ignore[attr-defined]
        pipelines = [
            Pipeline.of({name: s.decode(row[widths[i] : widths[i + 1]]) for i, (name, s) in enumerate(spaces)})
            for row in rows
        ]
        results = backend_.evaluate(pipelines, fidelity=evaluation.fidelity, seed=seed)
        return np.array([evaluation.objective(r) for r in results], dtype=np.float64)

    version = getattr(backend_, "version", 1)
    label = backend_.name if version == 1 else f"{backend_.name} v{version}"
    return TokenObjective(nvec, evaluate, name=f"{spec.name} ({label})")


def landscape_statistics(
    objective: TokenObjective, *, samples: int = 4000, restarts: int = 30, seed: int = 0
) -> LandscapeStats:
    """Every statistic of the module docstring, from ``samples`` uniform pipelines and ``restarts`` climbs."""
    if samples < 20 or restarts < 1:
        raise ValueError(f"need samples >= 20 and restarts >= 1, got {samples} and {restarts}")
    rng = np.random.default_rng(seed)
    nvec = np.asarray(objective.nvec, dtype=np.int64)
    counter = _Counter(objective)
    rows = rng.integers(0, nvec, size=(samples, nvec.size))
    values = counter(rows)
    optima = [_climb(counter, rng.integers(0, nvec, size=nvec.size), nvec) for _ in range(restarts)]
    distinct = {tuple(t.tolist()): v for t, v in optima}
    size = math.prod(int(n) for n in nvec)
    quarter = values[: samples // 4]
    again = counter(rows[: samples // 4], seed=1)
    local, strict = _local_optima(counter, nvec) if size <= ENUMERATE_AT_MOST else (None, None)
    return LandscapeStats(
        name=objective.name,
        log10_size=float(np.log10(nvec).sum()),
        mutation_correlation=_mutation_correlation(counter, rows, values, nvec, rng),
        additive_r2=_additive_r2(rows, values, nvec),
        restarts=restarts,
        distinct_optima=len(distinct),
        mean_optimum=float(np.mean([v for _, v in optima])),
        best_optimum=float(max(distinct.values())),
        local_optima=local,
        strict_local_optima=strict,
        noise_std=float(np.std(again - quarter) / math.sqrt(2)),
        icc=one_way_anova(list(np.stack([quarter, again], axis=1)))[1] if np.any(again != quarter) else 1.0,
        quantiles={f"q{round(100 * q)}": float(np.quantile(values, q)) for q in QUANTILES},
        evaluations=counter.calls,
    )


def one_way_anova(groups: Sequence[FloatArray]) -> tuple[float, float]:
    """(within-group standard deviation, ICC(1)) of groups of repeated measurements (NaN where undefined)."""
    sizes = np.array([g.size for g in groups], dtype=np.float64)
    total, count = float(sizes.sum()), len(groups)
    if count < 2 or total <= count:
        return math.nan, math.nan
    grand = float(np.concatenate(groups).mean())
    between = float(sum(g.size * (g.mean() - grand) ** 2 for g in groups)) / (count - 1)
    within = float(sum(((g - g.mean()) ** 2).sum() for g in groups)) / (total - count)
    k0 = (total - float((sizes**2).sum()) / total) / (count - 1)
    denominator = between + (k0 - 1) * within
    return math.sqrt(within), (between - within) / denominator if denominator > 0 else math.nan


class _Counter:
    """The objective at evaluation seed 0 (or another), counting evaluations."""

    def __init__(self, objective: TokenObjective) -> None:
        self.objective = objective
        self.calls = 0

    def __call__(self, rows: IntArray, seed: int = 0) -> FloatArray:
        self.calls += rows.shape[0]
        return self.objective.evaluate(np.ascontiguousarray(rows, dtype=np.int64), seed)


def _mutants(rows: IntArray, nvec: IntArray, rng: np.random.Generator) -> IntArray:
    """Each row with one random position changed to a different random value."""
    out = rows.copy()
    position = rng.integers(0, nvec.size, size=rows.shape[0])
    shift = 1 + (rng.random(rows.shape[0]) * (nvec[position] - 1)).astype(np.int64)
    index = np.arange(rows.shape[0])
    out[index, position] = (rows[index, position] + shift) % nvec[position]
    return out


def _mutation_correlation(
    counter: _Counter, rows: IntArray, values: FloatArray, nvec: IntArray, rng: np.random.Generator
) -> float:
    if not np.any(nvec > 1):
        return float("nan")
    mutated = counter(_mutants(rows, np.maximum(nvec, 1), rng))
    if np.std(values) == 0 or np.std(mutated) == 0:
        return float("nan")
    return float(np.corrcoef(values, mutated)[0, 1])


def one_hot(rows: IntArray, nvec: IntArray) -> FloatArray:
    """(n, sum(nvec)) indicator matrix of token rows: one column per (position, token)."""
    offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]])
    out = np.zeros((rows.shape[0], int(nvec.sum())))
    out[np.arange(rows.shape[0])[:, None], rows + offsets] = 1.0
    return out


def _additive_r2(rows: IntArray, values: FloatArray, nvec: IntArray, ridge: float = 1e-3) -> float:
    """Held-out R^2 (last quarter of the samples) of a ridge fit on one-hot tokens (first three quarters)."""
    cut = 3 * rows.shape[0] // 4
    x = one_hot(rows, nvec)
    mean = values[:cut].mean()
    gram = x[:cut].T @ x[:cut] + ridge * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x[:cut].T @ (values[:cut] - mean))
    predicted = x[cut:] @ weights + mean
    total = float(np.sum((values[cut:] - values[cut:].mean()) ** 2))
    return 1.0 - float(np.sum((values[cut:] - predicted) ** 2)) / total if total > 0 else float("nan")


def _neighbours(row: IntArray, nvec: IntArray) -> IntArray:
    """Every one-token change of ``row`` (sum(nvec - 1) rows)."""
    out = []
    for position, n in enumerate(nvec.tolist()):
        for value in range(n):
            if value != row[position]:
                changed = row.copy()
                changed[position] = value
                out.append(changed)
    return np.asarray(out, dtype=np.int64).reshape(-1, nvec.size)


def _climb(counter: _Counter, start: IntArray, nvec: IntArray, max_steps: int = 10_000) -> tuple[IntArray, float]:
    """Best-improvement ascent under one-token moves until no neighbour is strictly better."""
    current, value = start, float(counter(start[None, :])[0])
    for _ in range(max_steps):
        neighbours = _neighbours(current, nvec)
        if neighbours.shape[0] == 0:
            break
        scores = counter(neighbours)
        best = int(np.argmax(scores))
        if scores[best] <= value:
            break
        current, value = neighbours[best], float(scores[best])
    return current, value


def _local_optima(counter: _Counter, nvec: IntArray) -> tuple[int, int]:
    """(pipelines no one-token neighbour beats, pipelines better than every one-token neighbour), by enumeration."""
    grids = np.meshgrid(*[np.arange(n) for n in nvec.tolist()], indexing="ij")
    every = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
    values = counter(every)
    radix = np.cumprod(np.concatenate([[1], nvec[:0:-1]]))[::-1]
    unbeaten = np.ones(every.shape[0], dtype=bool)
    strict = np.ones(every.shape[0], dtype=bool)
    for position, n in enumerate(nvec.tolist()):
        for shift in range(1, n):
            moved = every.copy()
            moved[:, position] = (every[:, position] + shift) % n
            neighbour = values[moved @ radix]
            unbeaten &= values >= neighbour
            strict &= values > neighbour
    return int(unbeaten.sum()), int(strict.sum())


def describe(stats: Sequence[LandscapeStats]) -> str:
    """A markdown table of several landscapes side by side."""
    lines = [
        "| landscape | log10 size | mutation corr. | additive R^2 | distinct optima / climbs | mean climbed optimum "
        "| local optima (strict) | seed-noise std | ICC(1) | reward q5 / q50 / q95 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in stats:
        strict = (
            "n/a (too large to enumerate)"
            if s.local_optima is None
            else f"{s.local_optima:,} ({s.strict_local_optima:,})"
        )
        q = s.quantiles
        lines.append(
            f"| {s.name} | {s.log10_size:.1f} | {s.mutation_correlation:.3f} | {s.additive_r2:.3f} "
            f"| {s.distinct_optima} / {s.restarts} | {s.mean_optimum:.4f} | {strict} | {s.noise_std:.4f} "
            f"| {s.icc:.3f} | {q['q5']:.4f} / {q['q50']:.4f} / {q['q95']:.4f} |"
        )
    return "\n".join(lines) + "\n"
