"""The synthetic backend: calibration to the paper, exact optima, interactions, determinism, noise, cost."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl_env import Evaluator, Fidelity, Pipeline, get_task, list_tasks
from automl_env.backends.registry import BACKENDS, make_backend
from automl_env.backends.synthetic import CALIBRATIONS, SyntheticBackend
from automl_env.backends.synthetic.additive import AdditiveModel, TokenGroup
from automl_env.backends.synthetic.cost import MobileNetCostTable, NASNetCostTable
from automl_env.cost import arch_cost
from automl_env.hashing import splitmix64
from automl_env.modules.base import TokenArray
from automl_env.tasks import TaskSpec

TASKS = [task for task in list_tasks() if task in CALIBRATIONS]  # the tasks the synthetic backend serves
# (default accuracy, optimum) each task is calibrated to; see the synthetic module's docstring.
TARGETS = {
    "cifar10": (0.93, 0.978),
    "cifar100": (0.735, 0.8508),
    "fashion-mnist": (0.92, 0.955),
    "imagenet200": (0.72, 0.80),
}


@cache
def backend(task: str, noise: float = 0.0) -> SyntheticBackend:
    return SyntheticBackend(get_task(task), noise=noise)


def random_tokens(task: TaskSpec, rows: int, seed: int) -> dict[str, TokenArray]:
    rng = np.random.default_rng(seed)
    return {m: rng.integers(0, s.nvec, size=(rows, s.num_tokens)) for m, s in task.modules.items()}


def pipelines_of(task: TaskSpec, tokens: dict[str, TokenArray]) -> list[Pipeline]:
    rows = next(iter(tokens.values())).shape[0]
    return [Pipeline.of({m: s.decode(tokens[m][i]) for m, s in task.modules.items()}) for i in range(rows)]


def tokens_of(task: TaskSpec, pipeline: Pipeline) -> dict[str, TokenArray]:
    return {m: s.encode(pipeline[m])[None, :] for m, s in task.modules.items()}


# -- registry ---------------------------------------------------------------------------------------


def test_registry_makes_the_synthetic_backend_and_names_known_backends_on_error() -> None:
    made = make_backend("synthetic", get_task("cifar100"), noise=0.01)
    assert isinstance(made, SyntheticBackend) and isinstance(made, Evaluator)
    assert made.name == "synthetic" and made.noise == 0.01
    assert all(entry.count(":") == 1 for entry in BACKENDS.values())
    with pytest.raises(ValueError, match=re.escape(f"known backends: {sorted(BACKENDS)}")):
        make_backend("surrogate", get_task("cifar100"))


def test_uncalibrated_task_and_negative_noise_are_refused() -> None:
    task = get_task("cifar10")
    custom = TaskSpec(name="my-cifar", dataset="x", num_classes=10, image_size=32, in_channels=3, modules=task.modules)
    with pytest.raises(ValueError, match="no calibration for task 'my-cifar'"):
        SyntheticBackend(custom)
    assert SyntheticBackend(custom, calibration=CALIBRATIONS["cifar10"]).optimum().accuracy == pytest.approx(0.978)
    with pytest.raises(ValueError, match="noise"):
        SyntheticBackend(task, noise=-0.1)


# -- calibration ------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_default_and_optimum_match_the_calibration(task: str) -> None:
    default, best = TARGETS[task]
    b = backend(task)
    [result] = b.evaluate([b.task.default_pipeline()])
    assert result.accuracy == pytest.approx(default, abs=1e-12)
    assert result.backend == "synthetic" and result.ok
    assert b.optimum().accuracy == pytest.approx(best, abs=0.002)


def test_cifar100_reproduces_the_papers_ablation() -> None:
    b = backend("cifar100")
    paper = {(): 0.7350, ("hpo",): 0.7439, ("aug", "hpo"): 0.7737, ("aug", "hpo", "nas"): 0.8508}
    for modules, accuracy in paper.items():
        assert b.restricted_optimum(modules).accuracy == pytest.approx(accuracy, abs=0.002), modules


@pytest.mark.parametrize("task", TASKS)
def test_tuning_modules_one_at_a_time_misses_the_joint_optimum(task: str) -> None:
    b = backend(task)
    joint = b.optimum().accuracy
    alone = {m: b.restricted_optimum((m,)) for m in b.task.modules}
    for module, optimum in alone.items():
        assert optimum.accuracy < joint - 0.01, module
    combined = Pipeline.of({m: optimum.pipeline[m] for m, optimum in alone.items()})
    [result] = b.evaluate([combined])
    assert result.accuracy < joint - (0.01 if task == "cifar100" else 0.005)


# -- exact optimum ----------------------------------------------------------------------------------


def check_optimal_pipelines_reach_their_optima(b: SyntheticBackend, subsets: Sequence[Sequence[str]]) -> None:
    """Each restricted optimum is exact, its pipeline evaluates to it and keeps the unsearched modules' defaults."""
    for modules in subsets:
        optimum = b.restricted_optimum(modules)
        assert optimum.exact and optimum.pipeline_accuracy == optimum.accuracy
        [result] = b.evaluate([optimum.pipeline])
        assert result.accuracy == optimum.accuracy
        for fixed in set(b.task.modules) - set(modules):
            assert optimum.pipeline[fixed] == b.task.modules[fixed].default()


