"""The synthetic-rugged backend (v1): calibration, exact optimum, real-range landscape, noise, determinism."""

from __future__ import annotations

import itertools
import json
import pickle
import subprocess
import sys
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_synthetic import (
    check_no_perturbation_of_the_optimum_beats_it,
    check_no_random_pipeline_beats_the_optimum,
    check_optimal_pipelines_reach_their_optima,
    random_tokens,
    tokens_of,
)

from automl_env import Evaluator, Fidelity, Pipeline, get_task, list_tasks
from automl_env.backends.registry import make_backend
from automl_env.backends.synthetic.additive import AdditiveModel, TokenGroup
from automl_env.backends.synthetic.backend import SyntheticBackend
from automl_env.backends.synthetic.hparam_terms import SGDModel
from automl_env.backends.synthetic.keys import HPOKeys, KeyedModel, cyclic_max_plus, key_tables
from automl_env.backends.synthetic.rugged import (
    RUGGED_CALIBRATIONS,
    SEARCH_NOISE,
    VALIDATION_IMAGES,
    RuggedSyntheticBackend,
    binomial_noise,
)
from automl_env.cost import arch_cost
from automl_env.landscape import landscape_statistics, token_objective
from automl_env.modules.hparams import AveragedSGDSpace
from automl_env.tasks import TaskSpec

TASKS = [task for task in list_tasks() if task in RUGGED_CALIBRATIONS]
TARGETS = {  # (default accuracy, optimum), as for the smooth backend
    "cifar10": (0.93, 0.978),
    "cifar100": (0.735, 0.8508),
    "fashion-mnist": (0.92, 0.955),
    "imagenet200": (0.72, 0.80),
}
# The documented target range (NAS-Bench-201's CIFAR-100 table: 0.63 and 0.47).
MUTATION_CORRELATION, ADDITIVE_R2 = (0.5, 0.75), (0.35, 0.6)


@cache
def backend(task: str, noise: float | None = 0.0) -> RuggedSyntheticBackend:
    return RuggedSyntheticBackend(get_task(task), noise=noise)


# -- registry, options ------------------------------------------------------------------------------


def test_registry_makes_the_rugged_backend_with_noise_on_by_default() -> None:
    made = make_backend("synthetic-rugged", get_task("cifar100"))
    assert isinstance(made, RuggedSyntheticBackend) and isinstance(made, Evaluator)
    assert made.name == "synthetic-rugged" and made.version == 1
    assert made.noise == pytest.approx(0.00624, abs=1e-5) == binomial_noise(0.735, 5000)
    assert make_backend("synthetic-rugged", get_task("cifar100"), noise=0.0).noise == 0.0
    assert make_backend("synthetic", get_task("cifar100")).name == "synthetic"
    for task in TASKS:
        expected = binomial_noise(RUGGED_CALIBRATIONS[task].default_accuracy, VALIDATION_IMAGES[task])
        assert backend(task, None).noise == expected


def test_uncalibrated_task_and_bad_noise_are_refused() -> None:
    task = get_task("cifar10")
    custom = TaskSpec(name="my-cifar", dataset="x", num_classes=10, image_size=32, in_channels=3, modules=task.modules)
    with pytest.raises(ValueError, match="no calibration for task 'my-cifar'"):
        RuggedSyntheticBackend(custom)
    with pytest.raises(ValueError, match="no default noise for task 'my-cifar'"):
        RuggedSyntheticBackend(custom, calibration=RUGGED_CALIBRATIONS["cifar10"])
    made = RuggedSyntheticBackend(custom, calibration=RUGGED_CALIBRATIONS["cifar10"], noise=0.0)
    assert made.optimum().accuracy == pytest.approx(0.978, abs=0.002)
    with pytest.raises(ValueError, match="noise"):
        RuggedSyntheticBackend(task, noise=-0.1)


# -- calibration ------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_default_and_optimum_match_the_calibration(task: str) -> None:
    default, best = TARGETS[task]
    b = backend(task)
    [result] = b.evaluate([b.task.default_pipeline()])
    assert result.accuracy == pytest.approx(default, abs=1e-12)
    assert result.backend == "synthetic-rugged" and result.ok
    assert b.optimum().accuracy == pytest.approx(best, abs=0.002)


