"""Landscape statistics of a recorded design (``automl_env.record_design``), each with a 95% interval and its n.

``automl_env.landscape`` measures a landscape it can query at will; a record of real trainings answers only the
evaluations its design planned, and a record still being collected only a prefix of them. These estimators read
each statistic from the kind of evaluation the design made for it, on whatever prefix is recorded:

- ``mutation_correlation``: Pearson correlation of (uniform pipeline, its one-token ``mutant``), both at seed 0,
  as ``landscape``'s (seed noise attenuates it on a noisy landscape, there as here; a mutant that changed a token
  its pipeline does not use is the same pipeline, one evaluation, as a neutral move); bootstrap over pairs;
- ``noise_std`` and ``icc``: from the ``repeat`` groups (a uniform pipeline at seed 0 and its repeats at seeds
  1..3), the one-way ANOVA: the within-group standard deviation (sqrt of the within mean square: the
  seed-to-seed noise of one evaluation, as ``landscape``'s ``noise_std``) and the intraclass correlation ICC(1)
  = (MSB - MSW) / (MSB + (k0 - 1) MSW), the share of one evaluation's variance that belongs to the pipeline
  rather than the seed (the reliability of a single evaluation: the R^2 no model of the pipeline can beat when
  it predicts single evaluations); bootstrap over groups;
- ``additive_r2``: held-out R^2 of ridge regression on one-hot tokens (the ``landscape`` statistic, its ridge
  chosen by leave-one-out on the training rows);
- interactions, from held-out R^2 of three gradient-boosted tree models (``HistGradientBoostingRegressor`` on the
  tokens as categories, the same settings, early stopping) that differ only in which tokens a tree may combine
  (``interaction_cst``): ``per_token`` (one token per tree: a sum of one function per token), ``module_additive``
  (tokens of one module per tree: a sum of one function per module, each non-additive inside its module) and
  ``full`` (any tokens). ``between_module_interaction`` = full - module-additive R^2 is the share of held-out
  variance that only interactions between modules explain; ``within_module_interaction`` = module-additive -
  per-token. The freer model needs more data, so at a record's n each difference is biased down: on functions
  of 5 tokens without such interactions (the design's first 300 evaluations, tests/test_record_analysis.py)
  full - module-additive came out -0.17 to +0.03 over four draws of the effects, and 0.11 to 0.34 (intervals
  above 0) where products of tokens of two modules held about 60% of the variance. A positive difference whose
  interval excludes 0 is evidence of interactions; one at or below 0 is not evidence of their absence. Trees
  and not ridge here: they find the few tokens that matter among 100, where a ridge spreads its weight over
  every one (additive functions of 5 tokens, same rows: held-out R^2 0.59 to 0.67 for ridge, 0.94 to 0.99 for
  the per-token trees).
  Why models and not the design's ``module`` rows: a module row shows one module's effect at the other
  modules' defaults only, and a prefix holds a handful of them (85 of the 1,510).

Cross-validation, for every model: 5 folds over families (a uniform pipeline with its mutant and repeats; each
other pipeline alone), fitted on the seed-mean accuracy of every recorded pipeline of the training folds
(uniform, mutant, repeat and module rows) and scored on the seed-0 accuracy of the held-out uniform pipelines;
intervals by a paired bootstrap over those held-out rows (the test rows' sampling, not the fits'). A record's
seed noise caps every held-out R^2 near the ICC.

``rescored`` puts another landscape on the same rows and seeds (``synthetic-rugged`` through
``landscape.token_objective``), so a record and its imitation are compared on the same design and n.

    from automl_env.record_analysis import describe_record, read_record, record_statistics
    sample = read_record("automl_env/data/fashion_mnist_record/evaluations.csv", "fashion-mnist")
    print(describe_record([record_statistics(sample, name="fashion-mnist (recorded)")]))

Command line: ``python examples/analyse_fashion_mnist_record.py``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from automl_env.backends.table.store_export import read_store_export
from automl_env.landscape import TokenObjective, one_hot, one_way_anova
from automl_env.record_design import Design, plan
from automl_env.tasks import TaskSpec, get_task

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
FOLDS = 5
MODELS = ("additive", "per_token", "module_additive", "full")
RIDGES = np.logspace(-3, 3, 13)
MIN_ROWS = 10
"""Fewer uniform rows or mutant pairs than this leave a statistic NaN: too few to estimate anything."""
MIN_GROUPS = 3
"""Likewise for repeat groups (each holds 2 to 4 evaluations)."""


@dataclass(frozen=True)
class Estimate:
    """A statistic, its 95% interval and the number of rows (pairs, groups) it rests on; NaN where too few."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        if not math.isfinite(self.value):
            return f"n/a (n {self.n})"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n {self.n})"


