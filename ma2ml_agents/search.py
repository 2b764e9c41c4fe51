"""The search loop: sample a batch of joint actions, evaluate it in one call, record it, update, track top-k.

Exact resume: batch b evaluates under env seed ``derived_seed(seed, b)``, so the env's state is a pure
function of (seed, b); the checkpoint holds the algorithm's weights, optimiser states, replay buffer and
generator states, and the loop's own state. A run stopped after k batches and resumed to K writes the same
evaluations, top-k and plots as an uninterrupted K-batch run with the same seed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ma2ml_agents.base import SearchAlgorithm, derived_seed
from ma2ml_agents.evaluator import BatchEvaluator
from ma2ml_agents.run_folder import RunFolder
from ma2ml_agents.topk import TopK, entry_key, plain


@dataclass
class SearchResult:
    """What a search found, and where its folder is."""

    best_reward: float
    best_info: dict[str, Any]
    best_actions: dict[str, list[int]]
    topk: list[dict[str, Any]]
    batch_means: list[float]
    topk_means: list[float]
    evaluations: int
    out_dir: Path


@dataclass
class _LoopState:
    """Everything the loop itself carries across batches (plain types: it goes into the checkpoint)."""

    next_batch: int = 0
    evaluations: int = 0
    topk: list[dict[str, Any]] = field(default_factory=list)
    batch_means: list[float] = field(default_factory=list)
    topk_means: list[float] = field(default_factory=list)
    best_rewards: list[float] = field(default_factory=list)
    update_stats: list[dict[str, float]] = field(default_factory=list)
    csv_columns: list[str] = field(default_factory=list)
    csv_bytes: int = 0


def run_search(
    env: Any,
    algorithm: SearchAlgorithm,
    *,
    batches: int,
    batch_size: int = 24,
    top_k: int = 30,
    out_dir: str | os.PathLike[str],
    seed: int,
    resume: bool = False,
    progress: bool = True,
    checkpoint_every: int = 1,
) -> SearchResult:
    """Run ``batches`` batches of ``batch_size`` evaluations and write the run folder ``out_dir``.

    ``resume=True`` continues from ``out_dir``'s checkpoint (starting fresh when there is none); without it
    an existing checkpoint is an error rather than silently overwritten.
    """
    evaluator = BatchEvaluator(env)
    if evaluator.batch_size is not None and evaluator.batch_size != batch_size:
        raise ValueError(f"batch_size {batch_size} differs from the vector env's num_envs {evaluator.batch_size}")
    folder = RunFolder(out_dir)
    run = _run_config(evaluator, algorithm, batches=batches, batch_size=batch_size, top_k=top_k, seed=seed)
    state = _start(folder, algorithm, run, resume=resume)
    topk = TopK(top_k, state.topk)
    started = time.perf_counter()
    with _display(progress, batches, state.next_batch) as display:
        for batch in range(state.next_batch, batches):
            actions = algorithm.act(batch_size)
            rewards, infos = evaluator.evaluate(actions, seed=derived_seed(seed, batch))
            _record(folder, state, topk, batch, actions, rewards, infos)
            state.update_stats.append({k: float(v) for k, v in algorithm.update(actions, rewards).items()})
            state.next_batch = batch + 1
            if state.next_batch % checkpoint_every == 0 or state.next_batch == batches:
                _checkpoint(folder, algorithm, state, topk, run)
            if display is not None:
                _show(display, state, topk, time.perf_counter() - started)
    return _finish(folder, state, topk, algorithm, evaluator)


def _run_config(
    evaluator: BatchEvaluator,
    algorithm: SearchAlgorithm,
    *,
    batches: int,
    batch_size: int,
    top_k: int,
    seed: int,
) -> dict[str, Any]:
    """The resolved configuration written to config.json and checked on resume."""
    return {
        "algorithm": algorithm.name,
        "algorithm_config": dataclasses.asdict(algorithm.config),
        "algorithm_seed": algorithm.seed,
        "seed": seed,
        "batches": batches,
        "batch_size": batch_size,
        "top_k": top_k,
        "env": evaluator.describe(),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    versions = {"torch": torch.__version__, "numpy": np.__version__}
    for package in ("automl-env", "pettingzoo", "gymnasium"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


# Fields that may differ between a run and its resumption.
_MAY_CHANGE = {"batches", "versions", "env"}


def _start(folder: RunFolder, algorithm: SearchAlgorithm, run: dict[str, Any], *, resume: bool) -> _LoopState:
    """Fresh state, or the checkpoint's (with its algorithm state loaded and the CSV cut back)."""
    checkpoint = folder.load_checkpoint()
    if checkpoint is not None and not resume:
        raise FileExistsError(f"{folder.path} already holds a run; pass resume=True or choose another out_dir")
    if checkpoint is None:
        folder.write_json("config.json", run)
        return _LoopState()
    saved = checkpoint["run"]
    changed = sorted(k for k in run if k not in _MAY_CHANGE and plain(run[k]) != saved.get(k))
    if changed:
        raise ValueError(f"cannot resume {folder.path}: settings differ from the checkpoint's: {changed}")
    algorithm.load_state_dict(checkpoint["algorithm"])
    state = _LoopState(**checkpoint["search"])
    folder.truncate_csv(state.csv_bytes)
    folder.write_json("config.json", run)
    return state


