"""The search loop: sample a batch of joint actions, evaluate it in one call, record it, update, track top-k.

Exact resume: batch b evaluates under env seed ``derived_seed(seed, b)``, so the env's state is a pure
function of (seed, b); the checkpoint holds the algorithm's weights, optimiser states, replay buffer and
generator states, and the loop's own state. A run stopped after k batches and resumed to K writes the same
evaluations, top-k and plots as an uninterrupted K-batch run with the same seed. A batch stopped half-way is
evaluated again on resume; with an evaluation store behind the backend only its unfinished evaluations train.

A run folder cannot be corrupted by a search: one search holds it at a time (``run_folder.lock_folder``); a
folder that holds a run is continued only with ``resume=True`` and only with the settings it was started with
(config.json: the env's task, backend and options, fidelity, objective and modules, the algorithm and its
config, seeds and batch size; package versions may differ, with a warning; ``batches`` may grow); and a resume
first checks that evaluations.csv still holds what the checkpoint recorded. Each refusal says what differs.

Failures: an evaluation that failed (``info["status"] == "failed"``) is recorded with its reason and the search
goes on. If every evaluation of the first batch a process evaluates failed for one and the same reason, the
setup is broken (data, device, dependency), not the pipelines: the search stops with ``EvaluationsFailedError``
naming the reason, before recording the batch. ``SearchResult.failed`` counts the failed evaluations.

Every search writes its run folder with the same pieces, public for that reason: ``run_config`` (config.json),
``start_run`` (a fresh state or the checkpoint's), ``record_batch`` (evaluations.csv, top-k, curves),
``stop_if_broken`` and ``finish_run`` (topk.json, history.json, the plot), over a ``LoopState``. Besides
``run_search``, ``ma2ml_agents.async_search`` and the MARL library recorder (``baselines.marl.recorder``) use
them, so their folders are read by the same tools.

Progress display (rich): one line for the search (batches, best reward, ETA) and, when the env's backend
reports each finished evaluation, one line for the batch in flight ("evaluation 3/24 of batch 0, ETA").
A backend reports by having a ``progress`` attribute: the display sets it to a callable for the duration of
the search and the backend calls ``progress(done, total)`` after each evaluation of an ``evaluate`` call
(``TrainingBackend`` does; backends that answer a batch at once do not need to).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch

from automl_env.options import integer
from ma2ml_agents.base import SearchAlgorithm, derived_seed
from ma2ml_agents.checkpoints import CheckpointSchedule
from ma2ml_agents.evaluator import BatchEvaluator
from ma2ml_agents.incumbent import (
    INCUMBENT_FILE,
    Incumbent,
    Measure,
    choose_incumbent,
    env_is_noisy,
    evaluator_measure,
)
from ma2ml_agents.run_folder import RunExistsError, RunFolder, RunFolderError, check_same_run, lock_folder
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
    failed: int = 0
    """Evaluations whose status was "failed" (every one of them: the search found nothing)."""
    failure_reasons: dict[str, int] = field(default_factory=dict)
    """How many evaluations failed for each reason (the first ``MAX_REASONS`` distinct ones)."""
    incumbent: dict[str, Any] | None = None
    """On a noisy backend, the incumbent step's choice (incumbent.json, ``ma2ml_agents.incumbent``); else None."""


class EvaluationsFailedError(RuntimeError):
    """Every evaluation of a batch failed for the same reason: the setup is broken, not the pipelines."""


@dataclass
class LoopState:
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
    csv_sha256: str = ""
    """SHA-256 (hex) of the CSV's first ``csv_bytes`` bytes: a resume refuses a CSV whose content differs."""
    failed: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)


