"""Benchmark searches on one task: ``python examples/benchmark.py --help`` (the same as ``automl-env benchmark``).

The harness is the package ``baselines.benchmark``; docs/benchmark.md explains its options and metrics.
"""

from baselines.benchmark import main

if __name__ == "__main__":
    main()
