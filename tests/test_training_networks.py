"""Networks built from decoded architectures: FLOPs and parameters agree with automl_env.cost.

Convention: ``automl_env.cost`` counts multiply-accumulates (MACs); torch's FlopCounterMode counts
2 FLOPs per MAC (convolutions and matrix products only, as cost.py does).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from automl_env.backends.training.networks import NetworkShape, build_network, input_size  # noqa: E402
from automl_env.cost import arch_cost, reduction_indices  # noqa: E402
from automl_env.modules.base import ModuleConfig  # noqa: E402
from automl_env.modules.mobilenet import MobileNetConfig, MobileNetSpace  # noqa: E402
from automl_env.modules.nasnet import NASNetSpace  # noqa: E402


def measured(arch: ModuleConfig, shape: NetworkShape) -> tuple[int, int, torch.Tensor]:
    net = build_network(arch, shape).eval()
    size = input_size(arch, shape.image_size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = net(torch.zeros(1, shape.in_channels, size, size))
    return counter.get_total_flops(), sum(p.numel() for p in net.parameters()), out


def assert_agrees(arch: ModuleConfig, shape: NetworkShape) -> None:
    flops, params, out = measured(arch, shape)
    cost = arch_cost(
        arch,
        num_classes=shape.num_classes,
        image_size=shape.image_size,
        in_channels=shape.in_channels,
        cells=shape.cells,
        channels=shape.channels,
    )
    assert out.shape == (1, shape.num_classes)
    assert flops / 2 == pytest.approx(cost.macs, rel=0.02), "FlopCounterMode counts 2 FLOPs per MAC"
    assert params == pytest.approx(cost.params, rel=0.02)


@pytest.mark.parametrize(
    ("image_size", "in_channels", "cells", "channels"),
    [(28, 1, 3, 8), (32, 3, 5, 6), (14, 1, 8, 4)],  # 14 -> 7 -> 4: odd sizes in factorized reductions
)
def test_nasnet_flops_and_params_match_cost_model(image_size: int, in_channels: int, cells: int, channels: int) -> None:
    space = NASNetSpace()
    rng = np.random.default_rng(cells * 100 + image_size)
    for arch in [space.default(), *(space.decode(rng.integers(0, space.nvec)) for _ in range(2))]:
        assert_agrees(arch, NetworkShape(10, in_channels, image_size, cells, channels))


def test_every_nasnet_operation_in_both_cells_matches() -> None:
    """Each operation of the space, as op_a and op_b, on cell inputs (strided in reductions) and block outputs."""
    space = NASNetSpace()
    for op in range(13):
        tokens = np.array(space.encode(space.default()))
        cells = tokens.reshape(2, 5, 5)
        cells[:, :, 1] = op
        cells[:, :, 3] = (op + 5) % 13
        cells[:, 1:, 0] = 2  # block outputs as inputs too
        assert_agrees(space.decode(cells.ravel()), NetworkShape(10, 3, 8, 3, 2))


def test_final_network_has_reductions_at_5_and_11() -> None:
    assert reduction_indices(17) == frozenset({5, 11})
    net = build_network(NASNetSpace().default(), NetworkShape(100, 3, 32, 17, 4))
    widths = [cell.pre1[1].out_channels for cell in net.cells]
    assert widths[4] == 4 and widths[5] == 8 and widths[10] == 8 and widths[11] == 16


@pytest.mark.slow  # MobileNets at 160-272 px are ~0.1-1 GFLOP per image on CPU
def test_mobilenet_flops_and_params_match_cost_model() -> None:
    space = MobileNetSpace()
    rng = np.random.default_rng(0)
    for arch in [space.default(), *(space.decode(rng.integers(0, space.nvec)) for _ in range(3))]:
        assert_agrees(arch, NetworkShape(200, 3, 224, 8, 16))


def test_small_mobilenet_matches_cost_model() -> None:
    space = MobileNetSpace()
    tokens = np.zeros(len(space.nvec), dtype=np.int64)  # resolution 160, k3, e1, width 0.75, depth 1
    arch = space.decode(tokens)
    assert isinstance(arch, MobileNetConfig) and arch.resolution == 160
    assert_agrees(arch, NetworkShape(200, 3, 224, 8, 16))