def check_no_random_pipeline_beats_the_optimum(b: SyntheticBackend) -> None:
    best = b.optimum().accuracy
    for chunk in range(5):  # 100k pipelines in 20k chunks
        accuracy = b.evaluate_tokens(random_tokens(b.task, 20_000, seed=chunk))
        assert accuracy.max() <= best
        assert accuracy.min() >= 1.0 / b.task.num_classes


def check_no_perturbation_of_the_optimum_beats_it(b: SyntheticBackend) -> None:
    optimum = b.optimum()
    center = tokens_of(b.task, optimum.pipeline)
    for module, space in b.task.modules.items():  # every single-token change
        rows = [(i, v) for i, n in enumerate(space.nvec) for v in range(n)]
        tokens = {m: np.repeat(t, len(rows), axis=0) for m, t in center.items()}
        tokens[module][np.arange(len(rows)), [i for i, _ in rows]] = [v for _, v in rows]
        assert b.evaluate_tokens(tokens).max() == optimum.accuracy
    rng = np.random.default_rng(0)  # plus random 2-to-6-token changes across modules
    tokens = {m: np.repeat(t, 20_000, axis=0) for m, t in center.items()}
    for module, space in b.task.modules.items():
        mask = rng.random(tokens[module].shape) < 3.0 / sum(s.num_tokens for s in b.task.modules.values())
        fresh = rng.integers(0, space.nvec, size=tokens[module].shape)
        tokens[module] = np.where(mask, fresh, tokens[module])
    assert b.evaluate_tokens(tokens).max() <= optimum.accuracy


@pytest.mark.parametrize("task", TASKS)
def test_optimal_pipeline_evaluates_to_the_optimum(task: str) -> None:
    b = backend(task)
    check_optimal_pipelines_reach_their_optima(b, ((), ("hpo",), ("aug", "hpo"), tuple(b.task.modules)))


@pytest.mark.parametrize("task", TASKS)
def test_no_random_pipeline_beats_the_optimum(task: str) -> None:
    check_no_random_pipeline_beats_the_optimum(backend(task))


