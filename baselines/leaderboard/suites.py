"""The leaderboard's suites: which searches run on which tasks, with how many seeds and at which budgets.

``real`` is ``fast`` without synthetic-rugged: the recorded tables only, about an hour on 2 cores.
``fast`` (the default) is every search of the registry (MA2ML and its variants, the baselines) on every real
task, NAS-Bench-201 (3 datasets x the cell and the node view) and HPOLib (4 datasets), and on
synthetic-rugged cifar100, at 96 / 312 / 1,008 evaluations (4,008 on synthetic-rugged), 20 seeds. ``marl``
runs the MARL library runners on the same tasks with fewer seeds, as a separate, opt-in command (their runs
cost far more); ``marl-pipeline`` runs the MARL runners at the paper's budget, synthetic-rugged cifar100 up to
4,008 evaluations, 5 seeds: BenchMARL's algorithms in pipeline mode (the native env) and Tianshou's in token mode
(its AEC path, the only one it takes). ``tiny`` is the suite the test suite runs in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from baselines.marl import MARL_ALGORITHMS
from baselines.registry import SEARCHES

BATCH_SIZE = 24
"""Pipelines per batch, the paper's: 96, 312, 1,008 and 4,008 evaluations are 4, 13, 42 and 167 batches."""

NB201_TASKS = tuple(f"nb201-{d}{v}" for d in ("cifar10", "cifar100", "imagenet16") for v in ("", "-nodes"))
HPOLIB_TASKS = ("hpolib-naval", "hpolib-parkinsons", "hpolib-protein", "hpolib-slice")
FAST_SEARCHES: tuple[str, ...] = SEARCHES
"""Every search of the registry (``baselines.SEARCHES``: the MA2ML variants and the baselines)."""
MARL_SEARCHES: tuple[str, ...] = ("random", *MARL_ALGORITHMS)
"""The MARL library runners (``baselines.marl.MARL_ALGORITHMS``), with random search as the common reference."""

SOURCES = {
    "nb201": "NAS-Bench-201: X. Dong and Y. Yang, NAS-Bench-201: Extending the Scope of Reproducible Neural "
    "Architecture Search, ICLR 2020.",
    "hpolib": "HPOLib (FCNet): A. Klein and F. Hutter, Tabular Benchmarks for Joint Architecture and "
    "Hyperparameter Optimization, arXiv:1905.04970, 2019.",
    "synthetic": "synthetic-rugged: this project's closed-form stand-in (a synthetic benchmark, not real accuracies).",
}
"""What each family of tasks comes from; every report cites the sources of its tasks."""


@dataclass(frozen=True, kw_only=True)
class SuiteTask:
    """One task of a suite, run for ``max(budgets)`` evaluations and reported at each budget."""

    task: str
    budgets: tuple[int, ...]
    backend: str | None = None
    excluded: tuple[tuple[str, str], ...] = ()
    """(search, why) pairs the suite does not run on this task although they could: named in the report, left
    out of the aggregate, as a search that cannot run there is."""

    @property
    def source(self) -> str:
        return "nb201" if self.task.startswith("nb201") else "hpolib" if self.task.startswith("hpolib") else "synthetic"


@dataclass(frozen=True, kw_only=True)
class Suite:
    """Searches x tasks x seeds; ``note`` marks a suite whose rows are not comparable with the fast one's."""

    name: str
    tasks: tuple[SuiteTask, ...]
    algorithms: tuple[str, ...]
    seeds: tuple[int, ...]
    batch_size: int = BATCH_SIZE
    top_k: int = 30
    random_sample: int = 200_000
    """Uniform pipelines that estimate random search's distribution where the space is too large to enumerate."""
    note: str = ""

    def __post_init__(self) -> None:
        for entry in self.tasks:
            if any(b % self.batch_size for b in entry.budgets):
                raise ValueError(f"suite {self.name}: budgets of {entry.task} must be multiples of {self.batch_size}")

    def only(self, *, algorithms: Sequence[str] | None = None, tasks: Sequence[str] | None = None) -> Suite:
        """The suite with these of its searches and tasks only (in the suite's order): a part of its report."""
        suite = self
        if algorithms is not None:
            suite = replace(suite, algorithms=self._subset("searches", self.algorithms, algorithms))
        if tasks is not None:
            chosen = self._subset("tasks", tuple(e.task for e in self.tasks), tasks)
            suite = replace(suite, tasks=tuple(e for e in self.tasks if e.task in chosen))
        return suite

    def with_seeds(self, seeds: Sequence[int]) -> Suite:
        """The suite on other seeds, named in its note: to check its figures on seeds its report did not use."""
        seeds = tuple(seeds)
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if not seeds or repeated or any(s < 0 for s in seeds):
            raise ValueError(
                f"suite {self.name} needs distinct non-negative seeds, got {', '.join(map(str, seeds)) or 'none'}"
                + (f" ({', '.join(map(str, repeated))} more than once)" if repeated else "")
            )
        seeds = tuple(sorted(seeds))
        if seeds == tuple(sorted(self.seeds)):
            return self
        changed = f"Seeds {seed_list(seeds)}, not the suite's own ({seed_list(self.seeds)})."
        return replace(self, seeds=seeds, note=f"{self.note} {changed}".strip())

    def _subset(self, what: str, offered: tuple[str, ...], asked: Sequence[str]) -> tuple[str, ...]:
        unknown = [name for name in asked if name not in offered]
        if unknown or not asked:
            raise ValueError(
                f"suite {self.name} runs the {what} {', '.join(offered)}; "
                + (f"{', '.join(unknown)} is not one of them" if unknown else "name at least one of them")
            )
        return tuple(name for name in offered if name in asked)


