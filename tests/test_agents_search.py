"""The search loop, the env adapter and every registered algorithm: run folders, exact resume, state round trips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_agents_games import MatrixGame, TokenGame, TokenVectorGame

from ma2ml_agents import ALGORITHMS, BatchEvaluator, make_algorithm, run_search

FAST = {"hidden_size": 16}


def _fast(name: str) -> dict:
    overrides = dict(FAST)
    if ALGORITHMS[name].uses_critic:
        overrides.update(critic_hidden_size=16, baseline_samples=4)
    return overrides


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_learns_on_cuda(name: str) -> None:
    """Every module of the state, MA2ML's target policies and critic too, lives and learns on the device."""
    env = TokenGame()
    algorithm = make_algorithm(name, env, seed=0, device="cuda", **_fast(name))
    for batch in range(3):
        actions = algorithm.act(8)
        stats = algorithm.update(actions, BatchEvaluator(env).evaluate(actions, seed=batch)[0])
        assert all(np.isfinite(v) for v in stats.values())
    tensors = [t for module in algorithm.modules().values() for t in [*module.parameters(), *module.buffers()]]
    assert {t.device.type for t in tensors} == {"cuda"}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_acts_and_updates_on_both_games(name: str) -> None:
    for env in (MatrixGame(), TokenGame()):
        algorithm = make_algorithm(name, env, seed=0, **_fast(name))
        actions = algorithm.act(6)
        for agent in env.possible_agents:
            assert actions[agent].shape == (6, len(np.atleast_1d(env.action_space(agent).sample())))
            assert all(env.action_space(agent).contains(a if a.size > 1 else int(a[0])) for a in actions[agent])
        rewards, infos = BatchEvaluator(env).evaluate(actions, seed=1)
        stats = algorithm.update(actions, rewards)
        assert rewards.shape == (6,) and len(infos) == 6
        assert all(np.isfinite(v) for v in stats.values())


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_state_dict_round_trip_continues_identically(name: str, tmp_path: Path) -> None:
    env = TokenGame()
    evaluator = BatchEvaluator(env)
    original = make_algorithm(name, env, seed=3, **_fast(name))
    for batch in range(2):
        actions = original.act(8)
        original.update(actions, evaluator.evaluate(actions, seed=batch)[0])
    torch.save(original.state_dict(), tmp_path / "state.pt")
    restored = make_algorithm(name, env, seed=99, **_fast(name))
    restored.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    for batch in range(2, 4):
        a, b = original.act(8), restored.act(8)
        assert all(np.array_equal(a[k], b[k]) for k in a)
        rewards = evaluator.evaluate(a, seed=batch)[0]
        assert original.update(a, rewards) == restored.update(b, rewards)


