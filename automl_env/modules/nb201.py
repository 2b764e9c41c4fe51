"""NAS-Bench-201 cell space (the NAS module of the ``nb201-*`` tasks).

A cell is a DAG of 4 nodes; each of the 6 edges ``j -> k`` (j < k) applies one of 5 operations to
node j's output and node k sums its incoming edges. Tokens are the edges in the benchmark's cell
string order, ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (edges 1<-0; 2<-0, 2<-1; 3<-0, 3<-1, 3<-2),
each token the index of the operation in ``OPERATIONS`` (the benchmark's own list order):
5^6 = 15,625 cells, the whole benchmark.

Two spaces decode into the same network:
- ``NB201CellSpace``: one agent chooses the 6 edges (``NB201Cell``);
- ``NB201NodeSpace(node)``: one agent per node chooses that node's incoming edges (1, 2 and 3 of
  them), and ``cell_of_nodes`` assembles the cell. Node 3's best input depends on what nodes 1 and
  2 compute, so the agents face a strongly coupled coordination problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_env.modules.base import ModuleConfig, ModuleSpace, TokenArray, register_config
from automl_env.modules.fields import (
    ConfigError,
    ConfigTypeError,
    ConfigValueError,
    config_fields,
    int_field,
    list_of,
    shown,
    store_field,
    str_field,
)

OPERATIONS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NODES = 3
"""Intermediate nodes 1..3 (node 0 is the cell input, node 3 its output)."""
EDGES: tuple[tuple[int, int], ...] = tuple((node, j) for node in range(1, NODES + 1) for j in range(node))
"""(node, input node) of each token, in cell string order."""
_OP_INDEX = {op: i for i, op in enumerate(OPERATIONS)}
_NODE_PATTERN = re.compile(r"\|([a-z0-9_]+)~(\d+)")
# The ResNet-like cell of the benchmark paper (``ResNet_CODE`` in its code): a basic block, node 3 =
# node 0 + node 2 where node 2 is two 3x3 convolutions of node 0 in series.
RESNET_CELL: tuple[str, ...] = ("nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "skip_connect")


def _ops(ops: Any, expected: int, what: str) -> tuple[str, ...]:
    """``expected`` operation names, one per edge of ``what``."""
    return list_of(
        ops, "ops", lambda op: str_field(op, None, choices=_OP_INDEX), length=expected, of=f"operations ({what})"
    )


def edge_slice(node: int) -> slice:
    """Positions of node ``node``'s incoming edges among the cell's 6 tokens."""
    start = node * (node - 1) // 2
    return slice(start, start + node)


@register_config
@dataclass(frozen=True)
class NB201Cell(ModuleConfig):
    """The operation on each of the 6 edges, in cell string order (``EDGES``)."""

    kind = "nb201_cell"
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        store_field(self, "ops", _ops(self.ops, len(EDGES), "one per edge, in cell string order"))

    @classmethod
    def from_arch_string(cls, text: str) -> NB201Cell:
        """Parse the benchmark's cell string, e.g. ``|nor_conv_3x3~0|+|none~0|...|``, in its exact form.

        Raises a ``ConfigError`` for the field ``arch`` (the benchmark's name for the string).
        """
        if not isinstance(text, str):
            raise ConfigTypeError(f"must be a NAS-Bench-201 cell string, got {shown(text)}", ("arch",))
        # Lenient parsing, then an exact comparison with the cell's own string: one form per cell.
        ops = [op for op, _ in _NODE_PATTERN.findall(text)]
        try:
            cell = cls(tuple(ops))
        except ConfigError as error:
            reason = f" ({error})"
        else:
            if cell.to_arch_string() == text:
                return cell
            reason = ""
        raise ConfigValueError(
            f"must be a NAS-Bench-201 cell string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|, got {shown(text, 200)}{reason}",
            ("arch",),
        )

    def to_arch_string(self) -> str:
        """The benchmark's cell string (its ``arch`` column and its API's key)."""
        return "+".join("|" + "".join(f"{op}~{j}|" for j, op in self.node_inputs(node)) for node in range(1, NODES + 1))

    def node_inputs(self, node: int) -> tuple[tuple[int, str], ...]:
        """(input node, operation) of node ``node``'s incoming edges."""
        return tuple((j, op) for (_, j), op in zip(EDGES[edge_slice(node)], self.ops[edge_slice(node)], strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "arch": self.to_arch_string()}

    @classmethod
    def from_dict(cls, data: Any) -> NB201Cell:
        with config_fields(data, cls.kind, ("arch",)) as fields:
            return cls.from_arch_string(fields["arch"])

    def describe(self) -> str:
        return self.to_arch_string()


@register_config
@dataclass(frozen=True)
class NB201Node(ModuleConfig):
    """The operations on node ``node``'s incoming edges (from nodes 0 .. node-1)."""

    kind = "nb201_node"
    node: int
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        node = int_field(self.node, "node", low=1, high=NODES + 1)
        store_field(self, "node", node)
        store_field(self, "ops", _ops(self.ops, node, f"one per input of node {node}"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "node": self.node, "ops": list(self.ops)}

    @classmethod
    def from_dict(cls, data: Any) -> NB201Node:
        with config_fields(data, cls.kind, ("node", "ops")) as fields:
            return cls(**fields)

    def describe(self) -> str:
        return "|" + "|".join(f"{op}~{j}" for j, op in enumerate(self.ops)) + "|"


def cell_of_nodes(nodes: Mapping[str, ModuleConfig]) -> NB201Cell:
    """The cell whose nodes are the given ``NB201Node`` configs (one per node, any names)."""
    by_node = {c.node: c for c in nodes.values() if isinstance(c, NB201Node)}
    if sorted(by_node) != list(range(1, NODES + 1)):
        raise ValueError(f"a NAS-Bench-201 cell needs one NB201Node for each node 1..{NODES}, got {sorted(by_node)}")
    return NB201Cell(tuple(op for node in range(1, NODES + 1) for op in by_node[node].ops))


class NB201CellSpace(ModuleSpace[NB201Cell]):
    """6 tokens, one per edge in cell string order, each one of the 5 operations."""

    one_to_one = True  # every token vector is its own config (a test checks it on random vectors)

    def __init__(self) -> None:
        self.nvec = (len(OPERATIONS),) * len(EDGES)
        self.position_names = tuple(f"edge {node}<-{j}" for node, j in EDGES)

    def decode(self, tokens: Sequence[int] | TokenArray) -> NB201Cell:
        return NB201Cell(tuple(OPERATIONS[int(t)] for t in tokens))

    def encode(self, config: NB201Cell) -> TokenArray:
        return np.array([_OP_INDEX[op] for op in config.ops], dtype=np.int64)

    def default(self) -> NB201Cell:
        """The benchmark paper's ResNet-like cell."""
        return NB201Cell(RESNET_CELL)


class NB201NodeSpace(ModuleSpace[NB201Node]):
    """Node ``node``'s incoming edges: ``node`` tokens, one per input node 0 .. node-1."""

    one_to_one = True  # every token vector is its own config (a test checks it on random vectors)

    def __init__(self, node: int) -> None:
        if node not in range(1, NODES + 1):
            raise ValueError(f"node must be in 1..{NODES}, got {node}")
        self.node = node
        self.nvec = (len(OPERATIONS),) * node
        self.position_names = tuple(f"edge {node}<-{j}" for j in range(node))

    def decode(self, tokens: Sequence[int] | TokenArray) -> NB201Node:
        return NB201Node(self.node, tuple(OPERATIONS[int(t)] for t in tokens))

    def encode(self, config: NB201Node) -> TokenArray:
        if config.node != self.node:
            raise ValueError(f"space of node {self.node} cannot encode a config of node {config.node}")
        return np.array([_OP_INDEX[op] for op in config.ops], dtype=np.int64)

    def default(self) -> NB201Node:
        return NB201Node(self.node, RESNET_CELL[edge_slice(self.node)])
