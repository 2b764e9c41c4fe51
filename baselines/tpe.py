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

    def _add_trial(self, row: Sequence[int], reward: float) -> None:
        import optuna

        distributions: dict[str, optuna.distributions.BaseDistribution] = {
            k: optuna.distributions.CategoricalDistribution(c) for k, c in zip(self.names, self.choices, strict=True)
        }
        params = {k: int(v) for k, v in zip(self.names, row, strict=True)}
        self.study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=reward))
