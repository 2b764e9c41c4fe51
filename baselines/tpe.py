"""TPE (Bergstra et al. 2011) through Optuna's ask-and-tell interface, one categorical per token.

Every token position of every module is a categorical parameter named ``agent[position]`` whose
choices are the position's token indices. ``act(n)`` asks n trials at once and ``update`` tells their
rewards, so a batch of 24 is evaluated together like every other search here; trials still running
when more are asked are handled by Optuna's constant liar (they count as bad until told).

Needs ``optuna`` (``pip install "automl-env[tpe]"``); it is imported when the baseline is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from baselines.base import TokenRows, TokenSearch


@dataclass(frozen=True)
class TPEConfig:
    """Optuna TPESampler settings (ours; the rest are Optuna's defaults)."""

    startup_trials: int = 24
    """Random trials before TPE starts modelling: one batch of 24."""
    multivariate: bool = True
    """Model the tokens jointly (Optuna's multivariate TPE) rather than one by one."""
    ei_candidates: int = 24
    """Candidates drawn from l(x) per suggestion; the one with the best l(x)/g(x) is asked."""


class TPE(TokenSearch[TPEConfig]):
    """Tree-structured Parzen estimator over the joint token space."""

    name = "tpe"
    # Every told row is matched to the trial it was asked as, whatever the order; trials still running count as
    # bad for the asks in between (constant liar): Optuna's own asynchronous ask-and-tell.
    asynchronous = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            import optuna
        except ImportError as error:  # pragma: no cover - depends on the installed extras
            raise ImportError('the TPE baseline needs optuna: pip install "automl-env[tpe]"') from error
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=self.seed,
            n_startup_trials=self.config.startup_trials,
            multivariate=self.config.multivariate,
            n_ei_candidates=self.config.ei_candidates,
            constant_liar=True,
        )
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.names = [
            f"{agent}[{position}]"
            for i, agent in enumerate(self.space.agents)
            for position in range(len(self.space.nvecs[i]))
        ]
        self.choices = [list(range(int(n))) for n in self.nvec]
        self.pending: list[tuple[Any, np.ndarray]] = []

    @classmethod
    def default_config(cls) -> TPEConfig:
        return TPEConfig()

    def propose(self, n: int) -> TokenRows:
        rows = []
        for _ in range(n):
            trial = self.study.ask()
            row = np.array(
                [trial.suggest_categorical(k, c) for k, c in zip(self.names, self.choices, strict=True)], dtype=np.int64
            )
            self.pending.append((trial, row))
            rows.append(row)
        return np.stack(rows)

    def observe(self, tokens: TokenRows, rewards: np.ndarray) -> dict[str, float]:
        # Match told rows to asked trials in order; a row we did not ask (replayed by a caller) is added.
        for row, reward in zip(tokens, rewards, strict=True):
            trial = self._pop_pending(row)
            if trial is None:
                self._add_trial(row, float(reward))
            else:
                self.study.tell(trial, float(reward))
        return {"trials": float(len(self._trials()))}

    def acquisition(self, tokens: TokenRows) -> np.ndarray:
        """TPE's own ranking of token rows (n, T): log l(x) - log g(x), the quantity its sampler maximises over its
        candidates, under the Parzen estimators of the trials told so far (trials still running left out), joint or
        per token as ``multivariate`` says.

        For diagnostics (docs/ma2ml_study.md, section 25): how well TPE's model ranks what it has not seen yet.
        Optuna keeps these estimators private (``TPESampler._build_parzen_estimator``; measured with Optuna 5.1); a
        version that moved them raises NotImplementedError rather than give a wrong ranking.
        """
        import optuna
        from optuna.trial import TrialState

        rows = np.asarray(tokens, dtype=np.int64).reshape(-1, len(self.names))
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        told = [(float(t.value), t.number, t) for t in complete if t.value is not None]
        if not told:
            return np.zeros(rows.shape[0])
        sampler = self.study.sampler
        try:
            from optuna.samplers._tpe.sampler import default_gamma

            gamma = getattr(sampler, "_gamma", None) or default_gamma
            ranked = sorted(told, key=lambda v: -v[0])  # maximising: the best first, ties in trial order
            n_below = min(gamma(len(told)), len(told))
            below = [t for _, _, t in sorted(ranked[:n_below], key=lambda v: v[1])]  # in trial order, as Optuna's
            above = [t for _, _, t in sorted(ranked[n_below:], key=lambda v: v[1])]
            space = self._distributions()
            columns = {k: rows[:, i].astype(np.float64) for i, k in enumerate(self.names)}  # index = internal repr
            # The multivariate sampler models every token jointly; the univariate one each on its own, a sum of logs.
            groups = [self.names] if self.config.multivariate else [[k] for k in self.names]
            build = sampler._build_parzen_estimator  # type: ignore[union-attr]
            total = np.zeros(rows.shape[0])
            for names in groups:
                part, samples = {k: space[k] for k in names}, {k: columns[k] for k in names}
                good, bad = build(self.study, part, below, handle_below=True), build(self.study, part, above, False)
                total += good.log_pdf(samples) - bad.log_pdf(samples)
            return total
        except (AttributeError, ImportError, TypeError) as error:
            raise NotImplementedError(
                f"TPE.acquisition reads Optuna's private Parzen estimators, which Optuna {optuna.__version__} does not "
                f"have as 5.1 does ({error}); install optuna 5 for this diagnostic"
            ) from error

    def extra_state(self) -> dict[str, Any]:
        # Completed trials as token rows, and the sampler's generator (Optuna keeps it in ``_rng``).
        trials = [
            ([int(t.params[k]) for k in self.names], float(t.value)) for t in self._trials() if t.value is not None
        ]
        rng = getattr(self.study.sampler, "_rng", None)
        if rng is None:
            return {"trials": trials, "sampler_rng": None}
        generator = rng.rng.get_state(legacy=False)
        generator["state"]["key"] = generator["state"]["key"].tolist()  # plain types for weights_only loads
        return {"trials": trials, "sampler_rng": generator}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self._trials():
            raise RuntimeError("load the state into a freshly built TPE baseline")
        for row, value in state["trials"]:
            self._add_trial(row, value)
        rng = getattr(self.study.sampler, "_rng", None)
        if rng is not None and state["sampler_rng"] is not None:
            generator = state["sampler_rng"]
            rng.rng.set_state(
                {
                    **generator,
                    "state": {**generator["state"], "key": np.asarray(generator["state"]["key"], dtype=np.uint32)},
                }
            )

    def _trials(self) -> list[Any]:
        # Optuna's ``study.trials`` deep-copies every trial: at 1,000 trials that took half of a run's time.
        return list(self.study.get_trials(deepcopy=False))

    def _pop_pending(self, row: np.ndarray) -> Any:
        for index, (trial, asked) in enumerate(self.pending):
            if np.array_equal(asked, row):
                del self.pending[index]
                return trial
        return None

    def _distributions(self) -> dict[str, Any]:
        import optuna

        pairs = zip(self.names, self.choices, strict=True)
        return {k: optuna.distributions.CategoricalDistribution(c) for k, c in pairs}

    def _add_trial(self, row: Sequence[int], reward: float) -> None:
        import optuna

        params = {k: int(v) for k, v in zip(self.names, row, strict=True)}
        trial = optuna.trial.create_trial(params=params, distributions=self._distributions(), value=reward)
        self.study.add_trial(trial)
