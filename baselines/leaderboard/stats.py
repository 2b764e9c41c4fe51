"""The leaderboard's statistics, from maintained libraries: SciPy's bootstrap and quantile test per task, and
rliable's stratified bootstrap for the aggregates across tasks (Agarwal et al., NeurIPS 2021).

- Per task and budget: the mean over seeds with a 95% BCa bootstrap interval (``scipy.stats.bootstrap``).
- Evaluations to reach a target: the median over seeds with a 95% distribution-free interval
  (``scipy.stats.quantile_test``, from order statistics). A run that never reaches the target counts as
  infinitely many evaluations (censored at its budget), so it moves the median up instead of being dropped;
  a bound that is infinite is written "> budget".
- Across tasks: the interquartile mean (IQM) of normalised scores and the probability of improvement, each
  with a 95% stratified bootstrap interval (``rliable.library.get_interval_estimates``: runs are resampled
  within each task).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


def mean_interval(values: npt.ArrayLike) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its 95% BCa bootstrap interval; a constant sample's interval is a point."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2 or np.all(x == x[0]):
        return mean, mean, mean
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    result = stats.bootstrap((x,), np.mean, confidence_level=CONFIDENCE, random_state=rng, n_resamples=2000)
    low, high = result.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):  # BCa degenerates on near-constant samples
        result = stats.bootstrap((x,), np.mean, confidence_level=CONFIDENCE, random_state=rng, method="percentile")
        low, high = result.confidence_interval
    return mean, float(low), float(high)


def median_interval(values: npt.ArrayLike, *, budget: int) -> tuple[float, float, float]:
    """(median, low, high) of evaluation counts where ``inf`` means "not reached within ``budget``", with a 95%
    distribution-free interval; a statistic beyond the budget is ``inf`` (only "> budget" is known of it)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    censored = np.where(np.isfinite(x), x, budget + 1.0)  # any count above the budget ranks the same
    # The smallest count by which half the runs reached it (the Kaplan-Meier median: censoring is only at the
    # budget), never an average of a count and a censored one.
    median = float(np.quantile(censored, 0.5, method="inverted_cdf"))
    low = high = median
    if x.size >= 2:
        interval = stats.quantile_test(censored, q=median, p=0.5).confidence_interval(confidence_level=CONFIDENCE)
        low, high = float(interval.low), float(interval.high)
    beyond = lambda v: np.inf if v > budget else v  # noqa: E731  (NaN: too few runs for the interval)
    return beyond(median), beyond(low), beyond(high)


def iqm_intervals(scores: Mapping[str, npt.NDArray[np.float64]], *, reps: int) -> dict[str, tuple[float, float, float]]:
    """Per algorithm: (IQM, low, high) of its (runs x tasks) normalised scores, stratified bootstrap."""
    from rliable import library, metrics

    def iqm(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.array([metrics.aggregate_iqm(matrix)])

    points, intervals = library.get_interval_estimates(
        dict(scores), iqm, reps=reps, confidence_interval_size=CONFIDENCE
    )
    return {a: (float(points[a][0]), float(intervals[a][0, 0]), float(intervals[a][1, 0])) for a in scores}


def improvement_intervals(
    pairs: Mapping[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]], *, reps: int
) -> dict[str, tuple[float, float, float]]:
    """Per pair "X over Y": (P(X > Y), low, high), the probability that a run of X on a random task scores above
    a run of Y (ties count half), averaged over tasks, stratified bootstrap."""
    from rliable import library, metrics

    if not pairs:
        return {}
    points, intervals = library.get_interval_estimates(
        dict(pairs), metrics.probability_of_improvement, reps=reps, confidence_interval_size=CONFIDENCE
    )
    return {p: (float(points[p]), float(intervals[p][0, 0]), float(intervals[p][1, 0])) for p in pairs}
