"""Baselines: they learn on the synthetic cifar100 benchmark, run under ``run_search``, resume exactly.

"Improves over its own first batch" is measured per baseline, averaged over seeds: a learner's mean
reward in its last two batches against its first batch; random search, which cannot learn, on the best
reward found against the best of its first batch. A broken baseline (no update, a wrong update,
proposals ignoring what it learnt) keeps its batch means flat and fails.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import automl_env
from baselines import BASELINES, SEARCHES, SequentialConfig, TPEConfig, make_search
from baselines.autohas import AutoHASConfig
from ma2ml_agents import ALGORITHMS, LiteConfig, run_search

# Settings that keep the default suite fast; ``slow`` runs the defaults on a longer budget.
FAST: dict[str, tuple[int, int, Any]] = {  # name -> (batches, batch size, config)
    "random": (6, 24, None),
    "rea": (6, 24, None),
    "tpe": (5, 12, TPEConfig(startup_trials=12)),
    "reinforce": (10, 24, LiteConfig(policy_lr=2e-2)),  # the paper's 4e-4 needs hundreds of batches
    "sequential_rea": (6, 24, None),
    "sequential_tpe": (6, 12, None),
    "autohas": (10, 24, AutoHASConfig(meta_lr=0.1)),  # 3 warm-up batches, then 7 controller steps
}
SEEDS = (0, 1, 2)
MARGIN = 0.01  # accuracy points the last batches must gain over the first (fractions of 1)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def curves(name: str, *, seed: int, batches: int, batch_size: int, config: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-batch mean and max reward of a search on synthetic cifar100."""
    env = automl_env.vector_env("cifar100", num_envs=batch_size, backend="synthetic", seed=seed)
    algorithm = make_search(name, env, seed=seed, batches=batches, config=config)
    means, maxima = [], []
    for _ in range(batches):
        env.reset()
        actions = algorithm.act(batch_size)
        _, rewards, *_ = env.step(actions)
        algorithm.update(actions, rewards[env.possible_agents[0]])
        means.append(float(np.mean(rewards[env.possible_agents[0]])))
        maxima.append(float(np.max(rewards[env.possible_agents[0]])))
    return np.asarray(means), np.asarray(maxima)


def assert_improves(name: str, batches: int, batch_size: int, config: Any) -> None:
    gains = []
    for seed in SEEDS:
        means, maxima = curves(name, seed=seed, batches=batches, batch_size=batch_size, config=config)
        gains.append(maxima.max() - maxima[0] if name == "random" else means[-2:].mean() - means[0])
    assert np.mean(gains) > MARGIN, f"{name}: mean gain over the first batch {np.mean(gains):.4f} (per seed {gains})"


def test_every_baseline_has_fast_settings() -> None:
    assert set(FAST) == set(BASELINES)
    assert set(SEARCHES) == set(BASELINES) | set(ALGORITHMS)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_improves_over_its_first_batch(name: str) -> None:
    batches, batch_size, config = FAST[name]
    assert_improves(name, batches, batch_size, config)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_improves_with_default_settings(name: str) -> None:
    # At the paper's learning rate REINFORCE's batch mean stays flat for ~40 batches, then climbs.
    assert_improves(name, 120 if name == "reinforce" else 30, 24, None)


def test_random_search_does_not_learn() -> None:
    """Its batch means stay flat: the control for the learners' gains above."""
    gains = [
        np.mean(curves("random", seed=s, batches=6, batch_size=24)[0][-2:])
        - curves("random", seed=s, batches=1, batch_size=24)[0][0]
        for s in SEEDS
    ]
    assert abs(float(np.mean(gains))) < MARGIN


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_run_search_drives_and_resumes_every_baseline(name: str, tmp_path: Path) -> None:
    """Stopped after 2 batches and resumed to 4 gives exactly the uninterrupted 4-batch run."""
    config = TPEConfig(startup_trials=4) if name == "tpe" else None

    def search(out: Path, batches: int) -> list[str]:
        env = automl_env.vector_env("cifar100", num_envs=4, backend="synthetic", seed=3)
        algorithm = make_search(name, env, seed=3, batches=4, config=config)
        run_search(
            env, algorithm, batches=batches, batch_size=4, top_k=5, out_dir=out, seed=3, resume=True, progress=False
        )
        return (out / "evaluations.csv").read_text().splitlines()

    whole = search(tmp_path / "whole", 4)
    search(tmp_path / "split", 2)
    assert search(tmp_path / "split", 4) == whole
    assert len(whole) == 1 + 16


