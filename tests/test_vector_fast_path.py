"""The vector env's token fast path gives what the pipeline path gives: rewards, infos in every mode, the last
pipelines and full infos, the state, the errors, and the rows a search records, for random and adversarial
actions, on every backend that serves it; ``ModuleSpace.canonical`` is the encode-decode round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import automl_env
from automl_env.backends.base import EvalResult, Fidelity
from automl_env.backends.synthetic.rugged import RuggedSyntheticBackend
from automl_env.backends.table.backend import TableBackend
from automl_env.backends.table.records import RecordedTable, Records
from automl_env.pipeline import Pipeline
from automl_env.tasks import get_task, list_tasks
from automl_env.vector import AutoMLVectorEnv

CASES = [
    ("nb201-cifar100", "table"),
    ("nb201-cifar100-nodes", "table"),
    ("cifar100", "synthetic-rugged"),
    ("cifar100", "synthetic"),
    ("imagenet200", "synthetic-rugged"),  # the FLOPs-constrained objective
]
N = 12


def env_pair(task: str, backend: Any, *, infos: str = "full", **options: Any) -> dict[bool, AutoMLVectorEnv]:
    pair = {
        fast: automl_env.vector_env(task, num_envs=N, backend=backend, infos=infos, fast_path=fast, **options)
        for fast in (True, False)
    }
    assert pair[True].uses_fast_path and not pair[False].uses_fast_path
    return pair


def random_actions(env: AutoMLVectorEnv, rng: np.random.Generator) -> dict[str, np.ndarray]:
    nvecs = {a: env.action_space(a).nvec for a in env.possible_agents}
    return {a: rng.integers(0, nvec, size=(env.num_envs, len(nvec))) for a, nvec in nvecs.items()}


def assert_same_step(pair: Mapping[bool, AutoMLVectorEnv], actions: Mapping[str, Any]) -> None:
    steps = {}
    for fast, env in pair.items():
        _, reset_infos = env.reset()
        steps[fast] = (reset_infos, *env.step(actions), env.state(), env.last_infos, env.last_pipelines)
    (reset_a, _, rewards_a, done_a, trunc_a, infos_a, state_a, full_a, pipes_a) = steps[True]
    (reset_b, _, rewards_b, done_b, trunc_b, infos_b, state_b, full_b, pipes_b) = steps[False]
    for agent in pair[True].possible_agents:
        assert rewards_a[agent].dtype == rewards_b[agent].dtype
        assert np.array_equal(rewards_a[agent], rewards_b[agent])
        assert np.array_equal(done_a[agent], done_b[agent]) and np.array_equal(trunc_a[agent], trunc_b[agent])
        assert_same_infos(reset_a[agent], reset_b[agent])
        assert_same_infos(infos_a[agent], infos_b[agent])
    assert full_a == full_b and pipes_a == pipes_b
    assert state_a.dtype == state_b.dtype and np.array_equal(state_a, state_b)


def assert_same_infos(a: Any, b: Any) -> None:
    if isinstance(a, dict):  # infos="arrays"
        assert list(a) == list(b)
        for key in a:
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
        return
    assert a == b
    assert [[type(v) for v in info.values()] for info in a] == [[type(v) for v in info.values()] for info in b]


@pytest.mark.parametrize(("task", "backend"), CASES)
@pytest.mark.parametrize("infos", ["full", "numeric", "arrays"])
def test_random_actions_give_the_pipeline_paths_results(task: str, backend: str, infos: str) -> None:
    pair = env_pair(task, backend, infos=infos, seed=3)
    pair[True].reset()
    assert_same_step(pair, random_actions(pair[True], np.random.default_rng(0)))


def test_actions_of_other_dtypes_give_the_same_results() -> None:
    """Integral floats, unsigned and boolean tokens are valid actions on both paths."""
    pair = env_pair("cifar100", "synthetic-rugged")
    pair[True].reset()
    tokens = random_actions(pair[True], np.random.default_rng(1))
    assert_same_step(pair, {a: t.astype(np.float32) for a, t in tokens.items()})
    assert_same_step(pair, {a: t.astype(np.uint8) for a, t in tokens.items()})
    assert_same_step(pair, {a: (t % 2).astype(bool) for a, t in tokens.items()})
    assert_same_step(pair, {a: t.tolist() for a, t in tokens.items()})


def adversarial(tokens: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Actions both paths must refuse; several agents and rows wrong at once, so which error is raised matters."""
    bad = []
    for value in (-1, 99, 1.5, np.nan, np.inf):
        for rows in ((5, 2), (3, 3)):
            case: dict[str, Any] = {a: t.astype(np.float64) for a, t in tokens.items()}
            for agent, row in zip(case, rows, strict=False):
                case[agent][row, -1] = value
            bad.append(case)
    agents = list(tokens)
    bad.append({**tokens, agents[-1]: tokens[agents[-1]].astype(str)})
    bad.append({**tokens, agents[0]: tokens[agents[0]][:, :-1]})
    bad.append({**tokens, agents[0]: tokens[agents[0]][:-1]})
    bad.append({a: t for a, t in tokens.items() if a != agents[0]})
    bad.append({**tokens, "extra": tokens[agents[0]]})
    return bad