DEFAULT_INCUMBENT = Incumbent()
MAX_REASONS = 20
"""Distinct failure reasons counted one by one; the others count under ``OTHER_REASONS``."""
OTHER_REASONS = "(other reasons)"


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
    checkpoint_every: int | None = None,
    incumbent: Incumbent | None = DEFAULT_INCUMBENT,
) -> SearchResult:
    """Run ``batches`` batches of ``batch_size`` evaluations and write the run folder ``out_dir``.

    On a noisy backend the search ends with the incumbent step (``incumbent``'s settings; None skips it): its
    top-k re-evaluated under other seeds, beside the budget, and the best mean written to incumbent.json
    (``ma2ml_agents.incumbent``).

    ``resume=True`` continues the run in ``out_dir`` (from its checkpoint; from batch 0 when it stopped before
    its first one; a new run in an empty folder), refusing other settings (``ResumeMismatchError``) or an
    evaluations.csv that does not match the checkpoint (``RunFolderError``). Without it a folder that holds a
    run is an error (``RunExistsError``), never overwritten. Another process using ``out_dir`` is an error too
    (``RunFolderInUseError``, naming it). ``EvaluationsFailedError``: see the module docstring.

    ``checkpoint_every=None`` (the default) checkpoints after every batch unless that would take more than 5% of
    the wall time (fast backends), and always after the first and the last batch; an int checkpoints exactly
    every that many batches (``ma2ml_agents.checkpoints``). Resume is exact either way.
    """
    check_sizes(batches=batches, batch_size=batch_size, top_k=top_k, seed=seed)
    schedule = CheckpointSchedule(every=checkpoint_every, batches=batches)
    evaluator = BatchEvaluator(env)
    if evaluator.batch_size is not None and evaluator.batch_size != batch_size:
        raise ValueError(f"batch_size {batch_size} differs from the vector env's num_envs {evaluator.batch_size}")
    with lock_folder(out_dir):
        folder = RunFolder(out_dir)
        run = run_config(evaluator, algorithm, batches=batches, batch_size=batch_size, top_k=top_k, seed=seed)
        state = start_run(folder, algorithm, run, resume=resume, checkpoint_every=checkpoint_every or 1)
        result = _search(
            evaluator, algorithm, folder, state, run, batches=batches, progress=progress, schedule=schedule
        )
        incumbent_step(folder, result, evaluator, settings=incumbent, seed=seed)
        return result


def incumbent_step(
    folder: RunFolder,
    result: SearchResult,
    evaluator: BatchEvaluator,
    *,
    settings: Incumbent | None,
    seed: int,
    measure: Measure | None = None,
) -> None:
    """On a noisy env, choose the run's incumbent (``ma2ml_agents.incumbent``): ``result.incumbent`` and
    incumbent.json. Nothing where ``settings`` is None or the env is not noisy. The re-evaluations run on
    ``evaluator``'s env unless ``measure`` runs them elsewhere (the asynchronous loop: on its executor's workers)."""
    if settings is None or not env_is_noisy(evaluator.env):
        return
    result.incumbent = choose_incumbent(
        result.topk,
        settings=settings,
        searched_seed=int(evaluator.env.evaluation.seed),
        measure=measure or evaluator_measure(evaluator, seed=seed),
    )
    if result.incumbent is not None:
        folder.write_json(INCUMBENT_FILE, result.incumbent)


MAX_BATCHES = 10**7
MAX_BATCH_SIZE = 1_000_000
MAX_TOP_K = 100_000


def check_sizes(*, batches: int, batch_size: int, top_k: int, seed: int) -> None:
    """A ValueError or TypeError naming the size that is not a positive int within its bound, before a run folder
    or a worker exists (the scripts' values arrive here too)."""
    where = "run_search"
    integer(batches, "batches", where=where, low=1, high=MAX_BATCHES + 1)
    integer(batch_size, "batch_size", where=where, low=1, high=MAX_BATCH_SIZE + 1)
    integer(top_k, "top_k", where=where, low=1, high=MAX_TOP_K + 1)
    integer(seed, "seed", where=where, low=0, high=2**63)


def _search(
    evaluator: BatchEvaluator,
    algorithm: SearchAlgorithm,
    folder: RunFolder,
    state: LoopState,
    run: dict[str, Any],
    *,
    batches: int,
    progress: bool,
    schedule: CheckpointSchedule,
) -> SearchResult:
    """The loop of ``run_search`` from ``state``, in a folder this process holds."""
    batch_size, seed = int(run["batch_size"]), int(run["seed"])
    topk = TopK(int(run["top_k"]), state.topk)
    first = state.next_batch
    env = evaluator.env
    display = _SearchDisplay(env, batches=batches, batch_size=batch_size, done=first) if progress else None
    with display if display is not None else nullcontext():
        for batch in range(first, batches):
            if display is not None:
                display.start_batch(batch)
            actions = algorithm.act(batch_size)
            rewards, infos = evaluator.evaluate(actions, seed=derived_seed(seed, batch))
            if batch == first:
                stop_if_broken(infos, batch)
            record_batch(folder, state, topk, batch, actions, rewards, infos)
            state.update_stats.append({k: float(v) for k, v in algorithm.update(actions, rewards).items()})
            state.next_batch = batch + 1
            if schedule.due(state.next_batch):
                schedule.write(lambda: _checkpoint(folder, algorithm, state, topk, run))
            if display is not None:
                display.finish_batch(state, topk)
    return finish_run(folder, state, topk, algorithm, evaluator)


