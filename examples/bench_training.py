"""Benchmark the training backend: seconds per evaluation, images/s, augmentation share, peak memory.

    python examples/bench_training.py                                  # Fashion-MNIST on CPU
    python examples/bench_training.py --task cifar100 --device cuda --synthetic   # CIFAR-shaped tensors, GPU

Timings follow a warm-up evaluation (airbench's rule). Each timed evaluation trains a pipeline with
a random augmentation policy (so every operation's cost is in the figure) at the given fidelity;
a final profiled evaluation synchronises around the phases to split step time into data handling
(indexing the on-device uint8 tensors), augmentation (crop/flip/policy/normalise) and the
forward/backward/optimiser step. A small batch's augmentation on a GPU costs what it launches, so the last line
counts the tensor operations (views left out) the batched augmenter dispatches per batch, over random policies: on
CUDA the inputs of up to 16 batches are augmented in one call (``--augment-batches``), which divides that count.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import resource
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from automl_env.backends.base import EvalResult, Fidelity
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task

if TYPE_CHECKING:
    import torch


@dataclasses.dataclass(frozen=True)
class Args:
    task: str = "fashion-mnist"
    """Task whose dataset, network space and search fidelity are used."""
    device: str | None = None
    """cpu, cuda, cuda:1 ...; default: cuda when available."""
    synthetic: bool = False
    """Train on random uint8 tensors of the task's shape (50k training, 10k test images) instead of its dataset."""
    epochs: int = 1
    train_subset: int | None = 4000
    cells: int = 3
    channels: int = 8
    batch_size: int = 64
    repeats: int = 2
    """Timed evaluations after the warm-up."""
    threads: int | None = 1
    """torch CPU threads during training (1 is fastest on a busy shared CPU)."""
    data_root: str | None = None
    augment_batches: int | None = None
    """On CUDA, batches indexed and augmented per call (default: the library's CUDA_AUGMENT_BATCHES; 1 for the
    batch-by-batch inputs of before, to compare on the same GPU)."""


