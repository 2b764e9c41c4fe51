"""Hyper-parameter spaces (the HPO module) and the HParams config they decode into.

Two spaces share one config type:
- ``AveragedSGDSpace`` (CIFAR-like tasks): SGD; warm-up learning rate and weight decay each from 4
  values, chosen by 10 tokens whose values are averaged ("4 values, 10 steps, determined on
  average" in the paper): 4^20 = 10^12.
- ``RecipeSpace`` (ImageNet-200): optimizer, learning rate, weight decay, mixup, dropout,
  stochastic depth, EMA: 5*25*25*16*10*10*2 = 10^7.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from automl_env.modules.base import ModuleConfig, ModuleSpace, TokenArray, register_config
from automl_env.modules.fields import bool_field, config_fields, float_field, store_field, str_field

OPTIMIZERS: tuple[str, ...] = ("sgd", "nesterov", "rmsprop", "adam", "adamw")


@register_config
@dataclass(frozen=True)
class HParams(ModuleConfig):
    """Training hyper-parameters. ``lr`` is the peak (post-warm-up) learning rate."""

    kind = "hparams"
    lr: float
    weight_decay: float
    optimizer: str = "sgd"
    mixup: float = 0.0
    dropout: float = 0.0
    drop_path: float = 0.0
    ema: bool = False

    def __post_init__(self) -> None:
        store_field(self, "lr", float_field(self.lr, "lr", low=0.0, low_open=True))
        store_field(self, "weight_decay", float_field(self.weight_decay, "weight_decay", low=0.0))
        store_field(self, "optimizer", str_field(self.optimizer, "optimizer", choices=OPTIMIZERS))
        store_field(self, "mixup", float_field(self.mixup, "mixup", low=0.0, high=1.0, high_open=True))
        store_field(self, "dropout", float_field(self.dropout, "dropout", low=0.0, high=1.0, high_open=True))
        store_field(self, "drop_path", float_field(self.drop_path, "drop_path", low=0.0, high=1.0, high_open=True))
        store_field(self, "ema", bool_field(self.ema, "ema"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "optimizer": self.optimizer,
            "mixup": self.mixup,
            "dropout": self.dropout,
            "drop_path": self.drop_path,
            "ema": self.ema,
        }

    @classmethod
    def from_dict(cls, data: Any) -> HParams:
        # Every field, defaults included, is required in JSON: to_dict writes them all.
        with config_fields(data, cls.kind, tuple(f.name for f in fields(cls))) as values:
            return cls(**values)

    def describe(self) -> str:
        text = f"{self.optimizer} lr={self.lr:g} wd={self.weight_decay:g}"
        if self.mixup or self.dropout or self.drop_path or self.ema:
            text += f" mixup={self.mixup:g} dropout={self.dropout:g} drop_path={self.drop_path:g} ema={self.ema}"
        return text


def _mean_of_levels(total_units: int, unit: float, steps: int) -> float:
    """Mean of ``steps`` chosen values, each a multiple of ``unit``, from the sum of their multiples.

    Computed from the integer total so the float depends only on the multiset of choices, never on
    the order of the tokens: equal pipelines get equal hashes.
    """
    return round(total_units * unit / steps, 12)


@lru_cache(maxsize=4096)
def _token_tuple(value: float, unit: float, multiples: tuple[int, ...], steps: int, name: str) -> tuple[int, ...]:
    """Greedy: ``steps`` choices whose multiples (8, 4, 2, 1) sum to the target total.

    Cached: a grid has only a few dozen reachable means, and encoding sits on the synthetic
    backend's hot path.
    """
    total = round(value * steps / unit)
    if _mean_of_levels(total, unit, steps) != value:
        raise ValueError(f"{name}={value} is not a mean of {steps} values from {[m * unit for m in multiples]}")
    tokens: list[int] = []
    for slot in range(steps):
        left = steps - slot - 1  # every later slot takes at least the smallest multiple
        index = next((i for i, m in enumerate(multiples) if total - m >= left * min(multiples)), len(multiples) - 1)
        tokens.append(index)
        total -= multiples[index]
    if total != 0:
        raise ValueError(f"{name}={value} is not reachable with {steps} tokens")
    return tuple(tokens)


def _tokens_for_mean(value: float, unit: float, multiples: tuple[int, ...], steps: int, name: str) -> TokenArray:
    return np.array(_token_tuple(value, unit, multiples, steps, name), dtype=np.int64)


class AveragedSGDSpace(ModuleSpace[HParams]):
    """SGD with learning rate and weight decay each the mean of ``steps`` tokens over 4 values."""

    # The paper's grids; every value is an integer multiple of the smallest one.
    LR_UNIT, LR_MULTIPLES = 0.02, (8, 4, 2, 1)  # {0.16, 0.08, 0.04, 0.02}
    WD_UNIT, WD_MULTIPLES = 1e-4, (8, 4, 2, 1)  # {8e-4, 4e-4, 2e-4, 1e-4}

    def __init__(self, steps: int = 10) -> None:
        self.steps = steps
        self.nvec = (len(self.LR_MULTIPLES),) * steps + (len(self.WD_MULTIPLES),) * steps
        self.position_names = tuple(f"lr[{i}]" for i in range(steps)) + tuple(
            f"weight_decay[{i}]" for i in range(steps)
        )

    def decode(self, tokens: Sequence[int] | TokenArray) -> HParams:
        t = np.asarray(tokens, dtype=np.int64)
        lr_units = int(np.take(self.LR_MULTIPLES, t[: self.steps]).sum())
        wd_units = int(np.take(self.WD_MULTIPLES, t[self.steps :]).sum())
        return HParams(
            lr=_mean_of_levels(lr_units, self.LR_UNIT, self.steps),
            weight_decay=_mean_of_levels(wd_units, self.WD_UNIT, self.steps),
        )

    def encode(self, config: HParams) -> TokenArray:
        if config != HParams(lr=config.lr, weight_decay=config.weight_decay):
            raise ValueError(f"{config} uses settings this space cannot express (only SGD lr and weight decay)")
        return np.concatenate(
            [
                _tokens_for_mean(config.lr, self.LR_UNIT, self.LR_MULTIPLES, self.steps, "lr"),
                _tokens_for_mean(config.weight_decay, self.WD_UNIT, self.WD_MULTIPLES, self.steps, "weight_decay"),
            ]
        )

    def canonical(self, tokens: TokenArray) -> TokenArray:
        """``encode(decode(row))`` of each row: the lr half depends only on the lr tokens' unit total and the
        weight-decay half only on theirs, so each half is a table lookup by its total."""
        tokens = np.asarray(tokens, dtype=np.int64)
        out = np.empty_like(tokens)
        lr, wd = slice(0, self.steps), slice(self.steps, None)
        out[:, lr] = self._canonical_halves[0][np.take(self.LR_MULTIPLES, tokens[:, lr]).sum(axis=1)]
        out[:, wd] = self._canonical_halves[1][np.take(self.WD_MULTIPLES, tokens[:, wd]).sum(axis=1)]
        return out

    @cached_property
    def _canonical_halves(self) -> tuple[TokenArray, TokenArray]:
        """Canonical lr and weight-decay tokens indexed by unit total (rows of unreachable totals are unused)."""
        halves = []
        for multiples, unit, name in ((self.LR_MULTIPLES, self.LR_UNIT, "lr"), (self.WD_MULTIPLES, self.WD_UNIT, "wd")):
            table = np.zeros((max(multiples) * self.steps + 1, self.steps), dtype=np.int64)
            for total in range(min(multiples) * self.steps, max(multiples) * self.steps + 1):
                with contextlib.suppress(ValueError):  # no token vector sums to this total
                    table[total] = _tokens_for_mean(
                        _mean_of_levels(total, unit, self.steps), unit, multiples, self.steps, name
                    )
            halves.append(table)
        return halves[0], halves[1]

    def default(self) -> HParams:
        """The common CIFAR recipe (lr 0.1-ish, wd 5e-4) rounded onto this grid."""
        return HParams(lr=0.08, weight_decay=4e-4)


class RecipeSpace(ModuleSpace[HParams]):
    """An ImageNet training recipe: one token per hyper-parameter.

    The learning-rate token indexes a grid that depends on the optimizer: SGD-type optimizers
    train at 100x the learning rates of adaptive ones (Adam at 1.6 diverges at once).
    """

    one_to_one = True  # every token vector is its own config (a test checks it on random vectors)

    SGD_LRS = tuple(round(float(v), 6) for v in np.geomspace(0.01, 1.6, 25))
    ADAPTIVE_LRS = tuple(round(float(v), 8) for v in np.geomspace(1e-4, 1.6e-2, 25))
    WEIGHT_DECAYS = tuple(round(float(v), 8) for v in np.geomspace(1e-5, 1e-3, 25))
    MIXUPS = tuple(round(0.05 * i, 2) for i in range(16))
    DROPOUTS = tuple(round(0.05 * i, 2) for i in range(10))
    DROP_PATHS = tuple(round(0.025 * i, 3) for i in range(10))
    EMAS = (False, True)

    def __init__(self) -> None:
        self._grids: tuple[tuple[str, tuple[Any, ...]], ...] = (
            ("optimizer", OPTIMIZERS),
            ("lr", self.SGD_LRS),  # the grid of SGD; decode/encode use lr_grid(optimizer)
            ("weight_decay", self.WEIGHT_DECAYS),
            ("mixup", self.MIXUPS),
            ("dropout", self.DROPOUTS),
            ("drop_path", self.DROP_PATHS),
            ("ema", self.EMAS),
        )
        self.nvec = tuple(len(values) for _, values in self._grids)
        self.position_names = tuple(name for name, _ in self._grids)

    @classmethod
    def lr_grid(cls, optimizer: str) -> tuple[float, ...]:
        return cls.SGD_LRS if optimizer in ("sgd", "nesterov") else cls.ADAPTIVE_LRS

    def decode(self, tokens: Sequence[int] | TokenArray) -> HParams:
        t = np.asarray(tokens, dtype=np.int64)
        values = {name: grid[int(t[i])] for i, (name, grid) in enumerate(self._grids)}
        values["lr"] = self.lr_grid(values["optimizer"])[int(t[1])]
        return HParams(**values)

    def encode(self, config: HParams) -> TokenArray:
        tokens = []
        for name, grid in self._grids:
            value = getattr(config, name)
            values = self.lr_grid(config.optimizer) if name == "lr" else grid
            if value not in values:
                raise ValueError(f"{name}={value!r} is not on this space's grid {values}")
            tokens.append(values.index(value))
        return np.array(tokens, dtype=np.int64)

    def default(self) -> HParams:
        """A standard MobileNet recipe: Nesterov SGD, dropout 0.2 before the classifier, EMA."""
        return HParams(
            optimizer="nesterov",
            lr=self.SGD_LRS[15],
            weight_decay=self.WEIGHT_DECAYS[12],
            mixup=0.0,
            dropout=0.2,
            drop_path=0.0,
            ema=True,
        )
