"""Screened MA2ML (**ours**, not the paper's): MA2ML whose critic also chooses what is evaluated.

MA2ML's critic Q(S, A) is fitted on every evaluation seen: a model of the reward over joint actions. The
paper only uses it to shape a policy gradient. Screened MA2ML also uses it as model-based searches (TPE, BO)
use their model, to decide which pipelines are worth an evaluation:

1. proposals: draw m = ``proposal_pool`` x max(n, ``minibatch_size``) joint actions A^1..A^m ~ prod_i pi_i
   and, once anything is evaluated, l = ``local_share`` x m local candidates: one-token mutants of the
   ``local_parents`` best pipelines evaluated so far (by observed reward; a parent drawn uniformly, one token
   position drawn uniformly, redrawn uniformly among its other values). Where l is below c x N (c =
   ``local_coverage``, N the number of one-token neighbours of the parents), it is cut to l x l / (c x N).
   An asynchronous search asks for one pipeline per free worker: its asks between two updates take the next
   best rows of one screen, as one batch would. Drop the candidates already evaluated and repeats, and evaluate
   the n with the largest
       u(A) = mean_e Q_e(S, A) + beta * std_e Q_e(S, A)
   over an ensemble of E critics (``critic_ensemble``, beta = ``exploration_bonus``, in standardised reward
   units); the first batch, before any fit, is the first n distinct draws; when the policies have committed so
   far that their m draws hold fewer than n new pipelines, m uniform draws join the candidates; a known
   pipeline (evaluated, or proposed and still in flight) is proposed again only when all 2m draws hold fewer
   than n new ones (the space is nearly exhausted), the best-scored known ones then filling the batch.
   With ``adaptive_pool`` (on by default) the screen is as greedy as the critic has shown it can be: every
   evaluated batch is first scored by the critic as it stands, and once ``SKILL_MIN`` evaluations are scored,
   ``proposal_pool`` is replaced by a pool set from Spearman's rho between those scores and the rewards over the
   newest ``SKILL_WINDOW``: ``proposal_pool`` at rho >= 0.6, 1 at rho <= 0.3 (the policies' own draws, which the
   screen then only rids of known pipelines), geometric in between. Where the screen cannot be greedy, the
   policies are: their draws are taken at temperature T (every token from softmax(logits / T), nearer the policy's
   mode), T = ``proposal_temperature`` at rho <= 0.3, 1 at rho >= 0.6 (and before the skill is measured),
   geometric in between; the policy step's own draws stay at T = 1;
2. every critic member e regresses on the batch just evaluated plus its own replay draw (a bootstrap of the
   replay), from its own initial weights: L = sum_e E[(Q_e(S, A) - R)^2], by AdamW with decoupled weight decay
   (``critic_weight_decay``, 1 against MA2ML's 0: every step shrinks each weight by critic_lr x 1, so what the
   newer rows stop supporting fades); Q in the policy gradient is the mean;
3. the policy gradient follows MA2ML's objective, E_pi[Q] - lam KL(pi_i || rho_i) per agent with rho_i the Polyak
   target, on fresh joint actions drawn from the current policies and scored by the critic: the screened batch
   is not a draw from the policies, so it feeds the critic only (MA2ML's ``tell`` does the same for stale
   results). With ``token_credit`` (on by default) the credit is the counterfactual baseline taken down to single
   tokens and computed exactly: for every fresh row and token position t of agent i, the critic scores every
   value v of that token with the rest of the row held, Q(A_{t<-v}) (``JointCritic.substitutions``: one
   embedding swapped), and the loss is
       sum_i ( lam KL_i - E_rows sum_t sum_v pi_i(v | a_<t) (Q(A_{t<-v}) - b_t) ),
   b_t = sum_v pi_i(v | a_<t) Q(A_{t<-v}),
   KL_i summed over positions along the row's prefix, Q and b_t constants: the expectation over each token's own
   value is exact (the all-action gradient of Mean Actor-Critic, Allen et al. 2017, applied per token), so the
   only sampling noise left is the other tokens'. MA2ML's estimator (``token_credit`` False) samples every
   agent's whole action and credits it with one advantage, Q(A) - b_i: on 50-token agents each token's share of
   that credit drowns in the other 49 tokens' noise. Steps 2 and 3 run ``updates_per_batch`` (3) times per
   evaluated batch, each policy step on a fresh draw;
4. optional self-imitation (``imitation`` w > 0; off by default): every policy step also adds
       -w sum_i mean_rows (R - b_i)_+ log pi_i(A_i)
   over the batch just evaluated, R its observed rewards in the critic's units and b_i the counterfactual
   baseline: an agent imitates its part of an evaluated pipeline that did better than its policy does on
   average with the others held (self-imitation learning, Oh et al. 2018). It lets real rewards that the critic
   cannot model (a landscape's high-order, hash-like part) reach the policies, which otherwise learn from Q alone.

The policies stay what proposes globally, so the counterfactual credit still shapes which regions are drawn; the
local candidates let the screen refine the best pipelines found, as REA's mutations do, which the policies alone
cannot once they have committed (their draws then repeat what is known); the bonus keeps the members'
disagreement worth an evaluation.

WHY (docs/ma2ml_study.md, issue 19). The shipped MA2ML's critic ranked the next, unseen batch with Spearman rho
+0.68 after 312 evaluations while its policies were still at 0.86-0.96 of uniform entropy (it sampled like random
search until then), and later half of its 1,008 evaluations went to pipelines already evaluated. On the leaderboard's
ten real tables (NAS-Bench-201 and HPOLib, 20 seeds, docs/results.md) screened MA2ML reaches random search's
expected best of 1,008 after a median of 56-88 evaluations, against MA2ML's 258-364, and sooner than TPE and REA
on all 10 (on hpolib-naval by a margin inside the intervals: 88 against TPE's 89).

CHOICES (**ours**). ``proposal_pool`` 16, ``critic_ensemble`` 5 and ``exploration_bonus`` 1 were set once, before
measuring, and not tuned: 16 x 24 draws keep the screen's cost (a critic forward per draw) below the critic's own
regression steps; 5 members is the usual size of a deep ensemble (Lakshminarayanan et al. 2017); beta = 1 weighs one
standard deviation of the members' disagreement like one standard deviation of the rewards. Measured since
(docs/ma2ml_study.md, section 20): one critic is level on the four tuning tables and lower on synthetic-rugged at
4,008 (-0.0037 [-0.0079, +0.0005], seeds 40-49); the bonus adds nothing measured on either. ``local_share`` 0.5 and
``local_parents`` 8 are the middle of a one-factor sweep (shares 0.25-1, 4-16 parents) on seeds the leaderboard does
not use: every setting with local candidates beat none, and the greedier ends (share 1, 4 parents) are what fails
first on a larger, noisier space. On synthetic-rugged cifar100 (100 tokens, noisy) at 4,008 evaluations the local
candidates lowered the final best (0.787 against 0.806 without them, 5 seeds): there the parents' neighbourhoods
hold 5,600 pipelines, and a screen's 192 mutants, a random sliver of them, led the search to settle early on a local
optimum. Hence ``local_coverage`` 0.5 (chosen after that measurement, once): where the local candidates cannot cover
half the neighbourhoods they are cut, quadratically in how little they cover (13 a screen on cifar100); on the ten
recorded tables (192 to 200 neighbours) nothing changes, run for run. On synthetic-rugged at 4,008 the cut raised
the best found from 0.777 to 0.799 on seeds 0-4 (docs/ma2ml_study.md, section 5). ``updates_per_batch`` 3 (MA2ML's
default is 1), measured after the cut: three critic fits and policy steps per batch moved the median evaluations to
random search's best of 1,008 from 83 / 93.5 / 67 / 107 to 73.5 / 73 / 71 / 78 on hpolib-naval, nb201-cifar10-nodes,
nb201-cifar100-nodes and hpolib-protein (seeds 100-119, which the leaderboard does not use), and the best found on
synthetic-rugged at 4,008 from 0.799 to 0.808 (seeds 0-4); 5 updates did no better there (0.808). It is still below
REINFORCE's and BenchMARL's PPO learners' on synthetic-rugged (docs/marl.md). Uniform draws join only when the
policies' draws (and the local ones) run out of new pipelines, so the policies, and with them the counterfactual
credit, decide where the global draws look. ``imitation`` is measured but not a default yet (docs/ma2ml_study.md,
section 6): w = 1 raised the best found on synthetic-rugged cifar100 at 1,008 evaluations and did not close the gap to
the PPO learners at 4,008. ``proposal_pool`` trades the tables against synthetic-rugged (section 7): 2 draws per
evaluated pipeline raised the best found there at 4,008 from 0.808 to 0.817 (seeds 0-4) and slowed the median to
random search's best of 1,008 on hpolib-naval and nb201-cifar100-nodes from 73.5 / 71 to 121 / 122 evaluations.
``adaptive_pool`` (section 8) kept those medians at 73.5 / 71 and raised the best found on synthetic-rugged at 4,008
by 0.0027 [-0.0014, +0.0069] over 15 seeds: not separated from zero alone. ``critic_weight_decay`` 1 (section 12;
0.3 and 3 measured beside it, 1 the middle) raised it by 0.0020 [-0.0012, +0.0052] alone; the two together by 0.0050
[+0.0023, +0.0076] (15 seeds, 13 higher), to 0.8161 [0.8137, 0.8185], with the medians on the four tuning tables
at 67.5 / 73 / 63.5 / 80 evaluations (default before: 73.5 / 73 / 71 / 78): both became defaults on that evidence. On
seeds 10-19, which no choice used, the gain was +0.0034 [-0.0013, +0.0081] (+0.0043 [+0.0021, +0.0066] over all 25).
Section 12 also measures why the critic's guidance is weak on that landscape: from 2,880 evaluations on it ranks
its own policies' fresh draws by their noise-free value at Spearman rho between -0.01 and +0.04. Letting the policies
also learn from real rewards (a third of each batch drawn unscreened, PPO's clipped surrogate on their rewards) was
measured and not kept (section 13: +0.0037 on seeds 10-19, -0.0002 on seeds 20-29, which no choice used).
``token_credit`` with a pool of 1 where the critic cannot rank (``MIN_POOL``, 2 before; section 14) were measured
together on seeds 10-19 and chosen there: +0.0064 [+0.0026, +0.0102] in the best found at 4,008, where neither alone
moved it beyond the seeds' spread (the per-token gradient with the pool at 2, +0.0039; no screen with MA2ML's
gradient, +0.0011). On seeds 0-9 the gain was +0.0001, on 20-29, which no choice used, +0.0027; over seeds 0-29
+0.0031 [+0.0008, +0.0053]. Over seeds 0-19 the best found is 0.8179 [0.8157, 0.8201], level with BenchMARL's MAPPO
(0.8190) and IPPO (0.8182) within the intervals. On the four tuning tables the medians moved from 67.5 / 73 / 63.5 /
80 to 73.5 / 73 / 53.5 / 82 evaluations and the regret after 312 did not rise on any. ``proposal_temperature`` 0.5
(section 16): chosen on seeds 30-39, which no earlier choice used, against 0.7 (T follows the critic's skill, as the
pool does, so that where the critic ranks, as on the tables, the screen alone is greedy); over seeds 0-29 it raised
the best found on synthetic-rugged after 1,008 evaluations by +0.0063 [+0.0031, +0.0096] and after 2,000 by +0.0053
[+0.0022, +0.0084], and left it level after 4,008 (+0.0001 [-0.0028, +0.0030]); the four tuning tables' medians
stayed 73.5 / 73 / 53.5 / 82, and the regret after 312 moved by less than 0.0008. T 0.3 was faster still to 2,000
and below the default at 4,008 (seeds 30-39): the greed that speeds the climb's start settles it sooner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ma2ml_agents.diagnostics import rank_correlation
from ma2ml_agents.ma2ml import MA2ML, MA2MLConfig, _pick, critic_optimizer
from ma2ml_agents.screening import CriticEnsemble, row_keys, screen


@dataclass(frozen=True)
class ScreenedConfig(MA2MLConfig):
    """MA2ML's settings plus the screen's (docs/ma2ml_study.md, issue 19)."""

    updates_per_batch: int = 3
    """Critic fits and policy steps per evaluated batch (MA2ML's default is 1; module docstring, CHOICES)."""
    critic_weight_decay: float = 1.0
    """Decoupled weight decay of every critic member (MA2ML's default is 0; module docstring, CHOICES)."""
    proposal_pool: int = 16
    """Candidates drawn from the policies per pipeline asked for (m = proposal_pool x max(n, minibatch_size))."""
    critic_ensemble: int = 5
    """E, critic members (1: one critic, no bonus)."""
    exploration_bonus: float = 1.0
    """beta, weight of the members' standard deviation in the screen's score."""
    local_share: float = 0.5
    """Local candidates (one-token mutants of the best evaluated pipelines) per policy draw; 0: none."""
    local_parents: int = 8
    """How many of the best evaluated pipelines (by observed reward) the local candidates mutate."""
    local_coverage: float = 0.5
    """c: where the local candidates L number fewer than c x N, N the size of the parents' one-token
    neighbourhoods, they are cut to L x L / (c x N) (0: never cut)."""
    proposal_temperature: float = 0.5
    """T of the policies' proposals where the critic cannot rank (rho <= ``SKILL_LOW``; 1 where the screen trusts
    it, before its skill is measured and with ``adaptive_pool`` off, geometric in between): every token drawn from
    softmax(logits / T), below 1 nearer the policy's mode (module docstring, step 1). The policy step's draws stay
    at 1."""
    entropy: float = 0.0
    """alpha: weight of an entropy bonus in the per-token loss, -alpha sum_i H_i with H_i pi_i's entropy summed over
    the positions along the drawn rows' prefixes (0: none; needs ``token_credit``). Measured, not a default
    (docs/ma2ml_study.md, section 19)."""
    imitation: float = 0.0
    """w: weight of the policies' self-imitation of the batch just evaluated (module docstring; 0: none)."""
    token_credit: bool = True
    """Per-token policy gradient: every token's expected gradient under the critic's one-token counterfactuals
    (module docstring, step 3); False: MA2ML's sampled per-agent gradient."""
    recall_known: bool = False
    """Not the screen's: it drops known pipelines from its candidates itself (``screening.screen``)."""
    adaptive_pool: bool = True
    """Set the pool from the critic's measured ranking skill: ``proposal_pool`` draws per pipeline asked for
    while its Spearman rho on the last ``SKILL_WINDOW`` evaluations, each scored before the critic learnt from
    it, is at least ``SKILL_HIGH``, ``MIN_POOL`` at ``SKILL_LOW`` or below, geometric in between (module
    docstring, step 1)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("proposal_pool", "critic_ensemble", "local_parents"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"screened MA2ML config: {name} must be >= 1, got {getattr(self, name)!r}")
        if not self.exploration_bonus >= 0.0:
            raise ValueError(f"screened MA2ML config: exploration_bonus must be >= 0, got {self.exploration_bonus!r}")
        if not self.proposal_temperature > 0.0:
            raise ValueError(
                f"screened MA2ML config: proposal_temperature must be > 0, got {self.proposal_temperature!r}"
            )
        for name in ("local_share", "local_coverage", "imitation", "entropy"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"screened MA2ML config: {name} must be >= 0, got {getattr(self, name)!r}")
        if self.recall_known:
            raise ValueError(
                "screened MA2ML config: recall_known=True has no use here, the screen evaluates only new pipelines "
                "already; leave it False (recall is for ma2ml, ma2ml_onpolicy, ma2ml_lite and reinforce)"
            )
        if self.entropy > 0.0 and not self.token_credit:
            raise ValueError("screened MA2ML config: entropy is a term of the per-token loss; set token_credit=True")


class ScreenedMA2ML(MA2ML):
    """MA2ML whose critic ensemble screens the policies' draws; see the module docstring."""

    name = "ma2ml_screened"
    config: ScreenedConfig
    SKILL_WINDOW = 192
    """Evaluations (the newest) over which ``adaptive_pool`` measures the critic's Spearman rho (8 batches of 24)."""
    SKILL_MIN = 96
    """Scored evaluations needed before ``adaptive_pool`` moves the pool from ``proposal_pool``."""
    SKILL_LOW, SKILL_HIGH = 0.3, 0.6
    """rho at or below which the pool is ``MIN_POOL``, at or above which it is ``proposal_pool``."""
    MIN_POOL = 1

    @classmethod
    def default_config(cls) -> ScreenedConfig:
        return ScreenedConfig()

    def build(self, generator: torch.Generator) -> None:
        super().build(generator)
        config = self.config
        if config.critic_ensemble > 1:
            self.critic = CriticEnsemble(  # type: ignore[assignment]
                self.space.flat_nvec,
                size=config.critic_ensemble,
                hidden_size=config.critic_hidden_size,
                num_layers=config.critic_layers,
            )
            self.critic.reset_parameters(generator)
            self.critic_optimizer = critic_optimizer(self.critic, config)
        self.known: set[tuple[int, ...]] = set()
        self.ranked: torch.Tensor | None = None
        """The last screen's candidates not yet proposed, best first; None once an update has changed the critic."""
        self.ranked_new = 0
        self.evaluated: tuple[torch.Tensor, torch.Tensor] | None = None
        """The batch an update is learning from, while it runs (for the self-imitation term)."""
        self.skill_pairs = torch.zeros(0, 2, device=self.device)
        """(critic's score before the fit, observed reward) of the newest evaluations, at most ``SKILL_WINDOW``."""

    def act(self, n: int) -> dict[str, np.ndarray]:
        """n joint actions screened by the critic from the policies' draws (module docstring).

        The screen's ranking is kept until the next update: asks in between (an asynchronous search asks for one
        pipeline per free worker) take the next best new rows of it, as one batch of their total size would.
        """
        if self.ranked is None or self.ranked_new < n:
            self.ranked, self.ranked_new = self._screen_pool(n)
        chosen, self.ranked = self.ranked[:n], self.ranked[n:]
        self.ranked_new = max(0, self.ranked_new - n)
        # Proposed counts as known at once: asynchronous searches ask again while these are still in flight.
        self.known.update(row_keys(chosen))
        return self.space.to_env(chosen)

    def _screen_pool(self, n: int) -> tuple[torch.Tensor, int]:
        """Every candidate of a fresh pool, new distinct rows first by the screen's score, and how many are new."""
        m = self.pool_size() * max(n, self.config.minibatch_size)
        candidates = self.sample_tokens(m, temperature=self.proposal_temperature())
        local = self.local_count(m)
        if local:
            candidates = torch.cat([candidates, self.local_tokens(local)])
        if len(set(row_keys(candidates)) - self.known) < n:
            candidates = torch.cat([candidates, self.uniform_tokens(m)])
        if len(self.replay) == 0:
            scores = torch.zeros(candidates.shape[0], device=candidates.device)
        else:
            scores = self.screen_scores(candidates)
        ranked = screen(candidates, candidates.shape[0], scores=scores, known=self.known)
        return ranked, len(set(row_keys(candidates)) - self.known)

    def critic_skill(self) -> float | None:
        """Spearman rho between the critic's scores before each fit and the rewards, over the newest evaluations;
        None before ``SKILL_MIN`` of them or while their scores or rewards are all equal."""
        if self.skill_pairs.shape[0] < self.SKILL_MIN:
            return None
        pairs = self.skill_pairs.double().cpu().numpy()
        rho = rank_correlation(pairs[:, 0], pairs[:, 1])
        return None if math.isnan(rho) else rho

    def critic_greed(self) -> float:
        """How far the screen trusts the critic, in [0, 1]: 1 without ``adaptive_pool`` or before its skill is
        measured, else (rho - ``SKILL_LOW``) / (``SKILL_HIGH`` - ``SKILL_LOW``) clipped (module docstring, step 1)."""
        rho = self.critic_skill()
        if not self.config.adaptive_pool or rho is None:
            return 1.0
        return min(max((rho - self.SKILL_LOW) / (self.SKILL_HIGH - self.SKILL_LOW), 0.0), 1.0)

    def pool_size(self) -> int:
        """Draws per pipeline asked for: ``proposal_pool``, or with ``adaptive_pool`` set by the critic's skill."""
        pool = self.config.proposal_pool
        if pool <= self.MIN_POOL:
            return pool
        return round(self.MIN_POOL * (pool / self.MIN_POOL) ** self.critic_greed())

    def proposal_temperature(self) -> float:
        """T of the policies' proposals: ``proposal_temperature`` where the critic cannot rank, 1 where the screen
        trusts it fully, geometric in between (module docstring, step 1)."""
        return self.config.proposal_temperature ** (1.0 - self.critic_greed())

    @torch.no_grad()
    def uniform_tokens(self, n: int) -> torch.Tensor:
        """(n, total_tokens) rows drawn uniformly from the joint space (``act``'s generator)."""
        nvec = torch.tensor(self.space.flat_nvec, device=self.device)
        draws = torch.rand(n, len(nvec), generator=self.act_generator, device=self.device)
        return (draws * nvec).long().clamp(max=nvec - 1)

    def local_count(self, m: int) -> int:
        """How many local candidates a pool of m policy draws gets (module docstring): none before any result."""
        config = self.config
        if not len(self.replay):
            return 0
        wanted = config.local_share * m
        parents = min(config.local_parents, len(self.replay))
        neighbourhoods = parents * sum(n - 1 for n in self.space.flat_nvec)
        if wanted < config.local_coverage * neighbourhoods:
            wanted *= wanted / (config.local_coverage * neighbourhoods)
        return round(wanted)

    @torch.no_grad()
    def local_tokens(self, n: int) -> torch.Tensor:
        """(n, total_tokens) one-token mutants of the ``local_parents`` best replay rows (``act``'s generator)."""
        rewards = self.replay.rewards[: len(self.replay)]
        parents = self.replay.actions[torch.topk(rewards, min(self.config.local_parents, len(rewards))).indices]
        g = self.act_generator
        rows = parents[torch.randint(parents.shape[0], (n,), generator=g, device=g.device).to(parents.device)].clone()
        nvec = torch.tensor(self.space.flat_nvec, device=rows.device)
        position = torch.randint(rows.shape[1], (n,), generator=g, device=g.device).to(rows.device)
        width = nvec[position]
        # A uniform draw among the other values of the position: shift by 1..width-1 (modulo width).
        shift = 1 + (torch.rand(n, generator=g, device=g.device).to(rows.device) * (width - 1)).long()
        index = torch.arange(n, device=rows.device)
        rows[index, position] = (rows[index, position] + shift) % width
        return rows

    @torch.no_grad()
    def screen_scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """(n,) u(A) = mean + beta * std over the critic members (the mean alone with one critic)."""
        if not isinstance(self.critic, CriticEnsemble):
            return self.critic(tokens)
        values = self.critic.members(tokens)
        return values.mean(dim=0) + self.config.exploration_bonus * values.std(dim=0)

    def update(self, actions: Mapping[str, np.ndarray], rewards: np.ndarray) -> dict[str, float]:
        """The screened batch teaches the critic; the policy step draws from the current policies."""
        return self.tell(actions, rewards)

    def update_tokens(
        self, tokens: torch.Tensor, rewards: torch.Tensor, *, drawn_by_current_policies: bool = False
    ) -> dict[str, float]:
        self.known.update(row_keys(tokens))
        self.ranked = None
        self.evaluated = (tokens, rewards)
        if len(self.replay):  # the critic has learnt something: how well it ranks what it has not seen yet
            with torch.no_grad():
                scored = torch.stack([self.critic(tokens).float(), rewards.float()], dim=1)
            self.skill_pairs = torch.cat([self.skill_pairs, scored])[-self.SKILL_WINDOW :]
        try:
            stats = super().update_tokens(tokens, rewards, drawn_by_current_policies=False)
        finally:
            self.evaluated = None
        rho = self.critic_skill()
        if rho is not None:
            stats["critic_skill"] = rho
        return {**stats, "pool": float(self.pool_size())}

    def _policy_loss(self, tokens: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The policy loss on fresh draws (per token, or MA2ML's), plus w x the self-imitation loss of the batch just
        evaluated."""
        loss, stats = self._token_credit_loss(tokens) if self.config.token_credit else super()._policy_loss(tokens)
        if self.config.imitation > 0.0 and self.evaluated is not None:
            imitation, stats["imitation_share"] = self._imitation_loss(*self.evaluated)
            loss = loss + self.config.imitation * imitation
        return loss, stats

    def _token_credit_loss(self, tokens: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """-sum_i sum_t E_rows[ sum_v pi_i(v | prefix) (Q(A_{t<-v}) - b_t) ] + sum_i (lam KL_i - alpha H_i) along the
        rows' prefixes (alpha = ``entropy``).

        Q(A_{t<-v}) is the critic on the row with token t set to v, b_t = sum_v pi_i(v | prefix) Q(A_{t<-v}) (no
        gradient through either): the expectation over token t's values is exact, so only the other tokens are
        sampled (module docstring, step 3). The stats' ``policy_entropy`` is sum_i H_i, the joint policy's entropy in
        nats estimated on the rows (each position's entropy given the row's prefix).
        """
        with torch.no_grad():
            q = self.critic.substitutions(tokens)
        losses, kls, spreads, entropies = [], [], [], []
        for group, policy, target in zip(self.groups, self.policies, self.target_policies, strict=True):
            table = policy.log_prob_table(tokens[:, group])
            probs = table.exp()
            with torch.no_grad():
                values = q[:, group, : table.shape[2]]
                advantage = values - (probs * values).sum(dim=2, keepdim=True)
                target_table = target.log_prob_table(tokens[:, group])
            kl = (probs * (table - target_table)).sum(dim=(1, 2)).mean()
            entropy = -(probs * table).sum(dim=(1, 2)).mean()
            gain = (probs * advantage).sum(dim=(1, 2)).mean()
            losses.append(self.config.lam * kl - self.config.entropy * entropy - gain)
            kls.append(float(kl.detach()))
            entropies.append(float(entropy.detach()))
            spreads.append(float((probs.detach() * advantage**2).sum(dim=2).mean().sqrt()))
        loss = torch.stack(losses).sum()
        stats = {"policy_loss": float(loss.detach()), "advantage_std": sum(spreads) / len(spreads)}
        return loss, {**stats, "kl_mean": sum(kls) / len(kls), "policy_entropy": sum(entropies)}

    def _imitation_loss(self, tokens: torch.Tensor, rewards: torch.Tensor) -> tuple[torch.Tensor, float]:
        """-sum_i mean_rows (R - b_i)_+ log pi_i(A_i) on evaluated rows, and the share of (row, agent) terms > 0.

        R in the critic's units, b_i the counterfactual baseline under the current policies: an agent imitates
        its part of an evaluated pipeline only where the observed reward beat what its policy gets on average
        with the other agents' choices held (self-imitation learning, Oh et al. 2018, with MA2ML's credit).
        """
        targets = self.critic_targets(rewards)
        losses, positive = [], 0
        for group, policy, target in zip(self.groups, self.policies, self.target_policies, strict=True):
            own = tokens[:, group]
            cf = self._counterfactual(tokens, group, policy, target)
            gain = (targets - cf.baseline).clamp(min=0.0)
            positive += int((gain > 0).sum())
            losses.append((gain * _pick(policy.log_prob_table(own), own)).mean())
        return -torch.stack(losses).sum(), positive / (tokens.shape[0] * len(self.groups))

    def _minibatch(self, tokens: torch.Tensor, rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One regression set per critic member (the newest batch plus its own replay draw), stacked."""
        if not isinstance(self.critic, CriticEnsemble):
            return super()._minibatch(tokens, rewards)
        parts = [super(ScreenedMA2ML, self)._minibatch(tokens, rewards) for _ in range(self.critic.size)]
        return torch.cat([rows for rows, _ in parts]), torch.cat([targets for _, targets in parts])

    def extra_state(self) -> dict[str, Any]:
        known = torch.tensor(sorted(self.known), dtype=torch.long).reshape(-1, self.space.total_tokens)
        return {**super().extra_state(), "known": known, "skill_pairs": self.skill_pairs}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.known = set(row_keys(state["known"]))
        self.ranked = None
        # Checkpoints written before adaptive_pool existed hold no pairs: the pool then starts from proposal_pool.
        self.skill_pairs = state.get("skill_pairs", torch.zeros(0, 2)).to(self.device)
