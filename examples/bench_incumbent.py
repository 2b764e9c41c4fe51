"""How often the incumbent step returns a better pipeline than the best observed one, on a noisy task.

    python examples/bench_incumbent.py --task hpolib-naval --algorithm rea --batches 13 --seeds 20

For each seed: one search (batches of 24) with ``run_search``'s default incumbent step (``Incumbent()``: 7 candidates, 4
finalists, 15 re-evaluations); prints in how many seeds the incumbent's noise-free value (the backend's
``noise_free_accuracy``) is higher, lower or the same as that of the best observed pipeline (with a two-sided sign test
over the seeds where they differ), and the mean difference with a 95% bootstrap interval over seeds (scipy.stats).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import automl_env
from automl_env import Pipeline
from baselines import make_search
from ma2ml_agents import run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="hpolib-naval")
    parser.add_argument("--algorithm", default="rea")
    parser.add_argument("--batches", type=int, default=13)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    started, gains = time.perf_counter(), []
    for seed in range(args.seeds):
        env = automl_env.vector_env(args.task, num_envs=24, seed=seed)
        algorithm = make_search(args.algorithm, env, seed=seed, batches=args.batches)
        with tempfile.TemporaryDirectory() as out:
            result = run_search(env, algorithm, batches=args.batches, batch_size=24, out_dir=out, seed=seed,
                                progress=False)  # fmt: skip
        if result.incumbent is None:
            raise SystemExit(f"{args.task}'s backend is not noisy: there is no incumbent step")
        value = env.backend.noise_free_accuracy  # type: ignore[attr-defined]
        observed = value([Pipeline.from_json(result.best_info["pipeline"])])[0]
        gains.append(value([Pipeline.from_json(result.incumbent["pipeline"])])[0] - observed)
    from scipy import stats

    g = np.array(gains)
    better, worse = int((g > 0).sum()), int((g < 0).sum())
    sign_p = stats.binomtest(better, better + worse).pvalue if better + worse else 1.0
    low, high = stats.bootstrap((g,), np.mean, confidence_level=0.95, random_state=0).confidence_interval
    print(
        f"{args.task}, {args.algorithm}, {24 * args.batches} evaluations, seeds 0-{args.seeds - 1}: incumbent better "
        f"in {better}, worse in {worse}, same in {len(g) - better - worse} (sign test p = {sign_p:.3f}); mean "
        f"noise-free gain {g.mean():.4f} (score; 95% bootstrap interval {low:.4f} to {high:.4f}); "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
