"""The NAS-Bench-201 network built from an ``NB201Cell``, exactly as the benchmark trains it.

Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search", ICLR
2020 (``TinyNetwork`` with ``InferCell`` in D-X-Y/AutoDL-Projects). A 3x3 stem to C channels + BN;
three stages of ``cells`` cells at C, 2C and 4C channels, joined by residual reduction blocks; BN,
ReLU, global average pool, dropout (0 in the benchmark), linear. The benchmark uses C=16 and N=5.
``automl_env.cost.nb201_cost`` counts exactly this network.
"""

from __future__ import annotations

from collections.abc import Callable

from automl_env.backends.training.deps import torch
from automl_env.backends.training.nasnet import ReLUConvBN
from automl_env.cost import NB201_STAGES
from automl_env.modules.nb201 import NODES, NB201Cell

nn = torch.nn
F = torch.nn.functional

OPS: dict[str, Callable[[int], nn.Module]] = {
    "skip_connect": lambda c: nn.Identity(),
    "nor_conv_1x1": lambda c: ReLUConvBN(c, c, 1),
    "nor_conv_3x3": lambda c: ReLUConvBN(c, c, 3),
    "avg_pool_3x3": lambda c: nn.AvgPool2d(3, 1, padding=1, count_include_pad=False),
}
"""NAS-Bench-201 operation name -> constructor(channels). "none" has no module: the benchmark's
``Zero`` multiplies its input by 0, so its edge adds nothing to the node's sum and is left out."""


class Cell(nn.Module):
    """Node k is the sum over j < k of op_{k<-j}(node j); node 0 is the input, node 3 the output."""

    def __init__(self, cell: NB201Cell, channels: int) -> None:
        super().__init__()
        live = [(node, j, op) for node in range(1, NODES + 1) for j, op in cell.node_inputs(node) if op != "none"]
        self.edges = tuple((node, j) for node, j, _ in live)
        self.ops = nn.ModuleList(OPS[op](channels) for _, _, op in live)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NODES + 1):
            terms = [op(nodes[j]) for (k, j), op in zip(self.edges, self.ops, strict=True) if k == node]
            # A node whose edges are all "none" is zero, as the benchmark's Zero op makes it.
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """The benchmark's fixed reduction: a stride-2 ResNet basic block from c_in to c_out channels.

    Main path ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN; shortcut 2x2 average pool then a 1x1 conv
    with neither ReLU nor BN (``ResNetBasicblock`` with stride 2 in the official code).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def stage_layers(make_cell: Callable[[int], nn.Module], *, cells: int, channels: int) -> tuple[list[nn.Module], int]:
    """The benchmark's body: ``NB201_STAGES`` stages of ``cells`` cells made by ``make_cell(channels)``, with a
    residual reduction doubling the channels between stages; the layers and the channels they end with."""
    layers: list[nn.Module] = []
    c = channels
    for stage in range(NB201_STAGES):
        if stage > 0:
            layers.append(ResidualReduction(c, 2 * c))
            c *= 2
        layers += [make_cell(c) for _ in range(cells)]
    return layers, c


class NB201Network(nn.Module):
    def __init__(
        self,
        cell: NB201Cell,
        *,
        num_classes: int,
        in_channels: int,
        cells: int,
        channels: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers, c = stage_layers(lambda width: Cell(cell, width), cells=cells, channels=c)
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.layers(self.stem(x)))
        return self.classifier(self.dropout(torch.flatten(F.adaptive_avg_pool2d(features, 1), 1)))
