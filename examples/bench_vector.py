"""Vector env evaluations per second: the pipeline path (before) and the token fast path (after), side by side.

    python examples/bench_vector.py
    python examples/bench_vector.py --cases nb201-cifar100:table --envs 24 1024 --seconds 2

For each task, backend and number of envs, one env per path steps the same random actions: the pipeline
path (``fast_path=False``: decode N pipelines, ``Evaluator.evaluate``, N full infos) and the fast path
with each info mode (``automl_env.vector``). A figure counts reset + step + the rewards and infos the step
returns, after a warm-up step, as the best of ``--repeats`` timings of ``--seconds`` each. Prints figures;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import automl_env

PATHS: dict[str, tuple[bool, str]] = {
    "before (pipeline path, full)": (False, "full"),
    "fast, full": (True, "full"),
    "fast, numeric": (True, "numeric"),
    "fast, arrays": (True, "arrays"),
}
"""Column -> (fast_path, infos). "full" is the vector env's default (what a search records)."""


def evaluations_per_second(
    task: str, backend: str, num_envs: int, *, fast_path: bool, infos: str, seconds: float, repeats: int
) -> float:
    env = automl_env.vector_env(task, num_envs=num_envs, backend=backend, fast_path=fast_path, infos=infos)
    rng = np.random.default_rng(0)
    nvecs = {a: env.action_space(a).nvec for a in env.possible_agents}
    actions = {a: rng.integers(0, nvec, size=(num_envs, len(nvec))) for a, nvec in nvecs.items()}
    env.reset()
    env.step(actions)  # warm-up: builds the backend's cached tables
    best = 0.0
    for _ in range(repeats):
        steps, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or steps == 0:
            env.reset()
            env.step(actions)
            steps += 1
        best = max(best, steps * num_envs / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["nb201-cifar100:table", "cifar100:synthetic-rugged"],
        help="task:backend pairs",
    )
    parser.add_argument("--envs", nargs="+", type=int, default=[24, 1024], help="numbers of envs")
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per figure; the best is kept")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at start")
    print(f"{'task':>16} {'backend':>16} {'envs':>5} " + " ".join(f"{name:>28}" for name in PATHS) + "  speed-up")
    for case in args.cases:
        task, _, backend = case.partition(":")
        for n in args.envs:
            rates = [
                evaluations_per_second(
                    task, backend, n, fast_path=fast, infos=infos, seconds=args.seconds, repeats=args.repeats
                )
                for fast, infos in PATHS.values()
            ]
            cells = " ".join(f"{rate:>28,.0f}" for rate in rates)
            print(f"{task:>16} {backend:>16} {n:>5} {cells}  {rates[-1] / rates[0]:>7.0f}x")
    print("evaluations/s (reset + step of N envs); speed-up: fast with array infos over the pipeline path")


if __name__ == "__main__":
    main()
