"""Random TorchRL rollouts of padded pipeline mode: the native batched env against the PettingZoo wrapper.

    pip install "automl-env[interop]"
    python examples/bench_torchrl_env.py

One frame is one pipeline evaluated (an episode is one step). The wrapper path is TorchRL's
``PettingZooWrapper`` around ``parallel_env(action_mode="padded")`` with every agent in one group (one
pipeline per TorchRL step); the native path is ``TorchRLAutoMLEnv`` with ``num_envs`` pipelines per step on
the vector env's token fast path. Both step random actions (``env.rand_action``, then
``step_and_maybe_reset`` as TorchRL's collectors do) for at least ``--seconds`` after a warm-up step, with one
torch thread; frames/s are printed side by side, nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any


def frames_per_second(env: Any, frames_per_step: int, seconds: float) -> float:
    """Random actions, step and reset (``step_and_maybe_reset``, what collectors call), nothing stored."""
    td = env.reset()
    _, td = env.step_and_maybe_reset(env.rand_action(td))  # warm-up
    frames, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or frames == 0:
        _, td = env.step_and_maybe_reset(env.rand_action(td))
        frames += frames_per_step
    return frames / elapsed


def wrapper_env(task: str, backend: str) -> Any:
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    import automl_env
    from automl_env.wrappers import NumericInfos

    env = automl_env.parallel_env(task, backend=backend, action_mode="padded")
    group_map = {"modules": list(env.possible_agents)}
    return PettingZooWrapper(
        env=NumericInfos(env), group_map=group_map, use_mask=True, categorical_actions=True, return_state=True
    )


def main() -> None:
    import torch

    from automl_env.torchrl_env import TorchRLAutoMLEnv

    torch.set_num_threads(1)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["nb201-cifar100-nodes:table", "cifar100:synthetic-rugged"])
    parser.add_argument("--envs", nargs="+", type=int, default=[24, 1024], help="batch sizes of the native env")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at start")
    print(f"{'task':>22} {'backend':>16} {'env':>24} {'frames/s':>10}")
    for case in args.cases:
        task, _, backend = case.partition(":")
        rate = frames_per_second(wrapper_env(task, backend), 1, args.seconds)
        print(f"{task:>22} {backend:>16} {'PettingZoo wrapper':>24} {rate:>10,.0f}")
        for n in args.envs:
            rate = frames_per_second(TorchRLAutoMLEnv(task, num_envs=n, backend=backend), n, args.seconds)
            print(f"{task:>22} {backend:>16} {f'native, {n} envs':>24} {rate:>10,.0f}")


if __name__ == "__main__":
    main()
