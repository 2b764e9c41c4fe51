"""Tianshou 2.x independent DQN learners, one per AutoML module, on the token mode of the environment.

    pip install "automl-env[interop]"
    python examples/interop_tianshou.py --steps 600

Tianshou takes multi-agent envs only as AEC, with identical spaces for every agent: the token mode
(Discrete + action mask, the same for all agents) through ``PettingZooEnv(parallel_to_aec(env))``.
Each agent is a DQN (``MultiAgentOffPolicyAlgorithm`` dispatches the batch by ``agent_id``).

Why the n-step horizon equals the number of agents: in the AEC turn order the shared reward appears
after the last agent's move, so it is stored on the last agent's transition only; every other agent's
transition sees it ``num_agents - 1`` buffer rows later. An n-step return over ``num_agents`` rows
credits it to every agent (DESIGN.md, "Facts measured").

Prints the mean reward (the evaluated pipeline's accuracy) of episodes played with exploration before
and after training, and of the greedy policy. A few hundred steps show that the loop runs; they are far
too few to learn much (an episode of the cifar100 task is 50 steps of 3 agents, one pipeline).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TianshouConfig:
    """Settings of the example (ours)."""

    task: str = "cifar100"
    """Task of the environment."""
    backend: str = "synthetic"
    """Backend that evaluates the pipelines."""
    modules: tuple[str, ...] | None = None
    """Modules searched (agents); None: all of the task's."""
    steps: int = 600
    """Environment steps (AEC moves, one agent each) of training."""
    seed: int = 0
    """Seed of torch, the exploration and the env's evaluations."""
    lr: float = 1e-3
    """Adam learning rate of every Q-network."""
    hidden: int = 64
    """Width of the two hidden layers of every Q-network."""
    eps: float = 0.2
    """Epsilon-greedy exploration while collecting."""
    eval_episodes: int = 4
    """Episodes collected (with exploration) for the before/after means."""


def make_env(config: TianshouConfig) -> Any:
    """The token-mode env as Tianshou takes it."""
    from pettingzoo.utils.conversions import parallel_to_aec
    from tianshou.env import PettingZooEnv

    import automl_env

    env = automl_env.parallel_env(
        config.task, backend=config.backend, modules=config.modules, action_mode="token", seed=config.seed
    )
    return PettingZooEnv(parallel_to_aec(env))


def build(config: TianshouConfig, env: Any) -> Any:
    """One DQN per agent inside a ``MultiAgentOffPolicyAlgorithm``."""
    from tianshou.algorithm import DQN
    from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
    from tianshou.algorithm.multiagent.marl import MultiAgentOffPolicyAlgorithm
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.utils.net.common import Net

    observation_space = env.observation_space["observation"]
    learners = []
    for _ in env.agents:
        net = Net(
            state_shape=observation_space.shape,
            action_shape=env.action_space.n,
            hidden_sizes=[config.hidden, config.hidden],
        )
        policy = DiscreteQLearningPolicy(
            model=net, action_space=env.action_space, observation_space=observation_space, eps_training=config.eps
        )
        learners.append(
            DQN(
                policy=policy,
                optim=AdamOptimizerFactory(lr=config.lr),
                gamma=1.0,  # one reward per episode, at its end: no discount needed
                n_step_return_horizon=len(env.agents),
                target_update_freq=50,
            )
        )
    return MultiAgentOffPolicyAlgorithm(algorithms=learners, env=env)


def mean_reward(stats: Any) -> float:
    """Mean over episodes of the shared reward (every agent's return is the pipeline's reward)."""
    returns = np.asarray(stats.returns, dtype=np.float64)
    return float(returns.max(axis=-1).mean()) if returns.size else float("nan")


def train(config: TianshouConfig) -> dict[str, float]:
    """Train for ``config.steps`` env steps; returns the mean rewards before and after, and greedy ones."""
    import torch
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.utils.torch_utils import policy_within_training_step, torch_train_mode

    # Tianshou warns on every multi-agent collect that per-agent returns are 2-D; we reduce them ourselves.
    logging.getLogger("tianshou.data.stats").setLevel(logging.ERROR)
    torch.manual_seed(config.seed)  # Tianshou's networks and samplers draw from torch's global RNG
    np.random.seed(config.seed)  # ... and its epsilon-greedy exploration from NumPy's
    env = make_env(config)
    algorithm = build(config, env)
    train_envs = DummyVectorEnv([lambda: make_env(config)])
    test_envs = DummyVectorEnv([lambda: make_env(config)])
    train_envs.seed(config.seed)
    test_envs.seed(config.seed)
    buffer = VectorReplayBuffer(max(config.steps, 1000), buffer_num=1)
    collector = Collector(algorithm, train_envs, buffer, exploration_noise=True)
    evaluator = Collector(algorithm, test_envs, exploration_noise=True)

    def evaluate(*, explore: bool) -> float:
        algorithm.policy.eval()
        for agent in env.agents:
            algorithm.get_algorithm(agent).policy.set_eps_inference(config.eps if explore else 0.0)
        return mean_reward(
            evaluator.collect(n_episode=config.eval_episodes if explore else 1, reset_before_collect=True)
        )

    results = {"before": evaluate(explore=True), "greedy_before": evaluate(explore=False)}
    collector.reset()
    done, chunk = 0, len(env.agents) * 10
    while done < config.steps:
        # What Tianshou's OffPolicyTrainer does per step: collect with exploration, then one gradient step.
        with policy_within_training_step(algorithm.policy):
            with torch_train_mode(algorithm.policy, enabled=False):
                stats = collector.collect(n_step=chunk)
            done += stats.n_collected_steps
            if len(buffer) >= 2 * chunk:
                with torch_train_mode(algorithm.policy):
                    algorithm.update(sample_size=64, buffer=buffer)
    results.update(after=evaluate(explore=True), greedy_after=evaluate(explore=False), steps=float(done))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = TianshouConfig()
    parser.add_argument("--task", default=defaults.task)
    parser.add_argument("--backend", default=defaults.backend)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="environment steps of training")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args()
    config = TianshouConfig(task=args.task, backend=args.backend, steps=args.steps, seed=args.seed)
    results = train(config)
    print(f"trained {int(results['steps'])} env steps of {config.task} ({config.backend}) with independent DQN")
    print(f"mean reward with exploration: before {results['before']:.4f}  after {results['after']:.4f}")
    print(f"greedy pipeline reward:       before {results['greedy_before']:.4f}  after {results['greedy_after']:.4f}")


if __name__ == "__main__":
    main()
