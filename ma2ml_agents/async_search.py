"""The asynchronous search loop: every worker stays busy, and the search learns from results as they finish.

    executor = SimulatedExecutor(env.backend, workers=8)        # or any automl_env.executors.Executor
    result = run_async_search(env, algorithm, executor=executor, evaluations=1008, out_dir="runs/async")

Ask and tell. Asking is ``act(n)``: n joint actions from the search's current state. ``tell(actions,
rewards)`` learns from any number of finished results, in the order they finished, while other joint actions
it proposed are still being evaluated. Whether that is valid depends on the search, which says so with
``asynchronous``: MA2ML with replay (off-policy: its critic learns from whatever has finished, and its policy
step draws from the current policies, ``ma2ml_agents.ma2ml``), random search, REA (ageing counts finished
evaluations, as in Real et al.'s asynchronous workers) and TPE (Optuna's ask-and-tell with a constant liar).
The on-policy searches (MA2ML without replay, MA2ML-Lite, REINFORCE) learn from whole batches drawn by their
current policies and are refused (``SynchronousOnlyError``); they run with ``synchronous=True``.

The loop. Asynchronous: whenever fewer than ``executor.workers`` evaluations are in flight and the budget is not
spent, ask for as many joint actions as there are free workers and submit them; wait for the next finished
evaluations; tell the search once ``update_every`` results have gathered. Synchronous (``synchronous=True``, the
baseline): ask for a batch of ``workers``, wait for all of it, tell it; on ``SimulatedExecutor`` each batch ends
when its slowest pipeline does (the makespan), the cost of synchronisation that the asynchronous loop avoids.

``update_every`` (default: 8 for searches that train networks, ``ControllerAlgorithm``; 1 for the others). Told
every 24 results, the batch MA2ML's defaults were measured at, asynchronous screened MA2ML learnt less per
evaluation than synchronous batches of 8 (which update three times as often) and was slower than them to a target on
8 workers; told every 8 it is level with them there and faster on 32 workers, and faster than with 24 on
NAS-Bench-201 at both (docs/ma2ml_study.md section 4: 10 seeds each; docs/async.md). Telling it after every result
would change what a learning rate means 24-fold and pay an update per evaluation: a screened MA2ML update (three
critic fits and policy steps) takes about half a second of CPU on the 100-token synthetic space, the paper's MA2ML's
about 70 ms. REA's, TPE's and random search's ``tell`` costs microseconds to milliseconds, so they learn from each
result as it arrives. The search's own computing time is not on the simulated clock.

The run folder is ``run_search``'s (``ma2ml_agents.search``): config.json, evaluations.csv, topk.json,
history.json, learning_curve.png, written by the same code, and on a noisy backend incumbent.json: the incumbent step
(``ma2ml_agents.incumbent``) runs its re-evaluations on the executor's workers once the budget is spent, beside it
(``AsyncSearchResult.elapsed`` is the search's clock, without them). Every evaluation is one row, recorded when it is
told; "batch" is the round of results told together (one update) and "index" the finishing order within it;
``ticket`` (submission order), ``started``, ``finished`` (the executor's clock, simulated on
``SimulatedExecutor``) and ``worker`` are added. As in ``run_search``, a first round of two or more results that
all failed for one reason stops the search (``EvaluationsFailedError``): the setup is broken, not the pipelines
(with ``update_every=1`` the first round is one result, so that check is left to ``BackendSetupError``). There
is no checkpoint and no resume: evaluations in flight when a run stops are lost, so a stopped run is started
again in a new folder.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ma2ml_agents.base import ControllerAlgorithm, SearchAlgorithm
from ma2ml_agents.evaluator import BatchEvaluator
from ma2ml_agents.incumbent import Incumbent
from ma2ml_agents.run_folder import RunExistsError, RunFolder, lock_folder
from ma2ml_agents.search import (
    DEFAULT_INCUMBENT,
    LoopState,
    SearchResult,
    finish_run,
    incumbent_step,
    package_versions,
    record_batch,
    start_run,
    stop_if_broken,
)
from ma2ml_agents.topk import TopK

if TYPE_CHECKING:  # the agents never import the environment at run time: an executor is used through its protocol
    from automl_env.executors.base import Completed, Executor

NETWORK_UPDATE_EVERY = 8
"""Default ``update_every`` of searches that train networks (module docstring: measured against 24)."""


class SynchronousOnlyError(ValueError):
    """The search cannot learn from results that arrive one by one, out of order: run it synchronously."""


@dataclass(kw_only=True)
class AsyncSearchResult(SearchResult):
    """``SearchResult`` plus the executor's clock."""

    elapsed: float
    """The executor's clock when the last evaluation finished (simulated seconds on ``SimulatedExecutor``)."""
    utilisation: float
    """Busy worker-seconds over ``workers`` x ``elapsed``: 1 when no worker ever waited."""