@pytest.mark.parametrize("task", TASKS)
def test_no_perturbation_of_the_optimum_beats_it(task: str) -> None:
    check_no_perturbation_of_the_optimum_beats_it(backend(task))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(0, 4)), min_size=1, max_size=4),
    st.integers(0, 2**32 - 1),
)
def test_dp_frontier_matches_brute_force(shapes: list[tuple[int, int, int]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    groups, start = [], 0
    for a, c, max_units in shapes:
        quality = rng.normal(size=(a, c))
        groups.append(TokenGroup((start, start + 1), quality, rng.integers(0, max_units + 1, size=(a, c))))
        start += 2
    model = AdditiveModel(groups, start)
    frontier = model.frontier()
    grid = np.array(list(itertools.product(*(range(n) for a, c, _ in shapes for n in (a, c)))))
    quality, units = model.summarise(grid)
    for u in range(model.max_units + 1):
        reachable = units == u
        if not reachable.any():
            assert frontier.best[u] == -np.inf
            continue
        assert frontier.best[u] == quality[reachable].max()
        rebuilt = model.summarise(frontier.tokens_for(u)[None, :])
        assert (rebuilt[0][0], rebuilt[1][0]) == (frontier.best[u], u)


# -- determinism and noise --------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(TASKS), st.integers(0, 2**31), st.integers(1, 40), st.integers(-(2**40), 2**40))
def test_a_pipelines_accuracy_does_not_depend_on_its_batch(task: str, token_seed: int, rows: int, seed: int) -> None:
    b = backend(task, noise=0.02)
    tokens = random_tokens(b.task, rows, token_seed)
    together = b.evaluate_tokens(tokens, seed=seed)
    alone = [b.evaluate_tokens({m: t[i : i + 1] for m, t in tokens.items()}, seed=seed)[0] for i in range(rows)]
    assert together.tolist() == alone
    assert together.tolist() == b.evaluate_tokens(tokens, seed=seed).tolist()
    assert np.all((together >= 1.0 / b.task.num_classes) & (together <= 1.0))


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(10)), st.permutations(range(10)), st.integers(0, 2**31))
def test_averaged_sgd_tokens_in_any_order_are_the_same_pipeline(lr: list[int], wd: list[int], seed: int) -> None:
    b = backend("cifar10", noise=0.05)
    tokens = random_tokens(b.task, 1, seed)
    shuffled = {**tokens, "hpo": tokens["hpo"][:, [*lr, *(10 + i for i in wd)]]}
    assert b.evaluate_tokens(shuffled, seed=seed).tolist() == b.evaluate_tokens(tokens, seed=seed).tolist()


def test_seeds_change_results_only_with_noise() -> None:
    pipelines = pipelines_of(get_task("cifar100"), random_tokens(get_task("cifar100"), 50, seed=1))
    quiet = backend("cifar100")
    assert [r.accuracy for r in quiet.evaluate(pipelines, seed=0)] == [
        r.accuracy for r in quiet.evaluate(pipelines, seed=9)
    ]
    noisy = backend("cifar100", noise=0.01)
    first, again, other = (noisy.evaluate(pipelines, seed=s) for s in (0, 0, 9))
    assert [r.accuracy for r in first] == [r.accuracy for r in again]
    assert all(a.accuracy != b.accuracy for a, b in zip(first, other, strict=True))
    assert [r.metrics["expected_accuracy"] for r in first] == [r.accuracy for r in quiet.evaluate(pipelines)]


