"""One training run: a network, a training split, HParams and a budget -> validation accuracy.

SGD-family optimisers with a linear warm-up to the peak learning rate, then cosine decay to 0,
stepped per batch. Recipe fields: mixup (Beta(a, a) mixing of the batch with a permutation of
itself), dropout and drop path (set on the network), EMA of the weights (evaluated instead of the
raw weights). On CUDA: bf16 autocast, channels_last, and no host synchronisation inside an epoch
(divergence is accumulated on the device and checked once per epoch), and the inputs of up to
``CUDA_AUGMENT_BATCHES`` batches indexed and augmented in one call (``augment_batches``). On CPU: float32, checked
every step (a sync costs nothing there, and a diverged run stops at once), one batch's inputs at a time.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np

from automl_env.backends.training.data import Split
from automl_env.backends.training.deps import torch
from automl_env.backends.training.views import InputView
from automl_env.modules.hparams import HParams

MOMENTUM = 0.9  # the usual value for SGD on CIFAR and ImageNet
EMA_DECAY = 0.9998  # per step, as in the EfficientNet/MobileNet recipes; warmed up (see Ema)

OPTIMIZERS: dict[str, Callable[[list[torch.nn.Parameter], HParams], torch.optim.Optimizer]] = {
    "sgd": lambda p, h: torch.optim.SGD(p, lr=h.lr, momentum=MOMENTUM, weight_decay=h.weight_decay),
    "nesterov": lambda p, h: torch.optim.SGD(p, lr=h.lr, momentum=MOMENTUM, weight_decay=h.weight_decay, nesterov=True),
    # TF-style RMSProp of the EfficientNet recipe (decay 0.9, eps 1e-3 on the root).
    "rmsprop": lambda p, h: torch.optim.RMSprop(
        p, lr=h.lr, alpha=0.9, eps=1e-3, momentum=MOMENTUM, weight_decay=h.weight_decay
    ),
    "adam": lambda p, h: torch.optim.Adam(p, lr=h.lr, weight_decay=h.weight_decay),
    "adamw": lambda p, h: torch.optim.AdamW(p, lr=h.lr, weight_decay=h.weight_decay),
}
"""HParams.optimizer -> constructor; ``lr`` is used as given (the peak of the schedule)."""

CUDA_AUGMENT_BATCHES = 16
"""On CUDA, the most batches whose inputs are indexed and augmented in one call. A small batch's augmentation is
about 140 small kernels whatever its size, bound by launching them (docs/performance.md), so a call of sixteen
batches launches what one did. Every draw is per image, so the inputs follow the same distribution as batch by
batch."""
AUGMENT_ELEMENTS = 2**24
"""The most input elements (64 MiB of float32) augmented in one call: large images go one batch at a time."""


def augment_batches(device: torch.device, batch_size: int, image_elements: int) -> int:
    """Batches whose inputs are made in one call: 1 on CPU (what a batch costs there is per image, and its results
    stay those recorded batch by batch), up to ``CUDA_AUGMENT_BATCHES`` on CUDA within ``AUGMENT_ELEMENTS``."""
    if device.type != "cuda":
        return 1
    return max(1, min(CUDA_AUGMENT_BATCHES, AUGMENT_ELEMENTS // max(1, batch_size * image_elements)))


@dataclass(frozen=True)
class Budget:
    epochs: int
    batch_size: int
    warmup_epochs: int


@dataclass
class Outcome:
    """What a run produced; ``diverged`` runs have no accuracy."""

    accuracy: float | None
    diverged: bool
    steps: int = 0
    images: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    final_loss: float = math.nan
    phase_seconds: dict[str, float] = field(default_factory=dict)


def lr_factor(step: int, *, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up from 1/warmup_steps to 1, then cosine to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))


class Ema:
    """Exponential moving average of parameters and buffers; decay ramps up as (1+t)/(10+t)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = copy.deepcopy(model).eval()
        self.updates = 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(EMA_DECAY, (1 + self.updates) / (10 + self.updates))
        ema_p: list[torch.Tensor] = list(self.model.parameters())
        p: list[torch.Tensor] = list(model.parameters())
        torch._foreach_lerp_(ema_p, p, 1.0 - decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_b.copy_(b)


def _autocast(device: torch.device) -> AbstractContextManager[object]:
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def _batches(
    n: int, batch_size: int, device: torch.device, generator: torch.Generator, *, per_chunk: int = 1
) -> Iterator[torch.Tensor]:
    """Shuffled indices, ``per_chunk`` batches at a time; the last partial batch is dropped when there is at least
    one full one."""
    order = torch.randperm(n, device=device, generator=generator)
    steps = max(1, n // batch_size)
    for i in range(0, steps, per_chunk):
        yield order[i * batch_size : min(i + per_chunk, steps) * batch_size]


class Trainer:
    """Trains one network; ``profile=True`` synchronises around phases to time them (benchmarks only)."""

    def __init__(self, model: torch.nn.Module, view: InputView, hparams: HParams, *, device: torch.device, seed: int):
        self.model, self.view, self.hparams, self.device = model, view, hparams, device
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.host_rng = np.random.default_rng(seed)  # mixup ratios: drawn on the host, no sync
        self.optimizer = OPTIMIZERS[hparams.optimizer](list(model.parameters()), hparams)
        self.ema = Ema(model) if hparams.ema else None
        self.profile = False
        self.phase_seconds = {"data": 0.0, "augment": 0.0, "step": 0.0}

    def _mark(self, phase: str, since: float) -> float:
        if not self.profile:
            return since
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.phase_seconds[phase] += now - since
        return now

    def inputs(self, split: Split, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch's training batches (inputs, labels), ``augment_batches`` of them indexed and augmented per call."""
        per_chunk = augment_batches(self.device, batch_size, math.prod(split.images.shape[1:]))
        for index in _batches(len(split), batch_size, self.device, self.generator, per_chunk=per_chunk):
            t = self._mark("step", time.perf_counter()) if self.profile else 0.0
            x, y = split.images[index], split.labels[index]
            t = self._mark("data", t)
            x = self.view.train(x, self.generator)
            self._mark("augment", t)
            yield from zip(x.split(batch_size), y.split(batch_size), strict=True)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One update on a batch of network inputs ``x`` (from ``inputs``) and labels ``y``."""
        t = self._mark("step", time.perf_counter()) if self.profile else 0.0
        criterion = torch.nn.functional.cross_entropy
        with _autocast(self.device):
            if self.hparams.mixup > 0:
                lam = float(self.host_rng.beta(self.hparams.mixup, self.hparams.mixup))
                perm = torch.randperm(x.shape[0], device=self.device, generator=self.generator)
                out = self.model(lam * x + (1 - lam) * x[perm])
                loss = lam * criterion(out, y) + (1 - lam) * criterion(out, y[perm])
            else:
                loss = criterion(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self._mark("step", t)
        return loss.detach()

    def fit(self, split: Split, budget: Budget) -> Outcome:
        steps_per_epoch = max(1, len(split) // budget.batch_size)
        total, warmup = budget.epochs * steps_per_epoch, budget.warmup_epochs * steps_per_epoch
        schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, warmup_steps=warmup, total_steps=total)
        )
        bad = torch.zeros((), dtype=torch.bool, device=self.device)
        loss = torch.full((), math.nan, device=self.device)
        start, steps = time.perf_counter(), 0
        self.model.train()
        for epoch in range(budget.epochs):
            self.model.drop_path_prob = self.hparams.drop_path * epoch / budget.epochs  # type: ignore[assignment]
            for x, y in self.inputs(split, budget.batch_size):
                loss = self.step(x, y)
                schedule.step()
                steps += 1
                bad |= ~torch.isfinite(loss)
                if self.device.type != "cuda" and bool(bad):
                    break
            if bool(bad):  # one host sync per epoch on CUDA
                return Outcome(
                    None, True, steps, steps * budget.batch_size, time.perf_counter() - start, final_loss=float(loss)
                )
        seconds = time.perf_counter() - start
        return Outcome(
            None,
            False,
            steps,
            min(len(split), budget.batch_size) * steps,
            seconds,
            final_loss=float(loss),
            phase_seconds=self.phase_seconds,
        )

    @torch.inference_mode()
    def accuracy(self, split: Split, batch_size: int = 500) -> float:
        model = self.ema.model if self.ema is not None else self.model
        model.eval()
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        for i in range(0, len(split), batch_size):
            x = self.view.eval(split.images[i : i + batch_size])
            with _autocast(self.device):
                out = model(x)
            correct += (out.argmax(dim=1) == split.labels[i : i + batch_size]).sum()
        return int(correct) / max(1, len(split))
