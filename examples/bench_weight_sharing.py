"""Noise and drift of the weight-sharing backend's reward on fashion-mnist-nb201 (docs/peers.md).

    python examples/bench_weight_sharing.py --steps 150 --checkpoints 3 --pipelines 5 --repeats 5

Trains one supernet by ``--steps`` evaluations of uniformly drawn pipelines; at ``--checkpoints`` evenly
spaced times it scores ``--pipelines`` fixed random pipelines ``--repeats`` times each with ``score`` (a
temporary step on a fresh training batch, one validation batch, no shared training). Prints, per
checkpoint: the mean reward (drift: how the same pipelines' rewards move as the shared weights train),
the within-pipeline SD (noise of one reward at fixed weights) and the between-pipeline SD of the
pipelines' mean rewards (the signal a search has to rank on).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--checkpoints", type=int, default=3)
    parser.add_argument("--pipelines", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from automl_env.backends.weight_sharing import WeightSharingBackend
    from automl_env.pipeline import Pipeline
    from automl_env.tasks import get_task

    torch.set_num_threads(1)
    task = get_task("fashion-mnist-nb201")
    backend = WeightSharingBackend(task, download=False, seed=args.seed, train_policy="uniform")
    rng = np.random.default_rng(args.seed + 1)
    fixed = [
        Pipeline.of({n: s.decode(rng.integers(0, s.nvec)) for n, s in task.modules.items()})
        for _ in range(args.pipelines)
    ]
    marks = [round(i * args.steps / (args.checkpoints - 1)) for i in range(args.checkpoints)]
    print("| shared steps | mean reward | within-pipeline SD | between-pipeline SD of means |")
    print("|---|---|---|---|")
    for mark in marks:
        if mark > backend.steps:
            backend.evaluate(fixed[:1] * (mark - backend.steps))  # uniform policy: a random pipeline trains
        scores = [[backend.score(p).accuracy for _ in range(args.repeats)] for p in fixed]
        within = statistics.mean(statistics.stdev(s) for s in scores)
        means = [statistics.mean(s) for s in scores]
        print(
            f"| {mark} | {100 * statistics.mean(means):.1f} | {100 * within:.1f} "
            f"| {100 * statistics.stdev(means):.1f} |"
        )


if __name__ == "__main__":
    main()