def _record(
    folder: RunFolder,
    state: _LoopState,
    topk: TopK,
    batch: int,
    actions: dict[str, np.ndarray],
    rewards: np.ndarray,
    infos: list[dict[str, Any]],
) -> None:
    """Append the batch to the CSV and the top-k, and extend the per-batch curves."""
    infos = [plain(info) for info in infos]
    if not state.csv_columns:
        fixed = {"batch", "index", "reward", "tokens", "pipeline"}
        scalars = sorted({k for info in infos for k, v in info.items() if _is_scalar(v) and k not in fixed})
        state.csv_columns = ["batch", "index", "reward", *scalars, "tokens", "pipeline"]
        state.csv_bytes = folder.start_csv(state.csv_columns)
    rows = []
    for index, (reward, info) in enumerate(zip(rewards.tolist(), infos, strict=True)):
        tokens = " | ".join(
            f"{agent}: {' '.join(map(str, values[index].tolist()))}" for agent, values in actions.items()
        )
        row = {k: v for k, v in info.items() if _is_scalar(v)}
        row.update(batch=batch, index=index, reward=reward, tokens=tokens, pipeline=info.get("pipeline", ""))
        rows.append(row)
        per_agent = {agent: values[index].tolist() for agent, values in actions.items()}
        key = entry_key(tokens, info)
        entry = {"key": key, "reward": reward, "batch": batch, "index": index, "actions": per_agent, "info": info}
        topk.add(entry)
    state.csv_bytes = folder.append_csv(state.csv_columns, rows)
    state.evaluations += len(rows)
    state.batch_means.append(float(np.mean(rewards)))
    state.topk_means.append(topk.mean)
    best = topk.best
    state.best_rewards.append(float(best["reward"]) if best is not None else float("nan"))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str)


def _checkpoint(
    folder: RunFolder, algorithm: SearchAlgorithm, state: _LoopState, topk: TopK, run: dict[str, Any]
) -> None:
    state.topk = topk.entries
    search = dataclasses.asdict(state)
    folder.save_checkpoint({"run": plain(run), "search": search, "algorithm": algorithm.state_dict()})


def _finish(
    folder: RunFolder, state: _LoopState, topk: TopK, algorithm: SearchAlgorithm, evaluator: BatchEvaluator
) -> SearchResult:
    """Write topk.json, history.json and the plot; build the result."""
    folder.write_json("topk.json", topk.ranked())
    history = {
        "batch_means": state.batch_means,
        "topk_means": state.topk_means,
        "best_rewards": state.best_rewards,
        "update_stats": state.update_stats,
    }
    folder.write_json("history.json", history)
    if state.batch_means:
        title = f"{algorithm.name} on {evaluator.describe()['name'] or type(evaluator.env).__name__}"
        folder.plot(batch_means=state.batch_means, topk_means=state.topk_means, top_k=topk.k, title=title)
    best = topk.best or {"reward": float("nan"), "info": {}, "actions": {}}
    return SearchResult(
        best_reward=float(best["reward"]),
        best_info=dict(best["info"]),
        best_actions=dict(best["actions"]),
        topk=topk.ranked(),
        batch_means=list(state.batch_means),
        topk_means=list(state.topk_means),
        evaluations=state.evaluations,
        out_dir=folder.path,
    )


def _display(enabled: bool, batches: int, done: int) -> AbstractContextManager[Any]:
    """A rich progress bar (or nothing)."""
    if not enabled:
        return nullcontext(None)
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            'the progress display needs rich: pip install "automl-env[agents]" (or progress=False)'
        ) from error
    bar = Progress(
        TextColumn("batch"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("{task.fields[summary]}"),
        TimeElapsedColumn(),
    )
    bar.add_task("search", total=batches, completed=done, summary="")
    return bar


def _show(display: Any, state: _LoopState, topk: TopK, elapsed: float) -> None:
    best = topk.best
    summary = (
        f"evals {state.evaluations}  best {best['reward'] if best else float('nan'):.4f}  "
        f"top-{topk.k} mean {topk.mean:.4f}  {elapsed:.1f}s"
    )
    display.update(display.task_ids[0], completed=state.next_batch, summary=summary)
