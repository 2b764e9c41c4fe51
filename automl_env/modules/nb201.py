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


def _check_ops(ops: Sequence[str], expected: int, what: str) -> None:
    if len(ops) != expected:
        raise ValueError(f"{what} has {len(ops)} operations, expected {expected}")
    unknown = [op for op in ops if op not in _OP_INDEX]
    if unknown:
        raise ValueError(f"{what}: unknown operations {unknown}; NAS-Bench-201's are {list(OPERATIONS)}")


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
        _check_ops(self.ops, len(EDGES), "a NAS-Bench-201 cell")

    @classmethod
    def from_arch_string(cls, text: str) -> NB201Cell:
        """Parse the benchmark's cell string, e.g. ``|nor_conv_3x3~0|+|none~0|...|``."""
        nodes = text.strip().strip("+").split("+")
        if len(nodes) != NODES:
            raise ValueError(f"cell string {text!r} has {len(nodes)} nodes, expected {NODES}")
        ops: list[str] = []
        for node, part in enumerate(nodes, start=1):
            edges = _NODE_PATTERN.findall(part)
            if [int(j) for _, j in edges] != list(range(node)) or part.count("|") != node + 1:
                raise ValueError(f"cell string {text!r}: node {node} must read |op~0|...|op~{node - 1}|, got {part!r}")
            ops += [op for op, _ in edges]
        return cls(tuple(ops))

    def to_arch_string(self) -> str:
        """The benchmark's cell string (its ``arch`` column and its API's key)."""
        return "+".join("|" + "".join(f"{op}~{j}|" for j, op in self.node_inputs(node)) for node in range(1, NODES + 1))

    def node_inputs(self, node: int) -> tuple[tuple[int, str], ...]:
        """(input node, operation) of node ``node``'s incoming edges."""
        return tuple((j, op) for (_, j), op in zip(EDGES[edge_slice(node)], self.ops[edge_slice(node)], strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "arch": self.to_arch_string()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NB201Cell:
        return cls.from_arch_string(data["arch"])

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
        if self.node not in range(1, NODES + 1):
            raise ValueError(f"node must be in 1..{NODES}, got {self.node}")
        _check_ops(self.ops, self.node, f"node {self.node}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "node": self.node, "ops": list(self.ops)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NB201Node:
        return cls(node=data["node"], ops=tuple(data["ops"]))

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
