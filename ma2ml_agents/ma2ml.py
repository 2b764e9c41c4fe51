"""MA2ML (Algorithm 1 of Wang et al., CVPR 2023): centralised critic, counterfactual baselines, KL to a target.

Per update (METHOD.md, "MA2ML"):
1. critic regression L_Q = E[(Q(S, A) - R)^2] on the batch just evaluated plus a mini-batch of <S, A, R> drawn
   uniformly from the replay buffer (off-policy: every pipeline ever evaluated keeps teaching the critic);
2. for every agent i, the policy gradient
       E_{A~pi}[ grad log pi_i(A_i|S_i) * ( Q(S,A) - lam log(pi_i/rho_i)(A_i) - b_i + lam KL(pi_i || rho_i) ) ],
   b_i = E_{A_i'~pi_i} Q(S, A_i', A_-i) (others held), the bracket treated as a constant (stop-gradient);
3. Polyak update of every target policy: theta_bar <- (1 - tau) theta_bar + tau theta.

The policy gradient's expectation is under the current joint policy, as in off-policy actor-critics
(DDPG, SAC): the replay feeds the critic and S, and with one fixed S the replay has nothing else to give
the actors. We estimate it on the batch just evaluated (a draw from the current policies) and, on further
updates of the same batch, on fresh draws that the critic scores without evaluating them. Replayed joint
actions in the policy step, without importance weights, would estimate the gradient under the historical
mixture of policies instead: measured on a 3-agent coordination game (tests/test_agents_climbing.py), that
froze the two coordinating agents near uniform (their partner looks like its own past average), 11 of 20
seeds against 20 of 20 with the current policies' draws.

Choices the paper leaves open (**ours**): rewards are standardised by the running mean and standard deviation of
every reward seen (``reward_scale=None``, ``ma2ml_agents.normalize``), so that lam, the learning rates and the
critic's fit mean the same whatever the rewards' units (the paper's lam = 0.2 was set for accuracies in
percent; ``reward_scale=100`` reproduces that on fractions, ``MA2MLConfig.paper()``); the replay keeps raw
rewards and the critic regresses on their standardised values under the current moments; the critic's output
starts at the first batch's mean target;
Adam for both the critic and the policies (AdamW for the critic, whose decoupled weight decay is 0 unless
``critic_weight_decay`` is set); the critic step comes
before the policy step, and Q in the advantage is the critic just updated; KL(pi_i || rho_i) is a per-agent
scalar (S_i is fixed): exact when the agent's space is enumerable, else the mini-batch mean of the
per-position exact KL along the rows' prefixes (the target's table on the rows is needed for log rho_i(A_i)
anyway, so this costs nothing extra).

DEFAULTS (**ours**; ``MA2MLConfig.paper()`` keeps the paper's). At the paper's settings MA2ML did not learn at
realistic budgets: best 12-epoch validation accuracy on NAS-Bench-201 CIFAR-100 after 1,008 evaluations
60.47 +- 0.80 (5 seeds), the same as random search (60.41), against REA and TPE at the table's 61.32; and its
behaviour depended on the rewards' units (reward_scale). Measured on that task (1,008 evaluations) and on
synthetic cifar100 v0 (4,008), 5 seeds each, best reward (commands in docs/ma2ml_study.md):

    setting (on top of the previous row)            NB201 C-100   nodes variant   synthetic v0
    paper: lr 4e-4, lam 0.2, tau 0.004, x100, 1 step  60.47           60.46          0.8088
    standardised rewards, lr 4e-3                     61.31           -              -
    + 10 critic steps                                 61.32           61.32          0.8078
    + tau 0.04 (lam 0.2)                              61.32           -              0.8249
    lam 0.05, tau 0.04 (shipped)                      61.32           61.32          0.8387
    Lite at lr 4e-3, for reference                    61.28           61.32          0.8382

The paper's lr was set for 167 updates on 10^80 pipelines; at 10x it learns within 42. With standardised
rewards lam is in units of the rewards' spread, where the paper's 0.2 (set on percent) held 100-token
policies near a target that moved 0.004 per update; lam 0.05 and tau 0.04 let them move.

ASYNCHRONOUS SEARCH (``tell``, ``ma2ml_agents.async_search``; **ours**). With replay, MA2ML learns from whatever
has finished: the critic regresses on the results told, in any number and order, plus replay, as it does on a
batch. Those results were drawn by the policies of a few updates ago, and the cheap pipelines among them finish
first, so they are not a draw from the current policies: ``tell``'s policy step draws fresh joint actions from
the current policies for the critic to score (what further updates of one batch do already). The policy
gradient uses only the critic's Q, never the rewards themselves, so nothing is lost. Without replay (the
on-policy ablation) the critic would see only the last few, stale results: ``asynchronous`` is False.

RECALL (**ours**, ``recall_known``; ``MA2MLConfig.paper()`` turns it off): a pipeline is evaluated once
(``ma2ml_agents.recall``). The draws of known pipelines made while ``act`` looks for new ones are not evaluated;
the first policy step of the next update takes them with the evaluated rows, so it is over every draw up to a
stopping point (the evaluated rows alone are the novel draws, a biased sample of the policies). The critic learns
from the evaluated rows and the replay, which holds the known pipelines' rewards already. ``tell``'s policy step
draws afresh, so there the recalled draws are only dropped.
WHY: measured in docs/ma2ml_study.md, section 22.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ma2ml_agents.base import ControllerAlgorithm
from ma2ml_agents.controllers import TokenController, polyak_update
from ma2ml_agents.counterfactual import Counterfactual, counterfactual
from ma2ml_agents.critic import JointCritic
from ma2ml_agents.normalize import RunningMoments
from ma2ml_agents.replay import ReplayBuffer


@dataclass(frozen=True)
class MA2MLConfig:
    """MA2ML settings. The defaults are ours where measurement chose them (see DEFAULTS in the module docstring);
    ``MA2MLConfig.paper()`` gives the paper's CIFAR values."""

    policy_lr: float = 4e-3
    """eta_theta, the controllers' learning rate (ours; paper 4e-4, set for its 4,008-evaluation searches)."""
    critic_lr: float = 5e-3
    """eta_phi, the critic's learning rate (paper)."""
    critic_weight_decay: float = 0.0
    """Decoupled weight decay of the critic (AdamW; ours, 0: plain Adam as in the paper's reading). Each critic step
    shrinks every weight by critic_lr x critic_weight_decay, so what recent data stop supporting fades."""
    tau: float = 0.04
    """Polyak rate of the target policies (ours; paper: 0.004 on CIFAR, 0.012 on ImageNet-200)."""
    lam: float = 0.05
    """lambda, weight of the divergence regulariser, in the critic's reward units (ours: 0.05 standard deviations
    of the rewards; paper: 0.2 on rewards in percent)."""
    reward_scale: float | None = None
    """None: rewards are standardised by their running mean and standard deviation (ours), so lam is in units of
    the rewards' spread whatever their scale. A number: rewards are multiplied by it instead; lam weighs
    log-ratios against reward differences, and the paper's 0.2 was set for accuracies in percent, which 100
    gives on accuracies in [0, 1] (``paper()``)."""
    hidden_size: int = 100
    """LSTM units per controller (paper)."""
    autoregressive: bool = True
    """Each token drawn given the agent's previous ones (paper); False: independent tokens (an ablation;
    ``TokenController``)."""
    critic_hidden_size: int = 100
    """Width of the critic's hidden layers (ours)."""
    critic_layers: int = 2
    """Hidden layers of the critic (ours)."""
    baseline_samples: int = 24
    """M, draws of A_i' ~ pi_i (shared by the mini-batch's rows) for the counterfactual baseline (ours)."""
    exact_baseline_max: int = 64
    """Enumerate A_i' exactly when agent i has at most this many joint actions (ours)."""
    use_replay: bool = True
    """Fit the critic on replay mini-batches (off-policy); False fits it on the batch just evaluated only."""
    replay_capacity: int = 5016
    """Replay size (ours): the whole CIFAR-10 search of the paper fits."""
    minibatch_size: int = 24
    """Rows per replay mini-batch of the critic (ours: the paper's batch of 24 pipelines)."""
    updates_per_batch: int = 1
    """Critic + policy updates per evaluated batch (ours)."""
    critic_steps: int = 10
    """Critic regression steps (each on a fresh mini-batch) before every policy step (ours: enough for the critic to
    track the policies; 1 in the paper's reading)."""
    recall_known: bool = True
    """Evaluate only new pipelines; draws of known ones still enter the next policy step (ours, module docstring,
    RECALL; False: the paper's, every draw evaluated)."""
    recall_draws: int = 32
    """Most rounds of n draws ``act(n)`` makes looking for n new pipelines (``recall_known``)."""
    device: str = "cpu"

    @classmethod
    def paper(cls, **changes: Any) -> MA2MLConfig:
        """The paper's CIFAR settings as we first read them: lr 4e-4, tau 0.004, lam 0.2 on rewards x 100, one critic
        step per update, every draw evaluated."""
        paper = {
            "policy_lr": 4e-4,
            "tau": 0.004,
            "lam": 0.2,
            "reward_scale": 100.0,
            "critic_steps": 1,
            "recall_known": False,
        }
        return cls(**{**paper, **changes})

    def __post_init__(self) -> None:
        if self.reward_scale is not None and not self.reward_scale > 0:
            raise ValueError(f"MA2ML config: reward_scale must be > 0 or None, got {self.reward_scale!r}")
        positive = ("policy_lr", "critic_lr", "hidden_size", "critic_hidden_size", "critic_layers")
        counts = (
            "baseline_samples",
            "replay_capacity",
            "minibatch_size",
            "updates_per_batch",
            "critic_steps",
            "recall_draws",
        )
        for name in (*positive, *counts):
            if not getattr(self, name) > 0:
                raise ValueError(f"MA2ML config: {name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"MA2ML config: tau is a Polyak rate in (0, 1], got {self.tau!r}")
        if not self.critic_weight_decay >= 0.0:
            raise ValueError(f"MA2ML config: critic_weight_decay must be >= 0, got {self.critic_weight_decay!r}")
        if not self.lam >= 0.0:
            raise ValueError(f"MA2ML config: lam weighs a KL divergence and must be >= 0, got {self.lam!r}")


class MA2ML(ControllerAlgorithm[MA2MLConfig]):
    """MA2ML with replay (off-policy) by default; ``use_replay=False`` gives the on-policy ablation."""

    name = "ma2ml"

    @classmethod
    def default_config(cls) -> MA2MLConfig:
        return MA2MLConfig()

    def build(self, generator: torch.Generator) -> None:
        config = self.config
        self.critic = JointCritic(
            self.space.flat_nvec, hidden_size=config.critic_hidden_size, num_layers=config.critic_layers
        )
        self.critic.reset_parameters(generator)
        self.targets = copy.deepcopy(self.controllers).requires_grad_(False)
        self.replay = ReplayBuffer(config.replay_capacity, self.space.total_tokens, device=self.device)
        self.moments = RunningMoments()
        self.policy_optimizer = torch.optim.Adam(self.controllers.parameters(), lr=config.policy_lr)
        self.critic_optimizer = critic_optimizer(self.critic, config)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Targets start equal to the policies (rho^0 = pi^0); copied after the controllers' seeded init.
        self.targets.load_state_dict(self.controllers.state_dict())
        self.target_policies = cast(list[TokenController], list(self.targets))

    @property
    def asynchronous(self) -> bool:
        """Whether ``tell`` may learn from results in any number and order: with replay only (module docstring)."""
        return self.config.use_replay

    def tell(self, actions: Mapping[str, np.ndarray], rewards: np.ndarray) -> dict[str, float]:
        """``update`` from finished results of older policies, in any number and order (asynchronous search): the
        policy step draws from the current policies instead of using them (module docstring)."""
        if not self.asynchronous:
            raise ValueError(f"{self.name} without replay is on-policy: it learns from whole batches only (update)")
        return self.update_tokens(*self.as_tensors(actions, rewards), drawn_by_current_policies=False)

    def modules(self) -> dict[str, nn.Module]:
        return {"controllers": self.controllers, "targets": self.targets, "critic": self.critic}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_optimizer, "critic": self.critic_optimizer}

    def extra_state(self) -> dict[str, Any]:
        return {"replay": self.replay.state_dict(), "moments": self.moments.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.replay.load_state_dict(state["replay"])
        self.moments.load_state_dict(state["moments"])

    def critic_targets(self, rewards: torch.Tensor) -> torch.Tensor:
        """Rewards in the critic's units: standardised by the running moments, or multiplied by ``reward_scale``."""
        if self.config.reward_scale is None:
            return self.moments.standardise(rewards)
        return rewards * self.config.reward_scale

    def _minibatch(self, tokens: torch.Tensor, rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The critic's regression rows: the batch just evaluated, plus a replay sample when off-policy.

        The critic is used where the current policies sample; a replay drawn uniformly over the whole search is
        mostly older, more spread-out pipelines, so the newest batch is always in (ours).
        """
        if not self.config.use_replay:
            return tokens, self.critic_targets(rewards)
        replayed_tokens, replayed_rewards = self.replay.sample(
            self.config.minibatch_size, generator=self.update_generator
        )
        return torch.cat([tokens, replayed_tokens]), self.critic_targets(torch.cat([rewards, replayed_rewards]))

    def update_tokens(
        self, tokens: torch.Tensor, rewards: torch.Tensor, *, drawn_by_current_policies: bool = True
    ) -> dict[str, float]:
        self.moments.update(rewards)
        if len(self.replay) == 0:
            # Q is only ever used in differences (Q - b_i), so its level is free: start it at the first batch's
            # mean instead of spending the first critic steps on a constant.
            self.critic.start_at(float(self.critic_targets(rewards).mean()))
        self.replay.add(tokens, rewards)
        stats: dict[str, float] = {}
        drawn = tokens
        if self.recall is not None:  # the draws of known pipelines join the evaluated rows in the policy step
            drawn, _, recalled = self.recall.learn(tokens, rewards)
            stats["recalled"] = float(recalled)
        for update in range(self.config.updates_per_batch):
            for _ in range(self.config.critic_steps):
                stats["critic_loss"] = self._critic_step(*self._minibatch(tokens, rewards))
            # The policy gradient is an expectation under the current policies. The batch just evaluated is a
            # draw from them; after a policy step it no longer is, so later updates draw fresh joint actions,
            # which the critic scores without evaluating them (every update does, for results told by ``tell``).
            current = update == 0 and drawn_by_current_policies
            draw = drawn if current else self.sample_tokens(len(tokens), generator=self.update_generator)
            stats.update(self._policy_step(draw))
            for controller, target in zip(self.controllers, self.targets, strict=True):
                polyak_update(target, controller, tau=self.config.tau)
        return stats

    def _critic_step(self, tokens: torch.Tensor, rewards: torch.Tensor) -> float:
        loss = self.critic.loss(tokens, rewards)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_optimizer.step()
        return float(loss.detach())

    def advantages(self, tokens: torch.Tensor, tables: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[float]]:
        """Per-agent advantage (n,) of METHOD.md's MA2ML gradient and per-agent KL; no gradient attached.

        ``tables[i]`` is agent i's ``log_prob_table`` on the rows (its gradient is ignored here).
        """
        config = self.config
        advantages, kls = [], []
        with torch.no_grad():
            q = self.critic(tokens)
            for group, policy, target, table in zip(
                self.groups, self.policies, self.target_policies, tables, strict=True
            ):
                own = tokens[:, group]
                table, target_table = table.detach(), target.log_prob_table(own)
                log_ratio = _pick(table, own) - _pick(target_table, own)
                cf = self._counterfactual(tokens, group, policy, target)
                # Sequence space too large to enumerate: the mean over the rows of the per-position exact KL
                # along their prefixes (one scalar, so it stays a baseline-like shift of the advantage).
                kl = cf.kl if cf.kl is not None else (table.exp() * (table - target_table)).sum(dim=(1, 2)).mean()
                advantages.append(q - config.lam * log_ratio - cf.baseline + config.lam * kl)
                kls.append(float(kl))
        return advantages, kls

    def _counterfactual(
        self, tokens: torch.Tensor, group: slice, policy: TokenController, target: TokenController
    ) -> Counterfactual:
        """Agent ``group``'s counterfactual baseline (and KL) on the rows, with this config's sampling settings."""
        return counterfactual(
            self.critic,
            tokens,
            group,
            policy=policy,
            target=target,
            samples=self.config.baseline_samples,
            exact_max=self.config.exact_baseline_max,
            generator=self.update_generator,
        )

    def _policy_step(self, tokens: torch.Tensor) -> dict[str, float]:
        loss, stats = self._policy_loss(tokens)
        self.policy_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.policy_optimizer.step()
        return stats

    def _policy_loss(self, tokens: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The policy-gradient loss (its negative) on joint actions drawn from the current policies, with stats."""
        tables = [policy.log_prob_table(tokens[:, g]) for g, policy in zip(self.groups, self.policies, strict=True)]
        advantages, kls = self.advantages(tokens, tables)
        losses = [
            (advantage * _pick(table, tokens[:, group])).mean()
            for advantage, table, group in zip(advantages, tables, self.groups, strict=True)
        ]
        loss = -torch.stack(losses).sum()
        spread = float(torch.stack(advantages).std())
        return loss, {"policy_loss": float(loss.detach()), "advantage_std": spread, "kl_mean": sum(kls) / len(kls)}


def critic_optimizer(critic: nn.Module, config: MA2MLConfig) -> torch.optim.Optimizer:
    """AdamW at the config's learning rate and weight decay (with no decay, exactly Adam's steps)."""
    return torch.optim.AdamW(critic.parameters(), lr=config.critic_lr, weight_decay=config.critic_weight_decay)


def _pick(table: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """(n,) log-probability of ``actions`` from a (n, T, choices) log-prob table."""
    return table.gather(2, actions.unsqueeze(2)).sum(dim=(1, 2))
