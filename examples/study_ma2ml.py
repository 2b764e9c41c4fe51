"""Diagnostics of the MA2ML family (docs/ma2ml_study.md).

Over many seeds and any task, with intervals (issue 19): ``study_ma2ml.py sweep ...`` and ``study_ma2ml.py
summary ...`` (``study_sweep.py``). One run traced in detail on the synthetic cifar100 benchmark:

    python examples/study_ma2ml.py --algorithm ma2ml --seed 0 --batches 167 --every 20 [--set policy_lr=4e-3]
        [--backend synthetic-rugged]

Runs one search loop by hand (same env, seeds and batch evaluation as ``run_search``) and prints, every
``--every`` batches:

- the batch-mean reward and the best so far;
- per agent, how far the policy is from uniform: mean per-token entropy as a fraction of the uniform
  entropy (1.0 = uniform) and the mean probability of the most likely choice per token, measured on 256
  fresh samples;
- for the critic-based variants, the critic's fit on the batch just evaluated *before* it learns from it
  (held-out): MSE, the variance of the rewards, R^2 = 1 - MSE/var and corr(Q, R);
- per agent, the advantage the policy step used: mean, std, corr with the centred reward R - mean(R), and
  the size of its KL terms (std of lam * log(pi/rho), value of lam * KL);
- for the critic-based variants, how well the critic ranks what its policies draw now (the joint actions its policy
  gradient is estimated on): Spearman's rho between Q and the noise-free value of 2,000 fresh draws, and on
  ``--backend synthetic-rugged`` also between Q and the draws' smooth part (the value without the hash-like
  field, ``gain_parts``) and between the value and the smooth part;
- for the critic-based variants, how well the critic knows the effect of one-token moves (what the per-token credit
  of ``ma2ml_screened`` is made of): every one-token move of 24 fresh draws, Spearman's rho between the critic's
  change Q(A_{t<-v}) - Q(A) and the move's true change of the noise-free value (and of the smooth part), over all
  moves and over the moves the policies weigh (pi(v | prefix) >= 0.05), and the share of moves that raise the value
  (the smooth part where the backend splits it).

``--oracle-critic`` replaces the critic by the backend's exact noise-free accuracy (``--oracle-critic smooth``: on
synthetic-rugged, the accuracy without the field), isolating the algorithm from the critic's error.

Single process, one torch thread.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from baselines.benchmark import algorithm_config


@torch.no_grad()
def policy_drift(algorithm, n: int = 256) -> list[tuple[float, float]]:
    """Per agent: (mean entropy / uniform entropy, mean max-prob) per token over n fresh samples."""
    generator = torch.Generator().manual_seed(12345)
    out = []
    for policy in algorithm.policies:
        sample = policy.sample(n, generator=generator)
        table = sample.log_probs  # (n, T, K), masked = -1e9
        probs = table.exp()
        entropy = -(probs * table.clamp(min=-1e4)).sum(-1)  # (n, T)
        uniform = torch.tensor([math.log(k) for k in policy.nvec]).clamp(min=1e-12)
        keep = torch.tensor([k > 1 for k in policy.nvec])
        ratio = (entropy[:, keep] / uniform[keep]).mean()
        max_prob = probs.max(-1).values[:, keep].mean()
        out.append((float(ratio), float(max_prob)))
    return out


def task_rows(env, actions: dict[str, np.ndarray], n: int):
    """The backend's token rows of n joint actions in the env's values."""
    return env.codec.task_tokens(env.codec.validate_batch(actions, n))


def true_parts(algorithm, env, tokens: torch.Tensor) -> dict[str, np.ndarray]:
    """The noise-free value of the algorithm's token rows and, where the backend splits it, their smooth part."""
    rows = task_rows(env, algorithm.space.to_env(tokens), tokens.shape[0])
    parts = {"value": np.asarray(env.backend.expected_accuracy_tokens(rows))}
    if hasattr(env.backend, "gain_parts"):
        parts["smooth"] = np.asarray(env.backend.gain_parts(rows)[0])
    return parts


DRAWS = 2000
"""Fresh joint actions drawn from the policies for the critic's ranking check."""


@torch.no_grad()
def draw_ranking(algorithm, env, generator: torch.Generator) -> str:
    """Spearman's rho of the critic's Q with the noise-free value (and, where the backend splits it, the smooth
    part) of ``DRAWS`` fresh draws from the current policies; ``generator`` keeps the run's own randomness."""
    from ma2ml_agents.diagnostics import rank_correlation

    tokens = algorithm.sample_tokens(DRAWS, generator=generator)
    parts = true_parts(algorithm, env, tokens)
    value = parts["value"]
    q = algorithm.critic(tokens).double().numpy()
    line = f"rho(Q, value) {rank_correlation(q, value):+.3f}"
    if "smooth" in parts:
        smooth = parts["smooth"]
        line += f" rho(Q, smooth) {rank_correlation(q, smooth):+.3f} rho(value, smooth) "
        line += f"{rank_correlation(value, smooth):+.3f}"
    return line