@pytest.mark.parametrize(("task", "backend"), [CASES[1], CASES[2]])
def test_adversarial_actions_raise_the_same_error_and_change_nothing(task: str, backend: str) -> None:
    pair = env_pair(task, backend)
    pair[True].reset()
    tokens = random_actions(pair[True], np.random.default_rng(2))
    for actions in adversarial(tokens):
        errors = []
        for env in pair.values():
            env.reset()
            with pytest.raises(ValueError) as raised:
                env.step(actions)
            errors.append(str(raised.value))
            assert env.agents == env.possible_agents  # a refused step leaves the episodes running
        assert errors[0] == errors[1]
    assert_same_step(pair, tokens)  # and both still step alike afterwards


def partial_nodes_table() -> RecordedTable:
    """Half of NAS-Bench-201-nodes' cells, some recorded as failed, some without FLOPs (priced from the cell)."""
    task = get_task("nb201-cifar100-nodes")
    nvec = np.concatenate([space.nvec for space in task.modules.values()])
    every = np.stack(np.meshgrid(*[np.arange(n) for n in nvec], indexing="ij"), axis=-1).reshape(-1, len(nvec))
    rng = np.random.default_rng(0)
    rows = every[rng.permutation(len(every))[: len(every) // 2]]
    flops = rng.uniform(1e6, 1e8, len(rows))
    flops[::3] = np.nan
    records = Records(
        fidelity=task.search_fidelity,
        split="validation",
        tokens=rows,
        accuracy=rng.uniform(0.1, 0.7, (len(rows), 1)),
        flops=flops,
        params=rng.uniform(1e4, 1e6, len(rows)),
        cost_seconds=rng.uniform(10, 100, len(rows)),
        failures={i: "diverged" for i in range(0, len(rows), 7)},
    )
    return RecordedTable(task, [records], source="in memory")


def test_a_partial_table_fails_and_prices_rows_alike() -> None:
    backend = TableBackend("nb201-cifar100-nodes", table=partial_nodes_table())
    pair = env_pair("nb201-cifar100-nodes", backend)
    pair[True].reset()
    for seed in range(4):
        assert_same_step(pair, random_actions(pair[True], np.random.default_rng(seed)))
    statuses = {info["status"] for info in pair[True].last_infos}
    assert statuses == {"ok", "failed"}


class CrashingBackend(RuggedSyntheticBackend):
    """Raises inside the shared scoring, so both paths see the crash."""

    def _with_noise(self, accuracy: np.ndarray, tokens: Mapping[str, np.ndarray], seed: int) -> np.ndarray:
        raise ArithmeticError("the surface blew up")


class OverridingBackend(RuggedSyntheticBackend):
    """Overrides ``evaluate`` alone: its parent's ``evaluate_batch`` must not serve it."""

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        return [EvalResult(0.5, 1.0, 1.0, 1.0, self.name) for _ in pipelines]


def test_a_crashing_backend_fails_the_batch_alike() -> None:
    pair = env_pair("cifar100", CrashingBackend(get_task("cifar100")))
    pair[True].reset()
    assert_same_step(pair, random_actions(pair[True], np.random.default_rng(0)))
    assert {info["reason"] for info in pair[True].last_infos} == {"backend raised ArithmeticError: the surface blew up"}


def test_the_fast_path_serves_only_where_it_gives_the_same_results() -> None:
    task = get_task("cifar100")
    env = automl_env.vector_env(task, num_envs=2, backend=OverridingBackend(task))
    assert not env.uses_fast_path
    env.reset()
    _, rewards, *_ = env.step(random_actions(env, np.random.default_rng(0)))
    assert rewards["aug"].tolist() == [0.5, 0.5]
    assert not automl_env.vector_env("nb201-cifar100", num_envs=2, fast_path=False).uses_fast_path


def test_a_search_records_the_same_rows(tmp_path: Path) -> None:
    from baselines.registry import make_search
    from ma2ml_agents.search import run_search

    rows = {}
    for fast in (True, False):
        env = automl_env.vector_env("cifar100", num_envs=6, backend="synthetic-rugged", fast_path=fast)
        folder = tmp_path / str(fast)
        search = make_search("random", env, seed=0, batches=3)
        run_search(env, search, batches=3, batch_size=6, out_dir=folder, seed=0, progress=False)
        rows[fast] = (folder / "evaluations.csv").read_text()
    assert rows[True] == rows[False] and rows[True].count("\n") == 19


@settings(max_examples=30, deadline=None)
@given(task=st.sampled_from(list_tasks()), seed=st.integers(0, 2**32 - 1), n=st.integers(0, 6))
def test_canonical_is_the_encode_decode_round_trip(task: str, seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    for space in get_task(task).modules.values():
        tokens = rng.integers(0, space.nvec, size=(n, space.num_tokens))
        expected = [space.encode(space.decode(row)).tolist() for row in tokens]
        assert space.canonical(tokens).tolist() == expected
