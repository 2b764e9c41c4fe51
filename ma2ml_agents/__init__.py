"""MA2ML agents: multi-agent search over one-step discrete-action PettingZoo environments.

    from ma2ml_agents import make_algorithm, run_search
    algorithm = make_algorithm("ma2ml", env, seed=0)          # any ParallelEnv or vector env
    result = run_search(env, algorithm, batches=50, out_dir="runs/ma2ml", seed=0)
    # or asynchronously, every worker busy: run_async_search(env, algorithm, executor=..., evaluations=1200, ...)

Works on any PettingZoo ParallelEnv whose agents have Discrete or MultiDiscrete action spaces and whose
episodes are one step, and on vector envs that step N such episodes at once. Knows nothing about AutoML.
Algorithms (``ALGORITHMS``): MA2ML (the paper's Algorithm 1; ``MA2MLConfig.paper()`` its settings), screened
MA2ML (ours: its critic ensemble also picks which of the policies' draws are evaluated), MA2ML on-policy,
MA2ML-Lite and single-agent REINFORCE.
"""

from __future__ import annotations

from ma2ml_agents.async_search import AsyncSearchResult, SynchronousOnlyError, run_async_search
from ma2ml_agents.base import ControllerAlgorithm, SearchAlgorithm, derived_seed
from ma2ml_agents.controllers import ControllerSample, TokenController, polyak_update
from ma2ml_agents.critic import JointCritic
from ma2ml_agents.evaluator import BatchEvaluator
from ma2ml_agents.lite import LiteConfig, MA2MLLite
from ma2ml_agents.ma2ml import MA2ML, MA2MLConfig
from ma2ml_agents.ma2ml_onpolicy import MA2MLOnPolicy, MA2MLOnPolicyConfig
from ma2ml_agents.ma2ml_screened import ScreenedConfig, ScreenedMA2ML
from ma2ml_agents.registry import ALGORITHMS, AlgorithmSpec, make_algorithm
from ma2ml_agents.reinforce import SingleAgentReinforce
from ma2ml_agents.replay import ReplayBuffer
from ma2ml_agents.search import SearchResult, run_search
from ma2ml_agents.spaces import JointActionSpace

__all__ = [
    "ALGORITHMS",
    "MA2ML",
    "AlgorithmSpec",
    "AsyncSearchResult",
    "BatchEvaluator",
    "ControllerAlgorithm",
    "ControllerSample",
    "JointActionSpace",
    "JointCritic",
    "LiteConfig",
    "MA2MLConfig",
    "MA2MLLite",
    "MA2MLOnPolicy",
    "MA2MLOnPolicyConfig",
    "ReplayBuffer",
    "ScreenedConfig",
    "ScreenedMA2ML",
    "SearchAlgorithm",
    "SearchResult",
    "SingleAgentReinforce",
    "SynchronousOnlyError",
    "TokenController",
    "derived_seed",
    "make_algorithm",
    "polyak_update",
    "run_async_search",
    "run_search",
]