CREDIT_ROWS = 24
"""Fresh joint actions whose every one-token move the credit check scores."""
WEIGHED = 0.05
"""pi(v | prefix) from which a move counts as one the policies weigh."""


@torch.no_grad()
def credit_ranking(algorithm, env, generator: torch.Generator) -> str:
    """The critic's one-token changes against the true ones, over every one-token move of ``CREDIT_ROWS`` fresh
    draws (module docstring); ``generator`` keeps the run's own randomness."""
    from ma2ml_agents.diagnostics import rank_correlation

    tokens = algorithm.sample_tokens(CREDIT_ROWS, generator=generator)
    n, width = tokens.shape
    nvec = torch.tensor(algorithm.space.flat_nvec)
    choices = torch.arange(int(nvec.max()))
    moves = (choices[None, None, :] < nvec[None, :, None]) & (choices[None, None, :] != tokens[:, :, None])
    row, position, value = moves.nonzero(as_tuple=True)
    mutants = tokens[row].clone()
    mutants[torch.arange(row.numel()), position] = value
    critic_change = (algorithm.critic.substitutions(tokens) - algorithm.critic(tokens)[:, None, None])[moves]
    probs = torch.zeros(n, width, choices.numel())
    for group, policy in zip(algorithm.groups, algorithm.policies, strict=True):
        table = policy.log_prob_table(tokens[:, group]).exp()
        probs[:, group, : table.shape[2]] = table
    weighed = (probs[moves] >= WEIGHED).numpy()
    before, after = true_parts(algorithm, env, tokens), true_parts(algorithm, env, mutants)
    dq = critic_change.double().numpy()
    line = f"{row.numel()} moves, {weighed.mean():.0%} weighed:"
    for name in before:
        change = after[name] - before[name][row.numpy()]
        on_weighed = rank_correlation(dq[weighed], change[weighed])
        line += f" rho(dQ, d{name}) {rank_correlation(dq, change):+.3f}, weighed {on_weighed:+.3f},"
        line += f" {np.mean(change > 0):.0%} raise it;"
    return line.rstrip(";")


ORACLE_PARTS = ("value", "smooth")


