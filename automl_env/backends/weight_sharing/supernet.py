"""The NAS-Bench-201 supernet: every candidate operation of every edge, one shared set of weights.

Same macro-structure as ``automl_env.backends.training.nb201.NB201Network`` (stem, three stages of ``cells``
cells joined by the benchmark's residual reductions, head); each cell edge holds one module per operation
(``none`` has none: it adds nothing). ``forward(x, ops)`` runs the single path of the cell ``ops`` (one
operation per edge, the same genotype in every cell, as the benchmark): only the weights of that
sub-network W_alpha are used, so only they get gradients. ``ops=None`` runs every operation of every edge
and averages them, 'none' counted as a zero output (TuNAS's op warm-up, which AutoHAS cites).
"""

from __future__ import annotations

from typing import Any

from automl_env.backends.training.deps import torch
from automl_env.backends.training.nb201 import OPS, stage_layers
from automl_env.modules.nb201 import EDGES, NODES, OPERATIONS

nn = torch.nn
F = torch.nn.functional


class SuperCell(nn.Module):
    """Node k = sum over edges j -> k of the chosen operation on node j (or of the average of all five)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: OPS[op](channels) for op in OPERATIONS if op != "none"}) for _ in EDGES
        )

    def forward(self, x: torch.Tensor, ops: tuple[str, ...] | None, scales: torch.Tensor | None = None) -> torch.Tensor:
        """``scales`` (6,): a multiplier per edge on the chosen operation's output (DHA's Eq. 7 weights)."""
        nodes = [x]
        for node in range(1, NODES + 1):
            total = torch.zeros_like(x)
            for e, (k, j) in enumerate(EDGES):
                if k != node:
                    continue
                candidates: Any = self.edges[e]  # a ModuleDict of the edge's operations
                if ops is None:  # uniform average over the 5 operations; 'none' contributes 0
                    total = total + sum(m(nodes[j]) for m in candidates.values()) / len(OPERATIONS)
                elif ops[e] != "none":
                    out = candidates[ops[e]](nodes[j])
                    total = total + (out if scales is None else scales[e] * out)
            nodes.append(total)
        return nodes[-1]


class NB201Supernet(nn.Module):
    """Weights of every NB201 cell of ``cells`` cells per stage at ``channels`` channels (see module docstring)."""

    def __init__(self, *, num_classes: int, in_channels: int, cells: int, channels: int) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers, c = stage_layers(SuperCell, cells=cells, channels=c)
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.classifier = nn.Linear(c, num_classes)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                # Batch statistics in training and scoring alike: running statistics accumulated over
                # switching paths describe no sub-network (PEERS.md G4, the NAS-Bench-201 convention).
                module.track_running_stats = False
                module.running_mean = module.running_var = module.num_batches_tracked = None

    def forward(self, x: torch.Tensor, ops: tuple[str, ...] | None, scales: torch.Tensor | None = None) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, ops, scales) if isinstance(layer, SuperCell) else layer(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.head(x), 1), 1))