def test_cifar100_reproduces_the_papers_ablation() -> None:
    b = backend("cifar100")
    paper = {(): 0.7350, ("hpo",): 0.7439, ("aug", "hpo"): 0.7737, ("aug", "hpo", "nas"): 0.8508}
    for modules, accuracy in paper.items():
        assert b.restricted_optimum(modules).accuracy == pytest.approx(accuracy, abs=5e-4), modules


def test_tuning_modules_one_at_a_time_misses_the_joint_optimum() -> None:
    b = backend("cifar100")
    joint = b.optimum().accuracy
    alone = {m: b.restricted_optimum((m,)) for m in b.task.modules}
    assert all(optimum.accuracy < joint - 0.01 for optimum in alone.values())
    [result] = b.evaluate([Pipeline.of({m: optimum.pipeline[m] for m, optimum in alone.items()})])
    assert result.accuracy < joint - 0.01


# -- exact optimum ----------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_optimal_pipeline_evaluates_to_the_optimum(task: str) -> None:
    b = backend(task)
    check_optimal_pipelines_reach_their_optima(
        b, ((), ("hpo",), ("aug",), ("nas",), ("aug", "hpo"), tuple(b.task.modules))
    )


def test_hpo_only_optimum_equals_brute_force_over_every_setting() -> None:
    """5041 (lr, weight decay) settings of cifar100 at the default NAS and AUG, each evaluated."""
    b = backend("cifar100")
    reachable = b._hpo.reachable()
    settings_ = list(itertools.product(reachable["lr_units"].tolist(), reachable["wd_units"].tolist()))
    hpo = np.stack([b._hpo.tokens_for({"lr_units": lr, "wd_units": wd}) for lr, wd in settings_])
    tokens = {m: np.repeat(t, len(settings_), axis=0) for m, t in tokens_of(b.task, b.task.default_pipeline()).items()}
    tokens["hpo"] = hpo
    assert b.evaluate_tokens(tokens).max() == b.restricted_optimum(("hpo",)).accuracy


@pytest.mark.parametrize("task", TASKS)
def test_no_random_pipeline_beats_the_optimum(task: str) -> None:
    check_no_random_pipeline_beats_the_optimum(backend(task))


