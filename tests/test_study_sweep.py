"""examples/study_sweep.py (``study_ma2ml.py sweep`` / ``summary``) on a tiny budget."""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _example(name: str) -> ModuleType:
    """examples/<name>.py as a module (both study scripts import benchmark.py's algorithm_config from there)."""
    sys.path.insert(0, str(REPO / "examples"))
    spec = importlib.util.spec_from_file_location(f"{name}_example", REPO / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sweep() -> ModuleType:
    return _example("study_sweep")


@pytest.mark.slow  # about 10 s: three NB201 searches with their diagnostics
def test_trace_and_summary_on_nas_bench_201(sweep: ModuleType) -> None:
    traces = [
        sweep.run_one("nb201-cifar100-nodes", name, 0, batches=3, batch_size=8, overrides=[("critic_steps", "2")])
        for name in ("ma2ml", "rea", "tpe")
    ]
    ma2ml, rea, tpe = traces
    assert ma2ml["algorithm"] == "ma2ml critic_steps=2" and rea["algorithm"] == "rea"  # rea has no such field
    assert len(ma2ml["curve"]) == 24 and np.all(np.diff(ma2ml["curve"]) >= 0)
    assert ma2ml["deployed"] == ma2ml["curve"]  # NB201 at 12 epochs holds one run per cell: no noise
    assert len(ma2ml["spearman"]) == 2 and not rea["spearman"]  # from the second batch on, models only
    assert len(tpe["spearman"]) == 2 and all(-1 <= rho <= 1 for rho in tpe["spearman"])  # TPE's l(x) / g(x)
    assert [row[0] for row in ma2ml["entropy"]] == [0, 8, 16] and len(ma2ml["entropy"][0]) == 4  # 3 agents
    assert ma2ml["entropy"][0][1] == pytest.approx(1.0, abs=0.05)  # the policies start near uniform
    lines = sweep.summarise(traces, [8, 24])
    assert lines[0].startswith("nb201-cifar100-nodes: random's exact expected best")
    assert lines[1].count("evals to") == 2 and "H/Hmax" in lines[2] and "rho(next batch)" in lines[2]


def test_noise_free_scores_are_the_tables_means(sweep: ModuleType) -> None:
    score = sweep.noise_free_scorer("nb201-cifar100", None)
    values = score({"nas": np.array([[0, 0, 0, 0, 0, 0], [4, 4, 4, 4, 4, 4]])})
    assert values.shape == (2,) and np.all((values > 0) & (values < 1))
    assert sweep.random_targets("nb201-cifar100", [1, 10**6])[1] == pytest.approx(0.6132, abs=1e-4)


def test_bootstrap_interval_brackets_the_mean_and_seeds_parse(sweep: ModuleType) -> None:
    low, high = sweep.bootstrap_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert low < 3.0 < high
    assert sweep.bootstrap_interval([2.0, 2.0]) == (2.0, 2.0)
    assert sweep.seeds_of("3-5") == [3, 4, 5] and sweep.seeds_of("1,7") == [1, 7]
    assert not math.isnan(low)


def _exact_critic_search(part: str = "value") -> tuple[ModuleType, Any, Any]:
    """(study_ma2ml as a module, a synthetic-rugged cifar100 env, ma2ml_screened on it with an exact critic of part)."""
    import automl_env
    from ma2ml_agents import make_algorithm

    study = _example("study_ma2ml")
    env = automl_env.vector_env("cifar100", num_envs=4, backend="synthetic-rugged")
    algorithm = make_algorithm("ma2ml_screened", env, seed=0, critic_hidden_size=8)
    algorithm.critic = study.OracleQ(algorithm.space, env.backend, algorithm.critic_targets, part=part)
    return study, env, algorithm


def _rho(line: str) -> dict[str, float]:
    return {pair: float(value) for pair, value in re.findall(r"rho\(([^)]*)\) ([+-][0-9.]+)", line)}


def test_draw_ranking_of_an_exact_critic_is_one_and_splits_the_rugged_value() -> None:
    import torch

    study, env, algorithm = _exact_critic_search()
    rho = _rho(study.draw_ranking(algorithm, env, torch.Generator().manual_seed(0)))
    assert rho["Q, value"] == 1.0  # Q is the value itself, in the critic's units
    assert rho["Q, smooth"] == rho["value, smooth"]  # so it ranks the smooth part as the value does
    assert 0.0 < rho["value, smooth"] < 1.0  # the hash-like field is part of the value, not of the smooth part


def test_credit_ranking_of_an_exact_critic_is_one_on_every_one_token_move() -> None:
    import torch

    study, env, algorithm = _exact_critic_search()
    line = study.credit_ranking(algorithm, env, torch.Generator().manual_seed(0))
    moves = sum(n - 1 for n in algorithm.space.flat_nvec) * study.CREDIT_ROWS
    assert line.startswith(f"{moves} moves, 100% weighed")  # uniform policies weigh every value of these spaces
    found = re.findall(r"rho\(dQ, d(\w+)\) ([+-][0-9.]+), weighed ([+-][0-9.]+)", line)
    rho = {name: (every, weighed) for name, every, weighed in found}
    assert set(rho) == {"value", "smooth"}
    assert rho["value"] == ("+1.000", "+1.000")  # the critic's change of every move is the value's change
    assert 0.0 < float(rho["smooth"][0]) < 1.0  # the moves also redraw the field, which the smooth part leaves out


def test_an_exact_critic_of_the_smooth_part_ranks_it_and_only_exists_where_the_backend_splits_the_value() -> None:
    import torch

    import automl_env

    study, env, algorithm = _exact_critic_search("smooth")
    rho = _rho(study.draw_ranking(algorithm, env, torch.Generator().manual_seed(0)))
    assert rho["Q, smooth"] == 1.0 and rho["Q, value"] == rho["value, smooth"] < 1.0
    smooth = automl_env.vector_env("cifar100", num_envs=4, backend="synthetic")
    with pytest.raises(ValueError, match="'smooth' on synthetic-rugged"):
        study.OracleQ(algorithm.space, smooth.backend, algorithm.critic_targets, part="smooth")
