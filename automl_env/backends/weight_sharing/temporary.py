"""AutoHAS's temporary weights: one optimiser step of a sub-network, scored, then dropped.

With W the shared weights, v the shared SGD momentum buffer (m = 0.9), and (alpha, h) a pipeline:

    g     = grad_{W_alpha} CE(net(aug_h(x_tr); alpha, W), y_tr)
    W*    = W_alpha - lr_h * (m * v + g + wd_h * W_alpha)          (PEERS.md, AutoHAS section 4)
    Q     = top-1 accuracy of net(x_val; alpha, W*) on a validation batch

Only the parameters the sub-network uses (those that get a gradient) move; the rest keep W. W* is a
dict of new tensors evaluated with ``torch.func.functional_call``: W, v and every buffer are read and
never written (tests/test_weight_sharing.py checks it). The momentum buffer is read, not advanced
(PEERS.md G2: the temporary step must not leak into shared training).
"""

from __future__ import annotations

from dataclasses import dataclass

from automl_env.backends.training.deps import torch

MOMENTUM = 0.9


@dataclass(frozen=True)
class TemporaryScore:
    """What one temporary step measured."""

    accuracy: float
    val_loss: float
    train_loss: float


def momentum_buffer(optimizer: torch.optim.Optimizer, parameter: torch.nn.Parameter) -> torch.Tensor | None:
    """The shared SGD momentum buffer of ``parameter`` (None before its first shared step)."""
    state = optimizer.state.get(parameter, {})
    buffer = state.get("momentum_buffer")
    return buffer if isinstance(buffer, torch.Tensor) else None


def temporary_weights(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    *,
    lr: float,
    weight_decay: float,
) -> dict[str, torch.Tensor]:
    """W* of the module docstring, keyed by parameter name (unused parameters map to themselves)."""
    names, params = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    weights: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, p, g in zip(names, params, grads, strict=True):
            if g is None:
                weights[name] = p
                continue
            direction = g + weight_decay * p
            buffer = momentum_buffer(optimizer, p)
            if buffer is not None:
                direction = direction + MOMENTUM * buffer
            weights[name] = p - lr * direction
    return weights


def temporary_score(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    ops: tuple[str, ...],
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    lr: float,
    weight_decay: float,
) -> TemporaryScore:
    """Q(alpha, h): build W* on the (augmented) training batch, score it on the validation batch."""
    x, y = train
    loss = torch.nn.functional.cross_entropy(model(x, ops), y)
    weights = temporary_weights(model, optimizer, loss, lr=lr, weight_decay=weight_decay)
    x_val, y_val = val
    with torch.no_grad():
        out = torch.func.functional_call(model, weights, (x_val, ops))
        val_loss = torch.nn.functional.cross_entropy(out, y_val)
        accuracy = (out.argmax(dim=1) == y_val).float().mean()
    return TemporaryScore(float(accuracy), float(val_loss), float(loss.detach()))
