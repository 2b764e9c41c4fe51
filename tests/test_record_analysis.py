"""The design-based statistics of a record (automl_env.record_analysis) recover what a record written here holds,
and joint versus sequential search (baselines.joint_vs_sequential) says when its surrogate cannot decide."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import automl_env
from automl_env.landscape import token_objective
from automl_env.pipeline import Pipeline
from automl_env.record_analysis import (
    Estimate,
    RecordSample,
    canonical_tokens,
    design_sample,
    model_r2,
    mutation_correlation,
    neighbour_differences,
    read_record,
    seed_noise,
    shared_noise,
)
from automl_env.record_design import Design, Planned, plan

pytest.importorskip("sklearn", reason='the models need scikit-learn: pip install "automl-env[surrogate]"')

TASK = automl_env.get_task("fashion-mnist")
PREFIX = 300


def write_record(path: Path, planned: Sequence[Planned], accuracy: Sequence[float]) -> Path:
    """An EvalStore-format export of ``planned`` with the given accuracies (what the recorder would export)."""
    bounds = np.cumsum([0, *(s.num_tokens for s in TASK.modules.values())])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["task", "fidelity", "seed", "status", "accuracy", "pipeline"])
        for item, value in zip(planned, accuracy, strict=True):
            configs = {
                name: space.decode(np.asarray(item.tokens[a:b]))
                for (name, space), a, b in zip(TASK.modules.items(), bounds[:-1], bounds[1:], strict=True)
            }
            writer.writerow(
                [TASK.name, TASK.search_fidelity.key, item.seed, "ok", value, Pipeline.of(configs).to_json()]
            )
    return path


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> RecordSample:
    """The first ``PREFIX`` evaluations of the design, written and read back (accuracies set by each test)."""
    planned = plan(TASK, Design(), seed=0)[:PREFIX]
    path = write_record(tmp_path_factory.mktemp("record") / "evaluations.csv", planned, [0.5] * len(planned))
    read = read_record(path, TASK)
    assert read.accuracy.size == PREFIX
    return read


_DRAW = np.random.default_rng(2)
WEIGHTS = [_DRAW.normal(size=n) for space in TASK.modules.values() for n in space.nvec]
"""A random effect of every token value of every position."""


def effect(tokens: np.ndarray, position: int) -> np.ndarray:
    """A random effect of one token, of mean 0 and variance 1 over its values (aug 2, nas 30 and 35, hpo 83 and 84
    act in every pipeline)."""
    weights = WEIGHTS[position]
    return ((weights - weights.mean()) / weights.std())[tokens[:, position]]


def additive(t: np.ndarray) -> np.ndarray:
    return effect(t, 2) + effect(t, 30) + effect(t, 35) + effect(t, 83) + effect(t, 84)


def within_modules(t: np.ndarray) -> np.ndarray:
    return additive(t) + 2 * (effect(t, 83) * effect(t, 84) + effect(t, 30) * effect(t, 35))


def between_modules(t: np.ndarray) -> np.ndarray:
    return additive(t) + 2 * (effect(t, 30) * effect(t, 83) + effect(t, 35) * effect(t, 84))


def scored(sample: RecordSample, function: Callable[[np.ndarray], np.ndarray], noise: float) -> RecordSample:
    """``function`` of the rows, scaled to unit variance, plus seed noise drawn per (pipeline, seed)."""
    values = function(sample.tokens)
    values = (values - values.mean()) / values.std()
    draws = np.random.default_rng(7).normal(0.0, noise, size=values.size)
    return replace(sample, accuracy=values + draws)


def test_neighbour_differences_tell_shared_seed_noise_from_independent(sample: RecordSample) -> None:
    independent = neighbour_differences(scored(sample, additive, 1.0), resamples=200)
    # Mostly noise that every pipeline shares at one seed (one initialisation and data order), a little its own.
    own = scored(sample, additive, 0.3)
    seed_draws = np.random.default_rng(3).normal(size=sample.seeds.max() + 1)
    shared = replace(own, accuracy=0.1 * own.accuracy + seed_draws[sample.seeds])
    together = neighbour_differences(shared, resamples=200)
    for d in (independent, together):
        assert set(d.mutants) == set(TASK.modules) and d.repeats.n >= 40 and d.identical == 0
    # Independent noise: a mutant is two noise draws and its effect apart, at least as far as a repeat.
    assert all(e.value >= 0.9 * independent.repeats.value for e in independent.mutants.values())
    # Shared noise: a mutant at its parent's seed lands far closer than its parent at another seed.
    assert all(e.high < together.repeats.low for e in together.mutants.values() if e.n >= 10)


def test_shared_noise_reads_the_second_stage_and_tells_shared_from_own_noise() -> None:
    whole = design_sample(TASK, design=Design(mutant_repeats=40))
    assert (
        shared_noise(whole.subset(np.flatnonzero(np.asarray(whole.kinds) != "mutant_repeat"))).noise_correlation.n == 0
    )
    signal = scored(whole, additive, 0.0).accuracy
    rng = np.random.default_rng(5)
    own = replace(whole, accuracy=signal + rng.normal(0.0, 0.5, signal.size))
    per_seed = np.linspace(-0.5, 0.5, whole.seeds.max() + 1)[rng.permutation(whole.seeds.max() + 1)]
    shared = replace(whole, accuracy=signal + per_seed[whole.seeds] + rng.normal(0.0, 0.1, signal.size))
    independent, together = shared_noise(own, resamples=200), shared_noise(shared, resamples=200)
    assert independent.noise_correlation.n == together.noise_correlation.n == 40
    assert independent.noise_correlation.low < 0.0 < independent.noise_correlation.high < 0.5
    assert together.noise_correlation.low > 0.8
    # The seed means' mutation correlation sees through the noise either way (the signal is mostly unchanged by one
    # token of 100); single evaluations at seed 0 lose more of it to independent noise.
    assert independent.mean_correlation.value > mutation_correlation(own, resamples=50).value


def test_a_record_is_read_back_by_kind_with_its_pairs_and_seeds(tmp_path: Path) -> None:
    planned = plan(TASK, Design(), seed=0)[:40]
    kept = [p for i, p in enumerate(planned) if i != 3]  # one evaluation not (yet) recorded
    extra = Planned("uniform", plan(TASK, Design(), seed=1)[0].tokens, 0)  # an evaluation the design does not hold
    path = write_record(tmp_path / "e.csv", [*kept, extra], [0.01 * i for i in range(len(kept) + 1)])
    read = read_record(path, TASK)
    assert read.accuracy.size == 39 and read.unplanned == 1 and read.planned == 1510
    assert list(read.accuracy) == pytest.approx([0.01 * i for i in range(39)])
    assert read.counts() == {k: sum(p.kind == k for p in kept) for k in {p.kind for p in kept}}
    uniform = [p for p in plan(TASK, Design(), seed=0) if p.kind == "uniform"]
    for kind, ref, tokens, seed in zip(read.kinds, read.refs, read.tokens, read.seeds, strict=True):
        if kind in ("repeat", "uniform"):  # a mutant is its parent with one raw token changed, canonicalised
            assert np.array_equal(tokens, canonical_tokens(TASK, np.array([uniform[ref].tokens]))[0])
        assert seed > 0 if kind == "repeat" else seed == 0 or kind == "module"  # the default over seeds is a module row


def test_the_intraclass_correlation_is_high_when_noise_is_small_and_low_when_it_dominates(sample: RecordSample) -> None:
    quiet_noise, quiet = seed_noise(scored(sample, additive, 0.05), resamples=200)
    loud_noise, loud = seed_noise(scored(sample, additive, 3.0), resamples=200)
    assert quiet.n == loud.n >= 15
    assert quiet.value > 0.95 and quiet.low > 0.9
    assert loud.value < 0.3 and loud.high < 0.6
    assert quiet_noise.low < 0.05 < quiet_noise.high * 1.5 and 2.0 < loud_noise.value < 4.0


def test_mutation_correlation_falls_from_near_1_as_noise_grows(sample: RecordSample) -> None:
    smooth = mutation_correlation(scored(sample, additive, 0.05), resamples=200)
    noisy = mutation_correlation(scored(sample, additive, 3.0), resamples=200)
    assert smooth.n == noisy.n >= 70
    assert smooth.value > 0.8 and noisy.value < 0.4 and noisy.high < smooth.low


@pytest.mark.parametrize(
    ("function", "expected"),
    [(additive, "additive"), (within_modules, "within"), (between_modules, "between")],
)
def test_the_models_find_interactions_where_the_function_has_them(
    sample: RecordSample, function: Callable[[np.ndarray], np.ndarray], expected: str
) -> None:
    models = model_r2(scored(sample, function, 0.05), resamples=100)
    between, within = models["between_module_interaction"], models["within_module_interaction"]
    if expected == "between":
        assert between.value > 0.15 and between.low > 0.05
    else:
        assert between.value < 0.05
    if expected == "within":
        assert within.value > 0.15 and within.low > 0.05
    if expected == "additive":
        assert models["per_token"].value > 0.9 and models["additive"].value > 0.5


def test_noise_alone_shows_no_interaction(sample: RecordSample) -> None:
    models = model_r2(scored(sample, within_modules, 3.0), resamples=100)
    assert models["between_module_interaction"].low < 0 < models["between_module_interaction"].high + 0.02
    assert models["full"].value < 0.2


def test_the_whole_design_is_a_sample_of_every_planned_evaluation() -> None:
    whole = design_sample(TASK)
    assert whole.counts() == {"uniform": 750, "mutant": 375, "repeat": 300, "module": 85}
    assert np.isnan(whole.accuracy).all() and whole.planned == 1510


def test_synthetic_rugged_rescores_the_same_rows_and_seeds(sample: RecordSample) -> None:
    objective = token_objective(TASK, "synthetic-rugged")
    imitation = sample.rescored(objective)
    assert np.array_equal(imitation.tokens, sample.tokens) and np.array_equal(imitation.seeds, sample.seeds)
    repeat = sample.of("repeat")[0]
    assert imitation.accuracy[repeat] == objective.evaluate(sample.tokens[[repeat]], int(sample.seeds[repeat]))[0]
    assert 0.5 < float(np.median(imitation.accuracy)) < 1.0


def test_a_weak_surrogate_leaves_joint_versus_sequential_undecided() -> None:
    from baselines.joint_vs_sequential import SurrogateSpread, verdict

    def fit(spearman: float) -> SurrogateSpread:
        return SurrogateSpread(
            "hist_gb", 60, 12, 10, Estimate(spearman, spearman - 0.2, spearman + 0.2, 60), Estimate(0, 0, 0, 60)
        )

    better = Estimate(0.01, 0.004, 0.02, 10)
    assert verdict(better, fit(0.3)).startswith("undecided: the surrogate is too weak to decide")
    assert verdict(better, fit(0.8)) == "joint better on the surrogate"
    assert verdict(Estimate(-0.01, -0.02, -0.001, 10), fit(0.8)) == "sequential better on the surrogate"
    assert verdict(Estimate(0.0, -0.01, 0.01, 10), fit(0.8)) == "no difference detected on the surrogate"


def test_a_comparison_refuses_the_spread_of_another_surrogate() -> None:
    from baselines.joint_vs_sequential import SurrogateSpread, compare

    spread = SurrogateSpread("hist_gb", 60, 12, 10, Estimate(0.5, 0.3, 0.7, 60), Estimate(0, 0, 0, 60))
    sample = design_sample("fashion-mnist", design=Design(), design_seed=0)
    for surrogate, splits in (("random_forest", 10), ("hist_gb", 2)):
        with pytest.raises(ValueError, match="served_fit is 'hist_gb' over 10 splits"):
            compare("unused.csv", sample, surrogate=surrogate, splits=splits, served_fit=spread)


def test_the_script_analyses_the_shipped_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    import baselines.joint_vs_sequential as jvs

    measured: list[str] = []  # every kind whose spread is measured, by the script or by the comparison
    spread = jvs.surrogate_spread

    def counted(sample: RecordSample, kind: str, **kwargs: int) -> jvs.SurrogateSpread:
        measured.append(kind)
        return spread(sample, kind, **kwargs)

    monkeypatch.setattr(jvs, "surrogate_spread", counted)

    script = Path(__file__).resolve().parents[1] / "examples" / "analyse_fashion_mnist_record.py"
    spec = importlib.util.spec_from_file_location("analyse_fashion_mnist_record", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "figures.json"
    tiny = ["--resamples", "20", "--splits", "2", "--surrogates", "random_forest", "--seeds", "1", "--budgets", "24"]
    module.main([*tiny, "--serve", "random_forest", "--batch-size", "8", "--no-reference", "--out", str(out)])
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    recorded, synthetic, synthetic2 = figures["statistics"]
    assert recorded["evaluations"] == sum(figures["counts"].values()) >= 79
    assert synthetic["evaluations"] == recorded["evaluations"] and "synthetic-rugged" in synthetic["name"]
    assert "synthetic-rugged v2" in synthetic2["name"]
    profiles, neighbours = figures["noise_profiles"], figures["neighbours"]
    assert list(profiles) == [s["name"] for s in figures["statistics"]] and list(neighbours) == [
        recorded["name"],
        synthetic2["name"],
    ]
    # v2's noise is recorded-like in spreads, v1's is flat: the fits say so on the same rows.
    assert profiles[synthetic2["name"]]["slope"]["value"] > profiles[synthetic["name"]]["slope"]["value"]
    assert set(neighbours[recorded["name"]]["mutants"]) == {"aug", "nas", "hpo"}
    assert "## Seed noise by level" in printed and "repeats (other seed)" in printed
    # The shipped record is the whole design, second stage included: 50 mutants, each with its pipeline at 4 seeds.
    shared = figures["shared_noise"][recorded["name"]]
    assert shared["noise_correlation"]["n"] + shared["identical"] == 50
    assert -1 <= shared["noise_correlation"]["value"] <= 1 and "at the same four seeds" in printed
    assert list(figures["shared_noise"]) == [recorded["name"], synthetic2["name"]]
    assert "| fashion-mnist (recorded) |" in printed and "sequential_tpe" in printed
    # The served surrogate is among the scored ones: its spread is measured once and the comparison reads it.
    assert figures["search"]["served_fit"] == figures["surrogates"][0] and measured == ["random_forest"]
    served = figures["search"]["served_fit"]["spearman"]["value"]
    for by_budget in figures["search"]["verdicts"].values():
        assert all(v.startswith("undecided") == (served < 0.5) for v in by_budget.values())
