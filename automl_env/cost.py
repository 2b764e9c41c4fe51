"""Analytic multiply-accumulates (MACs) and parameter counts of a decoded architecture.

No torch: every backend reports FLOPs and parameters from here, and the FLOPs-constrained reward
works without training. The networks counted are exactly those the training backend builds
(``automl_env.backends.training.networks``); its tests check both against torch's
FlopCounterMode, which counts 2 FLOPs per MAC. Only convolutions and linear layers are counted
(pooling, batch norm, activations and additions are a few percent and FlopCounterMode ignores them
too). Parameters include batch-norm affine weights.

NASNet network (DARTS layout): stem 3x3 conv to 3C channels + BN; ``cells`` cells, reduction cells
at indices cells//3 and 2*cells//3 (17 cells: the 6th and 12th counted from 1, i.e. indices 5 and
11 as DARTS numbers them), channels doubled at each reduction. A cell preprocesses its two inputs to
C channels (ReLU-conv1x1-BN, or a factorized reduction when the previous cell reduced), applies each
block's two operations (stride 2 on the cell inputs of a reduction cell), combines them by addition,
or by concatenation followed by ReLU-conv1x1-BN back to C channels (**ours**: keeps every block at C
channels), and outputs the concatenation of its 5 block outputs (5C). Global average pool, linear.

NAS-Bench-201 network (Dong & Yang, ICLR 2020): stem 3x3 conv to C channels + BN; three stages of
``cells`` cells at C, 2C, 4C channels, joined by residual reduction blocks (ReLU-conv3x3 stride
2-BN, ReLU-conv3x3-BN, shortcut 2x2 average pool then 1x1 conv without BN); BN; global average pool;
linear. A cell's edges cost a ReLU-conv-BN each for ``nor_conv_1x1`` / ``nor_conv_3x3`` and nothing
otherwise. The benchmark's own FLOPs add one per output for the linear bias (num_classes more).

MobileNet network: stem 3x3 stride-2 conv to 32 channels; 7 stages of inverted-residual blocks
(1x1 expansion when the ratio is not 1, kxk depthwise, 1x1 projection, BN after each); 1x1 conv to
1280 channels; global average pool; linear.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from automl_env.modules.base import ModuleConfig
from automl_env.modules.mobilenet import HEAD_CHANNELS, STAGES, STEM_CHANNELS, MobileNetConfig
from automl_env.modules.nasnet import Block, CellGenotype
from automl_env.modules.nb201 import NB201Cell


@dataclass(frozen=True)
class ArchCost:
    macs: int
    params: int

    def __add__(self, other: ArchCost) -> ArchCost:
        return ArchCost(self.macs + other.macs, self.params + other.params)


ZERO = ArchCost(0, 0)


def down(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded convolution or pool with this stride."""
    return math.ceil(size / stride)


