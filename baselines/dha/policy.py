"""DHA's augmentation policy: a distribution over ordered pairs of operations, learned as a dynamic schedule.

tau holds K x K logits over ordered pairs (o1, o2) of the K = 14 operations of DHA's list (PBA's:
AutoContrast, Equalize, Rotate, Posterize, Solarize, Color, Contrast, Brightness, Sharpness, ShearX/Y,
TranslateX/Y, Identity); P = softmax(vec tau), uniform at the start. Each step draws
q = softmax((log P + Gumbel) / T) once, each image its pair c_k ~ Cat(q), and each operation a
magnitude uniformly in [0, M] of its range (not learned, DHA: "augmentation ambiguity"), with a
random sign where the operation has one. The policy's loss uses the exact P of the drawn pairs and the
per-image training loss with its gradient stopped:

    L_DA = -(1/n) sum_k P[c_k] sg(l_k),     dL_DA/dtau_j = -(1/n) sum_k l_k P[c_k] (1[j = c_k] - P_j)

so every drawn pair gains probability in proportion to its images' loss (P-weighted) and the others lose
it: harder pairs grow faster, adversarial augmentation without a controller. No fixed policy is
extracted: the evolving P is the schedule. Ours (DHA gives none): T = 1; M = 1 (the whole range of
each operation, as our AutoAugment augmenter maps level 9 to it); tau is trained by SGD with momentum
0.9 at ``lr`` scaled by K^2 (P ~ 1/K^2 makes the raw gradient vanish,
PEERS.md DHA gap 2); the entropy of P is logged.
"""

from __future__ import annotations

from automl_env.backends.training.augment import MAGNITUDES, PolicyAugmenter, SlotDraws
from automl_env.backends.training.deps import torch
from automl_env.modules.augment import OPERATIONS, AugmentOp, AugmentPolicy

DHA_OPERATIONS: tuple[str, ...] = (
    "AutoContrast", "Equalize", "Rotate", "Posterize", "Solarize", "Color", "Contrast",
    "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY", "Identity",
)  # fmt: skip
K = len(DHA_OPERATIONS)


def pair_policy_loss(logits: torch.Tensor, pairs: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """L_DA of the module docstring (``losses`` are detached here)."""
    p = torch.softmax(logits.flatten(), dim=0)
    return -(p[pairs] * losses.detach()).mean()


class PairAugmenter(PolicyAugmenter):
    """Applies a per-image ordered pair of DHA's operations with per-image random magnitudes."""

    def __init__(self, device: torch.device) -> None:
        ops = [op for op in DHA_OPERATIONS if op != "Identity"]
        subs = tuple((AugmentOp(op, 10, 9), AugmentOp(op, 10, 9)) for op in ops)
        super().__init__(AugmentPolicy(sub_policies=subs), device)  # registers every operation as in use
        self.index = torch.tensor([OPERATIONS.index(op) if op != "Identity" else -1 for op in DHA_OPERATIONS])
        self.low = torch.tensor([MAGNITUDES[op].low if op != "Identity" else 0.0 for op in DHA_OPERATIONS])
        self.high = torch.tensor([MAGNITUDES[op].high if op != "Identity" else 0.0 for op in DHA_OPERATIONS])
        signed = [MAGNITUDES[op].signed if op != "Identity" else False for op in DHA_OPERATIONS]
        self.signed_ops = torch.tensor(signed)

    def apply_pairs(self, x: torch.Tensor, pairs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x: float (B, C, H, W) in [0, 255]; pairs: (B,) flat indices o1 * K + o2."""
        for slot_ops in (pairs // K, pairs % K):
            u = torch.rand(x.shape[0], generator=generator)
            m = self.low[slot_ops] + (self.high[slot_ops] - self.low[slot_ops]) * u
            flip = self.signed_ops[slot_ops] & (torch.rand(x.shape[0], generator=generator) < 0.5)
            m = torch.where(flip, -m, m)
            op = self.index[slot_ops]
            x = self.apply_slot(x, SlotDraws(op, op >= 0, m), self.ops_used)
        return x


def sample_pairs(logits: torch.Tensor, n: int, generator: torch.Generator, *, temperature: float = 1.0) -> torch.Tensor:
    """n pair indices from q = softmax((log P + Gumbel) / T), one Gumbel draw per step."""
    with torch.no_grad():
        log_p = torch.log_softmax(logits.flatten(), dim=0)
        u = torch.rand(log_p.shape, generator=generator).clamp(1e-10, 1 - 1e-10)
        q = torch.softmax((log_p - torch.log(-torch.log(u))) / temperature, dim=0)
        return torch.multinomial(q, n, replacement=True, generator=generator)


def entropy(logits: torch.Tensor) -> float:
    p = torch.softmax(logits.detach().flatten(), dim=0)
    return float(-(p * torch.log(p)).sum())