def test_sequential_phases_equal_envs_with_modules_and_fixed() -> None:
    """Phase by phase, the sequential search's pipelines score as on ``modules=(m,)`` + ``fixed=`` envs."""
    env = automl_env.vector_env("cifar100", num_envs=6, backend="synthetic", seed=1)
    task = env.task
    algorithm = make_search("sequential_rea", env, seed=1, batches=3, config=SequentialConfig(phase_batches=(1, 1, 1)))
    fixed: dict[str, Any] = {}
    for module in ("nas", "aug", "hpo"):
        actions = algorithm.act(6)
        env.reset()
        _, rewards, *_ = env.step(actions)
        single = automl_env.vector_env(
            "cifar100", num_envs=6, backend="synthetic", seed=1, modules=(module,), fixed=fixed
        )
        single.reset()
        _, single_rewards, *_ = single.step({module: actions[module]})
        np.testing.assert_array_equal(rewards["nas"], single_rewards[module])
        algorithm.update(actions, rewards["nas"])
        best = actions[module][int(np.argmax(rewards["nas"]))]
        fixed[module] = task.modules[module].decode(best)
    default = task.default_pipeline()
    assert dataclasses.asdict(SequentialConfig()) and default["nas"] != fixed["nas"]


def _told_tpe(multivariate: bool) -> Any:
    """TPE on NAS-Bench-201 (one agent, 6 tokens) told 40 random pipelines with their table rewards."""
    env = automl_env.vector_env("nb201-cifar100", num_envs=40, seed=0)
    tpe = make_search("tpe", env, seed=0, batches=4, config=TPEConfig(startup_trials=8, multivariate=multivariate))
    actions = {"nas": np.random.default_rng(0).integers(0, 5, size=(40, 6))}
    env.reset()
    _, rewards, *_ = env.step(actions)
    tpe.update(actions, rewards["nas"])
    return tpe


def test_tpe_acquisition_is_the_value_optuna_picks_its_candidates_by() -> None:
    tpe = _told_tpe(multivariate=True)
    sampler, seen = tpe.study.sampler, []
    compute = sampler._compute_acquisition_func

    def recording(samples: dict[str, np.ndarray], below: Any, above: Any) -> np.ndarray:
        values = compute(samples, below, above)
        seen.append((samples, values))
        return values

    sampler._compute_acquisition_func = recording
    rows = tpe.propose(1)  # the first ask of a batch: no trial running, so the model is the told trials'
    ((samples, values),) = seen
    candidates = np.stack([samples[name] for name in tpe.names], axis=1).astype(np.int64)
    assert candidates.shape == (24, 6)
    np.testing.assert_allclose(tpe.acquisition(candidates), values, rtol=1e-12, atol=1e-12)
    assert rows[0].tolist() in candidates[values == values.max()].tolist()  # Optuna asks its best candidate


def test_tpe_acquisition_prefers_the_told_best_per_token_too() -> None:
    tpe = _told_tpe(multivariate=False)
    trials = sorted(tpe.study.get_trials(deepcopy=False), key=lambda t: t.value)
    best, worst = ([int(t.params[name]) for name in tpe.names] for t in (trials[-1], trials[0]))
    scores = tpe.acquisition(np.array([best, worst]))
    assert scores[0] > scores[1]
    untold = make_search("tpe", automl_env.vector_env("nb201-cifar100", num_envs=1), seed=0, batches=1)
    assert untold.acquisition(np.array([best, worst])).tolist() == [0.0, 0.0]  # no model yet: no preference
