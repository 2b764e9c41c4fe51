"""MARL library runners (``baselines.marl``): a search's run folder, exactly the budget, and learning.

The runners are skipped, with the reason, where their library is missing (``pip install "automl-env[interop]"``).
The task is NAS-Bench-201's cell with one agent per node (3 agents, 3-step episodes, a recorded table): cheap,
and easy to improve on, since a third of its cells (those without a path through convolutions) score near chance.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import automl_env
from baselines import make_search
from baselines.marl import MARL_ALGORITHMS
from baselines.marl.recorder import EvaluationRecorder, RecordedEnv, RunIdentity
from ma2ml_agents import run_search

pytestmark = pytest.mark.interop

TASK = "nb201-cifar100-nodes"
FAST = ("benchmarl_mappo", "benchmarl_mappo_pipeline", "tianshou_ppo")
"""One runner per library and BenchMARL mode in the default suite; the others are slow."""


def _library(name: str) -> str:
    return name.split("_", 1)[0]


def _run(
    name: str, out: Path, *, batches: int, batch_size: int, seed: int = 0, config: Any = None, task: str = TASK
) -> Any:
    pytest.importorskip(_library(name), reason=f'{_library(name)} is not installed: pip install "automl-env[interop]"')
    spec = MARL_ALGORITHMS[name]
    return spec.run(
        task=task,
        backend="table",
        backend_options={},
        batches=batches,
        batch_size=batch_size,
        top_k=5,
        out_dir=str(out),
        seed=seed,
        config=config or spec.config,
        name=name,
    )


def _rows(folder: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(folder / "evaluations.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def search_columns(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The evaluations.csv header ``run_search`` writes on the task."""
    out = tmp_path_factory.mktemp("search")
    env = automl_env.vector_env(TASK, num_envs=4, backend="table", seed=0)
    search = make_search("random", env, seed=0, batches=1)
    run_search(env, search, batches=1, batch_size=4, out_dir=out, seed=0, progress=False)
    return _rows(out)[0]


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in MARL_ALGORITHMS])
def test_runner_writes_a_search_run_folder_with_exactly_the_budget(
    name: str, tmp_path: Path, search_columns: list[str]
) -> None:
    result = _run(name, tmp_path, batches=2, batch_size=4)
    columns, rows = _rows(tmp_path)
    assert columns == search_columns
    assert [(int(r["batch"]), int(r["index"])) for r in rows] == [(b, i) for b in range(2) for i in range(4)]
    assert result.evaluations == 8 and result.best_reward == max(float(r["reward"]) for r in rows)
    env = automl_env.parallel_env(TASK, backend="table")
    for row in rows:  # every row is a pipeline the env evaluated, its tokens those of the pipeline
        pipeline = automl_env.Pipeline.from_json(row["pipeline"])
        assert row["status"] == "ok" and pipeline.digest == row["digest"]
        tokens = env.codec.tokens_of(pipeline)
        assert row["tokens"] == " | ".join(f"{a}: {' '.join(map(str, t.tolist()))}" for a, t in tokens.items())
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["algorithm"], config["batches"], config["batch_size"], config["seed"]) == (name, 2, 4, 0)
    assert {"topk.json", "history.json"} <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("name", ["benchmarl_mappo_pipeline", "tianshou_ppo"])
def test_runner_on_a_noisy_table_returns_its_incumbent(name: str, tmp_path: Path) -> None:
    result = _run(name, tmp_path, batches=1, batch_size=4, task="hpolib-naval")
    written = json.loads((tmp_path / "incumbent.json").read_text())  # as ``run_search`` writes it
    assert written == result.incumbent and written["reevaluations"] == 4 * 3  # 4 candidates, all finalists
    assert [c["key"] for c in written["candidates"]] == [entry["key"] for entry in result.topk]


def _random_episode(env: Any, rng: np.random.Generator) -> None:
    observations, _ = env.reset()
    for _ in range(env.unwrapped.horizon):
        actions = {a: int(rng.choice(np.flatnonzero(o["action_mask"]))) for a, o in observations.items()}
        observations, *_ = env.step(actions)


