"""The NASNet cell network built from a ``CellGenotype``, exactly as ``automl_env.cost`` counts it.

DARTS layout: a 3x3 stem to 3C channels; ``cells`` cells with reductions at cells//3 and
2*cells//3 (channels doubled there); every cell outputs the concatenation of its 5 blocks (5C);
global average pool, dropout, linear. Stochastic depth (drop path) acts on every non-identity
operation's output during training, at the rate in ``drop_path_prob`` set by the training loop.
"""

from __future__ import annotations

from collections.abc import Callable

from automl_env.backends.training.deps import torch
from automl_env.cost import reduction_indices
from automl_env.modules.nasnet import Block, CellGenotype

nn = torch.nn
F = torch.nn.functional


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs, the second on the input shifted by one pixel."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]  # same size as x, so odd sizes work too
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def _factorized_conv(c: int, k: int, stride: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, (1, k), stride=(1, stride), padding=(0, k // 2), bias=False),
        nn.Conv2d(c, c, (k, 1), stride=(stride, 1), padding=(k // 2, 0), bias=False),
        nn.BatchNorm2d(c),
    )


def _dil_conv(c: int, stride: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, 3, stride, padding=2, dilation=2, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c),
    )


def _sep_conv(c: int, k: int, stride: int) -> nn.Module:
    def half(s: int) -> list[nn.Module]:
        return [
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, s, padding=k // 2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
        ]

    return nn.Sequential(*half(stride), *half(1))


OPS: dict[str, Callable[[int, int], nn.Module]] = {
    "identity": lambda c, s: nn.Identity() if s == 1 else FactorizedReduce(c, c),
    "conv_1x3_3x1": lambda c, s: _factorized_conv(c, 3, s),
    "conv_1x7_7x1": lambda c, s: _factorized_conv(c, 7, s),
    "dil_conv_3x3": _dil_conv,
    "avg_pool_3x3": lambda c, s: nn.AvgPool2d(3, s, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda c, s: nn.MaxPool2d(3, s, padding=1),
    "max_pool_5x5": lambda c, s: nn.MaxPool2d(5, s, padding=2),
    "max_pool_7x7": lambda c, s: nn.MaxPool2d(7, s, padding=3),
    "conv_1x1": lambda c, s: ReLUConvBN(c, c, 1, s),
    "conv_3x3": lambda c, s: ReLUConvBN(c, c, 3, s),
    "sep_conv_3x3": lambda c, s: _sep_conv(c, 3, s),
    "sep_conv_5x5": lambda c, s: _sep_conv(c, 5, s),
    "sep_conv_7x7": lambda c, s: _sep_conv(c, 7, s),
}
"""NASNet operation name -> constructor(channels, stride); names as in automl_env.modules.nasnet."""


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``prob`` and rescale the rest (stochastic depth)."""
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class Cell(nn.Module):
    def __init__(
        self, blocks: tuple[Block, ...], *, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool
    ):
        super().__init__()
        self.blocks = blocks
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1)
        self.pre1 = ReLUConvBN(c_p, c, 1)
        ops: list[nn.Module] = []
        for block in blocks:
            for inp, op in ((block.input_a, block.op_a), (block.input_b, block.op_b)):
                ops.append(OPS[op](c, 2 if reduction and inp < 2 else 1))
        self.ops = nn.ModuleList(ops)
        self.combine = nn.ModuleList(
            ReLUConvBN(2 * c, c, 1) if b.combiner == "concat" else nn.Identity() for b in blocks
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for i, block in enumerate(self.blocks):
            outs = []
            for j, inp in enumerate((block.input_a, block.input_b)):
                y = self.ops[2 * i + j](states[inp])
                if self.training and drop_prob > 0 and not isinstance(self.ops[2 * i + j], nn.Identity):
                    y = drop_path(y, drop_prob)
                outs.append(y)
            combined = outs[0] + outs[1] if block.combiner == "add" else self.combine[i](torch.cat(outs, dim=1))
            states.append(combined)
        return torch.cat(states[2:], dim=1)


class NASNetwork(nn.Module):
    def __init__(
        self, genotype: CellGenotype, *, num_classes: int, in_channels: int, cells: int, channels: int, dropout: float
    ) -> None:
        super().__init__()
        self.drop_path_prob = 0.0
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c))
        c_pp = c_p = 3 * c
        reductions = reduction_indices(cells)
        reduction_prev = False
        layers = []
        for i in range(cells):
            reduction = i in reductions
            c = 2 * c if reduction else c
            blocks = genotype.reduce if reduction else genotype.normal
            layers.append(Cell(blocks, c_pp=c_pp, c_p=c_p, c=c, reduction=reduction, reduction_prev=reduction_prev))
            c_pp, c_p, reduction_prev = c_p, 5 * c, reduction
        self.cells = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.classifier(self.dropout(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1)))
