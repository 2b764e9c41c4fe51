"""Every search on every real task and budget: ``python examples/leaderboard.py --help`` (= ``automl-env leaderboard``).

The leaderboard is the package ``baselines.leaderboard``; docs/benchmark.md explains its suites and metrics.
"""

from baselines.leaderboard import main

if __name__ == "__main__":
    main()
