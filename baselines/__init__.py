"""Baselines for AutoML search, with the act/update interface of ``ma2ml_agents`` so one loop drives all.

| name             | what it does                                                                  |
|------------------|-------------------------------------------------------------------------------|
| ``random``       | uniform random search                                                         |
| ``rea``          | regularised (aging) evolution, tournament selection, one token per module     |
| ``tpe``          | TPE through Optuna ask-and-tell, one categorical per token                    |
| ``reinforce``    | single-agent REINFORCE: one LSTM controller over every module's tokens        |
| ``sequential_*`` | NAS, then AUG, then HPO, a third of the budget each, by the named inner search |

    from baselines import make_search
    algorithm = make_search("rea", env, seed=0, batches=40)
"""

from baselines.base import TokenSearch
from baselines.evolution import EvolutionConfig, RegularizedEvolution
from baselines.random_search import RandomSearch, RandomSearchConfig
from baselines.registry import BASELINES, SEARCHES, BaselineSpec, SearchAlgorithm, make_search
from baselines.sequential import SequentialConfig, SequentialSearch, split_budget
from baselines.tpe import TPE, TPEConfig

__all__ = [
    "BASELINES",
    "SEARCHES",
    "TPE",
    "BaselineSpec",
    "EvolutionConfig",
    "RandomSearch",
    "RandomSearchConfig",
    "RegularizedEvolution",
    "SearchAlgorithm",
    "SequentialConfig",
    "SequentialSearch",
    "TPEConfig",
    "TokenSearch",
    "make_search",
    "split_budget",
]
