"""Throughput of real training on a pool of workers: evaluations per hour, aggregate images/s, peak memory.

    python examples/bench_throughput.py                                   # Fashion-MNIST, 1 and 2 CPU workers
    python examples/bench_throughput.py --device cuda --per-device 1 2 4 8   # k pipelines packed on each GPU

Each setting builds a ``PoolExecutor`` over the training backend at the task's search fidelity, warms every
worker up (dataset read onto its device, one short training: airbench's rule), then times ``--evaluations``
distinct pipelines (the task's default network and hyper-parameters with random augmentation policies, so
their costs are alike) submitted at once. Evaluations per hour is their number over the wall time; aggregate
images/s counts the training images of all of them over the same wall time; peak memory is the largest of
any worker (CUDA: max allocated by torch; CPU: the process's peak RSS).

On CPU the settings are ``--workers`` (each worker trains with ``--threads`` torch threads); with
``--device cuda`` they are ``--per-device`` k: k workers on each visible GPU, each capped at 1/k of its memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time
from collections.abc import Sequence

import numpy as np

from automl_env.backends.base import EvalResult, Fidelity
from automl_env.backends.training import TrainingBackend
from automl_env.executors import ExecutorBackend, ExecutorOptions
from automl_env.executors.options import cpu_cores
from automl_env.executors.pool import PoolExecutor
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task


@dataclasses.dataclass(frozen=True)
class Args:
    task: str = "fashion-mnist"
    """Task whose dataset, network space and search fidelity are used."""
    device: str = "cpu"
    """cpu, or cuda (every visible GPU; the workers are spread over them)."""
    workers: tuple[int, ...] = (1, 2)
    """CPU: the worker counts compared."""
    per_device: tuple[int, ...] = (1, 2, 4, 8)
    """CUDA: the pipelines packed per GPU compared (k workers per GPU, each with 1/k of its memory)."""
    evaluations: int = 6
    """Timed evaluations per setting, after the warm-up."""
    threads: int = 1
    """torch CPU threads of each worker's training (1: the default of examples/train_ma2ml.py)."""
    train_subset: int | None = None
    """Training images per evaluation (default: the search fidelity's); smaller only for a quick check."""
    data_root: str | None = None
    """Dataset folder (default: the task's usual places)."""


class MeasuredTrainingBackend(TrainingBackend):
    """The training backend, adding the worker's peak memory in MiB to each result's metrics."""

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        from automl_env.backends.training.deps import torch

        results = super().evaluate(pipelines, fidelity=fidelity, seed=seed)
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return [dataclasses.replace(r, metrics={**r.metrics, "peak_mib": peak}) for r in results]


def parse(argv: Sequence[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default=Args.task)
    parser.add_argument("--device", default=Args.device, choices=["cpu", "cuda"])
    parser.add_argument("--workers", type=int, nargs="+", default=list(Args.workers))
    parser.add_argument("--per-device", type=int, nargs="+", default=list(Args.per_device))
    parser.add_argument("--evaluations", type=int, default=Args.evaluations)
    parser.add_argument("--threads", type=int, default=Args.threads)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    if min(args.workers + args.per_device) < 1 or args.evaluations < 1 or args.threads < 1:
        parser.error("--workers, --per-device, --evaluations and --threads must be at least 1")
    if args.train_subset is not None and args.train_subset < 1:
        parser.error(f"--train-subset must be at least 1, got {args.train_subset}")
    return Args(**{**vars(args), "workers": tuple(args.workers), "per_device": tuple(args.per_device)})


def random_pipelines(task: TaskSpec, n: int, rng: np.random.Generator) -> list[Pipeline]:
    """The task's default pipeline with ``n`` random augmentation policies."""
    configs = dict(task.default_pipeline().modules)
    aug = task.modules["aug"]
    return [Pipeline.of({**configs, "aug": aug.decode(rng.integers(0, aug.nvec))}) for _ in range(n)]


def measure(
    backend: TrainingBackend, fidelity: Fidelity, *, workers: int, per_device: int, evaluations: int, seed: int
) -> dict[str, float]:
    """One setting: warm every worker up, then time ``evaluations`` evaluations submitted at once."""
    task, rng = backend.task, np.random.default_rng(seed)
    executor = PoolExecutor(backend, workers=workers, options=ExecutorOptions(per_device=per_device))
    batched = ExecutorBackend(backend, executor)
    try:
        warm = fidelity.with_(train_subset=4 * fidelity.batch_size, epochs=1, warmup_epochs=0)
        batched.evaluate(random_pipelines(task, workers, rng), fidelity=warm)  # one per idle worker: each warms up
        start = time.perf_counter()
        results = batched.evaluate(random_pipelines(task, evaluations, rng), fidelity=fidelity, seed=seed)
        wall = time.perf_counter() - start
    finally:
        executor.close()
    failed = [r.reason for r in results if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} evaluations failed: {failed[0]}")
    return {
        "wall_seconds": wall,
        "evaluations_per_hour": 3600 * len(results) / wall,
        "images_per_second": sum(r.metrics["train_images"] for r in results) / wall,
        "seconds_per_evaluation": float(np.mean([r.cost_seconds for r in results])),
        "peak_mib": max(r.metrics["peak_mib"] for r in results),
    }


def cpu_name() -> str:
    """The CPU's model name where Linux says it, for the report's header."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    task = get_task(args.task)
    backend = MeasuredTrainingBackend(task, data_root=args.data_root, device=args.device, num_threads=args.threads)
    gpus = backend.device.type == "cuda"
    from automl_env.backends.training.deps import torch

    count = torch.cuda.device_count() if gpus else 0
    where = f"{count} x {torch.cuda.get_device_name(0)}" if gpus else f"{cpu_cores()} cores of {cpu_name()}"
    fidelity = task.search_fidelity.with_(train_subset=args.train_subset or task.search_fidelity.train_subset)
    print(f"{task.name} at fidelity {fidelity.key} on {where}, torch {torch.__version__}")
    settings = [(count * k, k) for k in args.per_device] if gpus else [(w, 1) for w in args.workers]
    print("| workers | per GPU | evaluations/h | x first | images/s | s per evaluation | peak MiB per worker |")
    print("|---|---|---|---|---|---|---|")
    first = None
    for index, (workers, per_device) in enumerate(settings):
        row = measure(
            backend, fidelity, workers=workers, per_device=per_device, evaluations=args.evaluations, seed=index
        )
        first = first or row["evaluations_per_hour"]
        print(
            f"| {workers} | {per_device if gpus else '-'} | {row['evaluations_per_hour']:.0f} | "
            f"{row['evaluations_per_hour'] / first:.2f} | {row['images_per_second']:.0f} | "
            f"{row['seconds_per_evaluation']:.1f} | {row['peak_mib']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