def conv(
    c_in: int, c_out: int, kh: int, kw: int, h_out: int, w_out: int, *, groups: int = 1, bn: bool = True
) -> ArchCost:
    weights = c_out * (c_in // groups) * kh * kw
    return ArchCost(weights * h_out * w_out, weights + (2 * c_out if bn else 0))


def linear(c_in: int, c_out: int) -> ArchCost:
    return ArchCost(c_in * c_out, c_in * c_out + c_out)


def factorized_reduce(c_in: int, c_out: int, size: int) -> ArchCost:
    """Two 1x1 stride-2 convs of c_out/2 channels each (one on a shifted input), concatenated, BN."""
    s = down(size, 2)
    half = conv(c_in, c_out // 2, 1, 1, s, s, bn=False)
    return ArchCost(2 * half.macs, 2 * half.params + 2 * c_out)


def nasnet_op(op: str, c: int, size: int, stride: int) -> ArchCost:
    """Cost of one NASNet operation on a c-channel, size x size input."""
    s = down(size, stride)
    if op == "identity":
        return factorized_reduce(c, c, size) if stride == 2 else ZERO
    if op.startswith(("avg_pool", "max_pool")):
        return ZERO
    if op in ("conv_1x3_3x1", "conv_1x7_7x1"):
        k = 3 if op == "conv_1x3_3x1" else 7
        return conv(c, c, 1, k, size, s, bn=False) + conv(c, c, k, 1, s, s)
    if op == "dil_conv_3x3":
        return conv(c, c, 3, 3, s, s, groups=c, bn=False) + conv(c, c, 1, 1, s, s)
    if op == "conv_1x1":
        return conv(c, c, 1, 1, s, s)
    if op == "conv_3x3":
        return conv(c, c, 3, 3, s, s)
    if op.startswith("sep_conv_"):
        k = int(op[-1])
        first = conv(c, c, k, k, s, s, groups=c, bn=False) + conv(c, c, 1, 1, s, s)
        second = conv(c, c, k, k, s, s, groups=c, bn=False) + conv(c, c, 1, 1, s, s)
        return first + second
    raise ValueError(f"unknown NASNet operation {op!r}")


def nasnet_cell(
    blocks: tuple[Block, ...], *, c_pp: int, c_p: int, c: int, size: int, reduction: bool, reduction_prev: bool
) -> ArchCost:
    """Cost of one cell whose input h_{k-1} is size x size (h_{k-2} is twice that after a reduction)."""
    pre0 = factorized_reduce(c_pp, c, 2 * size) if reduction_prev else conv(c_pp, c, 1, 1, size, size)
    total = pre0 + conv(c_p, c, 1, 1, size, size)
    out = down(size, 2) if reduction else size
    for block in blocks:
        for inp, op in ((block.input_a, block.op_a), (block.input_b, block.op_b)):
            stride = 2 if reduction and inp < 2 else 1
            total += nasnet_op(op, c, size if inp < 2 else out, stride)
        if block.combiner == "concat":
            total += conv(2 * c, c, 1, 1, out, out)
    return total


def reduction_indices(cells: int) -> frozenset[int]:
    return frozenset({cells // 3, 2 * cells // 3})


def nasnet_cost(
    arch: CellGenotype, *, num_classes: int, image_size: int, in_channels: int, cells: int, channels: int
) -> ArchCost:
    total = conv(in_channels, 3 * channels, 3, 3, image_size, image_size)
    c_pp = c_p = 3 * channels
    c = channels
    size = image_size
    reduction_prev = False
    reductions = reduction_indices(cells)
    for i in range(cells):
        reduction = i in reductions
        if reduction:
            c *= 2
        blocks = arch.reduce if reduction else arch.normal
        total += nasnet_cell(
            blocks, c_pp=c_pp, c_p=c_p, c=c, size=size, reduction=reduction, reduction_prev=reduction_prev
        )
        if reduction:
            size = down(size, 2)
        c_pp, c_p = c_p, 5 * c
        reduction_prev = reduction
    return total + linear(c_p, num_classes)


NB201_STAGES = 3
"""Stages of NAS-Bench-201 cells; channels double and resolution halves between consecutive ones."""
NB201_CONV_KERNELS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
"""The NAS-Bench-201 operations with weights (ReLU-conv-BN); the others are free."""


def nb201_reduction(c_in: int, c_out: int, size: int) -> ArchCost:
    """The residual block between stages: two 3x3 convs (the first strided) and a pooled 1x1 shortcut."""
    s = down(size, 2)
    return conv(c_in, c_out, 3, 3, s, s) + conv(c_out, c_out, 3, 3, s, s) + conv(c_in, c_out, 1, 1, s, s, bn=False)


def nb201_cell(arch: NB201Cell, c: int, size: int) -> ArchCost:
    total = ZERO
    for op in arch.ops:
        if op in NB201_CONV_KERNELS:
            k = NB201_CONV_KERNELS[op]
            total += conv(c, c, k, k, size, size)
    return total


def nb201_cost(
    arch: NB201Cell, *, num_classes: int, image_size: int, in_channels: int, cells: int, channels: int
) -> ArchCost:
    if image_size % 2 ** (NB201_STAGES - 1):
        # The reduction's pooled shortcut floors odd sizes while its strided conv rounds them up.
        raise ValueError(f"NAS-Bench-201 networks need an image size divisible by 4, got {image_size}")
    total = conv(in_channels, channels, 3, 3, image_size, image_size)
    c, size = channels, image_size
    for stage in range(NB201_STAGES):
        if stage > 0:
            total += nb201_reduction(c, 2 * c, size)
            c, size = 2 * c, down(size, 2)
        cell = nb201_cell(arch, c, size)
        total += ArchCost(cells * cell.macs, cells * cell.params)
    return total + ArchCost(0, 2 * c) + linear(c, num_classes)  # final BN, classifier


def inverted_residual(c_in: int, c_out: int, *, expansion: int, kernel: int, stride: int, size: int) -> ArchCost:
    hidden = c_in * expansion
    s = down(size, stride)
    total = conv(c_in, hidden, 1, 1, size, size) if expansion != 1 else ZERO
    return total + conv(hidden, hidden, kernel, kernel, s, s, groups=hidden) + conv(hidden, c_out, 1, 1, s, s)


def mobilenet_cost(arch: MobileNetConfig, *, num_classes: int, in_channels: int) -> ArchCost:
    size = down(arch.resolution, 2)
    total = conv(in_channels, STEM_CHANNELS, 3, 3, size, size)
    c_in = STEM_CHANNELS
    for i, stage in enumerate(arch.stages):
        c_out = stage.channels(i)
        for j in range(stage.depth):
            stride = STAGES[i][1] if j == 0 else 1
            total += inverted_residual(
                c_in, c_out, expansion=stage.expansion, kernel=stage.kernel, stride=stride, size=size
            )
            size = down(size, stride)
            c_in = c_out
    total += conv(c_in, HEAD_CHANNELS, 1, 1, size, size)
    return total + linear(HEAD_CHANNELS, num_classes)


def _mobilenet(arch: MobileNetConfig, *, num_classes: int, in_channels: int, **_: int) -> ArchCost:
    return mobilenet_cost(arch, num_classes=num_classes, in_channels=in_channels)


COST_MODELS: dict[type[ModuleConfig], Callable[..., ArchCost]] = {
    CellGenotype: nasnet_cost,
    MobileNetConfig: _mobilenet,
    NB201Cell: nb201_cost,
}
"""Architecture config type -> cost function; a custom architecture module registers its own."""


def arch_cost(
    arch: ModuleConfig, *, num_classes: int, image_size: int, in_channels: int, cells: int, channels: int
) -> ArchCost:
    """MACs and parameters of ``arch`` built for this task at this network size."""
    model = COST_MODELS.get(type(arch))
    if model is None:
        raise TypeError(
            f"no cost model for architecture config {type(arch).__name__}; add one to automl_env.cost.COST_MODELS"
        )
    return model(
        arch, num_classes=num_classes, image_size=image_size, in_channels=in_channels, cells=cells, channels=channels
    )
