"""One search on one task: ``python examples/train_ma2ml.py --help`` (the same as ``automl-env train``).

The training entry point is the module ``ma2ml_agents.train``; with no arguments, a short MA2ML search on
the synthetic cifar100 benchmark (about a minute on a 2-core CPU).
"""

from ma2ml_agents.train import main

if __name__ == "__main__":
    main()
