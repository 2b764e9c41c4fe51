"""The benchmark harness: searches (MA2ML variants, baselines, MARL library runners, one-shot DHA) x seeds on one
task.

    from baselines.benchmark import BenchmarkConfig, run_benchmark
    result = run_benchmark(BenchmarkConfig(algorithms=("random", "rea"), seeds=(0, 1), batches=5, batch_size=4))

``automl-env benchmark`` and ``python examples/benchmark.py`` are its command line (``main``). The files:

| file          | what it holds                                                                    |
|---------------|----------------------------------------------------------------------------------|
| ``api``       | ``BenchmarkConfig``, ``BenchmarkResult``, ``run_benchmark``                      |
| ``runs``      | ``RunSpec``, one run in its folder, ``done.json`` reuse, ``--set`` overrides     |
| ``workers``   | the runs on worker processes that exit with the main process                     |
| ``metrics``   | per-run metrics: best, top-k, noise-free regret, test accuracy, evaluations to reach |
| ``report``    | the results.md table and the evaluations CSV                                     |
| ``plots``     | the anytime plots                                                                |
| ``cli``       | the command line, every value validated at parse time                            |
"""

from baselines.benchmark.api import DEFAULT_ALGORITHMS, BenchmarkConfig, BenchmarkResult, run_benchmark
from baselines.benchmark.cli import main, parse_config
from baselines.benchmark.metrics import (
    FinalScorer,
    benchmark_optimum,
    evaluations_to_reach,
    final_scorer,
    load_evaluations,
    noise_free_evaluation,
    noise_free_rescorer,
    run_metrics,
)
from baselines.benchmark.runs import DONE, RunSpec, algorithm_config, finished, resolved_config, run_one
from baselines.benchmark.workers import exit_with_parent, run_all

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DONE",
    "BenchmarkConfig",
    "BenchmarkResult",
    "FinalScorer",
    "RunSpec",
    "algorithm_config",
    "benchmark_optimum",
    "evaluations_to_reach",
    "exit_with_parent",
    "final_scorer",
    "finished",
    "load_evaluations",
    "main",
    "noise_free_evaluation",
    "noise_free_rescorer",
    "parse_config",
    "resolved_config",
    "run_all",
    "run_benchmark",
    "run_metrics",
    "run_one",
]
