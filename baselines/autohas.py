"""AutoHAS (Dong, Tan, Yu, Peng, Gabrys, Le, arXiv:2006.03656): a REINFORCE controller over independent
categoricals, meant to run on the weight-sharing backend (``backend="weight-sharing"``), which supplies
AutoHAS's temporary-weight reward and shared training (``automl_env.backends.weight_sharing``).

Controller [paper]: one categorical per decision, P_k = softmax(theta_k), zero logits (uniform) at the
start; here a decision is one token of the task's joint action (an NB201 edge, an augmentation field, one
of the averaged-SGD learning-rate or weight-decay tokens, each choosing among the space's basis values).

    log p(c) = sum_k log P_k[c_k]
    b       <- 0.95 b + 0.05 R          (EMA baseline, momentum 0.95 [paper]; the current reward is folded
                                         in before the advantage, as TuNAS does [TuNAS code])
    loss    =  -(R - b) log p(c)        minimised by Adam(meta_lr, beta1 = 0, beta2 = 0.999, eps = 1e-8)

No controller update during the first 30% of the run's batches [paper]; the baseline is still primed
then (PEERS.md G10). One sample per step in the paper (run with ``batch_size=1``); with n > 1 samples per
batch the step's baseline is the batch mean (G6) and the EMA moves with the batch mean. The op warm-up
(all operations trained together during the first 25% of steps) and the cosine learning-rate factor
belong to the shared-weight training: the backend's ``op_warmup_steps`` and ``schedule_steps`` options.

Derivation of the answer [paper, Eqs. 4-5]: categorical decisions (operations, augmentation types) take
argmax P; continuous hyper-parameters take the expectation sum_i P_i B_i of their basis values. Two
choices the paper leaves open, ours: (1) an augmentation's probability and magnitude levels are
discretised continuous values, so they take the expected level, rounded to the nearest level; (2) the
averaged-SGD space expresses a learning rate or weight decay only as a mean of 10 basis values, so the
expected value is snapped to the nearest mean the space can express (a deviation: the paper's mixture is
continuous). ``derive_pipeline`` returns it; ``probabilities`` gives P for reporting next to it (G12).
Not done: the paper picks meta_lr from {0.01, 0.02, 0.05, 0.1} by validation, i.e. up to four searches
(G14); the default 0.05 is used and a sweep must be counted as four searches' compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from automl_env.modules.augment import AugmentSpace
from automl_env.modules.hparams import AveragedSGDSpace, HParams, _mean_of_levels
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec
from baselines.base import TokenRows, TokenSearch


@dataclass(frozen=True)
class AutoHASConfig:
    meta_lr: float = 0.05
    """Controller Adam learning rate; the paper's grid is {0.01, 0.02, 0.05, 0.1}."""
    baseline_momentum: float = 0.95
    """EMA momentum of the reward baseline [paper]."""
    warmup_fraction: float = 0.3
    """Fraction of the run's batches without controller updates [paper]."""
    batches: int = 0
    """The run's number of batches (set by the registry from the run's budget; 0: no warm-up)."""