def run_config(
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
        "versions": package_versions(),
    }


def package_versions() -> dict[str, str]:
    versions = {"torch": torch.__version__, "numpy": np.__version__}
    for package in ("automl-env", "pettingzoo", "gymnasium"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


# Fields that may differ between a run and its resumption: the budget may grow; other package versions warn.
_MAY_CHANGE = {"batches", "versions"}


def start_run(
    folder: RunFolder, algorithm: SearchAlgorithm, run: dict[str, Any], *, resume: bool, checkpoint_every: int
) -> LoopState:
    """Fresh state, or the checkpoint's (with its algorithm state loaded and the CSV checked and cut back)."""
    if not resume:
        found = folder.run_files()
        if found:
            raise RunExistsError(
                f"{folder.path} already holds a run ({', '.join(found)}); pass resume=True (the scripts' --resume) "
                "to continue it, or choose another folder"
            )
        folder.write_json("config.json", run)
        return LoopState()
    checkpoint = folder.load_checkpoint()
    saved = checkpoint["run"] if checkpoint is not None else folder.read_config()
    if saved is not None:
        check_same_run(folder.path, saved, run, may_change=_MAY_CHANGE, warn={"versions"})
    if checkpoint is None:  # stopped before its first checkpoint (or never started): from batch 0 again
        last = folder.last_csv_batch()
        if last is not None and last >= checkpoint_every:
            raise RunFolderError(
                f"cannot resume {folder.path}: {folder.csv_path.name} holds rows up to batch {last} but there is no "
                f"checkpoint ({folder.checkpoint_path.name} was deleted or lost), and starting again would overwrite "
                "them; restore the checkpoint, or start a new run in another folder"
            )
        folder.write_json("config.json", run)
        return LoopState()
    state = LoopState(**checkpoint["search"])
    if state.evaluations:
        folder.check_csv(
            columns=state.csv_columns,
            rows=state.evaluations,
            last_batch=state.next_batch - 1,
            length=state.csv_bytes,
            sha256=state.csv_sha256,
        )
    algorithm.load_state_dict(checkpoint["algorithm"])
    if state.evaluations:
        folder.truncate_csv(state.csv_bytes)
    folder.write_json("config.json", run)
    return state


def stop_if_broken(infos: list[dict[str, Any]], batch: int) -> None:
    """``EvaluationsFailedError`` when every evaluation of the batch (two or more) failed for one reason.

    One failed pipeline, or a batch failing for different reasons (divergence, out of memory of big networks),
    is what a search explores past; one reason for all of them is a setup that no pipeline can get through.
    """
    reasons = {str(info.get("reason", "")) for info in infos if info.get("status") == "failed"}
    every = len(infos) > 1 and all(info.get("status") == "failed" for info in infos)
    if every and len(reasons) == 1:
        raise EvaluationsFailedError(
            f"every one of the {len(infos)} evaluations of batch {batch} failed for the same reason, so the search "
            f"stopped before recording them: {reasons.pop() or '(no reason given)'}"
        )


def record_batch(
    folder: RunFolder,
    state: LoopState,
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
    state.csv_sha256 = folder.csv_digest()
    state.evaluations += len(rows)
    for info in infos:
        if info.get("status") == "failed":
            state.failed += 1
            reason = str(info.get("reason", ""))
            if reason not in state.failure_reasons and len(state.failure_reasons) >= MAX_REASONS:
                reason = OTHER_REASONS
            state.failure_reasons[reason] = state.failure_reasons.get(reason, 0) + 1
    state.batch_means.append(float(np.mean(rewards)))
    state.topk_means.append(topk.mean)
    best = topk.best
    state.best_rewards.append(float(best["reward"]) if best is not None else float("nan"))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str)


def _checkpoint(
    folder: RunFolder, algorithm: SearchAlgorithm, state: LoopState, topk: TopK, run: dict[str, Any]
) -> None:
    state.topk = topk.entries
    # Shallow: torch.save copies the values into the file anyway (dataclasses.asdict deep-copied the growing top-k
    # and curves first, a fifth of the checkpoint's cost).
    search = {item.name: getattr(state, item.name) for item in dataclasses.fields(state)}
    folder.save_checkpoint({"run": plain(run), "search": search, "algorithm": algorithm.state_dict()})


def checkpointed_batches(out_dir: str | os.PathLike[str]) -> int:
    """How many batches the checkpoint in ``out_dir`` holds (0 without one): what a resume starts after."""
    checkpoint = RunFolder(out_dir).load_checkpoint()
    return int(checkpoint["search"]["next_batch"]) if checkpoint is not None else 0


def _plot_title(algorithm: SearchAlgorithm, evaluator: BatchEvaluator, evaluations: int) -> str:
    """What the figure shows: algorithm, task and backend (flagged when synthetic), seed and budget."""
    env = evaluator.env
    task, backend = (
        getattr(getattr(env, "task", None), "name", None),
        getattr(getattr(env, "backend", None), "name", ""),
    )
    where = f"{task} ({backend})" if task else (evaluator.describe()["name"] or type(env).__name__)
    synthetic = "\nsynthetic benchmark: not a real dataset's accuracy" if backend.startswith("synthetic") else ""
    return f"{algorithm.name} on {where}, seed {algorithm.seed}, {evaluations} evaluations{synthetic}"


def finish_run(
    folder: RunFolder, state: LoopState, topk: TopK, algorithm: SearchAlgorithm, evaluator: BatchEvaluator
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
        title = _plot_title(algorithm, evaluator, state.evaluations)
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
        failed=state.failed,
        failure_reasons=dict(state.failure_reasons),
    )


def _eta(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


class _SearchDisplay:
    """The rich progress display; while it is entered, the env's backend reports evaluations to it if it can.

    ETAs are the remaining evaluations times the mean seconds per evaluation finished in this process (an
    evaluation read back from a store counts too, so a resumed run's first estimate is optimistic).
    """

    def __init__(self, env: Any, *, batches: int, batch_size: int, done: int) -> None:
        try:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ImportError(
                'the progress display needs rich: pip install "automl-env[agents]" (or progress=False)'
            ) from error
        backend = getattr(env, "backend", None)
        self.backend = backend if hasattr(backend, "progress") else None
        self.batches, self.batch_size = batches, batch_size
        self.bar = Progress(
            TextColumn("{task.description}"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[summary]}"),
            TimeElapsedColumn(),
        )
        self.search = self.bar.add_task("batch", total=batches, completed=done, summary="")
        self.batch = self.bar.add_task("evaluation", total=batch_size, summary="", visible=self.backend is not None)
        self.started = time.perf_counter()
        self.evaluated = 0  # evaluations finished in this process
        self.next_batch, self.in_batch, self._offset = done, 0, 0
        self._previous: Any = None
        self._best = ""

    def __enter__(self) -> _SearchDisplay:
        if self.backend is not None:
            self._previous, self.backend.progress = self.backend.progress, self.evaluation_done
        self.bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.backend is not None:
            self.backend.progress = self._previous
        self.bar.stop()

    def start_batch(self, batch: int) -> None:
        self.next_batch, self.in_batch, self._offset = batch, 0, 0
        self.bar.reset(self.batch, total=self.batch_size, summary=f"of batch {batch}", visible=self.backend is not None)

    def evaluation_done(self, done: int, total: int) -> None:
        """The backend's ``progress`` callback; a ParallelEnv's backend sees one-pipeline calls, so they add up."""
        self.in_batch = self._offset + done
        if done == total:
            self._offset += total
        self.evaluated += 1
        remaining = self.batch_size - self.in_batch
        summary = f"of batch {self.next_batch}  ETA {_eta(self._seconds_per_evaluation() * remaining)}"
        self.bar.update(self.batch, completed=self.in_batch, summary=summary)
        self._update_search()

    def finish_batch(self, state: LoopState, topk: TopK) -> None:
        self.evaluated += self.batch_size - self.in_batch  # all of them, for backends that do not report
        self.next_batch, self.in_batch, self._offset = state.next_batch, 0, 0
        best = topk.best
        self._best = (
            f"evals {state.evaluations}  best {best['reward'] if best else float('nan'):.4f}  "
            f"top-{topk.k} mean {topk.mean:.4f}"
        )
        self._update_search()

    def _seconds_per_evaluation(self) -> float:
        return (time.perf_counter() - self.started) / max(1, self.evaluated)

    def _update_search(self) -> None:
        remaining = (self.batches - self.next_batch) * self.batch_size - self.in_batch
        eta = f"ETA {_eta(self._seconds_per_evaluation() * remaining)}" if self.evaluated else ""
        completed = self.next_batch + self.in_batch / self.batch_size  # the bar moves within a batch
        self.bar.update(self.search, completed=completed, summary=f"{self._best}  {eta}".strip())
