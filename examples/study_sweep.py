"""Budget diagnostics of searches over many seeds: ``study_ma2ml.py sweep`` and ``study_ma2ml.py summary``.

    python examples/study_ma2ml.py sweep --task nb201-cifar100 --algorithms ma2ml tpe rea --seeds 10-29 \
        --batches 42 --out runs/study/nb201.jsonl
    python examples/study_ma2ml.py summary runs/study/nb201.jsonl --budgets 96 312 1008

``sweep`` runs each (algorithm, seed) as ``run_search`` does (batch b under env seed derived_seed(seed, b))
without writing a run folder, and appends one JSON line per run: after every evaluation, the best noise-free
reward among the pipelines evaluated ("best": the table's mean over recorded runs, or the synthetic backend's
expected accuracy) and the noise-free reward of the pipeline with the best observed reward ("deployed", what a
user would keep; equal to "best" on noise-free tables such as NAS-Bench-201's); duplicates per batch; for the
controller searches each policy's entropy fraction; with a critic, Spearman's rho between Q and the rewards of
the next batch before the critic learns from it (``ma2ml_agents.diagnostics``), and for TPE the same rho for its own
model, log l(x) - log g(x) (``TPE.acquisition``). ``summary`` prints, per budget, means with 95% bootstrap intervals
over seeds, and the median evaluations to reach random search's exact expected best-of-max(budgets) and the table's
best ("best" curve; complete tables only).
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def noise_free_scorer(task: str, backend_name: str | None) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """Noise-free accuracy of env actions: a table's mean over recorded seeds, or the synthetic expectation."""
    import automl_env

    kwargs = {} if backend_name is None else {"backend": backend_name}
    env = automl_env.parallel_env(task, **kwargs)
    backend, agents = env.backend, list(env.possible_agents)
    if hasattr(backend, "expected_accuracy_tokens"):
        return lambda actions: np.asarray(backend.expected_accuracy_tokens(actions), dtype=np.float64)
    records = backend.table.records(backend.task.search_fidelity, "validation")
    means = records.mean_accuracy()

    def score(actions: dict[str, np.ndarray]) -> np.ndarray:
        tokens = np.concatenate([np.asarray(actions[a]).reshape(len(actions[a]), -1) for a in agents], axis=1)
        rows = backend.table.lookup(records.fidelity, "validation", tokens)
        return np.where(rows >= 0, means[np.maximum(rows, 0)], np.nan)

    return score


def random_targets(task: str, budgets: Sequence[int]) -> list[float] | None:
    """Random search's exact expected noise-free best of each budget, over a complete table (else None)."""
    import automl_env
    from automl_env.order_statistics import expected_best_of_random

    backend = automl_env.parallel_env(task).backend
    if not hasattr(backend, "table") or not backend.complete():
        return None
    means = backend.table.records(backend.task.search_fidelity, "validation").mean_accuracy()
    return [float(v) for v in np.atleast_1d(expected_best_of_random(means, list(budgets)))]