def _optional_int(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def parse() -> Args:
    """CLI flags from the Args fields (their docstrings are the help in the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true")
        elif "int" in str(f.type):
            parser.add_argument(flag, type=_optional_int, default=f.default)
        else:
            parser.add_argument(flag, type=str, default=f.default)
    return Args(**vars(parser.parse_args()))


def synthetic_task(base: TaskSpec) -> TaskSpec:
    """The task with its dataset replaced by random tensors of its shape (speed only, accuracy meaningless)."""
    from automl_env.backends.training.datasets import READERS, RawDataset

    shape, classes = (base.in_channels, base.image_size, base.image_size), base.num_classes

    def read(_config: object) -> RawDataset:
        rng = np.random.default_rng(0)
        return RawDataset(
            rng.integers(0, 256, (50_000, *shape), dtype=np.uint8),
            rng.integers(0, classes, 50_000).astype(np.int64),
            rng.integers(0, 256, (10_000, *shape), dtype=np.uint8),
            rng.integers(0, classes, 10_000).astype(np.int64),
            num_classes=classes,
        )

    dataset = f"{base.dataset}-synthetic"
    READERS[dataset] = read
    return dataclasses.replace(base, name=f"{base.name}-synthetic", dataset=dataset)


def random_pipeline(task: TaskSpec, rng: np.random.Generator) -> Pipeline:
    """Random augmentation policy, the task's default architecture and hyper-parameters."""
    configs = dict(task.default_pipeline().modules)
    configs["aug"] = task.modules["aug"].decode(rng.integers(0, task.modules["aug"].nvec))
    return Pipeline.of(configs)


def main() -> None:
    args = parse()
    from automl_env.backends.training import TrainingBackend, loop
    from automl_env.backends.training.deps import torch

    if args.augment_batches is not None:
        loop.CUDA_AUGMENT_BATCHES = args.augment_batches

    task = synthetic_task(get_task(args.task)) if args.synthetic else get_task(args.task)
    fidelity = Fidelity(epochs=args.epochs, train_subset=args.train_subset, cells=args.cells, channels=args.channels,
                        batch_size=args.batch_size, warmup_epochs=0)  # fmt: skip
    backend = TrainingBackend(task, data_root=args.data_root, device=args.device, num_threads=args.threads)
    start = time.perf_counter()
    data = backend.data
    print(f"task {task.name} on {backend.device}: {len(data.train)} train / {len(data.val)} val images, "
          f"loaded in {time.perf_counter() - start:.1f} s; fidelity {fidelity.key}")  # fmt: skip
    per_call = loop.augment_batches(backend.device, args.batch_size, math.prod(data.train.images.shape[1:]))
    print(f"inputs indexed and augmented {per_call} batch(es) per call")
    rng = np.random.default_rng(0)
    backend.evaluate([random_pipeline(task, rng)], fidelity=fidelity.with_(train_subset=4 * args.batch_size))  # warm-up
    if backend.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(backend.device)
    results = [
        backend.evaluate([random_pipeline(task, rng)], fidelity=fidelity, seed=i)[0] for i in range(args.repeats)
    ]
    backend.profile = True
    profiled = backend.evaluate([random_pipeline(task, rng)], fidelity=fidelity, seed=99)[0]
    report(results, profiled, backend.device)
    shape = (per_call * args.batch_size, *data.train.images.shape[1:])
    ops = augment_ops(task, shape, backend.device, rng)
    print(f"augmentation ops/batch   {ops / per_call:.1f} ({ops:.1f} a call of {per_call}; mean of 20 random policies)")


def augment_ops(task: TaskSpec, shape: tuple[int, ...], device: torch.device, rng: np.random.Generator) -> float:
    """Mean tensor operations (views left out) one batch of ``shape`` costs the augmenter of a random policy."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from automl_env.backends.training.augment import PolicyAugmenter
    from automl_env.backends.training.deps import torch

    class Count(TorchDispatchMode):
        ops = 0

        def __torch_dispatch__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
        ) -> Any:
            self.ops += not func.is_view
            return func(*args, **(kwargs or {}))

    aug = task.modules["aug"]
    x = torch.rand(shape, device=device) * 255
    counts = []
    for seed in range(20):
        augmenter = PolicyAugmenter(aug.decode(rng.integers(0, aug.nvec)), device)
        with Count() as count:
            augmenter(x, torch.Generator(device=device).manual_seed(seed))
        counts.append(count.ops)
    return float(np.mean(counts))


def report(results: list[EvalResult], profiled: EvalResult, device: torch.device) -> None:
    from automl_env.backends.training.deps import torch

    for r in [*results, profiled]:
        if not r.ok:
            print(f"failed evaluation: {r.reason}")
    mean = {key: float(np.mean([r.metrics[key] for r in results])) for key in ("train_seconds", "eval_seconds")}
    m = profiled.metrics
    phases = m["data_seconds"] + m["augment_seconds"] + m["step_seconds"]
    if device.type == "cuda":
        peak = f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB GPU (max allocated)"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB process RSS (max)"
    seconds = np.mean([r.cost_seconds for r in results])
    split = f"train {mean['train_seconds']:.2f}, validate {mean['eval_seconds']:.2f}"
    print(f"seconds per evaluation   {seconds:.2f} ({split})")
    print(f"training images/s        {np.mean([r.metrics['images_per_second'] for r in results]):.0f}")
    shares = {name: m[f"{name}_seconds"] / phases for name in ("data", "augment", "step")}
    print(
        f"share of step time       data {shares['data']:.1%}, augmentation {shares['augment']:.1%}, "
        f"forward/backward/update {shares['step']:.1%} (profiled run, synchronised)"
    )
    print(f"peak memory              {peak}")
    print(f"validation accuracy      {', '.join(f'{r.accuracy:.3f}' for r in results)}")


if __name__ == "__main__":
    main()