@pytest.mark.parametrize("task", TASKS)
def test_no_perturbation_of_the_optimum_beats_it(task: str) -> None:
    check_no_perturbation_of_the_optimum_beats_it(backend(task))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(0, 3)), min_size=1, max_size=3),
    st.integers(2, 5),
    st.integers(0, 2**32 - 1),
)
def test_keyed_frontier_matches_brute_force(shapes: list[tuple[int, int, int]], modulus: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    groups, start = [], 0
    for a, c, max_units in shapes:
        groups.append(TokenGroup((start, start + 1), rng.normal(size=(a, c)), rng.integers(0, max_units + 1, (a, c))))
        start += 2
    model = KeyedModel(
        AdditiveModel(groups, start), key_tables([n for a, c, _ in shapes for n in (a, c)], modulus, rng), modulus
    )
    frontier = model.frontier()
    grid = np.array(list(itertools.product(*(range(n) for a, c, _ in shapes for n in (a, c)))))
    quality, units, key = model.summarise(grid)
    for u, k in itertools.product(range(model.max_units + 1), range(modulus)):
        reachable = (units == u) & (key == k)
        if not reachable.any():
            assert frontier.best[u, k] == -np.inf
            continue
        assert frontier.best[u, k] == quality[reachable].max()
        rebuilt = model.summarise(frontier.tokens_for(u, k)[None, :])
        assert (rebuilt[0][0], rebuilt[1][0], rebuilt[2][0]) == (frontier.best[u, k], u, k)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_cyclic_max_plus_is_the_max_over_key_splits(modulus: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(3, modulus)), rng.normal(size=(1, modulus))
    expected = [
        [max(a[r, j] + b[0, (k - j) % modulus] for j in range(modulus)) for k in range(modulus)] for r in range(3)
    ]
    assert cyclic_max_plus(a, b).tolist() == expected


def test_keyed_hpo_best_matches_every_setting() -> None:
    hpo = SGDModel(AveragedSGDSpace())
    keys = HPOKeys(hpo, 16, np.random.default_rng(0))
    x, s = np.array([[0.3], [0.7]]), np.array([[0.2, 1.1]])
    reachable = hpo.reachable()
    best = keys.best(x, s, reachable)
    lr, wd = (v.ravel() for v in np.meshgrid(reachable["lr_units"], reachable["wd_units"]))
    scores = keys.score({"lr_units": lr[:, None, None], "wd_units": wd[:, None, None]}, x[None], s[None])
    key = keys.key({"lr_units": lr, "wd_units": wd})
    for k in range(16):
        assert np.array_equal(best[..., k], scores[key == k].max(axis=0))
        values = keys.argbest(x[:1], s[:, :1], reachable, k)
        chosen = keys.score({n: np.array([v]) for n, v in values.items()}, x[:1], s[:, :1])
        assert chosen[0, 0] == best[0, 0, k] and keys.key({n: np.array([v]) for n, v in values.items()})[0] == k


# -- the landscape is in the real range -------------------------------------------------------------


def test_cifar100_landscape_statistics_are_in_the_real_range() -> None:
    objective = token_objective("cifar100", "synthetic-rugged", backend_options={"noise": 0.0})
    stats = landscape_statistics(objective, samples=4000, restarts=10, seed=0)
    assert MUTATION_CORRELATION[0] <= stats.mutation_correlation <= MUTATION_CORRELATION[1]
    assert ADDITIVE_R2[0] <= stats.additive_r2 <= ADDITIVE_R2[1]
    optimum = backend("cifar100").optimum().accuracy
    assert stats.distinct_optima >= 8  # climbs from random starts end in distinct local optima ...
    assert stats.mean_optimum <= optimum - 0.03 and stats.best_optimum < optimum - 0.01  # ... clearly below
    assert stats.noise_std == 0.0


def test_almost_every_one_token_move_redraws_the_field() -> None:
    b = backend("cifar100")
    rng = np.random.default_rng(1)
    tokens = random_tokens(b.task, 5000, seed=2)
    rows = np.concatenate([tokens[m] for m in b.task.modules], axis=1)
    nvec = np.array([n for s in b.task.modules.values() for n in s.nvec])
    position = rng.integers(0, nvec.size, size=rows.shape[0])
    moved = rows.copy()
    moved[np.arange(rows.shape[0]), position] = (rows[np.arange(rows.shape[0]), position] + 1) % nvec[position]
    field, moved_field = b.gain_parts(rows)[1], b.gain_parts(moved)[1]
    assert np.all(field <= 0.0) and np.all(field >= -b.ruggedness.field_amplitude)
    assert np.mean(field != moved_field) > 0.8  # AUG tokens are not keyed: they redraw it only through S
    assert b.gain_parts(tokens_of(b.task, b.task.default_pipeline()))[1][0] == 0.0


# -- noise, determinism -----------------------------------------------------------------------------


def test_default_noise_is_gaussian_with_the_seed_to_seed_std() -> None:
    b = backend("cifar100", None)
    tokens = random_tokens(b.task, 100_000, seed=3)
    delta = b.evaluate_tokens(tokens, seed=5) - b.expected_accuracy_tokens(tokens)
    assert abs(delta.mean()) < 2e-4 and abs(delta.std() - b.noise) < 1e-4
    stats = landscape_statistics(token_objective("cifar100", "synthetic-rugged"), samples=400, restarts=1)
    assert stats.noise_std == pytest.approx(b.noise, rel=0.15)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(TASKS), st.integers(0, 2**31), st.integers(1, 30), st.integers(-(2**40), 2**40))
def test_a_pipelines_accuracy_does_not_depend_on_its_batch(task: str, token_seed: int, rows: int, seed: int) -> None:
    b = backend(task, None)
    tokens = random_tokens(b.task, rows, token_seed)
    together = b.evaluate_tokens(tokens, seed=seed)
    alone = [b.evaluate_tokens({m: t[i : i + 1] for m, t in tokens.items()}, seed=seed)[0] for i in range(rows)]
    assert together.tolist() == alone
    joint = np.concatenate([tokens[m] for m in b.task.modules], axis=1)
    assert b.evaluate_tokens(joint, seed=seed).tolist() == together.tolist()
    pipelines = [Pipeline.of({m: s.decode(tokens[m][i]) for m, s in b.task.modules.items()}) for i in range(rows)]
    assert [r.accuracy for r in b.evaluate(pipelines, seed=seed)] == together.tolist()