def run_one(
    task: str,
    algorithm_name: str,
    seed: int,
    *,
    batches: int,
    batch_size: int = 24,
    every: int = 1,
    overrides: Sequence[tuple[str, str]] = (),
    **env_kwargs: Any,
) -> dict[str, Any]:
    """One search's trace (module docstring); ``every``: batches between entropy measurements; ``overrides``:
    config fields as ``benchmark.py --set`` takes them (the trace's algorithm is labelled with them)."""
    import automl_env
    from baselines import make_search
    from baselines.benchmark import algorithm_config
    from ma2ml_agents.base import derived_seed
    from ma2ml_agents.diagnostics import DuplicateCounter, entropy_fraction, rank_correlation
    from ma2ml_agents.evaluator import BatchEvaluator

    env = automl_env.vector_env(task, num_envs=batch_size, seed=seed, **env_kwargs)
    score = noise_free_scorer(task, env_kwargs.get("backend"))
    config = algorithm_config(algorithm_name, overrides)
    search = make_search(algorithm_name, env, seed=seed, batches=batches, config=config)
    evaluator, duplicates = BatchEvaluator(env), DuplicateCounter()
    policies = list(getattr(search, "policies", []))
    applied = [(key, value) for key, value in overrides if config is not None and hasattr(config, key)]
    label = algorithm_name + "".join(f" {key}={value}" for key, value in applied)
    trace: dict[str, Any] = {"task": task, "algorithm": label, "seed": seed, "batch_size": batch_size}
    best, curve, repeats, spearman, entropies = -math.inf, [], [], [], []
    best_observed, deployed_value, deployed = -math.inf, math.nan, []
    started = time.perf_counter()
    for batch in range(batches):
        if policies and batch % every == 0:
            entropies.append([batch * batch_size, *(entropy_fraction(p) for p in policies)])
        actions = search.act(batch_size)
        rewards, _ = evaluator.evaluate(actions, seed=derived_seed(seed, batch))
        if batch > 0 and hasattr(search, "critic"):
            with torch.no_grad():
                q = search.critic(search.space.to_tensor(actions)).numpy()
            spearman.append(rank_correlation(q, rewards))
        elif batch > 0 and hasattr(search, "acquisition"):  # TPE: its l(x) / g(x), the model it proposes by
            spearman.append(rank_correlation(search.acquisition(search.space.rows_from_env(actions)), rewards))
        tokens = np.concatenate([np.asarray(actions[a]).reshape(batch_size, -1) for a in sorted(actions)], axis=1)
        repeats.append(duplicates.add(tokens))
        for value, reward in zip(score(actions), rewards, strict=True):
            best = max(best, float(value))
            curve.append(best)
            if reward > best_observed:  # the pipeline a user would deploy: the best observed reward's
                best_observed, deployed_value = float(reward), float(value)
            deployed.append(deployed_value)
        search.update(actions, rewards)
    trace.update(curve=curve, deployed=deployed, duplicates=repeats, spearman=spearman, entropy=entropies)
    trace["seconds"] = time.perf_counter() - started
    return trace


def bootstrap_interval(values: Sequence[float], statistic: Callable[..., Any] = np.mean) -> tuple[float, float]:
    """95% percentile bootstrap interval of ``statistic`` over seeds (scipy.stats.bootstrap, fixed seed).

    Percentile rather than BCa: BCa is undefined for a median over tied values (evaluation counts often tie).
    """
    from scipy.stats import bootstrap

    data = np.asarray(values, dtype=np.float64)
    if data.size < 2 or np.ptp(data) == 0:
        return float(statistic(data)), float(statistic(data))
    result = bootstrap((data,), statistic, confidence_level=0.95, n_resamples=4000, random_state=0, method="percentile")
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarise(traces: Sequence[dict[str, Any]], budgets: Sequence[int]) -> list[str]:
    """Per (task, algorithm): evaluations to reach random's expected best-of-max(budgets) and the table's best
    (median over seeds, 95% interval; a run that never does counts as twice its length), then one line per
    budget: the noise-free best, duplicates, the model's next-batch rho (last 4 batches; critic or TPE) and H/Hmax
    per agent."""
    lines = []
    for task in dict.fromkeys(t["task"] for t in traces):
        targets = random_targets(task, [*budgets, 10**9])  # 10**9 draws: the table's best, to float precision
        lines.append(f"{task}: random's exact expected best {dict(zip(budgets, targets or [], strict=False))}")
        for name in dict.fromkeys(t["algorithm"] for t in traces if t["task"] == task):
            runs = [t for t in traces if t["task"] == task and t["algorithm"] == name]
            header = f"  {name} ({len(runs)} seeds)"
            if targets is not None:
                header += "".join(f" | evals to {target:.4f}: {_reach(runs, target)}" for target in targets[-2:])
            lines.append(header)
            lines += ["    " + _budget_line(runs, budget) for budget in budgets]
    return lines