def test_results_are_identical_in_another_process() -> None:
    task = get_task("imagenet200")
    pipelines = pipelines_of(task, random_tokens(task, 5, seed=2))
    here = [r.accuracy for r in backend("imagenet200", noise=0.01).evaluate(pipelines, seed=7)]
    code = (
        "import json, sys; from automl_env import Pipeline, get_task; "
        "from automl_env.backends.synthetic.backend import SyntheticBackend; "
        "ps = [Pipeline.from_json(t) for t in json.load(sys.stdin)]; "
        "b = SyntheticBackend(get_task('imagenet200'), noise=0.01); "
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


def test_noise_is_gaussian_with_the_requested_std() -> None:
    b = backend("cifar100", noise=0.01)
    tokens = random_tokens(b.task, 100_000, seed=3)
    delta = b.evaluate_tokens(tokens, seed=5) - b.expected_accuracy_tokens(tokens)
    assert abs(delta.mean()) < 2e-4 and abs(delta.std() - 0.01) < 2e-4
    assert abs(np.mean(np.abs(delta) < 0.01) - 0.6827) < 0.01  # one-sigma mass of a Gaussian


# -- evaluation: inputs, FLOPs, cost ----------------------------------------------------------------


def test_bad_token_matrices_are_refused() -> None:
    b = backend("cifar10")
    good = random_tokens(b.task, 3, seed=0)
    with pytest.raises(ValueError, match="shape"):
        b.evaluate_tokens({**good, "nas": good["nas"][:, :-1]})
    with pytest.raises(ValueError, match="outside"):
        b.evaluate_tokens({**good, "hpo": good["hpo"] + 4})
    with pytest.raises(ValueError, match="every module"):
        b.evaluate_tokens({"nas": good["nas"]})
    with pytest.raises(ValueError, match="unknown modules"):
        b.restricted_optimum(("loss",))
    assert b.evaluate([]) == []


@pytest.mark.parametrize("task", TASKS)
def test_flops_and_params_are_the_analytic_cost(task: str) -> None:
    b = backend(task)
    pipelines = pipelines_of(b.task, random_tokens(b.task, 40, seed=4))
    for fidelity in (b.task.search_fidelity, b.task.final_fidelity, Fidelity(epochs=2, cells=5, channels=4)):
        for pipeline, result in zip(pipelines, b.evaluate(pipelines, fidelity=fidelity), strict=True):
            expected = arch_cost(
                pipeline["nas"],
                num_classes=b.task.num_classes,
                image_size=b.task.image_size,
                in_channels=b.task.in_channels,
                cells=fidelity.cells,
                channels=fidelity.channels,
            )
            assert (result.flops, result.params) == (expected.macs, expected.params)


@pytest.mark.parametrize("task", ["fashion-mnist", "imagenet200"])
def test_cost_tables_are_exact_on_many_random_architectures(task: str) -> None:
    spec = get_task(task)
    space = spec.modules["nas"]
    table = NASNetCostTable(spec, cells=6, channels=8) if task != "imagenet200" else MobileNetCostTable(spec)
    tokens = random_tokens(spec, 500, seed=5)["nas"]
    macs, params = table.macs_params(tokens)
    dims = {"num_classes": spec.num_classes, "image_size": spec.image_size, "in_channels": spec.in_channels}
    for row, m, p in zip(tokens, macs, params, strict=True):
        cost = arch_cost(space.decode(row), cells=6, channels=8, **dims)
        assert (cost.macs, cost.params) == (m, p)


def test_noise_hash_is_splitmix64() -> None:
    first_outputs_from_state_zero = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    states = np.arange(1, 4, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) - np.uint64(0x9E3779B97F4A7C15)
    assert splitmix64(states).tolist() == first_outputs_from_state_zero


def test_cost_matches_the_papers_budget_and_scales_with_the_fidelity() -> None:
    for task, seconds in (("cifar100", 300 * 86400 / 4008), ("imagenet200", 2000 * 86400 / 1992)):
        b = backend(task)
        [result] = b.evaluate([b.task.default_pipeline()])
        assert result.cost_seconds == pytest.approx(seconds, rel=0.01)
    b = backend("cifar10")
    pipeline = b.task.default_pipeline()
    base = b.evaluate([pipeline], fidelity=Fidelity(epochs=12, train_subset=10_000))[0].cost_seconds
    assert b.evaluate([pipeline], fidelity=Fidelity(epochs=24, train_subset=5_000))[0].cost_seconds == pytest.approx(
        base
    )
    assert b.evaluate([pipeline], fidelity=Fidelity(epochs=12, train_subset=5_000))[0].cost_seconds == pytest.approx(
        base / 2
    )
