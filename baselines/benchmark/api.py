"""The benchmark's Python API: ``run_benchmark(BenchmarkConfig(...)) -> BenchmarkResult``.

    from baselines.benchmark import BenchmarkConfig, run_benchmark
    result = run_benchmark(BenchmarkConfig(task="cifar100", algorithms=("random", "rea"), seeds=(0, 1), batches=5))
    print(result.text)  # the results.md table

One benchmark per output folder at a time (``ma2ml_agents.run_folder.lock_folder``: a second one is told which
process has it); runs already finished with the same settings are reused, killed ones resumed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baselines.benchmark.metrics import benchmark_optimum, budget_metrics, final_scorer, load_evaluations
from baselines.benchmark.plots import plot_anytime
from baselines.benchmark.report import paired_table, table, write_csv
from baselines.benchmark.runs import RunSpec, check_overrides
from baselines.benchmark.workers import run_all

DEFAULT_ALGORITHMS = (
    "ma2ml_screened",
    "ma2ml",
    "ma2ml_onpolicy",
    "ma2ml_lite",
    "reinforce",
    "random",
    "rea",
    "tpe",
    "sequential_rea",
    "sequential_tpe",
)


@dataclass(frozen=True, kw_only=True)
class BenchmarkConfig:
    """What to run: algorithms x seeds on one task and backend, each run ``batches`` x ``batch_size`` evaluations."""

    task: str = "cifar100"
    backend: str | None = None
    """How pipelines are evaluated; None: the task's fast backend (``TaskSpec.fast_backend``)."""
    backend_options: tuple[tuple[str, float], ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    batches: int = 40
    batch_size: int = 24
    top_k: int = 30
    budgets: tuple[int, ...] = ()
    """Evaluation counts to report at; empty: the end of the run."""
    workers: int = 1
    """Runs in parallel, each in its own process (1: in this process)."""
    out: Path = Path("runs/benchmark")
    config_overrides: tuple[tuple[str, str], ...] = ()
    """``(FIELD, VALUE)`` pairs applied to every algorithm whose config has FIELD."""
    executor: tuple[tuple[str, Any], ...] = ()
    """The env's ``executor``, ``workers`` and ``executor_options`` for each run's evaluations."""
    command: str = ""
    """The command line recorded in results.md (empty: none recorded)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))  # a str is welcome too
        for name in ("batches", "batch_size", "top_k", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"BenchmarkConfig.{name} must be at least 1, got {getattr(self, name)}")
        if not self.algorithms or not self.seeds:
            raise ValueError("BenchmarkConfig needs at least one algorithm and one seed")
        for name, values in (("algorithms", self.algorithms), ("seeds", self.seeds)):
            repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
            if repeated:  # two runs of one (algorithm, seed) would share, and corrupt, one folder
                raise ValueError(f"BenchmarkConfig.{name} names {', '.join(map(str, repeated))} more than once")
        if any(b < 1 or b > self.evaluations for b in self.budgets):
            raise ValueError(f"budgets must be between 1 and the run's {self.evaluations} evaluations: {self.budgets}")
        check_overrides(self.algorithms, self.config_overrides)
        self._check_one_shot()

    def _check_one_shot(self) -> None:
        """ValueError where a one-shot search cannot run on this task and backend (it says why)."""
        from baselines.registry import ONE_SHOT, one_shot_entry

        for name in self.algorithms:
            if name in ONE_SHOT:
                one_shot_entry(name, "check")(self.task, self.resolved_backend)

    @property
    def evaluations(self) -> int:
        """Evaluations per run."""
        return self.batches * self.batch_size

    @property
    def resolved_backend(self) -> str:
        import automl_env

        return self.backend or automl_env.get_task(self.task).fast_backend

    def specs(self) -> list[RunSpec]:
        """One spec per (algorithm, seed), in folder ``out/<algorithm>/seed<k>``."""
        return [
            RunSpec(
                algorithm,
                seed,
                self.task,
                self.resolved_backend,
                tuple(sorted(self.backend_options)),
                self.batches,
                self.batch_size,
                self.top_k,
                str(self.out / algorithm / f"seed{seed}"),
                self.config_overrides,
                self.executor,
            )
            for algorithm in self.algorithms
            for seed in self.seeds
        ]


@dataclass(frozen=True)
class BenchmarkResult:
    """What a benchmark wrote: its folder, the results text, every run's ``done.json`` and evaluations."""

    out: Path
    text: str
    done: dict[tuple[str, int], dict[str, Any]]
    evaluations: dict[tuple[str, int], list[dict[str, Any]]] = field(repr=False)
    wall_seconds: float


def run_benchmark(config: BenchmarkConfig) -> BenchmarkResult:
    """Run (or reuse) every run, then write ``evaluations.csv``, ``results.md`` and the plots into ``config.out``.

    Raises ``ma2ml_agents.run_folder.RunFolderError`` when another process holds the folder.
    """
    from ma2ml_agents.run_folder import lock_folder

    with lock_folder(config.out):  # one benchmark per output folder at a time
        return _run_locked(config)


def _run_locked(config: BenchmarkConfig) -> BenchmarkResult:
    started = time.perf_counter()
    specs = config.specs()
    done = run_all(specs, workers=config.workers)
    options = dict(config.backend_options)
    backend = config.resolved_backend
    optimum = benchmark_optimum(config.task, backend, options)
    rows_of = {(s.algorithm, s.seed): load_evaluations(s) for s in specs}
    write_csv(config.out / "evaluations.csv", [row for s in specs for row in rows_of[s.algorithm, s.seed]])
    walls = {a: [done[a, s]["wall_seconds"] for s in config.seeds] for a in config.algorithms}
    final = final_scorer(config.task, backend, options)
    budgets = sorted(set(config.budgets or (config.evaluations,)))
    tables = []
    for budget in budgets:
        metrics = budget_metrics(specs, rows_of, budget, optimum=optimum, final=final)
        tables.append(
            f"\n### After {budget} evaluations\n" * (len(budgets) > 1)
            + "\n"
            + table(
                config.algorithms,
                metrics,
                walls,
                top_k=config.top_k,
                optimum=optimum,
                final_optimum=final(specs[0]).optimum if final is not None else None,
            )
            + paired_table(config.algorithms, metrics)
        )
    notes = _one_shot_notes(config, done)
    text = _header(config, backend) + "".join(tables) + notes
    text += f"\nCommand: `{config.command}`\n" if config.command else ""
    (config.out / "results.md").write_text(text)
    synthetic = "; synthetic benchmark, not a real dataset's accuracy" if backend.startswith("synthetic") else ""
    title = (
        f"{config.task} ({backend}{synthetic})\nseeds {list(config.seeds)}, {config.evaluations} evaluations per run"
    )
    curves = {a: [rows_of[a, s] for s in config.seeds] for a in config.algorithms}
    plot_anytime(curves, config.out, optimum=optimum, title=title)
    return BenchmarkResult(config.out, text, done, rows_of, time.perf_counter() - started)


def _one_shot_notes(config: BenchmarkConfig, done: dict[tuple[str, int], dict[str, Any]]) -> str:
    """What a one-shot search's row means, and its own network's test accuracy (never a reward)."""
    from baselines.benchmark.report import mean_std
    from baselines.benchmark.runs import resolved_config
    from baselines.registry import ONE_SHOT

    lines = []
    for name in (a for a in config.algorithms if a in ONE_SHOT):
        steps = resolved_config(next(s for s in config.specs() if s.algorithm == name))["steps"]
        accuracy = mean_std([done[name, seed]["test_accuracy"] for seed in config.seeds])
        lines.append(
            f"\n{name} is one-shot: it trained one network for {steps} steps (its budget; --set steps=N changes it) "
            f"and proposed no pipelines. Its row is the backend's evaluation of the pipeline it returns, counted at "
            f"the run's last evaluation (no value at earlier budgets); simulated time is its training time. Its "
            f"own network's test accuracy (read after the search, never a reward): {accuracy}.\n"
        )
    return "".join(lines)


def _header(config: BenchmarkConfig, backend: str) -> str:
    from baselines.benchmark.runs import config_fields

    options = f" {dict(config.backend_options)}" if config.backend_options else ""
    overrides = ""
    if config.config_overrides:
        applied = [
            f"{key}={value} ({', '.join(a for a in config.algorithms if key in config_fields(a))})"
            for key, value in config.config_overrides
        ]
        overrides = "; config overrides " + ", ".join(applied)
    return (
        f"Task {config.task}, backend {backend}{options}, {config.batches} batches x {config.batch_size} "
        f"= {config.evaluations} evaluations per run, seeds {list(config.seeds)}{overrides}.\n"
    )