@settings(max_examples=20, deadline=None)
@given(st.permutations(range(10)), st.permutations(range(10)), st.integers(0, 2**31))
def test_averaged_sgd_tokens_in_any_order_are_the_same_pipeline(lr: list[int], wd: list[int], seed: int) -> None:
    b = backend("cifar100", None)
    tokens = random_tokens(b.task, 1, seed)
    shuffled = {**tokens, "hpo": tokens["hpo"][:, [*lr, *(10 + i for i in wd)]]}
    assert b.evaluate_tokens(shuffled, seed=seed).tolist() == b.evaluate_tokens(tokens, seed=seed).tolist()


def test_pickled_backend_and_another_process_give_identical_results() -> None:
    task = get_task("cifar100")
    b = backend("cifar100", None)
    tokens = random_tokens(task, 5, seed=2)
    pipelines = [Pipeline.of({m: s.decode(tokens[m][i]) for m, s in task.modules.items()}) for i in range(5)]
    here = [r.accuracy for r in b.evaluate(pipelines, seed=7)]
    for made in (b, make_backend("synthetic", task, noise=0.01)):  # both landscapes pickle, small
        data = pickle.dumps(made)
        assert len(data) < 100_000
        again = pickle.loads(data)
        assert type(again) is type(made) and again.noise == made.noise
        assert [r.accuracy for r in again.evaluate(pipelines, seed=7)] == [
            r.accuracy for r in made.evaluate(pipelines, seed=7)
        ]
    code = (
        "import json, sys; from automl_env import Pipeline, get_task; "
        "from automl_env.backends.registry import make_backend; "
        "ps = [Pipeline.from_json(t) for t in json.load(sys.stdin)]; "
        "b = make_backend('synthetic-rugged', get_task('cifar100')); "
        "print(json.dumps([r.accuracy for r in b.evaluate(ps, seed=7)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([p.to_json() for p in pipelines]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == here


# -- v2: seed noise measured on real training --------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_v2_is_v1s_surface_with_noise_that_grows_below_the_median(task: str) -> None:
    v1, v2 = backend(task, None), make_backend("synthetic-rugged", get_task(task), version=2)
    assert isinstance(v2, RuggedSyntheticBackend) and (v1.version, v2.version) == (1, 2)
    tokens = random_tokens(v1.task, 4_000, seed=11)
    expected = v1.expected_accuracy_tokens(tokens)
    np.testing.assert_array_equal(v2.expected_accuracy_tokens(tokens), expected)
    assert v2.optimum().accuracy == v1.optimum().accuracy
    median, q5 = np.quantile(expected, [0.5, 0.05])
    assert v2.noise == pytest.approx(SEARCH_NOISE.relative_base * (median - q5), rel=0.05)
    # Per pipeline: the std over 300 seeds is base (1 + slope z), z its shortfall below the median in spreads.
    rows = {m: t[:40] for m, t in tokens.items()}
    draws = np.stack([v2.evaluate_tokens(rows, seed=seed) for seed in range(300)])
    z = np.clip((median - expected[:40]) / (median - q5), 0.0, SEARCH_NOISE.cap)
    predicted = v2.noise * (1.0 + SEARCH_NOISE.slope * z)
    unclipped = (expected[:40] - 4 * predicted > 1 / v2.task.num_classes) & (expected[:40] + 4 * predicted < 1)
    np.testing.assert_allclose(draws.std(axis=0)[unclipped], predicted[unclipped], rtol=0.25)
    assert z.max() > 1.0 and z.min() == 0.0  # both regimes are tested


def test_v2_noise_is_recovered_by_the_records_estimator() -> None:
    """The backend's noise and ``record_analysis.noise_profile`` agree: fitted on v2's answers to the whole
    Fashion-MNIST design (100 repeat groups), the slope and the base in spreads are the constants v2 uses."""
    from automl_env.record_analysis import design_sample, noise_profile
    from automl_env.record_design import Design

    v2 = token_objective("fashion-mnist", "synthetic-rugged", backend_options={"version": 2})
    assert v2.name == "fashion-mnist (synthetic-rugged v2)"
    profile = noise_profile(design_sample("fashion-mnist", design=Design()).rescored(v2), resamples=200)
    assert profile.slope.low <= SEARCH_NOISE.slope <= profile.slope.high
    assert profile.base.low / profile.spread <= SEARCH_NOISE.relative_base <= profile.base.high / profile.spread
    v1 = token_objective("fashion-mnist", "synthetic-rugged")
    flat = noise_profile(design_sample("fashion-mnist", design=Design()).rescored(v1), resamples=200)
    assert flat.slope.low == 0.0 and flat.slope.high < 1.0  # v1's noise does not grow: the estimator tells


def test_v2_pickles_with_its_version_and_bad_versions_are_refused() -> None:
    task = get_task("cifar100")
    v2 = make_backend("synthetic-rugged", task, version=2)
    again = pickle.loads(pickle.dumps(v2))
    tokens = random_tokens(task, 50, seed=4)
    assert (
        again.version == 2
        and again.evaluate_tokens(tokens, seed=3).tolist() == v2.evaluate_tokens(tokens, seed=3).tolist()
    )
    assert (
        make_backend("synthetic-rugged", task, version=2, noise=0.0).evaluate_tokens(tokens, seed=3).tolist()
        == v2.expected_accuracy_tokens(tokens).tolist()
    )
    for bad in (0, 3, "2"):
        with pytest.raises(ValueError, match="versions \\(1, 2\\)"):
            RuggedSyntheticBackend(task, version=bad)  # type: ignore[arg-type]


def test_a_joint_matrix_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 100\)"):
        backend("cifar100").evaluate_tokens(np.zeros((3, 99), dtype=np.int64))


