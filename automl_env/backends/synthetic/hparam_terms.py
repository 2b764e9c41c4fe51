"""Hyper-parameter terms of the synthetic backend: their value given model capacity and augmentation.

An HPO model reads integer variables from the tokens (SGD: the lr and weight-decay unit totals;
recipe: one grid index per hyper-parameter) and scores them as a sum of independent terms. Each
term's optimum moves with the normalised capacity ``x`` and mean augmentation strength ``s`` of the
pipeline: the best learning rate falls with capacity, the best weight decay falls with augmentation
(it is another regulariser), and on ImageNet bigger models want more mixup, dropout and drop-path.
Terms use only table look-ups and arithmetic, so a value is bit-identical wherever it is computed.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from automl_env.backends.synthetic.additive import FloatArray
from automl_env.modules.base import TokenArray
from automl_env.modules.hparams import OPTIMIZERS, AveragedSGDSpace, RecipeSpace

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HPOTerm:
    """A score over some of the model's variables: ``value(*variables, x, s)``, broadcasting."""

    variables: tuple[str, ...]
    value: Callable[..., FloatArray]


class HPOModel(ABC):
    """Integer variables from tokens, scored by a sum of independent terms."""

    terms: tuple[HPOTerm, ...]

    @abstractmethod
    def variables(self, tokens: TokenArray) -> dict[str, IntArray]:
        """Variables of each row of an (N, num_tokens) matrix; together they identify the config."""

    @abstractmethod
    def reachable(self) -> dict[str, IntArray]:
        """Every value each variable can take."""

    @abstractmethod
    def tokens_for(self, values: Mapping[str, int]) -> TokenArray:
        """A token vector with these variable values."""

    def score(self, variables: Mapping[str, IntArray], x: FloatArray, s: FloatArray) -> FloatArray:
        total = np.zeros(np.broadcast_shapes(x.shape, s.shape))
        for term in self.terms:
            total = total + term.value(*(variables[v] for v in term.variables), x, s)
        return total

    def best(
        self, x: FloatArray, s: FloatArray, choices: Mapping[str, IntArray]
    ) -> tuple[FloatArray, list[tuple[list[tuple[int, ...]], IntArray]]]:
        """Best total over ``choices`` at every (x, s) broadcast cell, and each term's argmax.

        The total adds the terms' maxima in ``score``'s order, so it equals ``score`` at the argmax.
        """
        total = np.zeros(np.broadcast_shapes(x.shape, s.shape))
        argmaxes = []
        for term in self.terms:
            options = list(itertools.product(*(choices[v].tolist() for v in term.variables)))
            values = [np.asarray(term.value(*(np.int64(o) for o in option), x, s)) for option in options]
            shape = np.broadcast_shapes(*(v.shape for v in values))  # a term of x only stays (C, 1)
            best = np.full(shape, -np.inf)
            arg = np.zeros(shape, dtype=np.int64)
            for i, value in enumerate(values):
                better = value > best
                best, arg = np.where(better, value, best), np.where(better, i, arg)
            total = total + best
            argmaxes.append((options, arg))
        return total, argmaxes


def _squared(offset: FloatArray) -> FloatArray:
    return offset * offset