def _reach(runs: Sequence[dict[str, Any]], target: float) -> str:
    from ma2ml_agents.diagnostics import evaluations_to_reach

    reach = [evaluations_to_reach(r["curve"], target - 1e-9) for r in runs]
    finite = [v if math.isfinite(v) else 2.0 * len(r["curve"]) for v, r in zip(reach, runs, strict=True)]
    low, high = bootstrap_interval(finite, np.median)
    never = sum(not math.isfinite(v) for v in reach)
    return f"median {np.median(finite):.0f} [{low:.0f}, {high:.0f}]" + (f" ({never} never)" if never else "")


def _budget_line(runs: Sequence[dict[str, Any]], budget: int) -> str:
    best = [r["curve"][min(budget, len(r["curve"])) - 1] for r in runs]
    low, high = bootstrap_interval(best)
    line = f"@{budget:5d}: best {np.mean(best):.4f} [{low:.4f}, {high:.4f}]"
    if all("deployed" in r for r in runs):
        deployed = [r["deployed"][min(budget, len(r["deployed"])) - 1] for r in runs]
        low, high = bootstrap_interval(deployed)
        line += f" | deployed {np.mean(deployed):.4f} [{low:.4f}, {high:.4f}]"
    batches = budget // runs[0]["batch_size"]
    dup = np.mean([sum(r["duplicates"][:batches]) / budget for r in runs])
    line += f" | dup {dup:.3f}"
    if runs[0]["spearman"]:
        with warnings.catch_warnings():  # a run whose last batches were constant has no rank correlation
            warnings.simplefilter("ignore", RuntimeWarning)
            rho = [np.nanmean(r["spearman"][max(0, batches - 4) : batches] or [np.nan]) for r in runs]
            line += f" | rho(next batch) {np.nanmean(rho):+.2f}"
    if runs[0]["entropy"]:
        at = [[e for e in r["entropy"] if e[0] < budget][-1][1:] for r in runs]
        line += " | H/Hmax " + "/".join(f"{v:.2f}" for v in np.mean(at, axis=0))
    return line


def append_trace(path: Path, trace: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(trace) + "\n")


def read_traces(paths: Sequence[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def seeds_of(text: str) -> list[int]:
    """'10-29' -> 10..29; '0,3,5' -> [0, 3, 5]."""
    if "-" in text:
        first, last = (int(v) for v in text.split("-", 1))
        return list(range(first, last + 1))
    return [int(v) for v in text.split(",")]


def cli(argv: Sequence[str]) -> None:
    """``sweep`` and ``summary`` (module docstring)."""
    import argparse

    parser = argparse.ArgumentParser(prog="study_ma2ml.py")
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="run searches and append their traces to --out")
    sweep.add_argument("--task", required=True)
    sweep.add_argument("--backend", default=None, help="the env's backend (default: the task's)")
    sweep.add_argument("--algorithms", nargs="+", required=True)
    sweep.add_argument("--seeds", default="10-29", help="'10-29' or '1,2,3' (default: %(default)s)")
    sweep.add_argument("--batches", type=int, default=42)
    sweep.add_argument("--every", type=int, default=1, help="batches between entropy measurements")
    sweep.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="config override")
    sweep.add_argument("--out", type=Path, required=True)
    summary = commands.add_parser("summary", help="summarise trace files")
    summary.add_argument("paths", type=Path, nargs="+")
    summary.add_argument("--budgets", type=int, nargs="+", default=[96, 312, 1008])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.command == "summary":
        print("\n".join(summarise(read_traces(args.paths), args.budgets)))
        return
    env_kwargs = {} if args.backend is None else {"backend": args.backend}
    overrides = [tuple(item.split("=", 1)) for item in args.set]
    for name in args.algorithms:
        for seed in seeds_of(args.seeds):
            trace = run_one(
                args.task, name, seed, batches=args.batches, every=args.every, overrides=overrides, **env_kwargs
            )
            append_trace(args.out, trace)
            best, seconds = trace["curve"][-1], trace["seconds"]
            print(f"{args.task} {name} seed {seed}: best {best:.4f} ({seconds:.1f}s)", flush=True)