def test_recorder_keeps_exactly_the_budget_and_refuses_a_short_run(tmp_path: Path) -> None:
    env = automl_env.parallel_env(TASK, backend="table", action_mode="token", seed=0)
    identity = RunIdentity(name="random_tokens", config=dataclasses.make_dataclass("Nothing", [])(), seed=0)
    rng = np.random.default_rng(0)
    with EvaluationRecorder(env, identity, batches=2, batch_size=3, top_k=5, out_dir=tmp_path / "a") as recorder:
        recorded = RecordedEnv(env, recorder)
        for _ in range(8):  # two past the budget, as a library rounding its frames up would play
            _random_episode(recorded, rng)
        assert recorder.full and recorder.surplus == 2
        assert recorder.finish().evaluations == 6
    assert len(_rows(tmp_path / "a")[1]) == 6
    with EvaluationRecorder(env, identity, batches=2, batch_size=3, top_k=5, out_dir=tmp_path / "b") as recorder:
        for _ in range(5):
            _random_episode(RecordedEnv(env, recorder), rng)
        with pytest.raises(RuntimeError, match="finished 5 of its 6 evaluations"):
            recorder.finish()


def test_recorder_ends_a_noisy_run_with_the_searches_incumbent_step(tmp_path: Path) -> None:
    # HPOLib's four recorded runs per configuration make the table noisy: the top-k are re-read at the other seeds.
    task = "hpolib-naval"
    env = automl_env.parallel_env(task, backend="table", action_mode="token", seed=0)
    identity = RunIdentity(name="random_tokens", config=dataclasses.make_dataclass("Nothing", [])(), seed=0)
    rng = np.random.default_rng(1)
    for incumbent_env in (automl_env.parallel_env(task, backend="table", seed=0), None):
        out = tmp_path / str(incumbent_env is None)
        with EvaluationRecorder(
            env, identity, batches=2, batch_size=3, top_k=2, out_dir=out, incumbent_env=incumbent_env
        ) as recorder:
            for _ in range(6):
                _random_episode(RecordedEnv(env, recorder), rng)
            result = recorder.finish()
        if incumbent_env is None:  # no env to re-evaluate on: the best observed pipeline is what the run returns
            assert result.incumbent is None and not (out / "incumbent.json").exists()
            continue
        written = json.loads((out / "incumbent.json").read_text())
        assert written == result.incumbent and written["seeds"] == [1, 2, 3] and written["reevaluations"] == 6
        assert [c["key"] for c in written["candidates"]] == [entry["key"] for entry in result.topk]
        chosen = next(c for c in written["candidates"] if c["key"] == written["pipeline"])
        assert chosen["mean"] == max(c["mean"] for c in written["candidates"])  # both are finalists
        assert written["observed_mean"] == np.mean(chosen["rewards"])


def test_a_folder_holding_a_run_is_restarted_only_when_asked(tmp_path: Path) -> None:
    env = automl_env.parallel_env(TASK, backend="table", action_mode="token", seed=0)
    identity = RunIdentity(name="random_tokens", config=dataclasses.make_dataclass("Nothing", [])(), seed=0)
    (tmp_path / "config.json").write_text("{}")
    recorder = EvaluationRecorder(env, identity, batches=1, batch_size=1, top_k=1, out_dir=tmp_path)
    with pytest.raises(FileExistsError, match="a MARL run cannot be resumed"), recorder:
        pass
    with EvaluationRecorder(env, identity, batches=1, batch_size=1, top_k=1, out_dir=tmp_path, restart=True):
        assert json.loads((tmp_path / "config.json").read_text())["algorithm"] == "random_tokens"