class SGDModel(HPOModel):
    """``AveragedSGDSpace``: variables are the lr and weight-decay unit totals (their means x steps).

    Terms: -(log2 lr - log2 lr*(x))^2 with lr* = 0.1 * 2^(-1.2 x), and -(log2 wd - log2 wd*(s))^2
    with wd* = 6e-4 * 2^(-1.5 s): bigger cells want a smaller step, stronger augmentation less decay.
    """

    LR_STAR, LR_SLOPE = 0.1, 1.2
    WD_STAR, WD_SLOPE = 6e-4, 1.5

    def __init__(self, space: AveragedSGDSpace) -> None:
        self.space = space
        steps = space.steps
        totals = np.arange(max(space.LR_MULTIPLES) * steps + 1)
        safe = np.maximum(totals, 1)  # totals below ``steps`` are unreachable; keep the log finite
        self._log2_lr = np.log2(safe * space.LR_UNIT / steps)
        self._log2_wd = np.log2(safe * space.WD_UNIT / steps)
        self._lr_multiples = np.asarray(space.LR_MULTIPLES, dtype=np.int64)
        self._wd_multiples = np.asarray(space.WD_MULTIPLES, dtype=np.int64)
        self._lr_star, self._wd_star = math.log2(self.LR_STAR), math.log2(self.WD_STAR)
        # Bound methods, not lambdas: the backend must pickle (multiprocessing, Ray).
        self.terms = (HPOTerm(("lr_units",), self._lr_term), HPOTerm(("wd_units",), self._wd_term))

    def _lr_term(self, lr: IntArray, x: FloatArray, s: FloatArray) -> FloatArray:
        return -_squared(self._log2_lr[lr] - (self._lr_star - self.LR_SLOPE * x))

    def _wd_term(self, wd: IntArray, x: FloatArray, s: FloatArray) -> FloatArray:
        return -_squared(self._log2_wd[wd] - (self._wd_star - self.WD_SLOPE * s))

    def variables(self, tokens: TokenArray) -> dict[str, IntArray]:
        steps = self.space.steps
        return {
            "lr_units": self._lr_multiples[tokens[:, :steps]].sum(axis=1),
            "wd_units": self._wd_multiples[tokens[:, steps:]].sum(axis=1),
        }

    def reachable(self) -> dict[str, IntArray]:
        return {
            "lr_units": _sums(self.space.LR_MULTIPLES, self.space.steps),
            "wd_units": _sums(self.space.WD_MULTIPLES, self.space.steps),
        }

    def tokens_for(self, values: Mapping[str, int]) -> TokenArray:
        return np.concatenate(
            [
                _tokens_summing_to(values["lr_units"], self.space.LR_MULTIPLES, self.space.steps),
                _tokens_summing_to(values["wd_units"], self.space.WD_MULTIPLES, self.space.steps),
            ]
        )


def _sums(multiples: tuple[int, ...], steps: int) -> IntArray:
    """Every total of ``steps`` values drawn from ``multiples``."""
    totals = {0}
    for _ in range(steps):
        totals = {t + m for t in totals for m in multiples}
    return np.array(sorted(totals), dtype=np.int64)


def _tokens_summing_to(total: int, multiples: tuple[int, ...], steps: int) -> TokenArray:
    """Indices into ``multiples`` (one per step) whose values sum to ``total``, found depth-first."""
    smallest, largest = min(multiples), max(multiples)

    def fill(left: int, slots: int) -> list[int] | None:
        if slots == 0:
            return [] if left == 0 else None
        for i, m in enumerate(multiples):
            if smallest * (slots - 1) <= left - m <= largest * (slots - 1):
                rest = fill(left - m, slots - 1)
                if rest is not None:
                    return [i, *rest]
        return None

    tokens = fill(total, steps)
    if tokens is None:
        raise ValueError(f"no {steps} values from {multiples} sum to {total}")
    return np.array(tokens, dtype=np.int64)


