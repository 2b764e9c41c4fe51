"""FCNet spaces (HPOLib tabular benchmarks): the modules of the ``hpolib-*`` tasks.

A two-hidden-layer feed-forward network trained with Adam for 100 epochs (Klein & Hutter 2019,
arXiv:1905.04970). Its 9 choices split into three modules, one agent each:
- ``FCLayerSpace`` (used twice, ``layer1`` and ``layer2``): units, activation, dropout of one hidden
  layer; 6 x 2 x 3 = 36 layers;
- ``FCTrainingSpace``: initial learning rate, batch size, learning-rate schedule; 6 x 4 x 2 = 48.

36 x 36 x 48 = 62,208 pipelines, every configuration of the benchmark, and each token indexes the
benchmark's own grid (the value lists below are in increasing order), so the 9 tokens of a pipeline
and the table's 9 choices map one-to-one (``automl_env.hpolib`` relies on this order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_env.modules.base import ModuleConfig, ModuleSpace, TokenArray, register_config
from automl_env.modules.fields import config_fields, float_field, int_field, store_field, str_field

UNITS: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
ACTIVATIONS: tuple[str, ...] = ("relu", "tanh")
DROPOUTS: tuple[float, ...] = (0.0, 0.3, 0.6)
INIT_LRS: tuple[float, ...] = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1)
BATCH_SIZES: tuple[int, ...] = (8, 16, 32, 64)
SCHEDULES: tuple[str, ...] = ("cosine", "const")


@register_config
@dataclass(frozen=True)
class FCLayer(ModuleConfig):
    """One hidden layer: ``units`` neurons, then ``activation``, then dropout with probability ``dropout``."""

    kind = "fc_layer"
    units: int
    activation: str
    dropout: float

    def __post_init__(self) -> None:
        store_field(self, "units", int_field(self.units, "units", choices=UNITS))
        store_field(self, "activation", str_field(self.activation, "activation", choices=ACTIVATIONS))
        store_field(self, "dropout", float_field(self.dropout, "dropout", choices=DROPOUTS))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "units": self.units, "activation": self.activation, "dropout": self.dropout}

    @classmethod
    def from_dict(cls, data: Any) -> FCLayer:
        with config_fields(data, cls.kind, ("units", "activation", "dropout")) as fields:
            return cls(**fields)

    def describe(self) -> str:
        return f"{self.units} units, {self.activation}, dropout {self.dropout:g}"


@register_config
@dataclass(frozen=True)
class FCTraining(ModuleConfig):
    """Adam's initial learning rate, the batch size, and the schedule (cosine decay to 0, or constant)."""

    kind = "fc_training"
    init_lr: float
    batch_size: int
    schedule: str

    def __post_init__(self) -> None:
        store_field(self, "init_lr", float_field(self.init_lr, "init_lr", choices=INIT_LRS))
        store_field(self, "batch_size", int_field(self.batch_size, "batch_size", choices=BATCH_SIZES))
        store_field(self, "schedule", str_field(self.schedule, "schedule", choices=SCHEDULES))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "init_lr": self.init_lr, "batch_size": self.batch_size, "schedule": self.schedule}

    @classmethod
    def from_dict(cls, data: Any) -> FCTraining:
        with config_fields(data, cls.kind, ("init_lr", "batch_size", "schedule")) as fields:
            return cls(**fields)

    def describe(self) -> str:
        return f"Adam lr {self.init_lr:g} ({self.schedule}), batch {self.batch_size}"


class FCLayerSpace(ModuleSpace[FCLayer]):
    """3 tokens: units (6), activation (2), dropout (3), each the index into the benchmark's grid."""

    nvec = (len(UNITS), len(ACTIVATIONS), len(DROPOUTS))
    position_names = ("units", "activation", "dropout")

    def decode(self, tokens: Sequence[int] | TokenArray) -> FCLayer:
        units, activation, dropout = (int(t) for t in tokens)
        return FCLayer(UNITS[units], ACTIVATIONS[activation], DROPOUTS[dropout])

    def encode(self, config: FCLayer) -> TokenArray:
        return np.array(
            [UNITS.index(config.units), ACTIVATIONS.index(config.activation), DROPOUTS.index(config.dropout)],
            dtype=np.int64,
        )

    def default(self) -> FCLayer:
        """A common hand-made layer: 64 ReLU units without dropout."""
        return FCLayer(64, "relu", 0.0)


class FCTrainingSpace(ModuleSpace[FCTraining]):
    """3 tokens: initial learning rate (6), batch size (4), schedule (2), each an index into the benchmark's grid."""

    nvec = (len(INIT_LRS), len(BATCH_SIZES), len(SCHEDULES))
    position_names = ("init_lr", "batch_size", "schedule")

    def decode(self, tokens: Sequence[int] | TokenArray) -> FCTraining:
        lr, batch, schedule = (int(t) for t in tokens)
        return FCTraining(INIT_LRS[lr], BATCH_SIZES[batch], SCHEDULES[schedule])

    def encode(self, config: FCTraining) -> TokenArray:
        return np.array(
            [INIT_LRS.index(config.init_lr), BATCH_SIZES.index(config.batch_size), SCHEDULES.index(config.schedule)],
            dtype=np.int64,
        )

    def default(self) -> FCTraining:
        """Adam's usual default: learning rate 1e-3, batch 32, constant."""
        return FCTraining(0.001, 32, "const")
