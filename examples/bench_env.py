"""Environment throughput: env steps/s (single env, pipeline mode) and batched evaluations/s.

    python examples/bench_env.py --task cifar100 --backend synthetic

Prints figures; nothing is asserted. Timings are taken after a warm-up.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import automl_env


def steps_per_second(task: str, backend: str, seconds: float) -> float:
    env = automl_env.parallel_env(task, backend=backend)
    rng = np.random.default_rng(0)
    batches = [{a: rng.integers(0, env.action_space(a).nvec) for a in env.possible_agents} for _ in range(256)]
    env.reset(seed=0)
    env.step(batches[0])  # warm-up
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset()
        env.step(batches[steps % len(batches)])
        steps += 1
    return steps / (time.perf_counter() - start)


def vector_evaluations_per_second(task: str, backend: str, num_envs: int, seconds: float) -> float:
    env = automl_env.vector_env(task, num_envs=num_envs, backend=backend)
    rng = np.random.default_rng(0)
    actions = {
        a: rng.integers(0, env.action_space(a).nvec, size=(num_envs, len(env.action_space(a).nvec)))
        for a in env.possible_agents
    }
    env.reset(seed=0)
    env.step(actions)  # warm-up
    evaluations, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset()
        env.step(actions)
        evaluations += num_envs
    return evaluations / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cifar100", choices=automl_env.list_tasks())
    parser.add_argument("--backend", default="synthetic")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    args = parser.parse_args()
    print(f"task={args.task} backend={args.backend}")
    print(f"  single env, pipeline mode: {steps_per_second(args.task, args.backend, args.seconds):,.0f} env steps/s")
    for n in (24, 1024):
        rate = vector_evaluations_per_second(args.task, args.backend, n, args.seconds)
        print(f"  vector env, {n} envs:    {rate:,.0f} pipeline evaluations/s (validate + decode + evaluate)")


if __name__ == "__main__":
    main()