class AutoHAS(TokenSearch[AutoHASConfig]):
    """Independent categoricals over the joint tokens, trained by REINFORCE (module docstring)."""

    name = "autohas"

    def __init__(self, space: Any, config: AutoHASConfig, *, seed: int) -> None:
        super().__init__(space, config, seed=seed)
        width = int(self.nvec.max())
        self.mask = np.arange(width)[None, :] < self.nvec[:, None]
        self.logits = np.zeros((len(self.nvec), width))
        self.adam_m2 = np.zeros_like(self.logits)
        self.adam_steps = 0
        self.baseline: float | None = None
        self.batches_seen = 0

    @classmethod
    def default_config(cls) -> AutoHASConfig:
        return AutoHASConfig()

    def _probabilities(self) -> np.ndarray:
        z = np.where(self.mask, self.logits, -np.inf)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def probabilities(self) -> dict[str, list[list[float]]]:
        """P of every decision, per agent (rows in token order, each over that token's choices)."""
        p = self._probabilities()
        return {
            agent: [p[i, : self.nvec[i]].tolist() for i in range(len(self.nvec))[self.space.slice_of(index)]]
            for index, agent in enumerate(self.space.agents)
        }

    def propose(self, n: int) -> TokenRows:
        p = self._probabilities()
        u = self.rng.random((n, len(self.nvec), 1))
        return (u > np.cumsum(p, axis=1)[None]).sum(axis=2).clip(max=self.nvec - 1).astype(np.int64)

    def observe(self, tokens: TokenRows, rewards: np.ndarray) -> dict[str, float]:
        mean = float(np.mean(rewards))
        m = self.config.baseline_momentum
        self.baseline = mean if self.baseline is None else m * self.baseline + (1 - m) * mean
        step_baseline = mean if len(rewards) > 1 else self.baseline
        self.batches_seen += 1
        if self.batches_seen <= self.config.warmup_fraction * self.config.batches:
            return {"baseline": self.baseline, "controller_updated": 0.0}
        p = self._probabilities()
        grad = np.zeros_like(self.logits)  # d loss / d logits, loss = -mean_i (R_i - b) log p(c_i)
        for row, reward in zip(tokens, rewards, strict=True):
            onehot = np.zeros_like(p)
            onehot[np.arange(len(row)), row] = 1.0
            grad -= (reward - step_baseline) * (onehot - p) / len(rewards)
        self._adam(np.where(self.mask, grad, 0.0))
        entropy = -np.nansum(np.where(self.mask, p * np.log(np.where(p > 0, p, 1.0)), 0.0))
        return {"baseline": self.baseline, "controller_updated": 1.0, "entropy": float(entropy)}

    def _adam(self, grad: np.ndarray) -> None:
        """Adam with beta1 = 0 (TuNAS): the step is grad / sqrt(bias-corrected second moment)."""
        self.adam_steps += 1
        self.adam_m2 = 0.999 * self.adam_m2 + 0.001 * grad**2
        v_hat = self.adam_m2 / (1 - 0.999**self.adam_steps)
        self.logits -= self.config.meta_lr * grad / (np.sqrt(v_hat) + 1e-8)

    def extra_state(self) -> dict[str, Any]:
        return {
            "logits": self.logits.tolist(),
            "adam_m2": self.adam_m2.tolist(),
            "adam_steps": self.adam_steps,
            "baseline": self.baseline,
            "batches_seen": self.batches_seen,
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.logits, self.adam_m2 = np.asarray(state["logits"]), np.asarray(state["adam_m2"])
        self.adam_steps, self.baseline = int(state["adam_steps"]), state["baseline"]
        self.batches_seen = int(state["batches_seen"])

    def derive_pipeline(self, task: TaskSpec) -> Pipeline:
        """The answer of AutoHAS's Eqs. 4-5 for ``task`` (module docstring)."""
        probabilities = self.probabilities()
        return Pipeline.of({name: derive_module(space, probabilities[name]) for name, space in task.modules.items()})


def derive_module(space: Any, probabilities: list[list[float]]) -> Any:
    """One module's derived config from its decisions' probabilities (module docstring's rules)."""
    if isinstance(space, AveragedSGDSpace):
        steps = space.steps
        lr = _expected_units(probabilities[:steps], space.LR_MULTIPLES)
        wd = _expected_units(probabilities[steps:], space.WD_MULTIPLES)
        return _hparams_of_units(space, lr, wd)
    tokens = [int(np.argmax(p)) for p in probabilities]
    if isinstance(space, AugmentSpace):
        for i, name in enumerate(space.position_names):
            if name.endswith((".probability", ".magnitude")):
                tokens[i] = round(float(np.dot(probabilities[i], np.arange(len(probabilities[i])))))
    return space.decode(tokens)


def snap_hparams(space: AveragedSGDSpace, *, lr: float, weight_decay: float) -> HParams:
    """The HParams of ``space`` nearest to ``lr`` and ``weight_decay``: each the nearest mean of its basis values
    the space can express (ties to the smaller)."""
    return _hparams_of_units(space, lr * space.steps / space.LR_UNIT, weight_decay * space.steps / space.WD_UNIT)


def _hparams_of_units(space: AveragedSGDSpace, lr_units: float, wd_units: float) -> HParams:
    """The HParams whose lr and wd basis totals are the reachable ones nearest ``lr_units`` and ``wd_units``."""
    steps = space.steps
    return HParams(
        lr=_mean_of_levels(_nearest_total(lr_units, space.LR_MULTIPLES, steps), space.LR_UNIT, steps),
        weight_decay=_mean_of_levels(_nearest_total(wd_units, space.WD_MULTIPLES, steps), space.WD_UNIT, steps),
    )


def _expected_units(probabilities: list[list[float]], multiples: tuple[int, ...]) -> float:
    """Expected sum of the tokens' basis multiples."""
    return float(sum(np.dot(p, multiples) for p in probabilities))


@cache
def _reachable_totals(multiples: tuple[int, ...], steps: int) -> frozenset[int]:
    totals = {0}
    for _ in range(steps):
        totals = {t + m for t in totals for m in multiples}
    return frozenset(totals)


def _nearest_total(units: float, multiples: tuple[int, ...], steps: int) -> int:
    return min(_reachable_totals(multiples, steps), key=lambda t: (abs(t - units), t))
