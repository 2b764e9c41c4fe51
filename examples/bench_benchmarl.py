"""BenchMARL MAPPO per 1,008 evaluations: pipeline mode on the native env against token mode through the wrapper.

    pip install "automl-env[interop]"
    python examples/bench_benchmarl.py                                  # nb201-cifar100-nodes, 1,008 evaluations
    python examples/bench_benchmarl.py --task cifar100 --backend synthetic-rugged --evaluations 120

Both rows are the benchmark's own MARL runner (``baselines.marl.run_benchmarl``, BenchMARL's defaults but for what
the budget forces, every evaluation recorded in a run folder) on the same task, budget (``--evaluations`` in
batches of 24) and seed, one after the other in this process with one torch thread:

- ``token, wrapper``: ``benchmarl_mappo``, token mode through TorchRL's ``PettingZooWrapper`` (one env per
  episode in a ``SerialEnv`` of 24, an episode as many steps as the widest module has tokens);
- ``pipeline, native``: ``benchmarl_mappo_pipeline``, ``TorchRLAutoMLEnv(layout="tokens")`` (one step per
  pipeline, 24 pipelines per step on the vector env's token fast path).

A frame is one env step of one episode (BenchMARL's count): a token in token mode, a pipeline in pipeline mode,
so evaluations/s is the figure to compare. Wall time includes BenchMARL's training (its default 45 PPO epochs
per batch), which the env cannot speed up; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

PATHS = {"token, wrapper": "benchmarl_mappo", "pipeline, native": "benchmarl_mappo_pipeline"}
BATCH_SIZE = 24


def run_once(name: str, *, task: str, backend: str, batches: int, seed: int) -> tuple[float, float, int]:
    """Wall seconds, BenchMARL frames and evaluations of one run of MARL runner ``name``."""
    from baselines.marl import MARL_ALGORITHMS

    spec = MARL_ALGORITHMS[name]
    with tempfile.TemporaryDirectory(prefix="bench_benchmarl_") as out:
        start = time.perf_counter()
        result = spec.run(
            task=task,
            backend=backend,
            backend_options={},
            batches=batches,
            batch_size=BATCH_SIZE,
            top_k=30,
            out_dir=out,
            seed=seed,
            config=spec.config,
            name=name,
        )
        wall = time.perf_counter() - start
        stats = json.loads((Path(out) / "history.json").read_text())["update_stats"][-1]
    return wall, float(stats["frames"]), result.evaluations


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="nb201-cifar100-nodes")
    parser.add_argument("--backend", default="table")
    parser.add_argument("--evaluations", type=int, default=1008, help="a multiple of 24 (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.evaluations < BATCH_SIZE or args.evaluations % BATCH_SIZE:
        parser.error(f"--evaluations must be a positive multiple of {BATCH_SIZE}, got {args.evaluations}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at start; {args.task} ({args.backend})")
    print(f"{'path':>18} {'evaluations':>11} {'frames':>8} {'wall s':>8} {'frames/s':>9} {'evals/s':>8} {'s/1,008':>8}")
    for label, name in PATHS.items():
        wall, frames, evaluations = run_once(
            name, task=args.task, backend=args.backend, batches=args.evaluations // BATCH_SIZE, seed=args.seed
        )
        per_1008 = wall * 1008 / evaluations
        print(
            f"{label:>18} {evaluations:>11,} {frames:>8,.0f} {wall:>8.1f} {frames / wall:>9,.1f} "
            f"{evaluations / wall:>8,.1f} {per_1008:>8.1f}"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load {load:.1f} at end")


if __name__ == "__main__":
    main()
