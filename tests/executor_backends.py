"""A picklable backend for the executor tests: sleeps, crashes or hangs on command, and logs its evaluations.

Pool workers are spawned and Ray actors are separate processes: they import this module by name, so it lives
in tests/ (on ``sys.path`` under pytest; spawned workers inherit the parent's ``sys.path``; the Ray tests put
tests/ on the actors' PYTHONPATH).

What a pipeline does: ``behaviours[pipeline.digest]`` when given, else "crash_once" for a digest starting with
one of ``crash_prefixes`` (for searches, whose pipelines a test cannot name in advance), else "sleep".
- "sleep": sleep ``seconds``, then succeed;
- "crash": the worker SIGKILLs itself half-way, every time;
- "crash_once": the first attempt SIGKILLs its worker (a flag file in ``folder`` remembers it), a retry succeeds;
- "hang": sleep for an hour (a timeout must end it);
- "lost_ack": the first attempt finishes (stored and logged), then SIGKILLs its worker before answering: the
  acknowledgement is lost, as when Ray reports an actor's death after its task completed;
- "setup_error": raise ``BackendSetupError`` (data missing: no evaluation could succeed).
Every finished evaluation appends "digest pid" to ``folder/evaluated.txt``, from whichever process ran it, so a
test counts evaluations across workers. With a ``store``, a stored evaluation is read back, not run again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from automl_env.backends.base import BackendSetupError, EvalResult, Fidelity
from automl_env.modules.hparams import HParams
from automl_env.pipeline import Pipeline
from automl_env.store import EvalStore
from automl_env.tasks import get_task

BEHAVIOURS = ("sleep", "crash", "crash_once", "hang", "lost_ack", "setup_error")


def pipeline(index: int) -> Pipeline:
    """A distinct pipeline per index."""
    return Pipeline.of({"hpo": HParams(lr=0.01 * (index + 1), weight_decay=1e-4)})


def evaluated(folder: Path) -> list[str]:
    """Digests of the evaluations that finished, one per evaluation run (not read back from a store)."""
    log = folder / "evaluated.txt"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


class SleepBackend:
    """Evaluates a pipeline by sleeping (or crashing, or hanging); accuracy is a function of its digest."""

    name = "sleep"

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        seconds: float = 0.5,
        behaviours: Mapping[str, str] | None = None,
        crash_prefixes: str = "",
        store: EvalStore | None = None,
    ) -> None:
        self.task = get_task("fashion-mnist")
        self.folder = Path(folder)
        self.seconds = seconds
        self.behaviours = dict(behaviours or {})
        assert set(self.behaviours.values()) <= set(BEHAVIOURS)
        self.crash_prefixes = crash_prefixes
        self.store = store

    def behaviour(self, pipeline: Pipeline) -> str:
        if pipeline.digest in self.behaviours:
            return self.behaviours[pipeline.digest]
        return "crash_once" if pipeline.digest.startswith(tuple(self.crash_prefixes)) else "sleep"

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        fidelity = fidelity or self.task.search_fidelity
        return [self._evaluate_one(pipeline, fidelity, seed) for pipeline in pipelines]

    def _evaluate_one(self, pipeline: Pipeline, fidelity: Fidelity, seed: int) -> EvalResult:
        if self.store is not None:
            known = self.store.get(self.task, pipeline, fidelity, seed)
            if known is not None:
                return known
        behaviour = self.behaviour(pipeline)
        if behaviour == "setup_error":
            raise BackendSetupError(f"no data in {self.folder}")
        flag = self.folder / f"attempted-{pipeline.digest}-{seed}"
        first = not flag.exists()
        if behaviour == "crash" or (behaviour == "crash_once" and first):
            flag.touch()
            time.sleep(self.seconds / 2)
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(3600 if behaviour == "hang" else self.seconds)
        accuracy = int(pipeline.digest[:6], 16) / 16**6
        result = EvalResult(accuracy, 1.0, 1.0, self.seconds, self.name)
        if self.store is not None:
            self.store.put(self.task, pipeline, fidelity, seed, result)
        with open(self.folder / "evaluated.txt", "a") as log:
            log.write(f"{pipeline.digest} {os.getpid()}\n")
        if behaviour == "lost_ack" and first:
            flag.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def optimum(self) -> None:
        return None


class QuickTimeoutBackend(SleepBackend):
    """A SleepBackend whose evaluations are expected to take a second: the executors' default timeout is its own."""

    def evaluation_timeout(self, fidelity: object) -> float:
        return 1.0
