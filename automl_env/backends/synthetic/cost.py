"""Reported FLOPs, parameters and simulated training time of the synthetic backend.

MACs and parameters always come from ``automl_env.cost``. For NASNet genotypes that cost is a sum
of per-operation and per-combiner terms (every block's operations see a size and channel count
fixed by the network, not by the other blocks), so ``NASNetCostTable`` recovers those terms once per
network size by probing ``arch_cost`` and then prices any number of genotypes in one vectorised
sum, bit-exact (the tests compare it with ``arch_cost`` on random genotypes). MobileNet configs
are priced the same way by ``MobileNetCostTable``, which tabulates ``automl_env.cost``'s own
layer functions along ``mobilenet_cost``'s layout (a stage's first block depends on the previous
stage's width, its other blocks only on its own choices). Other architectures go through
``arch_cost`` one by one.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from automl_env.cost import ArchCost, arch_cost, conv, down, inverted_residual, linear
from automl_env.modules.base import TokenArray
from automl_env.modules.mobilenet import (
    DEPTHS,
    EXPANSIONS,
    HEAD_CHANNELS,
    KERNELS,
    RESOLUTIONS,
    STAGES,
    STEM_CHANNELS,
    WIDTHS,
    StageConfig,
)
from automl_env.modules.nasnet import COMBINERS, NUM_BLOCKS, OPERATIONS, TOKENS_PER_BLOCK, Block, CellGenotype
from automl_env.tasks import TaskSpec

IntArray = npt.NDArray[np.int64]
FORWARD_BACKWARD = 3  # one training step costs about three forward passes (forward, two for backward)


def _reference_cell() -> tuple[Block, ...]:
    return tuple(Block(0, "identity", 0, "identity", "add") for _ in range(NUM_BLOCKS))


class NASNetCostTable:
    """Exact MACs and parameters of NASNet genotypes at one network size, linear in their tokens."""

    def __init__(self, task: TaskSpec, *, cells: int, channels: int) -> None:
        def cost(normal: tuple[Block, ...], reduce: tuple[Block, ...]) -> ArchCost:
            return arch_cost(
                CellGenotype(normal=normal, reduce=reduce),
                num_classes=task.num_classes,
                image_size=task.image_size,
                in_channels=task.in_channels,
                cells=cells,
                channels=channels,
            )

        ref = _reference_cell()
        base = cost(ref, ref)
        self._base = np.array([base.macs, base.params], dtype=np.int64)
        # _op[cell, reads a block output, op] and _concat[cell]: change from the reference block.
        self._op = np.zeros((2, 2, len(OPERATIONS), 2), dtype=np.int64)
        self._concat = np.zeros((2, 2), dtype=np.int64)
        last = NUM_BLOCKS - 1
        for cell in (0, 1):
            for deep, source in ((0, 0), (1, 2)):
                for o, op in enumerate(OPERATIONS):
                    probe = (*ref[:last], Block(source, op, 0, "identity", "add"))
                    got = cost(probe, ref) if cell == 0 else cost(ref, probe)
                    self._op[cell, deep, o] = (got.macs - base.macs, got.params - base.params)
            probe = (*ref[:last], Block(0, "identity", 0, "identity", "concat"))
            got = cost(probe, ref) if cell == 0 else cost(ref, probe)
            self._concat[cell] = (got.macs - base.macs, got.params - base.params)

    def macs_params(self, tokens: TokenArray) -> tuple[IntArray, IntArray]:
        """(MACs, parameters) of each row of an (N, 50) NASNet token matrix."""
        t = tokens.reshape(-1, 2, NUM_BLOCKS, TOKENS_PER_BLOCK)
        n_ops = self._op.shape[2]
        # One flat index into _op per operand: (cell, reads a block output, op), so one gather and one sum.
        cell = (np.arange(2) * 2 * n_ops)[None, :, None]
        index = np.stack([cell + (t[..., inp] >= 2) * n_ops + t[..., op] for inp, op in ((0, 1), (2, 3))], axis=-1)
        index = index.reshape(len(t), -1)
        concats = (t[..., 4] == COMBINERS.index("concat")).sum(axis=2)  # (N, cell)
        # MACs and parameters gathered and summed apart: a sum over the middle axis of (N, k, 2) is slow in numpy.
        macs, params = (
            self._base[j]
            + np.ascontiguousarray(self._op[..., j]).ravel()[index].sum(axis=1)
            + concats @ self._concat[:, j]
            for j in (0, 1)
        )
        return macs, params


def _pair(cost: ArchCost) -> tuple[int, int]:
    return cost.macs, cost.params


class MobileNetCostTable:
    """Exact MACs and parameters of MobileNet configs, from per-layer tables (see the module docstring)."""

    def __init__(self, task: TaskSpec) -> None:
        n_res, n_w, n_e, n_k = len(RESOLUTIONS), len(WIDTHS), len(EXPANSIONS), len(KERNELS)
        self._stem = np.zeros((n_res, 2), dtype=np.int64)
        self._head = np.zeros((n_res, n_w, 2), dtype=np.int64)
        # _first[stage, res, previous width, width, expansion, kernel]; _rest[stage, res, width, expansion, kernel]
        self._first = np.zeros((len(STAGES), n_res, n_w, n_w, n_e, n_k, 2), dtype=np.int64)
        self._rest = np.zeros((len(STAGES), n_res, n_w, n_e, n_k, 2), dtype=np.int64)
        self._linear = np.array(_pair(linear(HEAD_CHANNELS, task.num_classes)), dtype=np.int64)
        for r, resolution in enumerate(RESOLUTIONS):
            size = down(resolution, 2)
            self._stem[r] = _pair(conv(task.in_channels, STEM_CHANNELS, 3, 3, size, size))
            for i, (_, stride) in enumerate(STAGES):
                for w, e, k in itertools.product(range(n_w), range(n_e), range(n_k)):
                    c_out = StageConfig(KERNELS[k], EXPANSIONS[e], WIDTHS[w], 1).channels(i)
                    block = {"expansion": EXPANSIONS[e], "kernel": KERNELS[k]}
                    after = down(size, stride)
                    self._rest[i, r, w, e, k] = _pair(inverted_residual(c_out, c_out, stride=1, size=after, **block))
                    for prev in range(n_w):
                        c_in = STEM_CHANNELS if i == 0 else StageConfig(3, 1, WIDTHS[prev], 1).channels(i - 1)
                        cost = inverted_residual(c_in, c_out, stride=stride, size=size, **block)
                        self._first[i, r, prev, w, e, k] = _pair(cost)
                size = down(size, stride)
            for w in range(n_w):
                c_last = StageConfig(3, 1, WIDTHS[w], 1).channels(len(STAGES) - 1)
                self._head[r, w] = _pair(conv(c_last, HEAD_CHANNELS, 1, 1, size, size))
        self._extra_blocks = np.asarray(DEPTHS, dtype=np.int64) - 1

    def macs_params(self, tokens: TokenArray) -> tuple[IntArray, IntArray]:
        """(MACs, parameters) of each row of an (N, 29) MobileNet token matrix."""
        res = tokens[:, 0]
        k, e, w, d = np.moveaxis(tokens[:, 1:].reshape(-1, len(STAGES), 4), 2, 0)
        prev = np.concatenate([np.zeros_like(w[:, :1]), w[:, :-1]], axis=1)
        stage = np.arange(len(STAGES))[None, :]
        r = res[:, None]
        blocks = self._first[stage, r, prev, w, e, k] + self._extra_blocks[d][..., None] * self._rest[stage, r, w, e, k]
        total = self._stem[res] + blocks.sum(axis=1) + self._head[res, w[:, -1]] + self._linear
        return total[:, 0], total[:, 1]