NOT_ESTIMATED = Estimate(math.nan, math.nan, math.nan, 0)


@dataclass(frozen=True)
class RecordSample:
    """The recorded evaluations of a design: row i is a planned evaluation of ``kinds[i]`` and its accuracy."""

    task: str
    module_sizes: tuple[int, ...]
    """Tokens of each module, in task order (the columns of ``tokens``)."""
    nvec: tuple[int, ...]
    kinds: tuple[str, ...]
    tokens: IntArray
    seeds: IntArray
    refs: IntArray
    """The uniform pipeline a row belongs to: its own index for uniform rows, ``ref`` for mutants and repeats, -1
    for module rows."""
    accuracy: FloatArray
    planned: int
    """Evaluations in the plan the record was matched against."""
    unplanned: int = 0
    """Recorded evaluations of the export that the plan does not hold (ignored)."""

    def of(self, kind: str) -> IntArray:
        return np.flatnonzero(np.asarray(self.kinds) == kind)

    def subset(self, rows: IntArray) -> RecordSample:
        """The sample's rows ``rows``, in that order."""
        return replace(
            self,
            kinds=tuple(self.kinds[i] for i in rows.tolist()),
            tokens=self.tokens[rows],
            seeds=self.seeds[rows],
            refs=self.refs[rows],
            accuracy=self.accuracy[rows],
        )

    def counts(self) -> dict[str, int]:
        return dict(Counter(self.kinds))

    def rescored(self, objective: TokenObjective) -> RecordSample:
        """The same rows and seeds, with ``objective``'s rewards instead of the recorded accuracies."""
        if tuple(objective.nvec) != self.nvec:
            raise ValueError(f"{objective.name} scores other token rows than the record's task {self.task}")
        values = np.empty(self.accuracy.shape[0])
        for seed in np.unique(self.seeds).tolist():
            rows = np.flatnonzero(self.seeds == seed)
            values[rows] = objective.evaluate(self.tokens[rows], int(seed))
        return replace(self, accuracy=values)


def design_sample(task: str | TaskSpec, *, design: Design | None = None, design_seed: int = 0) -> RecordSample:
    """Every evaluation of ``plan(task, design, seed=design_seed)``, unscored (NaN): what a complete record holds,
    for ``rescored`` to put a landscape on."""
    spec = get_task(task)
    planned = plan(spec, design or Design(), seed=design_seed)
    uniform_index = np.cumsum([p.kind == "uniform" for p in planned]) - 1
    return RecordSample(
        task=spec.name,
        module_sizes=tuple(space.num_tokens for space in spec.modules.values()),
        nvec=tuple(int(n) for space in spec.modules.values() for n in space.nvec),
        kinds=tuple(p.kind for p in planned),
        tokens=canonical_tokens(spec, np.asarray([p.tokens for p in planned], dtype=np.int64)),
        seeds=np.array([p.seed for p in planned], dtype=np.int64),
        refs=np.array([i if p.kind == "uniform" else p.ref for p, i in zip(planned, uniform_index, strict=True)]),
        accuracy=np.full(len(planned), math.nan),
        planned=len(planned),
    )


