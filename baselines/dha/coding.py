"""DHA's compressed architecture code (ISTA-NAS, Yang et al. 2020, as DHA uses it), on the NAS-Bench-201 cell.

Node k of the cell (k = 1..3) has k incoming edges x 5 operations, so its architecture vector
alpha_k has n_k = 5k entries. It is never optimised directly: a code b_k in R^m (m = 5, ours: one entry
per operation, as ISTA-NAS's m = 7 is its operation count) is, through a fixed random A_k in R^{m x n_k}
(uniform [0, 1) as in the ISTA-NAS code), its compressed measurement b = A alpha + eps. alpha is
recovered by the LASSO

    alpha = argmin 1/2 |A alpha - b|^2 + lam |alpha|_1          (lam = 1e-5, ISTA-NAS code)

solved by ISTA: alpha <- S_{lam/L}(alpha - A^T (A alpha - b) / L), S the soft threshold and L the
largest eigenvalue of A^T A. The support S_k is each edge's highest-scoring operation (NB201 keeps
every edge; DHA's DARTS cell also keeps 2 edges per node, which NB201 does not have). The operations run
with the weights of one un-shrunk ISTA step from alpha held constant (DHA Eq. 7):

    w_S = alpha_S + [A^T (b - A alpha)]_S,        so  dL/db = A_{:,S} dL/dw_S

which is how the training loss reaches b. Weights are unnormalised and may be negative.
"""

from __future__ import annotations

from automl_env.backends.training.deps import torch
from automl_env.modules.nb201 import EDGES, NODES, OPERATIONS

LASSO_LAMBDA = 1e-5
CODE_SIZE = len(OPERATIONS)


def ista(a: torch.Tensor, b: torch.Tensor, *, lam: float = LASSO_LAMBDA, iters: int = 500) -> torch.Tensor:
    """The LASSO solution by ``iters`` ISTA steps from 0 (no gradient flows through it)."""
    with torch.no_grad():
        lipschitz = float(torch.linalg.eigvalsh(a.T @ a).max())
        alpha = torch.zeros(a.shape[1], dtype=a.dtype)
        for _ in range(iters):
            z = alpha - a.T @ (a @ alpha - b) / lipschitz
            alpha = torch.sign(z) * torch.clamp(z.abs() - lam / lipschitz, min=0.0)
    return alpha


def node_support(alpha: torch.Tensor, node: int) -> list[int]:
    """Each incoming edge's best operation: flat indices into alpha_k (edge-major, 5 operations per edge)."""
    per_edge = alpha.reshape(node, len(OPERATIONS))
    return [e * len(OPERATIONS) + int(per_edge[e].argmax()) for e in range(node)]


def step_weights(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor, support: list[int]) -> torch.Tensor:
    """w_S of Eq. 7: alpha_S plus one un-shrunk ISTA step, differentiable in b."""
    return alpha[support] + (a.T @ (b - a @ alpha))[support]


class ArchitectureCode:
    """A, b and the recovered alpha of the 3 nodes; the cell they choose and its edge weights."""

    def __init__(self, generator: torch.Generator) -> None:
        self.a = [torch.rand(CODE_SIZE, node * len(OPERATIONS), generator=generator) for node in range(1, NODES + 1)]
        self.b = [torch.nn.Parameter(1e-3 * torch.randn(CODE_SIZE, generator=generator)) for _ in range(1, NODES + 1)]
        self.alpha = [torch.zeros(a.shape[1]) for a in self.a]
        self.frozen = [False] * NODES
        self.solved = [False] * NODES  # a node is compared with its previous solution only after a first one
        self.frozen_weights: list[torch.Tensor | None] = [None] * NODES

    def recover(self, *, tolerance: float = 1e-3) -> list[float]:
        """Re-solve every unfrozen node's LASSO; freeze a node whose alpha moved by <= ``tolerance``."""
        moves = []
        for k in range(NODES):
            if self.frozen[k]:
                moves.append(0.0)
                continue
            alpha = ista(self.a[k], self.b[k].detach())
            moves.append(float(torch.linalg.vector_norm(alpha - self.alpha[k])))
            self.alpha[k] = alpha
            if self.solved[k] and moves[-1] <= tolerance:
                self.freeze(k)
            self.solved[k] = True
        return moves

    def freeze(self, k: int) -> None:
        """Fix node k: its support and its Eq. 7 weights, detached (kept as multipliers, DHA)."""
        self.frozen[k] = True
        support = node_support(self.alpha[k], k + 1)
        self.frozen_weights[k] = step_weights(self.a[k], self.b[k].detach(), self.alpha[k], support).detach()

    def cell(self) -> tuple[str, ...]:
        """The NB201 genotype of the current supports (edges in cell string order)."""
        ops = []
        for node in range(1, NODES + 1):
            chosen = node_support(self.alpha[node - 1], node)
            ops += [OPERATIONS[i % len(OPERATIONS)] for i in chosen]
        assert len(ops) == len(EDGES)
        return tuple(ops)

    def edge_scales(self) -> torch.Tensor:
        """The 6 edge multipliers w (cell string order), differentiable in the unfrozen nodes' b."""
        scales = []
        for node in range(1, NODES + 1):
            k = node - 1
            fixed = self.frozen_weights[k]
            if fixed is not None:
                scales.append(fixed)
            else:
                support = node_support(self.alpha[k], node)
                scales.append(step_weights(self.a[k], self.b[k], self.alpha[k], support))
        return torch.cat(scales)

    def state(self) -> dict[str, list[list[float]]]:
        return {"b": [b.detach().tolist() for b in self.b], "alpha": [a.tolist() for a in self.alpha]}
