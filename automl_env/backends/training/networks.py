"""Architecture config type -> network builder, and the input size each network expects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from automl_env.backends.training.deps import torch
from automl_env.backends.training.mobilenet import MobileNetwork
from automl_env.backends.training.nasnet import NASNetwork
from automl_env.backends.training.nb201 import NB201Network
from automl_env.modules.base import ModuleConfig
from automl_env.modules.mobilenet import MobileNetConfig
from automl_env.modules.nasnet import CellGenotype
from automl_env.modules.nb201 import NB201Cell


@dataclass(frozen=True)
class NetworkShape:
    """What a builder needs besides the architecture config."""

    num_classes: int
    in_channels: int
    image_size: int
    cells: int
    channels: int
    dropout: float = 0.0


def _nasnet(arch: ModuleConfig, shape: NetworkShape) -> torch.nn.Module:
    assert isinstance(arch, CellGenotype)
    return NASNetwork(
        arch,
        num_classes=shape.num_classes,
        in_channels=shape.in_channels,
        cells=shape.cells,
        channels=shape.channels,
        dropout=shape.dropout,
    )


def _mobilenet(arch: ModuleConfig, shape: NetworkShape) -> torch.nn.Module:
    assert isinstance(arch, MobileNetConfig)
    return MobileNetwork(arch, num_classes=shape.num_classes, in_channels=shape.in_channels, dropout=shape.dropout)


def _nb201(arch: ModuleConfig, shape: NetworkShape) -> torch.nn.Module:
    assert isinstance(arch, NB201Cell)
    return NB201Network(
        arch,
        num_classes=shape.num_classes,
        in_channels=shape.in_channels,
        cells=shape.cells,
        channels=shape.channels,
        dropout=shape.dropout,
    )


BUILDERS: dict[type[ModuleConfig], Callable[[ModuleConfig, NetworkShape], torch.nn.Module]] = {
    CellGenotype: _nasnet,
    MobileNetConfig: _mobilenet,
    NB201Cell: _nb201,
}
"""Mirror of automl_env.cost.COST_MODELS: a custom architecture module registers its builder here."""


def build_network(arch: ModuleConfig, shape: NetworkShape) -> torch.nn.Module:
    builder = BUILDERS.get(type(arch))
    if builder is None:
        raise TypeError(f"no network builder for {type(arch).__name__}; add one to {__name__}.BUILDERS")
    return builder(arch, shape)


def resizes_input(arch: ModuleConfig) -> bool:
    """Whether the network trains at its own (searched) resolution rather than the dataset's image size."""
    return isinstance(arch, MobileNetConfig)


def input_size(arch: ModuleConfig, image_size: int) -> int:
    """The square input a network trains on: the searched resolution for MobileNets, else the dataset's."""
    return arch.resolution if isinstance(arch, MobileNetConfig) else image_size
