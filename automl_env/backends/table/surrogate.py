"""Surrogates of a table: predict the accuracy of pipelines the table does not hold.

A surrogate is a scikit-learn regressor on the one-hot encoding of a pipeline's tokens (every
position of every module of the task), fitted on a random ``train_fraction`` of a table's rows and
scored on the rest: the held-out Spearman rank correlation and R^2 it reports describe exactly the
model that serves predictions (it is not refitted on the held-out rows afterwards).

Kinds (``SURROGATES``):
- ``hist_gb``: gradient-boosted trees (``HistGradientBoostingRegressor``), the default: fast on
  tens of thousands of rows and able to model interactions between positions;
- ``random_forest``: ``RandomForestRegressor``, 200 trees, a common choice of surrogate benchmarks;
- ``averaged``: the mean of the two's predictions (``VotingRegressor``). Where neither ranks clearly better, a
  choice made after seeing their scores flips with the data: the Fashion-MNIST record served hist_gb at 725
  evaluations and the random forest at 924, their held-out Spearman 0.01 apart, and the search comparison it
  served changed sign with them. The average is a choice that can be fixed in advance.

Fits and predictions run on one thread: the models are small, and OpenMP threads spinning against
other processes made a 1,562-row fit take 5 to 68 s on a loaded 2-core machine instead of 1.1 s.

Needs scikit-learn: ``pip install "automl-env[surrogate]"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import BackendSetupError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _hist_gb(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    # Defaults except more iterations than the default 100: the one-hot inputs need many shallow splits.
    return HistGradientBoostingRegressor(max_iter=500, learning_rate=0.05, random_state=seed)


def _random_forest(seed: int) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=200, min_samples_leaf=2, n_jobs=1, random_state=seed)


def _averaged(seed: int) -> Any:
    from sklearn.ensemble import VotingRegressor

    return VotingRegressor([("hist_gb", _hist_gb(seed)), ("random_forest", _random_forest(seed))], n_jobs=1)


SURROGATES: dict[str, Callable[[int], Any]] = {
    "hist_gb": _hist_gb,
    "random_forest": _random_forest,
    "averaged": _averaged,
}


@dataclass(frozen=True)
class SurrogateFit:
    """How well a surrogate predicts rows it was not fitted on."""

    kind: str
    train_rows: int
    held_out_rows: int
    spearman: float
    r2: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Surrogate:
    """A fitted regressor: tokens (n, T) of the task's spaces -> accuracy."""

    def __init__(self, kind: str, nvec: Sequence[int], *, seed: int = 0) -> None:
        if kind not in SURROGATES:
            raise ValueError(f"unknown surrogate {kind!r}; choose from {sorted(SURROGATES)}")
        try:
            self.model = SURROGATES[kind](seed)
        except ImportError as error:
            raise BackendSetupError(
                f'surrogates need scikit-learn: pip install "automl-env[surrogate]" ({error})'
            ) from None
        self.kind = kind
        self.nvec = np.asarray(nvec, dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self.nvec)[:-1]])

    def features(self, tokens: IntArray) -> npt.NDArray[np.float32]:
        """One-hot encoding; ValueError for rows that are not token vectors of the task's spaces."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.shape[1] != self.nvec.size:
            raise ValueError(f"the surrogate encodes (n, {self.nvec.size}) token rows, got shape {tokens.shape}")
        if np.any((tokens < 0) | (tokens >= self.nvec)):
            raise ValueError("the surrogate cannot encode tokens outside the task's spaces")
        onehot = np.zeros((tokens.shape[0], int(self.nvec.sum())), dtype=np.float32)
        onehot[np.arange(tokens.shape[0])[:, None], tokens + self._offsets] = 1.0
        return onehot

    def fit(self, tokens: IntArray, accuracy: FloatArray) -> Surrogate:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            self.model.fit(self.features(tokens), accuracy)
        return self

    def predict(self, tokens: IntArray) -> FloatArray:
        """Predicted accuracies, clipped to [0, 1]."""
        from threadpoolctl import threadpool_limits

        if tokens.shape[0] == 0:
            return np.zeros(0)
        features = self.features(tokens)
        with threadpool_limits(1):
            predicted = np.asarray(self.model.predict(features), dtype=np.float64)
        return np.clip(predicted, 0.0, 1.0)


def fit_held_out(
    kind: str, nvec: Sequence[int], tokens: IntArray, accuracy: FloatArray, *, train_fraction: float, seed: int = 0
) -> tuple[Surrogate, SurrogateFit]:
    """Fit on a random ``train_fraction`` of the rows (NaN accuracies dropped), score on the others."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1) so that some rows are held out, got {train_fraction}")
    keep = np.flatnonzero(np.isfinite(accuracy))
    order = np.random.default_rng(seed).permutation(keep)
    cut = round(train_fraction * order.size)
    if cut < 2 or order.size - cut < 2:
        raise ValueError(f"a surrogate needs at least 2 training and 2 held-out rows; the table has {order.size}")
    train, test = order[:cut], order[cut:]
    surrogate = Surrogate(kind, nvec, seed=seed).fit(tokens[train], accuracy[train])
    predicted = surrogate.predict(tokens[test])
    return surrogate, SurrogateFit(
        kind=kind,
        train_rows=int(train.size),
        held_out_rows=int(test.size),
        spearman=_spearman(predicted, accuracy[test]),
        r2=_r2(predicted, accuracy[test]),
    )


def _spearman(a: FloatArray, b: FloatArray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _r2(predicted: FloatArray, actual: FloatArray) -> float:
    residual = float(np.sum((actual - predicted) ** 2))
    total = float(np.sum((actual - actual.mean()) ** 2))
    return 1.0 - residual / total if total > 0 else float("nan")
