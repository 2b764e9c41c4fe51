"""Registry of the search algorithms: name -> class, config class and capabilities."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ma2ml_agents.base import ControllerAlgorithm
from ma2ml_agents.lite import LiteConfig, MA2MLLite
from ma2ml_agents.ma2ml import MA2ML, MA2MLConfig
from ma2ml_agents.ma2ml_onpolicy import MA2MLOnPolicy, MA2MLOnPolicyConfig
from ma2ml_agents.ma2ml_screened import ScreenedConfig, ScreenedMA2ML
from ma2ml_agents.reinforce import SingleAgentReinforce
from ma2ml_agents.spaces import JointActionSpace


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm and what it needs: tests and scripts iterate over ``ALGORITHMS``."""

    cls: type[ControllerAlgorithm[Any]]
    config_cls: type
    uses_critic: bool
    """Learns a centralised Q(S, A)."""
    off_policy: bool
    """Learns from a replay buffer of past evaluations."""
    multi_agent: bool
    """One controller per agent (False: one controller over the joint action)."""


ALGORITHMS: dict[str, AlgorithmSpec] = {
    "ma2ml": AlgorithmSpec(MA2ML, MA2MLConfig, uses_critic=True, off_policy=True, multi_agent=True),
    "ma2ml_screened": AlgorithmSpec(ScreenedMA2ML, ScreenedConfig, uses_critic=True, off_policy=True, multi_agent=True),
    "ma2ml_onpolicy": AlgorithmSpec(
        MA2MLOnPolicy, MA2MLOnPolicyConfig, uses_critic=True, off_policy=False, multi_agent=True
    ),
    "ma2ml_lite": AlgorithmSpec(MA2MLLite, LiteConfig, uses_critic=False, off_policy=False, multi_agent=True),
    "reinforce": AlgorithmSpec(
        SingleAgentReinforce, LiteConfig, uses_critic=False, off_policy=False, multi_agent=False
    ),
}


def make_algorithm(
    name: str, env_or_space: object, *, seed: int, config: Any = None, **overrides: Any
) -> ControllerAlgorithm[Any]:
    """Build algorithm ``name`` for an env (its ``possible_agents`` and action spaces) or a JointActionSpace.

    ``overrides`` replace fields of ``config`` (default: the paper's), e.g. ``policy_lr=1e-2``.
    """
    if name not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; known: {sorted(ALGORITHMS)}")
    spec = ALGORITHMS[name]
    resolved = dataclasses.replace(config if config is not None else spec.config_cls(), **overrides)
    space = env_or_space if isinstance(env_or_space, JointActionSpace) else JointActionSpace.from_env(env_or_space)
    return spec.cls(space, resolved, seed=seed)