class OracleQ(torch.nn.Module):
    """Q(A) = the synthetic backend's noise-free accuracy of the joint token rows A, in the critic's units; with
    ``part="smooth"`` (synthetic-rugged) the accuracy without the hash-like field: a model of everything that a model
    can learn there."""

    def __init__(self, space, backend, targets, part: str = "value") -> None:
        super().__init__()
        if part not in ORACLE_PARTS or (part == "smooth" and not hasattr(backend, "gain_parts")):
            raise ValueError(f"an exact critic of {part!r}: parts are {ORACLE_PARTS}, 'smooth' on synthetic-rugged")
        self.space, self.backend, self.targets, self.part = space, backend, targets, part

    def start_at(self, level: float) -> None:
        """Exact from the start: nothing to shift."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = self.space.to_env(tokens)
        accuracy = np.asarray(self.backend.expected_accuracy_tokens(rows))
        if self.part == "smooth":  # accuracy is affine in the gain G, so the field's share of it is gain_scale x F
            accuracy = accuracy - self.backend.calibration.gain_scale * self.backend.gain_parts(rows)[1]
        return self.targets(torch.as_tensor(accuracy, dtype=torch.float32))

    def substitutions(self, tokens: torch.Tensor) -> torch.Tensor:
        """(n, T, max_choices): Q of every row with token t set to v, as ``JointCritic.substitutions`` (values past a
        position's count repeat its last), by evaluating every such row."""
        n, width = tokens.shape
        nvec = torch.tensor(self.space.flat_nvec)
        values = torch.arange(int(nvec.max()))[None, :].clamp(max=nvec[:, None] - 1)  # (T, max_choices)
        rows = tokens[:, None, None, :].repeat(1, width, values.shape[1], 1)
        for t in range(width):
            rows[:, t, :, t] = values[t]
        return self(rows.reshape(-1, width)).reshape(n, width, values.shape[1])


def main() -> None:
    if sys.argv[1:2] in (["sweep"], ["summary"]):
        from study_sweep import cli

        cli(sys.argv[1:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--algorithm", default="ma2ml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batches", type=int, default=167)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--backend", default="synthetic", help="a synthetic backend of cifar100 (default: synthetic)")
    parser.add_argument(
        "--oracle-critic",
        nargs="?",
        const="value",
        choices=ORACLE_PARTS,
        help="experiment: Q = the synthetic backend's exact noise-free accuracy (no critic learning); 'smooth': "
        "without synthetic-rugged's field",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    import automl_env
    from baselines import make_search
    from ma2ml_agents.base import derived_seed
    from ma2ml_agents.evaluator import BatchEvaluator

    overrides = [tuple(item.split("=", 1)) for item in args.set]
    config = algorithm_config(args.algorithm, overrides)
    env = automl_env.vector_env("cifar100", num_envs=args.batch_size, backend=args.backend, seed=args.seed)
    algorithm = make_search(args.algorithm, env, seed=args.seed, batches=args.batches, config=config)
    evaluator = BatchEvaluator(env)
    if args.oracle_critic:
        backend = automl_env.parallel_env("cifar100", backend=args.backend).backend
        algorithm.critic = OracleQ(algorithm.space, backend, algorithm.critic_targets, part=args.oracle_critic)
        algorithm._critic_step = lambda tokens, rewards: 0.0
    agents = list(algorithm.space.agents) if hasattr(algorithm, "space") else []
    has_critic = hasattr(algorithm, "critic")
    draws_generator = torch.Generator().manual_seed(derived_seed(args.seed, 54321))
    print(f"{args.algorithm} seed {args.seed} overrides {args.set} agents {agents}", flush=True)
    if hasattr(algorithm, "policies"):
        print(f"  batch 0 drift (entropy/uniform, max-prob) {_fmt(policy_drift(algorithm))}", flush=True)
    best, clean_best, started = -np.inf, -np.inf, time.perf_counter()
    fits, advs = [], []
    for batch in range(args.batches):
        actions = algorithm.act(args.batch_size)
        rewards, _ = evaluator.evaluate(actions, seed=derived_seed(args.seed, batch))
        best = max(best, float(np.max(rewards)))
        clean = env.backend.expected_accuracy_tokens(task_rows(env, actions, args.batch_size))
        clean_best = max(clean_best, float(np.max(clean)))
        if has_critic:
            tokens = algorithm.space.to_tensor(actions)
            r = algorithm.critic_targets(torch.as_tensor(rewards, dtype=torch.float32))  # the critic's units
            with torch.no_grad():
                q = algorithm.critic(tokens)
            mse, var = float(((q - r) ** 2).mean()), float(r.var(unbiased=False))
            corr = float(np.corrcoef(q.numpy(), r.numpy())[0, 1])
            fits.append((mse, var, corr))
            # The advantage as the policy step would compute it on this batch (before updating on it).
            tables = [p.log_prob_table(tokens[:, g]) for g, p in zip(algorithm.groups, algorithm.policies, strict=True)]
            generator_state = algorithm.update_generator.get_state()
            advantages, kls = algorithm.advantages(tokens, tables)
            algorithm.update_generator.set_state(generator_state)  # leave the run's randomness untouched
            centred = (r - r.mean()).numpy()
            row = []
            for i, (a, g, p, t) in enumerate(
                zip(advantages, algorithm.groups, algorithm.policies, algorithm.target_policies, strict=True)
            ):
                with torch.no_grad():
                    own = tokens[:, g]
                    log_ratio = p.log_prob(own) - t.log_prob(own)
                a_np = a.numpy()
                c = float(np.corrcoef(a_np, centred)[0, 1]) if a_np.std() > 0 else float("nan")
                row.append(
                    (
                        float(a_np.mean()),
                        float(a_np.std()),
                        c,
                        float(algorithm.config.lam * log_ratio.std()),
                        algorithm.config.lam * kls[i],
                    )
                )
            advs.append(row)
        stats = algorithm.update(actions, rewards)
        if (batch + 1) % args.every == 0 or batch + 1 == args.batches:
            line = f"batch {batch + 1:4d} mean R {np.mean(rewards):.4f} best {best:.4f} (noise-free {clean_best:.4f})"
            line += f" std R {np.std(rewards):.4f}"
            if hasattr(algorithm, "policies"):
                line += f" | drift {_fmt(policy_drift(algorithm))}"
            print(line, flush=True)
            if has_critic:
                window = fits[-args.every :]
                mse, var, corr = (float(np.nanmean([f[k] for f in window])) for k in range(3))
                print(
                    f"     critic (held-out, last {len(window)} batches): MSE {mse:.2e} var(R) {var:.2e} "
                    f"R2 {1 - mse / var:+.2f} corr {corr:+.2f} "
                    f"| train loss {stats.get('critic_loss', float('nan')):.2e}",
                    flush=True,
                )
                ranking = draw_ranking(algorithm, env, draws_generator)
                print(f"     critic on {DRAWS} fresh policy draws: {ranking}", flush=True)
                if hasattr(algorithm.critic, "substitutions"):
                    credit = credit_ranking(algorithm, env, draws_generator)
                    print(f"     one-token moves of {CREDIT_ROWS} fresh draws: {credit}", flush=True)
                for i, agent in enumerate(agents):
                    vals = np.nanmean([r[i] for r in advs[-args.every :]], axis=0)
                    print(
                        f"     adv {agent:>4}: mean {vals[0]:+.2e} std {vals[1]:.2e} corr(R-mean) {vals[2]:+.2f} "
                        f"| lam*logratio std {vals[3]:.2e} lam*KL {vals[4]:.2e}",
                        flush=True,
                    )
    print(f"done in {time.perf_counter() - started:.1f}s, best {best:.4f} (noise-free {clean_best:.4f})", flush=True)


def _fmt(drift: list[tuple[float, float]]) -> str:
    return " ".join(f"({h:.3f},{m:.3f})" for h, m in drift)


if __name__ == "__main__":
    main()
