"""The exact expected best of random search, against enumeration and simulation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl_env.order_statistics import expected_best_of_random


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=5), st.integers(1, 3))
def test_matches_enumeration_of_every_draw_sequence(values: list[int], n: int) -> None:
    draws = list(itertools.product(values, repeat=n))
    exact = float(np.mean([max(d) for d in draws]))
    assert expected_best_of_random(values, n) == pytest.approx(exact)


def test_weights_act_as_repeated_values() -> None:
    values, weights = np.array([0.1, 0.5, 0.9]), np.array([3, 1, 2])
    repeated = np.repeat(values, weights)
    for n in (1, 2, 7):
        assert expected_best_of_random(values, n, weights=weights) == pytest.approx(
            expected_best_of_random(repeated, n)
        )


def test_matches_simulated_random_search_and_is_monotone() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=500)
    curve = expected_best_of_random(values, [1, 10, 100, 1000])
    assert np.all(np.diff(curve) > 0) and curve[0] == pytest.approx(values.mean())
    simulated = rng.choice(values, size=(20_000, 10)).max(axis=1).mean()
    assert curve[1] == pytest.approx(simulated, abs=0.01)


def test_nan_is_never_the_best_and_bad_input_is_refused() -> None:
    assert expected_best_of_random([np.nan, 1.0], 50) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one"):
        expected_best_of_random([], 3)
    with pytest.raises(ValueError, match="draws"):
        expected_best_of_random([1.0], 0)
    with pytest.raises(ValueError, match="weights"):
        expected_best_of_random([1.0, 2.0], 3, weights=[1.0])
