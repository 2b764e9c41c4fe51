"""Exact expected best of random search over a recorded table: the order statistics of uniform draws.

Random search (``baselines.random_search``) draws every pipeline uniformly and independently, with
replacement. Over a complete table of M values v_(1) <= ... <= v_(M), the best of n such draws is v_(i)
with probability (i/M)^n - ((i-1)/M)^n, so its expectation is exact and needs no simulated runs:

    E[max of n] = sum_i v_(i) * ((i/M)^n - ((i-1)/M)^n)

Ties need no care: the formula sums probabilities of ranks, and equal values share them. With ``weights``
(draw i with probability w_i / sum(w)), the rank probabilities use the cumulative weights instead, which
serves a noise model: pass every (pipeline, recorded seed) value, each weighted by its chance of being
drawn. Benchmarks compare searches with this target ("evaluations to reach random search's expected
best of n") instead of the mean of a few random runs, which swings with the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def expected_best_of_random(
    values: npt.ArrayLike, n: int | Sequence[int], *, weights: npt.ArrayLike | None = None
) -> float | FloatArray:
    """Expected maximum of ``n`` i.i.d. draws from ``values`` (uniform, or proportional to ``weights``).

    ``n`` may be a sequence of draw counts (one expectation each, as an array). NaN values (failed
    pipelines) count as drawn but are never the maximum: the expectation is over draws holding at least
    one finite value. ValueError for empty input, a count below 1, or bad weights.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("expected_best_of_random needs at least one value")
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != v.shape or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {v.size} finite non-negative numbers with a positive sum")
    counts = np.atleast_1d(np.asarray(n))
    if counts.dtype.kind not in "iu" or np.any(counts < 1):
        raise ValueError(f"the number of draws must be integers >= 1, got {n!r}")
    finite = np.isfinite(v)
    order = np.argsort(np.where(finite, v, -np.inf), kind="stable")
    sorted_values, cdf = v[order], np.cumsum(w[order]) / w.sum()
    cdf[-1] = 1.0
    below = np.concatenate(([0.0], cdf[:-1]))
    sorted_finite = finite[order]
    if not sorted_finite.any():
        raise ValueError("every value is NaN or infinite: there is no best to expect")
    # P(max <= v_(i)) = F_i^n; the maximum is finite only if at least one draw is finite.
    probabilities = cdf[None, :] ** counts[:, None] - below[None, :] ** counts[:, None]
    expected = (probabilities[:, sorted_finite] * sorted_values[sorted_finite]).sum(axis=1)
    expected /= probabilities[:, sorted_finite].sum(axis=1)
    return float(expected[0]) if np.ndim(n) == 0 else expected