def run_async_search(
    env: Any,
    algorithm: SearchAlgorithm,
    *,
    executor: Executor,
    evaluations: int,
    out_dir: str | os.PathLike[str],
    synchronous: bool = False,
    update_every: int | None = None,
    top_k: int = 30,
    incumbent: Incumbent | None = DEFAULT_INCUMBENT,
) -> AsyncSearchResult:
    """Evaluate ``evaluations`` pipelines of ``env`` on ``executor``'s workers, proposed by ``algorithm``.

    ``env`` is an automl_env env in pipeline mode (``parallel_env``, ``vector_env``): its codec turns joint
    actions into pipelines, its evaluation gives the fidelity, seed and objective, and ``executor`` must evaluate
    with its backend. ``SynchronousOnlyError`` for a search that cannot run asynchronously; ``RunExistsError``
    when ``out_dir`` holds a run. See the module docstring for the loop and ``update_every``. On a noisy backend the
    run ends with ``run_search``'s incumbent step (``incumbent``'s settings; None skips it), its re-evaluations run on
    ``executor``'s workers once the budget is spent.
    """
    _check_env(env, executor)
    if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
        raise ValueError(f"evaluations is the budget, a positive int, got {evaluations!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k is how many distinct best pipelines to keep, a positive int, got {top_k!r}")
    if synchronous and update_every is not None:
        raise ValueError("update_every is for asynchronous searches; a synchronous one learns from each whole batch")
    every = _update_every(algorithm, update_every) if not synchronous else executor.workers
    learn = algorithm.update if synchronous else _asynchronous_tell(algorithm)
    if executor.pending():
        raise ValueError(f"the executor has {executor.pending()} evaluations in flight from another caller")
    evaluator = BatchEvaluator(env)
    run = {
        "algorithm": algorithm.name,
        "algorithm_config": dataclasses.asdict(algorithm.config),
        "algorithm_seed": algorithm.seed,
        "evaluations": evaluations,
        "executor": type(executor).__name__,
        "workers": executor.workers,
        "synchronous": synchronous,
        "update_every": every,
        "top_k": top_k,
        "env": evaluator.describe(),
        "versions": package_versions(),
    }
    with lock_folder(out_dir):
        folder = RunFolder(out_dir)
        try:
            state = start_run(folder, algorithm, run, resume=False, checkpoint_every=1)
        except RunExistsError:
            raise RunExistsError(
                f"{folder.path} already holds a run ({', '.join(folder.run_files())}). An asynchronous search is not "
                "resumable (its results arrive in the order workers finish, which a rerun cannot repeat): to run "
                "again, pass another out_dir, or move this folder away first"
            ) from None
        loop = _Loop(env, algorithm, executor, learn, folder=folder, state=state, top_k=top_k)
        busy = loop.run(evaluations, synchronous=synchronous, update_every=every)
        elapsed = loop.elapsed  # the search's evaluations only: the incumbent step's run after, beside the budget
        result = finish_run(folder, state, loop.topk, algorithm, evaluator)
        incumbent_step(folder, result, evaluator, settings=incumbent, seed=0, measure=loop.reevaluate)
    utilisation = busy / (executor.workers * elapsed) if elapsed > 0 else 1.0
    return AsyncSearchResult(**vars(result), elapsed=elapsed, utilisation=utilisation)


def _check_env(env: Any, executor: Executor) -> None:
    """``env`` has the codec and evaluation the loop needs, in pipeline mode, and ``executor`` uses its backend."""
    if not all(hasattr(env, name) for name in ("codec", "evaluation")):
        raise TypeError(
            "run_async_search needs an automl_env env (automl_env.parallel_env or vector_env): it turns joint "
            f"actions into pipelines with the env's codec; got {type(env).__name__}"
        )
    if getattr(env, "action_mode", "pipeline") != "pipeline":
        raise ValueError("run_async_search needs an env in pipeline mode (action_mode='pipeline'): one joint action")
    backend = getattr(executor, "backend", None)
    ours = env.evaluation.backend
    if backend is not None and (backend.name, backend.task.name) != (ours.name, ours.task.name):
        raise ValueError(
            f"the executor evaluates with backend {backend.name!r} of task {backend.task.name!r}, the env with "
            f"{ours.name!r} of {ours.task.name!r}: build the executor on env.backend"
        )


def default_update_every(search: type[SearchAlgorithm]) -> int:
    """``update_every`` when none is given (module docstring): ``NETWORK_UPDATE_EVERY`` for searches that train
    networks (``ControllerAlgorithm``), 1 for the others."""
    return NETWORK_UPDATE_EVERY if issubclass(search, ControllerAlgorithm) else 1


def _update_every(algorithm: SearchAlgorithm, update_every: int | None) -> int:
    if update_every is None:
        return default_update_every(type(algorithm))
    if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
        raise ValueError(f"update_every must be a positive int (results per update), got {update_every!r}")
    return update_every


Learn = Callable[[Mapping[str, np.ndarray], np.ndarray], Mapping[str, float]]
"""``update`` or ``tell``: (joint actions, rewards) -> statistics."""


