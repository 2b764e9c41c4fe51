"""The GPU check of shared/GPU.md in one command: CUDA tests, training throughput, packed pipelines per GPU.

    python examples/gpu_check.py --out gpu_check --data-root data          # on the GPU machine
    python examples/gpu_check.py --tiny --out /tmp/gpu_check                 # on CPU: the same steps, tiny

Steps, each a subprocess with its own log and time limit, so one that fails or overruns leaves the others'
figures:

1. ``cuda_tests``: ``pytest -m gpu`` over the test files that hold GPU tests.
2. ``training``: ``examples/bench_training.py --synthetic`` on CIFAR-shaped tensors (cifar100's network at
   the search fidelity's cells, channels and batch size; ``--epochs`` epochs over ``--train-subset`` images):
   seconds per evaluation, images/s, the augmentation's share of step time, peak memory.
3. ``training_batchwise``: the same with ``--augment-batches 1 --repeats 1``: the inputs augmented one batch a
   call, as before the loop took 16 on CUDA, for the augmentation's share before and after on the same GPU.
4. ``packed``: ``examples/bench_throughput.py --per-device 1 2 4 8`` on Fashion-MNIST (``--data-root``):
   aggregate images/s and evaluations per hour with k pipelines packed on the GPU, against k = 1.

``--out`` receives ``summary.md`` (each step's command, exit status, wall time and the tail of its log),
``summary.json`` and one log per step: 6 files, within the GPU machine's 8. ``--tiny`` runs the same steps
on CPU with budgets of seconds, the training step on Fashion-MNIST from ``--data-root`` instead of
CIFAR-shaped tensors (the suite runs it: tests/test_gpu_check.py); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    timeout: float


def steps(args: argparse.Namespace) -> list[Step]:
    """The check's steps; ``--tiny`` swaps the device and the budgets, never the steps."""
    python, examples = sys.executable, ROOT / "examples"
    gpu_tests = sorted(str(p) for p in (ROOT / "tests").glob("test_*.py") if "mark.gpu" in p.read_text())
    data = ["--data-root", args.data_root] if args.data_root else []
    tests = args.tests_timeout
    if args.tiny:  # Fashion-MNIST from --data-root: validating on 5,000 CIFAR-shaped images is minutes on a busy CPU
        device, training = "cpu", ["--train-subset", "64", "--batch-size", "16", "--repeats", "1", "--epochs", "1"]
        training = ["--task", "fashion-mnist", *data, *training]
        packed = ["--device", "cpu", "--workers", "1", "--evaluations", "1", "--train-subset", "64"]
    else:
        # cifar100's search fidelity has 8 cells, 16 channels, batch 128 (automl_env.tasks.CIFAR_SEARCH).
        training = ["--cells", "8", "--channels", "16", "--batch-size", "128", "--repeats", "2"]
        training += ["--epochs", str(args.epochs), "--train-subset", str(args.train_subset)]
        device = "cuda"
        training = ["--task", "cifar100", "--synthetic", *training]
        packed = ["--device", "cuda", "--per-device", "1", "2", "4", "8", "--evaluations", str(args.evaluations)]
    training_command = [python, str(examples / "bench_training.py"), "--device", device, *training]
    return [
        Step("cuda_tests", [python, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *gpu_tests], tests),
        Step("training", training_command, args.step_timeout),
        Step(
            "training_batchwise",
            [*training_command, "--augment-batches", "1", "--repeats", "1"],  # the last --repeats wins
            args.step_timeout,
        ),
        Step("packed", [python, str(examples / "bench_throughput.py"), *packed, *data], args.step_timeout),
    ]


def run_step(step: Step, out: Path) -> dict[str, object]:
    """Run one step, its output in ``out/<name>.log``; its exit status (None: timed out) and wall time."""
    log = out / f"{step.name}.log"
    start = time.perf_counter()
    with log.open("w") as handle:
        handle.write("$ " + " ".join(step.command) + "\n")
        handle.flush()
        try:
            code: int | None = subprocess.run(
                step.command, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT, timeout=step.timeout, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
    seconds = time.perf_counter() - start
    tail = log.read_text().splitlines()[1:][-25:]  # the first line is the command
    return {"name": step.name, "command": step.command, "exit": code, "seconds": round(seconds, 1), "tail": tail}


def write_summary(results: list[dict[str, object]], out: Path, *, tiny: bool) -> None:
    (out / "summary.json").write_text(json.dumps({"tiny": tiny, "steps": results}, indent=2))
    lines = [f"# GPU check{' (tiny, CPU: figures mean nothing)' if tiny else ''}", ""]
    for result in results:
        status = "timed out" if result["exit"] is None else f"exit {result['exit']}"
        lines += [f"## {result['name']}: {status}, {result['seconds']} s", "", "```"]
        command = "$ " + " ".join(map(str, result["command"]))  # type: ignore[call-overload]
        lines += [command, *map(str, result["tail"]), "```", ""]  # type: ignore[call-overload]
    (out / "summary.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for summary.md, summary.json and the logs")
    parser.add_argument("--tiny", action="store_true", help="CPU, budgets of seconds: checks the wiring only")
    parser.add_argument("--data-root", default=None, help="folder holding FashionMNIST/raw (the packed step)")
    parser.add_argument("--epochs", type=int, default=2, help="training step: epochs per evaluation")
    parser.add_argument("--train-subset", type=int, default=50_000, help="training step: images per epoch")
    parser.add_argument("--evaluations", type=int, default=8, help="packed step: evaluations per k")
    # 150 + 3 x 140 s = 570 s: under the GPU machine's 600 s per command (the 2026-12-04 check's three steps took
    # 223 and 341 s in all).
    parser.add_argument("--tests-timeout", type=float, default=150.0, help="seconds the CUDA tests may run")
    parser.add_argument("--step-timeout", type=float, default=140.0, help="seconds each benchmark step may run")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for step in steps(args):
        results.append(run_step(step, out))
        write_summary(results, out, tiny=args.tiny)  # after each step: an overrun later keeps what is done
        print(f"{step.name}: exit {results[-1]['exit']} in {results[-1]['seconds']} s", flush=True)
    return 0 if all(result["exit"] == 0 for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