def test_ppo_sees_the_shared_reward_on_every_agents_last_move() -> None:
    """In AEC order only the last agent's final move holds the reward; after ``share_final_reward`` every agent's
    final move holds it and ends that agent's episode, and no other move changes."""
    pytest.importorskip("tianshou", reason='Tianshou is not installed: pip install "automl-env[interop]"')
    from pettingzoo.utils.conversions import parallel_to_aec
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv, PettingZooEnv
    from tianshou.utils.torch_utils import policy_within_training_step, torch_train_mode

    from baselines.marl import TianshouConfig
    from baselines.marl.tianshou_learners import build_learners, share_final_reward

    def make() -> Any:
        return PettingZooEnv(parallel_to_aec(automl_env.parallel_env(TASK, backend="table", action_mode="token")))

    algorithm = build_learners(TianshouConfig(algorithm="ppo"), make())
    buffer = VectorReplayBuffer(2 * 9, buffer_num=2)  # two envs, one episode each: 3 steps x 3 agents
    collector = Collector(algorithm, DummyVectorEnv([make, make]), buffer)
    collector.reset()
    with policy_within_training_step(algorithm.policy), torch_train_mode(algorithm.policy, enabled=False):
        collector.collect(n_episode=2)
    rows = buffer.sample_indices(0)
    before = buffer.rew[rows].copy()
    assert before[np.asarray(buffer.terminated[rows])].shape == (2, 3)  # one rewarded move per episode
    share_final_reward(buffer, agents=3)
    last = [row for env in range(2) for row in rows[env * 9 + 6 : env * 9 + 9]]  # each episode's final 3 moves
    assert [buffer.obs.agent_id[r] for r in last] == ["node1", "node2", "node3"] * 2
    assert all(buffer.terminated[r] for r in last) and sum(bool(buffer.terminated[r]) for r in rows) == 6
    for env in range(2):
        reward = before[env * 9 + 8]
        assert reward.min() > 0 and all((buffer.rew[r] == reward).all() for r in last[env * 3 : env * 3 + 3])
    assert not buffer.rew[[r for r in rows if r not in last]].any()


def test_unknown_library_algorithms_are_refused() -> None:
    from baselines.marl import BenchmarlConfig, TianshouConfig

    with pytest.raises(ValueError, match="BenchMARL algorithm must be one of"):
        BenchmarlConfig(algorithm="maddpg")
    with pytest.raises(ValueError, match="Tianshou algorithm must be one of"):
        TianshouConfig(algorithm="sac")


LEARNING = {
    # BenchMARL's default lr (5e-5) barely moves in 12 updates; 3e-3 learns within them.
    "benchmarl_mappo": {"lr": 3e-3},
    "benchmarl_mappo_pipeline": {"lr": 3e-3},
    # Tianshou's trainer makes one pass per collection by default; ten passes (its examples' setting) learn.
    "tianshou_ppo": {"lr": 3e-3, "update_repetitions": 10},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LEARNING))
def test_runner_learns_on_an_easy_task(name: str, tmp_path: Path) -> None:
    """Averaged over seeds, the last batches' mean reward beats the first batch's: the policy moved towards good
    cells (a runner that does not learn samples at the first batch's level throughout)."""
    config = dataclasses.replace(MARL_ALGORITHMS[name].config, **LEARNING[name])
    gains, best_gains = [], []
    for seed in range(3):
        _run(name, tmp_path / str(seed), batches=10, batch_size=24, seed=seed, config=config)
        rewards = np.asarray([float(r["reward"]) for r in _rows(tmp_path / str(seed))[1]]).reshape(10, 24)
        gains.append(rewards[-3:].mean() - rewards[0].mean())
        best_gains.append(rewards.max() - rewards[0].max())
    assert np.mean(gains) > 0.03, gains
    assert np.mean(best_gains) > 0.0, best_gains


@pytest.fixture(scope="module")
def benchmark() -> ModuleType:
    return importlib.import_module("baselines.benchmark")


def test_benchmark_takes_library_algorithms_next_to_ours(benchmark: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("tianshou", reason='Tianshou is not installed: pip install "automl-env[interop]"')
    argv = [
        *("--task", TASK, "--algorithms", "random", "tianshou_ppo", "--seeds", "0", "--batches", "2"),
        *("--batch-size", "4", "--top-k", "5", "--workers", "1", "--out", str(tmp_path)),
    ]
    benchmark.main(argv)
    table = (tmp_path / "results.md").read_text()
    assert "| tianshou_ppo | per token (MARL library) | 1 |" in table and "| random | joint | 1 |" in table
    with open(tmp_path / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(r["algorithm"] == "tianshou_ppo" for r in rows) == 8
    done = json.loads((tmp_path / "tianshou_ppo" / "seed0" / "done.json").read_text())
    assert done["algorithm_config"]["algorithm"] == "ppo"
    assert benchmark.finished(benchmark.RunSpec(**{**done["spec"], "backend_options": (), "config_overrides": ()}))