def read_record(
    path: str | Path, task: str | TaskSpec, *, design: Design | None = None, design_seed: int = 0
) -> RecordSample:
    """The evaluations of ``plan(task, design, seed=design_seed)`` that an ``EvalStore`` export records (ok ones,
    at the task's search fidelity), in plan order. Two planned evaluations of one pipeline and seed (a mutant
    that changed only a token its pipeline does not use) are one recorded evaluation, read twice."""
    spec = get_task(task)
    table = read_store_export(spec, path)
    records = table.records(spec.search_fidelity, "validation")
    planned = design_sample(spec, design=design, design_seed=design_seed)
    rows = table.lookup(records.fidelity, "validation", planned.tokens)
    column = {seed: j for j, seed in enumerate(records.seeds or (0,))}
    columns = np.array([column.get(int(s), -1) for s in planned.seeds])
    found = np.flatnonzero((rows >= 0) & (columns >= 0))
    found = found[np.isfinite(records.accuracy[rows[found], columns[found]])]
    cells = set(zip(rows[found].tolist(), columns[found].tolist(), strict=True))
    return replace(
        planned.subset(found),
        accuracy=records.accuracy[rows[found], columns[found]],
        unplanned=int(np.isfinite(records.accuracy).sum()) - len(cells),
    )


def canonical_tokens(task: TaskSpec, tokens: IntArray) -> IntArray:
    """The tokens of the pipelines the rows decode to (``ModuleSpace.canonical``): what was trained and recorded.

    A token that does not act in a pipeline where the space says so (an unused cell input) takes its canonical
    value, so a mutant that changed only such a token is the same pipeline as its parent. The augmentation space
    is one-to-one: a magnitude at probability 0, or of an operation that has none, is part of its policy, so such
    a mutant is another pipeline, whose training at its parent's seed is bit for bit its parent's."""
    bounds = np.cumsum([0, *(space.num_tokens for space in task.modules.values())])
    return np.concatenate(
        [
            space.canonical(tokens[:, a:b])
            for space, a, b in zip(task.modules.values(), bounds[:-1], bounds[1:], strict=True)
        ],
        axis=1,
    )