def seed_list(seeds: Sequence[int]) -> str:
    """Seeds as runs of consecutive numbers: ``seed_list((0, 1, 2, 5))`` is ``"0-2, 5"``."""
    runs: list[list[int]] = []
    for seed in sorted(seeds):
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


TPE_AT_4008 = (
    "not run at 4,008 evaluations: Optuna's TPE costs about 1,000 CPU seconds a run on these 100 tokens (101 s at "
    "1,008, growing as the 1.7th power of the trials), three quarters of the whole suite; "
    "run it apart with automl-env benchmark --task cifar100 --algorithms tpe --batches 167"
)


PIPELINE_REFERENCES = ("random", "rea", "reinforce", "ma2ml_screened")
"""The searches the marl-pipeline suite compares the MARL runners with: random search; REA and REINFORCE, the
strongest of the library on synthetic-rugged cifar100 at 4,008 evaluations (docs/ma2ml_study.md); and the library's
default MA2ML. They cost seconds to two minutes a run at 4,008 here; TPE about 1,000 s, so it is left to the fast
suite."""


def _real_tasks(
    budgets: tuple[int, ...], rugged: tuple[int, ...], excluded: tuple[tuple[str, str], ...] = ()
) -> tuple[SuiteTask, ...]:
    rugged_task = SuiteTask(task="cifar100", budgets=rugged, backend="synthetic-rugged", excluded=excluded)
    return (*_table_tasks(budgets), rugged_task)


def _table_tasks(budgets: tuple[int, ...]) -> tuple[SuiteTask, ...]:
    return tuple(SuiteTask(task=t, budgets=budgets) for t in (*NB201_TASKS, *HPOLIB_TASKS))


SUITES: dict[str, Suite] = {
    "fast": Suite(
        name="fast",
        tasks=_real_tasks(
            (96, 312, 1008), (96, 312, 1008, 4008), excluded=(("tpe", TPE_AT_4008), ("sequential_tpe", TPE_AT_4008))
        ),
        algorithms=FAST_SEARCHES,
        seeds=tuple(range(20)),
    ),
    "real": Suite(
        name="real",
        tasks=_table_tasks((96, 312, 1008)),
        algorithms=FAST_SEARCHES,
        seeds=tuple(range(20)),
        note="The fast suite's recorded real tasks only (no synthetic-rugged): every search, 20 seeds.",
    ),
    "marl": Suite(
        name="marl",
        tasks=_real_tasks((96, 312, 1008), (96, 312, 1008)),
        algorithms=MARL_SEARCHES,
        seeds=tuple(range(5)),
        note="MARL library runners: 5 seeds (their runs cost far more), not 20; intervals are wider.",
    ),
    "marl-pipeline": Suite(
        name="marl-pipeline",
        tasks=(
            SuiteTask(
                task="cifar100",
                budgets=(96, 312, 1008, 4008),
                backend="synthetic-rugged",
            ),
        ),
        algorithms=(
            *PIPELINE_REFERENCES,
            *(name for name in MARL_ALGORITHMS if name.endswith("_pipeline") or name.startswith("tianshou_")),
        ),
        seeds=tuple(range(5)),
        note="BenchMARL in pipeline mode on the native env and Tianshou in token mode, with random search, REA, "
        "REINFORCE and the default MA2ML as references: "
        "5 seeds (the MARL runs cost far more), not 20. A run of 4,008 evaluations took 3 to 13 minutes (BenchMARL), "
        "3 to 26 minutes (Tianshou PPO) and about 41 minutes (Tianshou DQN, one gradient step per env step) on a "
        "2-core VM (docs/marl.md), about 7.5 hours for the suite; --algorithms runs a part of it.",
    ),
    "tiny": Suite(
        name="tiny",
        tasks=(
            SuiteTask(task="nb201-cifar10", budgets=(8, 16)),
            SuiteTask(task="cifar100", budgets=(8, 16), backend="synthetic-rugged"),
        ),
        algorithms=("random", "rea", "ma2ml_lite"),
        seeds=(0, 1),
        batch_size=4,
        top_k=3,
        random_sample=2000,
        note="A tiny suite for the test suite: budgets of 8 and 16 evaluations, 2 seeds; ranks nothing.",
    ),
}