# -- cost, and the smooth backend is unchanged ------------------------------------------------------


@pytest.mark.parametrize("task", ["cifar100", "imagenet200"])
def test_flops_params_and_cost_are_the_smooth_backends(task: str) -> None:
    rugged, smooth = backend(task), SyntheticBackend(get_task(task))
    tokens = random_tokens(rugged.task, 20, seed=4)
    pipelines = [Pipeline.of({m: s.decode(tokens[m][i]) for m, s in rugged.task.modules.items()}) for i in range(20)]
    fidelity = Fidelity(epochs=3, cells=5, channels=4)
    rugged_results = rugged.evaluate(pipelines, fidelity=fidelity)
    results = zip(pipelines, rugged_results, smooth.evaluate(pipelines, fidelity=fidelity), strict=True)
    for pipeline, r, s in results:
        assert (r.flops, r.params, r.cost_seconds) == (s.flops, s.params, s.cost_seconds)
        if task == "cifar100":
            cost = arch_cost(pipeline["nas"], num_classes=100, image_size=32, in_channels=3, cells=5, channels=4)
            assert (r.flops, r.params) == (cost.macs, cost.params)


def test_the_smooth_backend_still_gives_its_recorded_results() -> None:
    """Figures recorded from ``synthetic`` (v0) before v1 existed: its results must reproduce."""
    recorded = {
        "cifar100": (0.8509997658503472, [0.5095883281391806, 0.7325243109346928, 0.7202517633075302]),
        "imagenet200": (0.7999997450624032, [0.694941309273625, 0.5073357140046657, 0.6188418727375832]),
    }
    for task, (optimum, accuracies) in recorded.items():
        smooth = make_backend("synthetic", get_task(task), noise=0.01)
        assert isinstance(smooth, SyntheticBackend) and not isinstance(smooth, RuggedSyntheticBackend)
        rng = np.random.default_rng(123)
        tokens = {m: rng.integers(0, s.nvec, size=(3, s.num_tokens)) for m, s in smooth.task.modules.items()}
        assert smooth.optimum().accuracy == optimum
        assert smooth.evaluate_tokens(tokens, seed=7).tolist() == accuracies