def _bootstrap(
    statistic: Callable[[IntArray], float], n: int, *, resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile 95% interval of ``statistic(indices)`` over ``resamples`` draws of n indices with replacement."""
    values = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(resamples)])
    values = values[np.isfinite(values)]
    if values.size < resamples // 2:
        return math.nan, math.nan
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def _estimate(
    statistic: Callable[[IntArray], float], n: int, *, resamples: int, rng: np.random.Generator, least: int = MIN_ROWS
) -> Estimate:
    if n < least:
        return Estimate(math.nan, math.nan, math.nan, n)
    value = statistic(np.arange(n))
    return Estimate(value, *_bootstrap(statistic, n, resamples=resamples, rng=rng), n=n)


def _pearson(a: FloatArray, b: FloatArray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def mutation_pairs(sample: RecordSample) -> tuple[FloatArray, FloatArray]:
    """(accuracy of the uniform pipeline, of its mutant), both at seed 0, for every pair the record completes."""
    parent = {int(sample.refs[i]): float(sample.accuracy[i]) for i in sample.of("uniform")}
    pairs = [
        (parent[int(sample.refs[i])], float(sample.accuracy[i]))
        for i in sample.of("mutant")
        if int(sample.refs[i]) in parent
    ]
    array = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
    return array[:, 0], array[:, 1]


def mutation_correlation(sample: RecordSample, *, resamples: int = 1000, seed: int = 0) -> Estimate:
    parents, mutants = mutation_pairs(sample)
    rng = np.random.default_rng(seed)
    return _estimate(lambda i: _pearson(parents[i], mutants[i]), parents.size, resamples=resamples, rng=rng)


def repeat_groups(sample: RecordSample) -> list[FloatArray]:
    """Accuracies of each uniform pipeline recorded at two seeds or more (seed 0 and its repeats)."""
    groups: dict[int, list[float]] = {}
    for i in np.concatenate([sample.of("uniform"), sample.of("repeat")]).tolist():
        groups.setdefault(int(sample.refs[i]), []).append(float(sample.accuracy[i]))
    return [np.asarray(g) for _, g in sorted(groups.items()) if len(g) >= 2]


def seed_noise(sample: RecordSample, *, resamples: int = 1000, seed: int = 0) -> tuple[Estimate, Estimate]:
    """(noise std, ICC(1)) from the repeat groups, with intervals over resampled groups."""
    groups = repeat_groups(sample)
    rng = np.random.default_rng(seed)
    noise, icc = (
        _estimate(
            lambda i, k=k: one_way_anova([groups[j] for j in i])[k],  # type: ignore[misc]
            len(groups),
            resamples=resamples,
            rng=rng,
            least=MIN_GROUPS,
        )
        for k in (0, 1)
    )
    return noise, icc


def _median_abs(values: FloatArray, *, resamples: int, rng: np.random.Generator) -> Estimate:
    magnitude = np.abs(values)
    return _estimate(lambda i: float(np.median(magnitude[i])), magnitude.size, resamples=resamples, rng=rng)


@dataclass(frozen=True)
class NeighbourDifferences:
    """``neighbour_differences``: median |difference| of same-seed neighbours by module, and of same-pipeline
    evaluations at two seeds."""

    mutants: dict[str, Estimate]
    """Per module: its one-token mutants against their pipelines, both at seed 0."""
    repeats: Estimate
    """Each repeat against its pipeline's first recorded evaluation (seed 0 where recorded)."""
    identical: int
    """Mutants left out because they scored exactly their pipeline's accuracy (a token training ignores)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def neighbour_differences(sample: RecordSample, *, resamples: int = 1000, seed: int = 0) -> NeighbourDifferences:
    """How far apart two evaluations land that share a seed but not a pipeline, against two that share a pipeline
    but not a seed. Were seed noise independent of the pipeline, a mutant would differ from its pipeline by two
    draws of noise and its effect, so every module's median |difference| would be at or above the repeats'; a
    module below them shares noise with its parent at the same seed (the same initialisation and data order
    giving nearly the same training). Bit-identical pairs are left out (counted): they share everything."""
    rng = np.random.default_rng(seed)
    bounds = np.cumsum([0, *sample.module_sizes])
    modules = list(get_task(sample.task).modules)
    parent = {int(sample.refs[i]): i for i in sample.of("uniform")}
    by_module: dict[str, list[float]] = {name: [] for name in modules}
    identical = 0
    for i in sample.of("mutant").tolist():
        j = parent.get(int(sample.refs[i]))
        if j is None:
            continue
        changed = np.flatnonzero(sample.tokens[i] != sample.tokens[j])
        difference = float(sample.accuracy[i] - sample.accuracy[j])
        if changed.size == 0 or difference == 0.0:
            identical += 1
            continue
        by_module[modules[int(np.searchsorted(bounds, changed[0], side="right")) - 1]].append(difference)
    repeats = [g[1:] - g[0] for g in repeat_groups(sample)]
    return NeighbourDifferences(
        mutants={name: _median_abs(np.asarray(d), resamples=resamples, rng=rng) for name, d in by_module.items()},
        repeats=_median_abs(np.concatenate(repeats) if repeats else np.zeros(0), resamples=resamples, rng=rng),
        identical=identical,
    )


@dataclass(frozen=True)
class SharedNoise:
    """``shared_noise``: pipelines and their one-token mutants, both trained at the same seeds (the design's second
    stage)."""

    noise_correlation: Estimate
    """Correlation of the two's seed-to-seed deviations (each from its own mean over their common seeds): 0 when a
    neighbour's noise is its own, 1 when it is the seed's."""
    mean_correlation: Estimate
    """Mutation correlation of the seed means (the noise averaged down, shared or not)."""
    identical: int
    """Pairs left out because they scored the same at every seed (a token training ignores)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mutant_seed_pairs(sample: RecordSample) -> list[tuple[FloatArray, FloatArray]]:
    """(pipeline's accuracies, its mutant's) at the seeds both were recorded at, for pairs with two or more."""
    sides: dict[str, dict[int, dict[int, float]]] = {"pipeline": {}, "mutant": {}}
    side = {"uniform": "pipeline", "repeat": "pipeline", "mutant": "mutant", "mutant_repeat": "mutant"}
    for i, kind in enumerate(sample.kinds):
        if kind in side:
            sides[side[kind]].setdefault(int(sample.refs[i]), {})[int(sample.seeds[i])] = float(sample.accuracy[i])
    pairs = []
    for ref, mutant in sorted(sides["mutant"].items()):
        pipeline = sides["pipeline"].get(ref, {})
        seeds = sorted(set(pipeline) & set(mutant))
        if len(seeds) >= 2:
            pairs.append((np.array([pipeline[s] for s in seeds]), np.array([mutant[s] for s in seeds])))
    return pairs


def shared_noise(sample: RecordSample, *, resamples: int = 1000, seed: int = 0) -> SharedNoise:
    """Whether a one-token mutant trained at its pipeline's seeds shares their noise (see ``SharedNoise``); pooled
    over pairs, intervals by a bootstrap over pairs. NaN until the design's second stage is recorded."""
    pairs = mutant_seed_pairs(sample)
    kept = [(a, b) for a, b in pairs if not np.array_equal(a, b)]
    deviations = [(a - a.mean(), b - b.mean()) for a, b in kept]
    means = np.array([(a.mean(), b.mean()) for a, b in kept]).reshape(-1, 2)

    def pooled(rows: IntArray) -> float:
        a = np.concatenate([deviations[r][0] for r in rows]) if rows.size else np.zeros(0)
        b = np.concatenate([deviations[r][1] for r in rows]) if rows.size else np.zeros(0)
        scale = math.sqrt(float(a @ a) * float(b @ b))
        return float(a @ b) / scale if scale > 0 else math.nan

    rng = np.random.default_rng(seed)
    return SharedNoise(
        noise_correlation=_estimate(pooled, len(kept), resamples=resamples, rng=rng),
        mean_correlation=_estimate(
            lambda i: _pearson(means[i, 0], means[i, 1]), len(kept), resamples=resamples, rng=rng
        ),
        identical=len(pairs) - len(kept),
    )


@dataclass(frozen=True)
class NoiseProfile:
    """How a record's seed noise depends on the pipeline's level (``noise_profile``; the form is ``ShortfallNoise``)."""

    median: float
    spread: float
    """Median and (median - 5% quantile) of the uniform pipelines' seed-0 accuracies."""
    base: Estimate
    """Noise std of pipelines at or above the median (accuracy units)."""
    slope: Estimate
    """Relative growth of the noise per spread below the median."""
    cap: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SLOPES = np.linspace(0.0, 20.0, 2001)


def _fit_shortfall(shortfall: FloatArray, dof: FloatArray, variance: FloatArray) -> tuple[float, float]:
    """Maximum-likelihood (base, slope) of groups whose sample variances are sigma^2 chi2(dof) / dof, sigma = base
    (1 + slope shortfall); slope on a grid of 0.01, base in closed form given it."""
    factor = (1.0 + SLOPES[:, None] * shortfall[None, :]) ** 2  # (slopes, groups)
    base2 = (dof * variance / factor).sum(axis=1) / dof.sum()
    nll = (dof * np.log(factor)).sum(axis=1) + dof.sum() * np.log(np.maximum(base2, 1e-300))
    best = int(np.argmin(nll))
    return math.sqrt(float(base2[best])), float(SLOPES[best])


def noise_profile(sample: RecordSample, *, cap: float = 2.0, resamples: int = 1000, seed: int = 0) -> NoiseProfile:
    """The seed noise of the repeat groups as ``ShortfallNoise``: std = base (1 + slope z), z = clip((median -
    m) / spread, 0, cap), m the group's mean accuracy (its pipeline's level), median and spread those of the uniform
    seed-0 accuracies; fitted by maximum likelihood (each group's variance a scaled chi-square), intervals by a
    bootstrap over groups. A group's mean holds its own noise, so noisy low groups are placed a little too far out
    (on four seeds the mean's noise is half the evaluation's)."""
    uniform = sample.accuracy[sample.of("uniform")]
    groups = repeat_groups(sample)
    if uniform.size < MIN_ROWS or len(groups) < MIN_GROUPS:
        return NoiseProfile(math.nan, math.nan, NOT_ESTIMATED, NOT_ESTIMATED, cap)
    median, q5 = (float(q) for q in np.quantile(uniform, [0.5, 0.05]))
    spread = median - q5
    shortfall = np.array([np.clip((median - g.mean()) / spread, 0.0, cap) for g in groups])
    dof = np.array([g.size - 1.0 for g in groups])
    variance = np.array([g.var(ddof=1) for g in groups])
    rng = np.random.default_rng(seed)
    fits = [
        _fit_shortfall(shortfall[i], dof[i], variance[i])
        for i in (rng.integers(0, len(groups), len(groups)) for _ in range(resamples))
    ]
    point = _fit_shortfall(shortfall, dof, variance)
    estimates = []
    for k in (0, 1):
        low, high = np.quantile([f[k] for f in fits], [0.025, 0.975])
        estimates.append(Estimate(point[k], float(low), float(high), len(groups)))
    return NoiseProfile(median, spread, estimates[0], estimates[1], cap)


def _families(sample: RecordSample) -> list[object]:
    """The cross-validation group of each row: its uniform pipeline (mutants and repeats go with it), else its
    tokens (a module row; the default pipeline's seeds are one group)."""
    return [
        ("uniform", int(r)) if r >= 0 else ("tokens", tuple(t.tolist()))
        for r, t in zip(sample.refs.tolist(), sample.tokens, strict=True)
    ]


def _r2(actual: FloatArray, predicted: FloatArray) -> float:
    total = float(np.sum((actual - actual.mean()) ** 2))
    return 1.0 - float(np.sum((actual - predicted) ** 2)) / total if total > 0 else math.nan


def held_out_predictions(sample: RecordSample, *, seed: int = 0) -> tuple[FloatArray, dict[str, FloatArray]]:
    """(seed-0 accuracy of every recorded uniform pipeline, each model's prediction of it from the folds that hold
    it out); see the module docstring."""
    families = _families(sample)
    names = sorted(set(families), key=repr)
    fold_of = dict(zip(names, np.random.default_rng(seed).permutation(len(names)) % FOLDS, strict=True))
    fold = np.array([fold_of[f] for f in families])
    uniform = sample.of("uniform")
    predictions = {model: np.full(uniform.size, math.nan) for model in MODELS}
    for k in range(FOLDS):
        test = np.flatnonzero(fold[uniform] == k)
        train = np.flatnonzero(fold != k)
        if test.size == 0 or train.size < 2:
            continue
        rows, inverse = np.unique(sample.tokens[train], axis=0, return_inverse=True)
        means = np.bincount(inverse.ravel(), weights=sample.accuracy[train]) / np.bincount(inverse.ravel())
        for model, predicted in _fit_predict(sample, rows, means, sample.tokens[uniform[test]], seed).items():
            predictions[model][test] = predicted
    return sample.accuracy[uniform], predictions


def _fit_predict(
    sample: RecordSample, train: IntArray, targets: FloatArray, test: IntArray, seed: int
) -> dict[str, FloatArray]:
    """Each model of ``MODELS`` fitted on (train, targets), predicting ``test``."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from threadpoolctl import threadpool_limits

    positions = list(range(len(sample.nvec)))
    bounds = np.cumsum([0, *sample.module_sizes]).tolist()
    groups = {
        "per_token": [[p] for p in positions],
        "module_additive": [positions[a:b] for a, b in itertools.pairwise(bounds)],
        "full": None,
    }
    with threadpool_limits(1):  # small fits; threads spinning against other jobs only slow them (surrogate.py)
        encoded = one_hot(np.concatenate([train, test]), np.asarray(sample.nvec))
        ridge = RidgeCV(alphas=RIDGES).fit(encoded[: len(train)], targets)
        predictions = {"additive": np.asarray(ridge.predict(encoded[len(train) :]), dtype=np.float64)}
        for model, allowed in groups.items():
            # Small data: shallow trees, small steps, leaves of at least 5 pipelines, and early stopping on a fifth
            # of the training pipelines, so that freedom to combine tokens is not spent on noise.
            trees = HistGradientBoostingRegressor(
                max_iter=300,
                learning_rate=0.1,
                max_leaf_nodes=8,
                min_samples_leaf=5,
                l2_regularization=1.0,
                categorical_features=np.ones(len(positions), dtype=bool),
                interaction_cst=allowed,
                early_stopping=True,
                validation_fraction=0.2,
                n_iter_no_change=20,
                random_state=seed,
            ).fit(train, targets)
            predictions[model] = np.asarray(trees.predict(test), dtype=np.float64)
    return predictions


def model_r2(sample: RecordSample, *, resamples: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """Held-out R^2 of each model of ``MODELS``, and the ``within_module_interaction`` and
    ``between_module_interaction`` differences, with paired bootstrap intervals over the held-out rows."""
    names = (*MODELS, "within_module_interaction", "between_module_interaction")
    if sample.of("uniform").size < MIN_ROWS:
        return {name: Estimate(math.nan, math.nan, math.nan, int(sample.of("uniform").size)) for name in names}
    actual, predicted = held_out_predictions(sample, seed=seed)

    def statistics(i: IntArray) -> FloatArray:
        r2 = [_r2(actual[i], predicted[model][i]) for model in MODELS]
        return np.array([*r2, r2[2] - r2[1], r2[3] - r2[2]])

    rng = np.random.default_rng(seed)
    draws = np.array([statistics(rng.integers(0, actual.size, size=actual.size)) for _ in range(resamples)])
    low, high = np.nanquantile(draws, [0.025, 0.975], axis=0)
    value = statistics(np.arange(actual.size))
    return {name: Estimate(float(value[j]), float(low[j]), float(high[j]), actual.size) for j, name in enumerate(names)}


@dataclass(frozen=True)
class RecordStatistics:
    """What ``record_statistics`` measured on a record (or on another landscape over its rows)."""

    name: str
    evaluations: int
    kinds: dict[str, int]
    log10_size: float
    mutation_correlation: Estimate
    noise_std: Estimate
    icc: Estimate
    models: dict[str, Estimate]
    """Held-out R^2 of each of ``MODELS`` and the two interaction shares."""
    quantiles: dict[str, float] = field(default_factory=dict)
    """Of the uniform rows' accuracies."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_statistics(sample: RecordSample, *, name: str, resamples: int = 1000, seed: int = 0) -> RecordStatistics:
    """Every statistic of the module docstring on ``sample``."""
    noise, icc = seed_noise(sample, resamples=resamples, seed=seed)
    uniform = sample.accuracy[sample.of("uniform")]
    return RecordStatistics(
        name=name,
        evaluations=int(sample.accuracy.size),
        kinds=sample.counts(),
        log10_size=float(np.log10(np.asarray(sample.nvec, dtype=np.float64)).sum()),
        mutation_correlation=mutation_correlation(sample, resamples=resamples, seed=seed),
        noise_std=noise,
        icc=icc,
        models=model_r2(sample, resamples=resamples, seed=seed),
        quantiles={f"q{q}": float(np.quantile(uniform, q / 100)) for q in (5, 50, 95)} if uniform.size else {},
    )


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table: the header, its rule, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def describe_record(stats: Sequence[RecordStatistics]) -> str:
    """A markdown table of the statistics with their intervals and n, one row per landscape."""
    header = [
        "landscape", "evaluations", "mutation corr.", "additive R^2 (ridge)", "per-token R^2 (trees)",
        "module-additive R^2", "full R^2", "between-module share", "seed-noise std", "ICC(1)",
    ]  # fmt: skip
    models = ("additive", "per_token", "module_additive", "full", "between_module_interaction")
    rows = [
        [s.name, s.evaluations, s.mutation_correlation, *(s.models[m] for m in models), s.noise_std, s.icc]
        for s in stats
    ]
    return _markdown_table(header, rows)


def describe_noise_profiles(profiles: Mapping[str, NoiseProfile]) -> str:
    """A markdown table of ``noise_profile``s, one row per landscape, with base also in spreads (v2's unit)."""
    header = ["landscape", "median", "spread", "base std", "base / spread", "slope", "repeat groups"]
    rows = [
        [
            name,
            f"{p.median:.4f}",
            f"{p.spread:.4f}",
            f"{p.base.value:.4f} [{p.base.low:.4f}, {p.base.high:.4f}]",
            f"{p.base.value / p.spread:.3f} [{p.base.low / p.spread:.3f}, {p.base.high / p.spread:.3f}]",
            f"{p.slope.value:.2f} [{p.slope.low:.2f}, {p.slope.high:.2f}]",
            p.base.n,
        ]
        for name, p in profiles.items()
    ]
    return _markdown_table(header, rows)


def describe_neighbours(differences: Mapping[str, NeighbourDifferences]) -> str:
    """A markdown table of ``neighbour_differences``, one row per landscape."""
    modules = list(next(iter(differences.values())).mutants) if differences else []
    header = ["landscape", *(f"{m} mutants" for m in modules), "repeats (other seed)", "identical"]
    rows = [
        [name, *(_short(d.mutants[m], 4) for m in modules), _short(d.repeats, 4), d.identical]
        for name, d in differences.items()
    ]
    return _markdown_table(header, rows)


def describe_shared_noise(shared: Mapping[str, SharedNoise]) -> str:
    """A markdown table of ``shared_noise``, one row per landscape."""
    header = [
        "landscape",
        "noise correlation, pipeline and mutant",
        "mutation correlation of seed means",
        "identical pairs",
    ]
    rows = [[name, d.noise_correlation, d.mean_correlation, d.identical] for name, d in shared.items()]
    return _markdown_table(header, rows)


def hardness_row(stats: RecordStatistics) -> str:
    """A row of docs/landscapes.md's hardness table (``landscape.describe``'s columns); a record has no climbs."""
    q = stats.quantiles
    quantiles = f"{q['q5']:.4f} / {q['q50']:.4f} / {q['q95']:.4f}" if q else "n/a"
    return (
        f"| {stats.name} | {stats.log10_size:.1f} | {_short(stats.mutation_correlation)} "
        f"| {_short(stats.models['additive'])} | n/a (no climbs) | n/a | n/a | {_short(stats.noise_std, 4)} "
        f"| {_short(stats.icc)} | {quantiles} |"
    )


def _short(estimate: Estimate, digits: int = 3) -> str:
    if not math.isfinite(estimate.value):
        return f"n/a (n {estimate.n})"
    return f"{estimate.value:.{digits}f} [{estimate.low:.{digits}f}, {estimate.high:.{digits}f}], n {estimate.n}"