def test_construction_is_seeded_and_leaves_global_rng_alone() -> None:
    env = TokenGame()
    before = torch.random.get_rng_state()
    first, second = make_algorithm("ma2ml", env, seed=5), make_algorithm("ma2ml", env, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    a, b = first.act(10), second.act(10)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    other = make_algorithm("ma2ml", env, seed=6).act(10)
    assert not all(np.array_equal(a[k], other[k]) for k in a)


def test_vector_and_parallel_adapters_agree() -> None:
    """The vector env and the ParallelEnv give the same noise-free rewards for the same joint actions."""
    vector, single = TokenVectorGame(num_envs=5, noise=0.0), TokenGame(noise=0.0)
    actions = make_algorithm("ma2ml_lite", single, seed=0).act(5)
    vector_rewards, vector_infos = BatchEvaluator(vector).evaluate(actions, seed=3)
    single_rewards, single_infos = BatchEvaluator(single).evaluate(actions, seed=3)
    np.testing.assert_allclose(vector_rewards, single_rewards)
    assert [i["pipeline"] for i in vector_infos] == [i["pipeline"] for i in single_infos]
    with pytest.raises(ValueError, match="batches of 5"):
        BatchEvaluator(vector).evaluate({a: v[:3] for a, v in actions.items()}, seed=0)


def _search(env: object, out: Path, *, batches: int, resume: bool = False, name: str = "ma2ml", every: int = 1):
    algorithm = make_algorithm(name, env, seed=11, **_fast(name))
    return run_search(
        env,
        algorithm,
        batches=batches,
        batch_size=8,
        top_k=5,
        out_dir=out,
        seed=7,
        resume=resume,
        progress=False,
        checkpoint_every=every,
    )


def test_search_writes_its_folder(tmp_path: Path) -> None:
    result = _search(TokenVectorGame(num_envs=8), tmp_path / "run", batches=3)
    folder = tmp_path / "run"
    for name in ("config.json", "evaluations.csv", "topk.json", "history.json", "checkpoint.pt", "learning_curve.png"):
        assert (folder / name).exists(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["algorithm"] == "ma2ml" and config["seed"] == 7 and config["algorithm_config"]["tau"] == 0.04
    assert "automl-env" in config["versions"] and config["env"]["vector"] is True
    rows = list(csv.DictReader((folder / "evaluations.csv").open()))
    assert len(rows) == 24 == result.evaluations
    assert {"batch", "index", "reward", "accuracy", "status", "tokens", "pipeline"} <= set(rows[0])
    assert "detail" not in rows[0]  # nested info fields are not scalars
    topk = json.loads((folder / "topk.json").read_text())
    assert len(topk) == 5 and [e["rank"] for e in topk] == [1, 2, 3, 4, 5]
    assert len({e["key"] for e in topk}) == 5  # one entry per distinct pipeline
    assert topk[0]["reward"] == result.best_reward == max(float(r["reward"]) for r in rows)
    assert len(result.batch_means) == len(result.topk_means) == 3
    with pytest.raises(FileExistsError):
        _search(TokenVectorGame(num_envs=8), folder, batches=3)


def test_topk_does_not_double_count_a_resampled_pipeline(tmp_path: Path) -> None:
    result = _search(MatrixGame(), tmp_path / "run", batches=2, name="ma2ml_lite")
    assert len(result.topk) == 5
    keys = [tuple(sorted((a, tuple(v)) for a, v in e["actions"].items())) for e in result.topk]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("env_kind", ["vector", "parallel"])
def test_resume_is_exact(name: str, env_kind: str, tmp_path: Path) -> None:
    """Stop after 2 batches, resume to 5: the same CSV, top-k and curves as an uninterrupted 5-batch run."""

    def make_env() -> object:
        return TokenVectorGame(num_envs=8) if env_kind == "vector" else TokenGame()

    full = _search(make_env(), tmp_path / "full", batches=5, name=name)
    _search(make_env(), tmp_path / "split", batches=2, name=name)
    resumed = _search(make_env(), tmp_path / "split", batches=5, resume=True, name=name)
    assert (tmp_path / "full" / "evaluations.csv").read_bytes() == (tmp_path / "split" / "evaluations.csv").read_bytes()
    assert resumed.topk == full.topk and resumed.batch_means == full.batch_means
    assert json.loads((tmp_path / "split" / "history.json").read_text()) == json.loads(
        (tmp_path / "full" / "history.json").read_text()
    )


def test_resume_after_a_crash_between_checkpoints(tmp_path: Path) -> None:
    """Rows written after the last checkpoint are cut off and re-evaluated identically."""
    full = _search(TokenGame(), tmp_path / "full", batches=4, every=2)
    _search(TokenGame(), tmp_path / "split", batches=3, every=2)  # checkpoint at 2, rows of batch 3 on disk
    resumed = _search(TokenGame(), tmp_path / "split", batches=4, resume=True, every=2)
    assert (tmp_path / "full" / "evaluations.csv").read_bytes() == (tmp_path / "split" / "evaluations.csv").read_bytes()
    assert resumed.topk == full.topk


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    _search(TokenGame(), tmp_path / "run", batches=1)
    algorithm = make_algorithm("ma2ml", TokenGame(), seed=11, **_fast("ma2ml"))
    with pytest.raises(ValueError, match="seed"):
        run_search(TokenGame(), algorithm, batches=2, batch_size=8, top_k=5, out_dir=tmp_path / "run", seed=8,
                   resume=True, progress=False)  # fmt: skip
