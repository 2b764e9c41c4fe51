"""The per-agent Tianshou learners of ``tianshou_runner`` and the PPO reward fix (imports Tianshou: load lazily)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from tianshou.algorithm import DQN, PPO
from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
from tianshou.algorithm.modelfree.reinforce import ProbabilisticActorPolicy
from tianshou.algorithm.multiagent.marl import MultiAgentOffPolicyAlgorithm, MultiAgentOnPolicyAlgorithm
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import ReplayBuffer
from tianshou.env import PettingZooEnv
from tianshou.utils.net.common import ModuleWithVectorOutput, Net
from tianshou.utils.net.discrete import DiscreteActor, DiscreteCritic

from baselines.marl.tianshou_config import TianshouConfig


class ObservationNet(ModuleWithVectorOutput):
    """``Net`` on the ``obs`` field of PettingZooEnv's ``{agent_id, obs, mask}`` observation."""

    def __init__(self, net: Net) -> None:
        super().__init__(net.get_output_dim())
        self.net = net

    def forward(self, obs: Any, state: Any = None, info: Any = None) -> tuple[torch.Tensor, Any]:
        return self.net(obs.obs, state)


class MaskedDiscreteActor(DiscreteActor):
    """Action probabilities with the tokens the action mask forbids at zero (the env would remap them)."""

    def forward(self, obs: Any, state: Any = None, info: Any = None) -> tuple[torch.Tensor, Any]:
        latent, hidden = self.preprocess(obs, state)
        logits = self.last(latent)
        mask = torch.as_tensor(obs.mask, dtype=torch.bool, device=logits.device)
        return F.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1), hidden


def build_learners(config: TianshouConfig, env: PettingZooEnv) -> Any:
    """One DQN or PPO learner per agent, dispatched by agent id."""
    observation_space = env.observation_space["observation"]
    shape, actions = observation_space.shape, int(env.action_space.n)
    optim = AdamOptimizerFactory(lr=config.lr)
    if config.algorithm == "dqn":
        dqns = []
        for _ in env.agents:
            net = Net(state_shape=shape, action_shape=actions, hidden_sizes=list(config.hidden_sizes))
            q_policy = DiscreteQLearningPolicy(
                model=net,
                action_space=env.action_space,
                observation_space=observation_space,
                eps_training=config.eps_training,
            )
            dqns.append(DQN(policy=q_policy, optim=optim, gamma=config.gamma, n_step_return_horizon=len(env.agents)))
        return MultiAgentOffPolicyAlgorithm(algorithms=dqns, env=env)  # type: ignore[arg-type]
    ppos = []
    for _ in env.agents:
        actor = MaskedDiscreteActor(
            preprocess_net=ObservationNet(Net(state_shape=shape, hidden_sizes=list(config.hidden_sizes))),
            action_shape=actions,
        )
        critic = DiscreteCritic(
            preprocess_net=ObservationNet(Net(state_shape=shape, hidden_sizes=list(config.hidden_sizes)))
        )
        actor_policy = ProbabilisticActorPolicy(
            actor=actor,
            dist_fn=torch.distributions.Categorical,
            action_space=env.action_space,
            observation_space=observation_space,
            action_scaling=False,
            action_bound_method=None,
        )
        ppos.append(PPO(policy=actor_policy, critic=critic, optim=optim, gamma=config.gamma))
    return MultiAgentOnPolicyAlgorithm(algorithms=ppos, env=env)  # type: ignore[arg-type]


def share_final_reward(buffer: ReplayBuffer, *, agents: int) -> None:
    """Give every agent's last move of each finished episode the shared reward, and make it terminal.

    In AEC order the reward arrives with the last agent's final move; the ``agents - 1`` rows before it are the
    other agents' final moves, stored with reward 0 and not done. Per-agent GAE reads only an agent's own rows,
    so without this only the last agent would ever see a reward.
    """
    last_moves = [int(i) for i in buffer.sample_indices(0) if buffer.done[i]]
    for row in last_moves:
        earlier = row
        for _ in range(agents - 1):
            earlier = int(buffer.prev(earlier))
            buffer.rew[earlier] = buffer.rew[row]
            buffer.terminated[earlier] = True
            buffer.done[earlier] = True
