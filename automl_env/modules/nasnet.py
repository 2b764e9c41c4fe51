"""NASNet cell search space (the NAS module of the CIFAR-like tasks).

A genotype is a normal cell and a reduction cell of 5 blocks each. Block ``b`` picks two inputs
from ``2 + b`` candidates (0 = h_{k-2}, 1 = h_{k-1}, 2 + j = output of block j), one of 13
operations for each input, and a combiner (add or concat). Tokens per block:
``(input_a, op_a, input_b, op_b, combiner)``; 50 tokens, 10^36.7 genotypes (the paper's 10^37).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_env.modules.base import ModuleConfig, ModuleSpace, TokenArray, register_config
from automl_env.modules.fields import (
    ConfigValueError,
    config_fields,
    instances,
    int_field,
    list_field,
    list_of,
    store_field,
    str_field,
)

OPERATIONS: tuple[str, ...] = (
    "identity",
    "conv_1x3_3x1",
    "conv_1x7_7x1",
    "dil_conv_3x3",
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
)
COMBINERS: tuple[str, ...] = ("add", "concat")
_OP_INDEX = {op: i for i, op in enumerate(OPERATIONS)}
_COMBINER_INDEX = {c: i for i, c in enumerate(COMBINERS)}
NUM_BLOCKS = 5
TOKENS_PER_BLOCK = 5


@dataclass(frozen=True)
class Block:
    """Two (input, operation) pairs and how their results are combined."""

    input_a: int
    op_a: str
    input_b: int
    op_b: str
    combiner: str

    def __post_init__(self) -> None:
        # Inputs range over the candidates of the last block; the cell checks each block's own range.
        store_field(self, "input_a", int_field(self.input_a, "input_a", low=0, high=1 + NUM_BLOCKS))
        store_field(self, "op_a", str_field(self.op_a, "op_a", choices=_OP_INDEX))
        store_field(self, "input_b", int_field(self.input_b, "input_b", low=0, high=1 + NUM_BLOCKS))
        store_field(self, "op_b", str_field(self.op_b, "op_b", choices=_OP_INDEX))
        store_field(self, "combiner", str_field(self.combiner, "combiner", choices=COMBINERS))

    def to_list(self) -> list[Any]:
        return [self.input_a, self.op_a, self.input_b, self.op_b, self.combiner]

    @classmethod
    def from_list(cls, item: Any) -> Block:
        """Read ``[input_a, op_a, input_b, op_b, combiner]`` (the JSON form)."""
        return cls(
            *list_field(item, None, length=TOKENS_PER_BLOCK, of="items [input_a, op_a, input_b, op_b, combiner]")
        )


def _cell(blocks: Any, name: str) -> tuple[Block, ...]:
    """A cell's blocks; block ``b`` may take inputs 0 .. 1 + b (h_{k-2}, h_{k-1}, earlier blocks)."""
    cell = instances(blocks, name, Block, length=NUM_BLOCKS, of="blocks")
    for b, block in enumerate(cell):
        for field in ("input_a", "input_b"):
            if getattr(block, field) >= 2 + b:
                raise ConfigValueError(
                    f"must be an integer in [0, {2 + b}), got {getattr(block, field)}", (name, b, field)
                )
    return cell


@register_config
@dataclass(frozen=True)
class CellGenotype(ModuleConfig):
    """Normal and reduction cell of a NASNet-style network."""

    kind = "nasnet_cell"
    normal: tuple[Block, ...]
    reduce: tuple[Block, ...]

    def __post_init__(self) -> None:
        store_field(self, "normal", _cell(self.normal, "normal"))
        store_field(self, "reduce", _cell(self.reduce, "reduce"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "normal": [b.to_list() for b in self.normal],
            "reduce": [b.to_list() for b in self.reduce],
        }

    @classmethod
    def from_dict(cls, data: Any) -> CellGenotype:
        with config_fields(data, cls.kind, ("normal", "reduce")) as fields:
            normal, reduce = (
                list_of(fields[name], name, Block.from_list, length=NUM_BLOCKS, of="blocks")
                for name in ("normal", "reduce")
            )
            return cls(normal=normal, reduce=reduce)

    def describe(self) -> str:
        def cell(blocks: tuple[Block, ...]) -> str:
            return ", ".join(
                f"b{i}={b.combiner}({b.op_a}@{b.input_a}, {b.op_b}@{b.input_b})" for i, b in enumerate(blocks)
            )

        return f"normal[{cell(self.normal)}] reduce[{cell(self.reduce)}]"


class NASNetSpace(ModuleSpace[CellGenotype]):
    """Tokens: normal cell's 5 blocks then the reduction cell's, 5 tokens per block."""

    one_to_one = True  # every token vector is its own config (a test checks it on random vectors)

    def __init__(self) -> None:
        nvec: list[int] = []
        names: list[str] = []
        for cell in ("normal", "reduce"):
            for b in range(NUM_BLOCKS):
                nvec += [2 + b, len(OPERATIONS), 2 + b, len(OPERATIONS), len(COMBINERS)]
                names += [f"{cell}.block[{b}].{f}" for f in ("input_a", "op_a", "input_b", "op_b", "combiner")]
        self.nvec = tuple(nvec)
        self.position_names = tuple(names)

    def decode(self, tokens: Sequence[int] | TokenArray) -> CellGenotype:
        t = np.asarray(tokens, dtype=np.int64).reshape(2, NUM_BLOCKS, TOKENS_PER_BLOCK)

        def cell(rows: TokenArray) -> tuple[Block, ...]:
            return tuple(
                Block(int(r[0]), OPERATIONS[int(r[1])], int(r[2]), OPERATIONS[int(r[3])], COMBINERS[int(r[4])])
                for r in rows
            )

        return CellGenotype(normal=cell(t[0]), reduce=cell(t[1]))

    def encode(self, config: CellGenotype) -> TokenArray:
        return np.array(
            [
                v
                for blocks in (config.normal, config.reduce)
                for b in blocks
                for v in (b.input_a, _OP_INDEX[b.op_a], b.input_b, _OP_INDEX[b.op_b], _COMBINER_INDEX[b.combiner])
            ],
            dtype=np.int64,
        )

    def default(self) -> CellGenotype:
        """A plain hand-made cell: a chain of 3x3 convolutions with skip inputs, max-pool reductions."""
        normal = tuple(Block(b + 1, "conv_3x3", b, "identity", "add") for b in range(NUM_BLOCKS))
        reduce = tuple(Block(0, "max_pool_3x3", 1, "conv_3x3", "add") for _ in range(NUM_BLOCKS))
        return CellGenotype(normal=normal, reduce=reduce)