def _asynchronous_tell(algorithm: SearchAlgorithm) -> Learn:
    """The search's ``tell``; ``SynchronousOnlyError`` when it has none, or says it is not asynchronous."""
    tell = getattr(algorithm, "tell", None)
    if not (getattr(algorithm, "asynchronous", False) and callable(tell)):
        raise SynchronousOnlyError(
            f"{algorithm.name} cannot search asynchronously: it learns on-policy, from whole batches drawn by its "
            "current policies, and results that finish one by one, cheapest first, from older policies would bias "
            "its updates. Run it with synchronous=True (batches of the executor's workers), or asynchronously "
            "one of ma2ml (with replay), random, rea, tpe"
        )
    return tell


class _Loop:
    """The loop's working state: joint actions in flight, results not yet told, the run folder's recorders."""

    def __init__(
        self,
        env: Any,
        algorithm: SearchAlgorithm,
        executor: Executor,
        learn: Learn,
        *,
        folder: RunFolder,
        state: LoopState,
        top_k: int,
    ) -> None:
        self.codec, self.evaluation = env.codec, env.evaluation
        self.algorithm, self.executor, self.learn = algorithm, executor, learn
        self.folder, self.state, self.topk = folder, state, TopK(top_k)
        self.in_flight: dict[int, dict[str, np.ndarray]] = {}
        """Ticket -> its joint action (one row per agent)."""
        self.elapsed = 0.0

    def run(self, evaluations: int, *, synchronous: bool, update_every: int) -> float:
        """Evaluate, record and tell ``evaluations`` pipelines; returns the busy worker-seconds."""
        submitted, busy = 0, 0.0
        finished: list[tuple[Completed, dict[str, np.ndarray]]] = []
        while True:
            pending = self.executor.pending()
            free = (self.executor.workers if pending == 0 else 0) if synchronous else self.executor.workers - pending
            asked = min(free, evaluations - submitted)
            if asked > 0:
                self._submit(self.algorithm.act(asked))
                submitted += asked
            if not self.executor.pending():
                break
            for done in self.executor.wait():
                finished.append((done, self.in_flight.pop(done.ticket)))
                busy += done.finished - done.started
                self.elapsed = max(self.elapsed, done.finished)
            last = submitted == evaluations and not self.executor.pending()
            batch_done = not self.executor.pending() if synchronous else len(finished) >= update_every
            if batch_done or last:
                self._tell(finished)
                finished = []
        return busy

    def reevaluate(self, entries: list[dict[str, Any]], seeds: list[int]) -> list[float]:
        """The incumbent step's ``Measure``: each top-k entry evaluated under its evaluation seed on the executor's
        workers, all submitted at once, after the search (nothing else is in flight then)."""
        tickets = {}
        for row, (entry, seed) in enumerate(zip(entries, seeds, strict=True)):
            joint = {agent: np.asarray(entry["actions"][agent]) for agent in self.codec.agents}
            tickets[self._submit_one(joint, seed=seed)] = row
        rewards = [0.0] * len(entries)
        while tickets:
            for done in self.executor.wait():
                rewards[tickets.pop(done.ticket)] = self.evaluation.outcome(done.pipeline, done.result)[0]
        return rewards

    def _submit(self, actions: Mapping[str, np.ndarray]) -> None:
        for i in range(len(next(iter(actions.values())))):
            joint = {agent: np.asarray(actions[agent][i]) for agent in self.codec.agents}
            self.in_flight[self._submit_one(joint, seed=self.evaluation.seed)] = joint

    def _submit_one(self, joint: dict[str, np.ndarray], *, seed: int) -> int:
        """Queue the pipeline of one joint action under evaluation seed ``seed``; its ticket."""
        pipeline = self.codec.pipeline(self.codec.validate(joint))
        return self.executor.submit(pipeline, fidelity=self.evaluation.fidelity, seed=seed)

    def _tell(self, finished: list[tuple[Completed, dict[str, np.ndarray]]]) -> None:
        """Record one round of finished results (a batch, when synchronous) and teach the search with it."""
        actions = {agent: np.stack([joint[agent] for _, joint in finished]) for agent in self.codec.agents}
        outcomes = [self.evaluation.outcome(done.pipeline, done.result) for done, _ in finished]
        rewards = np.array([reward for reward, _ in outcomes], dtype=np.float64)
        infos = [
            {**info, "ticket": done.ticket, "started": done.started, "finished": done.finished, "worker": done.worker}
            for (done, _), (_, info) in zip(finished, outcomes, strict=True)
        ]
        round_ = self.state.next_batch
        if round_ == 0:
            stop_if_broken(infos, round_)
        record_batch(self.folder, self.state, self.topk, round_, actions, rewards, infos)
        self.state.update_stats.append({k: float(v) for k, v in self.learn(actions, rewards).items()})
        self.state.next_batch = round_ + 1
