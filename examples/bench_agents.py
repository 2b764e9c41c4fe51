"""Time the agents' own cost on the CIFAR action spaces: act(24) and one update on a batch of 24.

    python examples/bench_agents.py [--repeats 20] [--threads 1] [--algorithms ma2ml ma2ml_lite]

The paper's point (METHOD.md, "Search cost") is that the agents' updates are negligible next to training a
pipeline; the target here is well under 100 ms per MA2ML update on a laptop-class CPU. Timings are
medians taken after a warm-up call; process CPU time is printed next to wall time because a shared machine
inflates the latter. The spaces are built directly (no automl_env import): AUG is 5 sub-policies x 2
operations x (type 15, probability 11, magnitude 10); NAS two cells of 5 blocks (input 2+b, op 13, input
2+b, op 13, combiner 2); HPO 20 tokens of 4 values.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from gymnasium import spaces

from ma2ml_agents import ALGORITHMS, JointActionSpace, make_algorithm


def cifar_space() -> JointActionSpace:
    """The three CIFAR agents' MultiDiscrete spaces (30, 50 and 20 tokens)."""
    nas_cell = [n for b in range(5) for n in (2 + b, 13, 2 + b, 13, 2)]
    return JointActionSpace.from_spaces(
        {
            "aug": spaces.MultiDiscrete([15, 11, 10] * 10),
            "nas": spaces.MultiDiscrete(nas_cell * 2),
            "hpo": spaces.MultiDiscrete([4] * 20),
        }
    )


def _median_ms(function: object, repeats: int) -> tuple[float, float]:
    """Median wall-clock and process-CPU milliseconds per call (CPU time is what a busy machine distorts least)."""
    function()  # type: ignore[operator]  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()  # type: ignore[operator]
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--batch", type=int, default=24, help="joint actions per batch (paper: 24)")
    parser.add_argument("--algorithms", nargs="*", default=sorted(ALGORITHMS), help="registered names")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space = cifar_space()
    agents = dict(zip(space.agents, space.num_tokens, strict=True))
    print(f"CIFAR joint space: {space.total_tokens} tokens, agents {agents}")
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, median of {args.repeats}")
    rewards = np.random.default_rng(0).uniform(0.5, 0.9, args.batch)
    for name in args.algorithms:
        algorithm = make_algorithm(name, space, seed=0)
        actions = algorithm.act(args.batch)
        for _ in range(3):  # fill a replay buffer a little, as in a running search
            algorithm.update(algorithm.act(args.batch), rewards)
        act_ms = _median_ms(lambda a=algorithm: a.act(args.batch), args.repeats)
        update_ms = _median_ms(lambda a=algorithm, x=actions: a.update(x, rewards), args.repeats)
        print(
            f"{name:16s} act({args.batch}) {act_ms[0]:7.1f} ms wall {act_ms[1]:7.1f} ms cpu   "
            f"update({args.batch}) {update_ms[0]:7.1f} ms wall {update_ms[1]:7.1f} ms cpu"
        )


if __name__ == "__main__":
    main()
