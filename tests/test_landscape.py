"""Landscape statistics on landscapes whose answers are known, and on the NAS-Bench-201 table."""

from __future__ import annotations

import numpy as np
import pytest

from automl_env.landscape import TokenObjective, describe, landscape_statistics, token_objective

NVEC = (4, 3, 5, 2)


def additive(rows: np.ndarray, seed: int) -> np.ndarray:
    weights = [np.array([0.0, 0.3, 0.1, 0.2]), np.array([0.5, 0.0, 0.25]), np.linspace(0, 1, 5), np.array([0.2, 0.0])]
    return sum(w[rows[:, i]] for i, w in enumerate(weights))


def needle(rows: np.ndarray, seed: int) -> np.ndarray:
    return np.all(rows == np.array([3, 2, 4, 1]), axis=1).astype(np.float64)


def test_an_additive_landscape_is_smooth_additive_and_has_one_optimum() -> None:
    stats = landscape_statistics(TokenObjective(NVEC, additive, "additive"), samples=400, restarts=8)
    assert stats.additive_r2 == pytest.approx(1.0, abs=1e-4)
    assert stats.local_optima == stats.strict_local_optima == 1
    assert stats.distinct_optima == 1 and stats.best_optimum == pytest.approx(0.3 + 0.5 + 1.0 + 0.2)
    assert stats.mutation_correlation > 0.5 and stats.noise_std == 0.0 and stats.icc == 1.0


def test_a_needle_in_a_haystack_has_none_of_the_mass() -> None:
    stats = landscape_statistics(TokenObjective(NVEC, needle, "needle"), samples=100, restarts=3)
    assert stats.quantiles["q95"] == stats.quantiles["q50"] == 0.0  # 100 draws from 120 pipelines: no needle
    assert stats.strict_local_optima == 1  # only the needle beats all its neighbours
    assert stats.local_optima == 120 - sum(n - 1 for n in NVEC)  # a plateau everywhere but next to the needle


def test_seed_noise_is_measured() -> None:
    def noisy(rows: np.ndarray, seed: int) -> np.ndarray:
        return additive(rows, seed) + np.random.default_rng(seed).normal(0.0, 0.05, rows.shape[0])

    stats = landscape_statistics(TokenObjective(NVEC, noisy), samples=4000, restarts=1)
    assert stats.noise_std == pytest.approx(0.05, rel=0.1)
    # ICC(1) = pipeline variance / (pipeline variance + noise variance), the variance over uniform pipelines
    every = np.stack(np.meshgrid(*(np.arange(n) for n in NVEC), indexing="ij"), axis=-1).reshape(-1, len(NVEC))
    spread = float(np.var(additive(every, 0)))
    assert stats.icc == pytest.approx(spread / (spread + 0.05**2), abs=0.004)  # 0.987, noise-free would be 1


def test_nas_bench_201_statistics() -> None:
    """The figures of the real CIFAR-100 table that the README compares benchmarks with."""
    stats = landscape_statistics(token_objective("nb201-cifar100"), samples=4000, restarts=10, seed=0)
    assert (stats.local_optima, stats.strict_local_optima) == (35, 18)
    assert stats.mutation_correlation == pytest.approx(0.62, abs=0.04)
    assert stats.additive_r2 == pytest.approx(0.48, abs=0.04)
    assert stats.noise_std == 0.0  # seed-averaged table
    assert "| nb201-cifar100 (table) |" in describe([stats])


def test_too_few_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="samples >= 20"):
        landscape_statistics(TokenObjective(NVEC, additive), samples=5)