class RecipeModel(HPOModel):
    """``RecipeSpace``: variables are grid indices; one term each, optimizer and lr together.

    lr* depends on the optimizer (SGD-like 0.2, RMSProp 0.008, Adam 0.002, AdamW 0.004) and
    falls with capacity; wd* rises with capacity and falls with augmentation; mixup* grows with
    capacity and shrinks with augmentation; dropout* and drop_path* grow with capacity; EMA helps.
    """

    # optimizer -> (quality, best lr at x = X_REF)
    OPTIMIZER_TERMS: ClassVar[dict[str, tuple[float, float]]] = {
        "sgd": (-0.1, 0.2),
        "nesterov": (0.0, 0.2),
        "rmsprop": (-0.25, 0.008),
        "adam": (-0.6, 0.002),
        "adamw": (-0.35, 0.004),
    }
    X_REF, LR_SLOPE = 0.65, 1.0
    WD_STAR, WD_X, WD_S = 4e-5, 1.5, 1.0  # log2 wd* = log2(4e-5) + 1.5 (x - X_REF) - 1.0 s
    MIXUP_X, MIXUP_S, MIXUP_WEIGHT = 0.4, 0.2, 8.0  # mixup* = 0.4 x - 0.2 s
    DROPOUT_0, DROPOUT_X, DROPOUT_WEIGHT = 0.1, 0.2, 8.0
    DROP_PATH_X, DROP_PATH_WEIGHT = 0.15, 12.0
    EMA_BONUS = 0.1

    def __init__(self, space: RecipeSpace) -> None:
        self.space = space
        self._positions = {name: i for i, name in enumerate(space.position_names)}
        self._opt_quality = np.array([self.OPTIMIZER_TERMS[o][0] for o in OPTIMIZERS])
        self._opt_log2_lr = np.log2([self.OPTIMIZER_TERMS[o][1] for o in OPTIMIZERS])
        self._log2_lr = np.log2([space.lr_grid(o) for o in OPTIMIZERS])  # (optimizer, lr index)
        self._log2_wd = np.log2(space.WEIGHT_DECAYS)
        self._mixup, self._dropout = np.asarray(space.MIXUPS), np.asarray(space.DROPOUTS)
        self._drop_path, self._ema = np.asarray(space.DROP_PATHS), np.asarray(space.EMAS, dtype=np.float64)
        self._wd_star = math.log2(self.WD_STAR)
        # Bound methods, not lambdas: the backend must pickle (multiprocessing, Ray).
        self.terms = (
            HPOTerm(("optimizer", "lr"), self._optimizer_lr),
            HPOTerm(("weight_decay",), self._weight_decay),
            HPOTerm(("mixup",), self._mixup_term),
            HPOTerm(("dropout",), self._dropout_term),
            HPOTerm(("drop_path",), self._drop_path_term),
            HPOTerm(("ema",), self._ema_term),
        )

    def _optimizer_lr(self, opt: IntArray, lr: IntArray, x: FloatArray, s: FloatArray) -> FloatArray:
        target = self._opt_log2_lr[opt] - self.LR_SLOPE * (x - self.X_REF)
        return self._opt_quality[opt] - _squared(self._log2_lr[opt, lr] - target)

    def _weight_decay(self, wd: IntArray, x: FloatArray, s: FloatArray) -> FloatArray:
        return -_squared(self._log2_wd[wd] - (self._wd_star + self.WD_X * (x - self.X_REF) - self.WD_S * s))

    def _mixup_term(self, m: IntArray, x: FloatArray, s: FloatArray) -> FloatArray:
        return -self.MIXUP_WEIGHT * _squared(self._mixup[m] - (self.MIXUP_X * x - self.MIXUP_S * s))

    def _dropout_term(self, d: IntArray, x: FloatArray, s: FloatArray) -> FloatArray:
        return -self.DROPOUT_WEIGHT * _squared(self._dropout[d] - (self.DROPOUT_0 + self.DROPOUT_X * x))

    def _drop_path_term(self, d: IntArray, x: FloatArray, s: FloatArray) -> FloatArray:
        return -self.DROP_PATH_WEIGHT * _squared(self._drop_path[d] - self.DROP_PATH_X * x)

    def _ema_term(self, e: IntArray, x: FloatArray, s: FloatArray) -> FloatArray:
        return self.EMA_BONUS * self._ema[e]

    def variables(self, tokens: TokenArray) -> dict[str, IntArray]:
        return {name: tokens[:, i] for name, i in self._positions.items()}

    def reachable(self) -> dict[str, IntArray]:
        return {name: np.arange(self.space.nvec[i], dtype=np.int64) for name, i in self._positions.items()}

    def tokens_for(self, values: Mapping[str, int]) -> TokenArray:
        tokens = np.zeros(self.space.num_tokens, dtype=np.int64)
        for name, i in self._positions.items():
            tokens[i] = values[name]
        return tokens
