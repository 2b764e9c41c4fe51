"""Budget accounting for MARL libraries: every finished token-mode episode is one evaluation, recorded as
``ma2ml_agents.run_search`` records a batch, in the same run folder (config.json, evaluations.csv, topk.json,
history.json, plot).

A library drives the env itself, so the recording sits inside the env: ``RecordedEnv`` wraps the token-mode
parallel env the library steps and hands the full info of each finished episode (``env.last_info``: reward,
cost, pipeline JSON, digest) to an ``EvaluationRecorder``. The recorder groups them into batches of
``batch_size`` in the order they finished (the CSV's ``batch`` and ``index``), writes each batch with the
search loop's own writer, and ignores every episode past the budget, so a run holds exactly
``batches x batch_size`` evaluations whatever the library's frame rounding. Its ``tokens`` column holds the
pipeline-mode tokens of the pipeline played (``codec.tokens_of``), as a search's rows do.

On a noisy backend the run ends, as a search's does, with the incumbent step (``ma2ml_agents.incumbent``: the
top-k re-evaluated under other seeds, beside the budget) on ``incumbent_env``, the task's env in pipeline mode, so
the pipeline a MARL run returns is chosen as every search's is.

A MARL run cannot be resumed (the libraries' learner state is not checkpointed here): a killed run starts again.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper

from automl_env import Pipeline
from ma2ml_agents.evaluator import BatchEvaluator
from ma2ml_agents.run_folder import RunExistsError, RunFolder, lock_folder

# The search loop's writers and incumbent step, so a MARL run's folder is byte-for-byte the format of any search's.
from ma2ml_agents.search import (
    DEFAULT_INCUMBENT,
    LoopState,
    SearchResult,
    finish_run,
    incumbent_step,
    record_batch,
    run_config,
)
from ma2ml_agents.topk import TopK


@dataclass(frozen=True)
class RunIdentity:
    """What config.json and the plot say of the search: its row name, resolved settings and seed."""

    name: str
    config: Any
    """A dataclass: every setting of the run, the library's defaults included."""
    seed: int


class EvaluationRecorder:
    """Writes finished episodes into ``out_dir`` in batches of ``batch_size``, up to ``batches`` batches.

    Use it as a context manager: while entered it holds the folder, as ``run_search`` does.
    """

    def __init__(
        self,
        env: Any,
        identity: RunIdentity,
        incumbent_env: Any | None = None,
        *,
        batches: int,
        batch_size: int,
        top_k: int,
        out_dir: str | Path,
        restart: bool = False,
    ) -> None:
        """``incumbent_env``: the task's env in pipeline mode at the run's evaluation seed, on which a noisy run's
        top-k are re-evaluated when it finishes (None: no incumbent step; the returned pipeline is then the best
        observed)."""
        if batches < 1 or batch_size < 1:
            raise ValueError(f"batches and batch_size must be positive, got {batches} and {batch_size}")
        self.codec = env.codec
        self.horizon = int(env.horizon)
        """Steps of a token-mode episode (the same for every episode of a task)."""
        self.identity = identity
        self.batches, self.batch_size = batches, batch_size
        self.budget = batches * batch_size
        self.folder = RunFolder(out_dir)
        self.restart = restart
        self.evaluator = BatchEvaluator(env)
        self.incumbent_evaluator = None if incumbent_env is None else BatchEvaluator(incumbent_env)
        # run_config reads only the name, config and seed of the search it is given.
        self.run = run_config(
            self.evaluator,
            identity,  # type: ignore[arg-type]
            batches=batches,
            batch_size=batch_size,
            top_k=top_k,
            seed=identity.seed,
        )
        self._lock: ExitStack | None = None
        self.state = LoopState()
        self.topk = TopK(top_k)
        self.pending: list[dict[str, Any]] = []
        self.surplus = 0
        """Episodes finished past the budget (not recorded)."""

    def __enter__(self) -> EvaluationRecorder:
        """Hold the folder (``lock_folder``), empty it, and write config.json."""
        with ExitStack() as stack:
            stack.enter_context(lock_folder(self.folder.path))
            found = self.folder.run_files()
            if found and not self.restart:
                raise RunExistsError(
                    f"{self.folder.path} already holds a run ({', '.join(found)}); a MARL run cannot be resumed: "
                    "pass restart=True to start it again, or choose another folder"
                )
            self.folder.clear()
            self.folder.write_json("config.json", self.run)
            self._lock = stack.pop_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def full(self) -> bool:
        """The budget is spent: further episodes are not recorded."""
        return self.state.evaluations >= self.budget

    @property
    def evaluations(self) -> int:
        return self.state.evaluations + len(self.pending)

    def add(self, info: dict[str, Any]) -> None:
        """One finished episode (the env's full ``last_info``); writes a batch once ``batch_size`` are in."""
        if self._lock is None:
            raise RuntimeError("an episode finished outside `with recorder:`: build the envs inside the block")
        if self.evaluations >= self.budget:
            self.surplus += 1
            return
        self.pending.append(info)
        if len(self.pending) == self.batch_size:
            self._write_batch()

    def _write_batch(self) -> None:
        infos, self.pending = self.pending, []
        tokens = [self.codec.tokens_of(Pipeline.from_json(info["pipeline"])) for info in infos]
        actions = {agent: np.stack([t[agent] for t in tokens]) for agent in self.codec.agents}
        rewards = np.asarray([float(info["reward"]) for info in infos], dtype=np.float64)
        batch = self.state.next_batch
        record_batch(self.folder, self.state, self.topk, batch, actions, rewards, infos)
        self.state.next_batch = batch + 1

    def finish(self, stats: dict[str, float] | None = None) -> SearchResult:
        """Write topk.json, history.json, the plot and, on a noisy backend, incumbent.json; a run that fell short of
        its budget is an error."""
        if self.state.evaluations != self.budget:
            raise RuntimeError(
                f"{self.identity.name} finished {self.evaluations} of its {self.budget} evaluations: its library "
                "stopped early (a frame budget smaller than evaluations x episode length)"
            )
        if stats:
            self.state.update_stats.append({k: float(v) for k, v in stats.items()})
        result = finish_run(self.folder, self.state, self.topk, self.identity, self.evaluator)  # type: ignore[arg-type]
        if self.incumbent_evaluator is not None:
            incumbent_step(
                self.folder, result, self.incumbent_evaluator, settings=DEFAULT_INCUMBENT, seed=self.identity.seed
            )
        return result


class RecordedEnv(BaseParallelWrapper):
    """The token-mode parallel env with every finished episode handed to ``recorder``."""

    def __init__(self, env: Any, recorder: EvaluationRecorder) -> None:
        super().__init__(env)
        self.recorder = recorder

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        if all(terminations.values()) or all(truncations.values()):
            self.recorder.add(self.env.unwrapped.last_info)
        return observations, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        return self.env.state()
