"""DHA's one-level loop (Zhou et al., TMLR 2022; PEERS.md): one network trained while tau, b and eta learn.

Per step, on one augmented training batch B at theta^t (no validation split, "one-level"):

    pairs ~ q(tau);  x~ = pairs(x);  l = CE(f(x~; theta, w(b)), y) per image    (only support ops run)
    tau <- SGD-momentum step on L_DA = -mean_k P[c_k] sg(l_k)                   (policy.py)
    (g_theta, g_b) = grad mean(l);  b <- Adam(g_b);  theta <- clipped momentum SGD with (lr, wd) = eta
    eta <- LogAdam on the one-step hypergradient of CE on a clean training batch B'   (hypergrad.py)

Every ``resolve_every`` steps (the ISTA-NAS code: every epoch) the LASSO is re-solved (coding.py); a node
whose alpha moved by <= 1e-3 freezes with its Eq. 7 weights; after ``search_fraction`` of the steps any
unfrozen node is frozen (ours: the tiny budget may end before alpha settles) and the TUNE phase continues
theta, tau and eta on the fixed cell. The returned model is the one trained here: no retraining, DHA's
claim. Its test accuracy is measured with batch statistics in BatchNorm (the supernet has no running
statistics, PEERS.md G4).

Settings the paper does not give, ours: batch 64; b's Adam(3e-4, betas (0.5, 0.999), wd 1e-3) and the
gradient clip 5 from the ISTA-NAS code; tau's rate 0.002 (times K^2 = 196; 0.05 collapsed P onto one
pair within 60 steps, see policy.py); eta starts at the task's default (lr 0.08, wd 4e-4), bounded by its
HPO grid ([0.02, 0.16], [1e-4, 8e-4]), with log-rate 0.01; no size cap (every NB201 cell fits). Not
done: DHA's auxiliary head and drop path (absent from the NB201
network). DiffAutoML (the earlier version) differs: a DSNAS single-path ShuffleNet space with a sampled
one-hot Z instead of ISTA, eta on a held-out validation split, weight decay only, order tau -> alpha ->
theta -> eta; this implements DHA.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from automl_env.backends.training.augment import random_crop_flip
from automl_env.backends.training.data import load_device_data
from automl_env.backends.training.datasets import CROP_PADDING, DataConfig
from automl_env.backends.training.deps import torch
from automl_env.backends.training.views import InputView
from automl_env.backends.weight_sharing.supernet import NB201Supernet
from automl_env.modules.nb201 import NB201Cell
from automl_env.tasks import TaskSpec, get_task
from baselines.dha.coding import ArchitectureCode
from baselines.dha.hypergrad import LogAdam, hypergradient, sgd_step, stepped
from baselines.dha.policy import DHA_OPERATIONS, K, PairAugmenter, entropy, pair_policy_loss, sample_pairs


@dataclass(frozen=True)
class DHAConfig:
    steps: int = 200
    """Training steps of the whole run (search and tune): DHA's budget. The commands give it one step per
    evaluation of their budget (``baselines.dha.command``)."""
    batch_size: int = 64
    search_fraction: float = 0.5
    """Fraction of the steps after which every node is frozen."""
    resolve_every: int = 20
    """Steps between LASSO re-solves (the code: one epoch)."""
    tau_lr: float = 0.002
    eta_rate: float = 0.01
    lr_bounds: tuple[float, float] = (0.02, 0.16)
    wd_bounds: tuple[float, float] = (1e-4, 8e-4)
    initial_lr: float = 0.08
    initial_wd: float = 4e-4
    clip: float = 5.0


@dataclass(frozen=True)
class DHAResult:
    test_accuracy: float
    cell: tuple[str, ...]
    lr: float
    weight_decay: float
    policy_entropy: float
    seconds: float
    frozen_at: list[int]
    top_pairs: tuple[tuple[str, str, float], ...] = ()
    """The most probable ordered pairs of the final policy P, (first, second, probability), most probable first
    (up to ``TOP_PAIRS``): what ``baselines.dha.answer`` projects onto a task's AUG module."""


TOP_PAIRS = 25
"""Pairs kept in ``DHAResult.top_pairs``: enough for the largest AUG module (25 sub-policies, ImageNet-200)."""
CURVE = "curve.csv"
"""Per-step record of a run (``out_dir``): step, training loss of the augmented batch, lr, wd, policy entropy."""


def run_dha(
    task: TaskSpec | str,
    *,
    seed: int,
    config: DHAConfig = DHAConfig(),
    data_root: str | Path | None = None,
    out_dir: str | Path | None = None,
    download: bool = True,
) -> DHAResult:
    """Run DHA on ``task``'s data at its final network shape; write ``result.json`` to ``out_dir`` if given."""
    task = get_task(task)
    if not isinstance(task.architecture(task.default_pipeline()), NB201Cell):
        raise ValueError(f"DHA here searches a NAS-Bench-201 cell; task {task.name!r} has another architecture")
    device = torch.device("cpu")
    data = load_device_data(
        task.dataset, DataConfig(root=Path(data_root) if data_root is not None else None, download=download), device
    )
    shape = task.final_fidelity
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = NB201Supernet(
            num_classes=data.num_classes, in_channels=data.in_channels, cells=shape.cells, channels=shape.channels
        )
    code = ArchitectureCode(generator)
    code.recover()
    view = InputView(
        None, mean=data.mean, std=data.std, stored_size=data.image_size, input_size=data.image_size,
        padding=CROP_PADDING.get(task.dataset, 2), device=device,
    )  # fmt: skip
    tau = torch.nn.Parameter(torch.zeros(K, K))
    loop = _Loop(model, code, tau, view, PairAugmenter(device), config, generator)
    start = time.perf_counter()
    train = data.train.head(shape.train_subset)
    for step in range(config.steps):
        loop.step(train, search=step < config.search_fraction * config.steps)
        if step < config.search_fraction * config.steps and (step + 1) % config.resolve_every == 0:
            code.recover()
            loop.note_frozen(step)
    for k in range(len(code.frozen)):
        if not code.frozen[k]:
            code.freeze(k)
            loop.note_frozen(config.steps)
    seconds = time.perf_counter() - start
    result = DHAResult(
        test_accuracy=loop.accuracy(data.test),
        cell=code.cell(),
        lr=loop.lr.value,
        weight_decay=loop.wd.value,
        policy_entropy=entropy(tau),
        seconds=seconds,
        frozen_at=loop.frozen_at,
        top_pairs=top_pairs(tau),
    )
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        payload = {"task": task.name, "seed": seed, "config": asdict(config), "result": asdict(result)}
        (folder / "result.json").write_text(json.dumps(payload, indent=2) + "\n")
        _write_curve(folder / CURVE, loop.curve)
    return result


def top_pairs(tau: Any, k: int = TOP_PAIRS) -> tuple[tuple[str, str, float], ...]:
    """The ``k`` most probable ordered pairs of P = softmax(vec tau), ties broken by pair index."""
    p = torch.softmax(tau.detach().flatten(), dim=0).tolist()
    order = sorted(range(len(p)), key=lambda j: (-p[j], j))[:k]
    return tuple((DHA_OPERATIONS[j // K], DHA_OPERATIONS[j % K], p[j]) for j in order)


def _write_curve(path: Path, rows: list[dict[str, float]]) -> None:
    columns = ["step", "train_loss", "lr", "weight_decay", "policy_entropy"]
    lines = [",".join(columns)] + [",".join(f"{row[c]:.6g}" for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")


class _Loop:
    """The state one DHA step updates (module docstring)."""

    def __init__(
        self,
        model: Any,
        code: ArchitectureCode,
        tau: Any,
        view: InputView,
        augmenter: Any,
        config: DHAConfig,
        generator: Any,
    ) -> None:
        self.model, self.code, self.tau, self.view, self.augmenter = model, code, tau, view, augmenter
        self.config, self.generator = config, generator
        self.tau_opt = torch.optim.SGD([tau], lr=config.tau_lr * K * K, momentum=0.9)
        self.b_opt = torch.optim.Adam(code.b, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        self.lr = LogAdam(config.initial_lr, low=config.lr_bounds[0], high=config.lr_bounds[1], rate=config.eta_rate)
        self.wd = LogAdam(config.initial_wd, low=config.wd_bounds[0], high=config.wd_bounds[1], rate=config.eta_rate)
        self.buffers: dict[int, torch.Tensor] = {}
        self.frozen_at: list[int] = []
        self.curve: list[dict[str, float]] = []

    def note_frozen(self, step: int) -> None:
        self.frozen_at += [step] * (sum(self.code.frozen) - len(self.frozen_at))

    def _batch(self, split: Any) -> tuple[Any, Any]:
        index = torch.randint(0, len(split), (self.config.batch_size,), generator=self.generator)
        return split.images[index], split.labels[index]

    def step(self, split: Any, *, search: bool) -> None:
        images, labels = self._batch(split)
        pairs = sample_pairs(self.tau, len(labels), self.generator)
        x = random_crop_flip(images.float(), self.view.padding, self.generator)  # the base transforms
        x = self.view.eval(self.augmenter.apply_pairs(x, pairs, self.generator))  # policy, then normalise
        ops = self.code.cell()
        out = self.model(x, ops, self.code.edge_scales())
        losses = torch.nn.functional.cross_entropy(out, labels, reduction="none")
        self.tau_opt.zero_grad()
        pair_policy_loss(self.tau, pairs, losses).backward(inputs=[self.tau])
        self.tau_opt.step()
        self.model.zero_grad(set_to_none=True)
        self.b_opt.zero_grad(set_to_none=True)
        losses.mean().backward()
        if search:
            self.b_opt.step()
        params = list(self.model.parameters())
        torch.nn.utils.clip_grad_norm_(stepped(params), self.config.clip)
        lr = self.lr.value
        taken_wd = self.wd.value
        taken = sgd_step(params, self.buffers, lr=lr, weight_decay=taken_wd)
        clean_images, clean_labels = self._batch(split)
        moved = [p for p in params if p.grad is not None]
        out = self.model(self.view.eval(clean_images), ops, self.code.edge_scales().detach())
        clean = torch.nn.functional.cross_entropy(out, clean_labels)
        found = torch.autograd.grad(clean, moved, allow_unused=True)
        new_grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(found, moved, strict=True)]
        d_lr, d_wd = hypergradient(new_grads, taken, lr=lr)
        self.lr.step(d_lr)
        self.wd.step(d_wd)
        self.curve.append(
            {"step": len(self.curve), "train_loss": float(losses.detach().mean()), "lr": lr,
             "weight_decay": taken_wd, "policy_entropy": entropy(self.tau)}
        )  # fmt: skip

    @torch.no_grad()
    def accuracy(self, split: Any, batch_size: int = 500) -> float:
        ops, scales = self.code.cell(), self.code.edge_scales().detach()
        correct = 0
        for i in range(0, len(split), batch_size):
            out = self.model(self.view.eval(split.images[i : i + batch_size]), ops, scales)
            correct += int((out.argmax(dim=1) == split.labels[i : i + batch_size]).sum())
        return correct / max(1, len(split))
