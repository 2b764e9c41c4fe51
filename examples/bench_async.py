"""Asynchronous against synchronous search in simulated wall-clock time, on N simulated workers.

    python examples/bench_async.py --workers 1 8 32 --seeds 0 1 2 3 4 --evaluations 1008

For every algorithm (``--algorithms``, default MA2ML, REA and random search), number of simulated workers N
(``--workers``) and seed, two runs of ``ma2ml_agents.run_async_search`` on ``SimulatedExecutor(backend,
workers=N)`` with the same budget of evaluations: asynchronous (a worker that finishes gets the next pipeline
at once; the search learns from results as they arrive) and synchronous (batches of N; a batch ends when its
slowest pipeline does, and the search learns from the whole batch). Each run's folder is
``OUT/<algorithm>/<async|sync>-<N>w/seed<k>/``; a finished run (``done.json`` with the same settings) is reused.

Scoring. The synthetic backends' rewards are noisy (``noise``, the seed-to-seed spread of real training), so
the best observed reward is biased upwards, most for the search that samples most widely. As
``examples/benchmark.py`` does, every pipeline is also scored without noise: "best" at time t is the noise-free
reward of the pipeline with the best observed reward among those finished by t (what a user would deploy),
"top-k" the noise-free mean of the k distinct pipelines with the best observed rewards.

Writes ``OUT/curves.csv`` (every evaluation of every run: finishing time, observed and noise-free reward),
``OUT/results.md`` (per N: best and top-k at simulated-time checkpoints, mean ± std over seeds; each run's
simulated time to reach a target, median over seeds with how many runs reached it, and the speed-up of
asynchronous over synchronous: the ratio of those medians) and
``OUT/anytime_<N>w.png`` (best and top-k against simulated time, mean over seeds).

The target is ``--target`` where given, else the lower of the two modes' median final bests (of an even count,
the lower of the middle two), which more than half the runs of each mode reach, so both median times are finite.
Times are per run: a mean curve over seeds reaches a target only once every seed has, so one slow seed would
decide it.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

SECONDS_PER_DAY = 86400.0
CHECKPOINTS = (0.25, 0.5, 1.0)
"""Table times, as fractions of the mean time the asynchronous runs of a worker count take for the budget."""
MODES = ("async", "sync")


@dataclass(frozen=True)
class RunSpec:
    """One run; ``done.json`` stores it, and a finished run is reused only if it matches."""

    algorithm: str
    workers: int
    mode: str
    seed: int
    task: str
    backend: str
    evaluations: int
    top_k: int
    out_dir: str
    update_every: int | None = None
    """The asynchronous runs' ``update_every``, resolved (so a changed default reruns them); None when synchronous:
    synchronous runs learn per batch."""


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one search on simulated workers, then score its pipelines without noise into ``scored.csv``."""
    import torch

    torch.set_num_threads(1)  # one process per core
    import automl_env
    from automl_env.executors import SimulatedExecutor
    from baselines import make_search
    from ma2ml_agents import run_async_search
    from ma2ml_agents.run_folder import RunFolder, lock_folder

    folder = Path(spec.out_dir)
    with lock_folder(folder):
        RunFolder(folder).clear()  # a run stopped half-way cannot be resumed: start it again
        env = automl_env.parallel_env(spec.task, backend=spec.backend, seed=spec.seed)
        algorithm = make_search(spec.algorithm, env, seed=spec.seed, batches=max(1, spec.evaluations // 24))
        started = time.perf_counter()
        result = run_async_search(
            env,
            algorithm,
            executor=SimulatedExecutor(env.backend, workers=spec.workers),
            evaluations=spec.evaluations,
            out_dir=folder,
            synchronous=spec.mode == "sync",
            update_every=spec.update_every if spec.mode == "async" else None,
            top_k=spec.top_k,
        )
        wall = time.perf_counter() - started
        write_scored(spec, folder)
        done = {"spec": asdict(spec), "elapsed": result.elapsed, "utilisation": result.utilisation, "wall": wall}
        (folder / "done.json").write_text(json.dumps(done, indent=2) + "\n")
    return done


def write_scored(spec: RunSpec, folder: Path) -> None:
    """``scored.csv``: each evaluation's finishing time, digest, observed and noise-free reward, finishing order."""
    import automl_env
    from automl_env.backends.registry import make_backend
    from automl_env.evaluation import Evaluation

    with open(folder / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    task = automl_env.get_task(spec.task)
    noisy = float(getattr(make_backend(spec.backend, task), "noise", 0.0)) > 0.0  # a recorded table has no noise
    clean = Evaluation(task, backend=spec.backend, backend_options={"noise": 0.0} if noisy else None)
    pipelines = {row["digest"]: automl_env.Pipeline.from_json(row["pipeline"]) for row in rows}
    digests = list(pipelines)
    clean_reward = dict(zip(digests, (r for r, _ in clean.run([pipelines[d] for d in digests])), strict=True))
    with open(folder / "scored.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["finished", "digest", "reward", "clean_reward"])
        for row in sorted(rows, key=lambda r: float(r["finished"])):  # stable: ties keep the finishing order
            writer.writerow([row["finished"], row["digest"], row["reward"], clean_reward[row["digest"]]])


def finished(spec: RunSpec) -> dict[str, Any] | None:
    """The ``done.json`` of a finished run with exactly these settings, else None."""
    path = Path(spec.out_dir) / "done.json"
    if not path.exists():
        return None
    done: dict[str, Any] = json.loads(path.read_text())
    return done if done["spec"] == asdict(spec) else None


def run_all(specs: Sequence[RunSpec], *, processes: int) -> dict[RunSpec, dict[str, Any]]:
    done = {spec: found for spec in specs if (found := finished(spec)) is not None}
    todo = [spec for spec in specs if spec not in done]
    print(f"{len(done)} runs reused, {len(todo)} to run in {processes} process(es)", flush=True)
    if processes <= 1:
        results = map(run_one, todo)
        for spec, result in zip(todo, results, strict=True):
            done[spec] = _report(result)
        return done
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn")) as pool:
        for spec, result in zip(todo, pool.map(run_one, todo), strict=True):
            done[spec] = _report(result)
    return done


def _report(done: dict[str, Any]) -> dict[str, Any]:
    spec = done["spec"]
    print(
        f"  {spec['algorithm']:>8} {spec['mode']:>5} {spec['workers']:>3}w seed {spec['seed']}: "
        f"{done['elapsed'] / SECONDS_PER_DAY:7.2f} simulated days, {done['wall']:.1f}s",
        flush=True,
    )
    return done


@dataclass(frozen=True)
class Timeline:
    """One run's evaluations in finishing order: time, observed reward, noise-free reward, digest."""

    times: np.ndarray
    rewards: np.ndarray
    clean: np.ndarray
    digests: list[str]

    @classmethod
    def read(cls, folder: Path) -> Timeline:
        with open(folder / "scored.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        column = lambda name: np.array([float(r[name]) for r in rows])  # noqa: E731
        return cls(column("finished"), column("reward"), column("clean_reward"), [r["digest"] for r in rows])

    @functools.cached_property
    def best(self) -> np.ndarray:
        """After each evaluation: the noise-free reward of the pipeline with the best observed reward so far."""
        incumbent = np.zeros(len(self.rewards), dtype=np.int64)
        for i in range(1, len(self.rewards)):
            incumbent[i] = i if self.rewards[i] > self.rewards[incumbent[i - 1]] else incumbent[i - 1]
        return self.clean[incumbent]

    def best_at(self, t: float | np.ndarray) -> np.ndarray:
        """``best`` at time(s) t (NaN before the first evaluation finished)."""
        index = np.searchsorted(self.times, t, side="right") - 1
        return np.where(index >= 0, self.best[np.maximum(index, 0)], np.nan)

    def topk_at(self, t: float, k: int) -> float:
        """Noise-free mean of the k distinct pipelines with the best observed rewards among those finished by t."""
        observed: dict[str, float] = {}
        clean: dict[str, float] = {}
        for i in range(int(np.searchsorted(self.times, t, side="right"))):
            digest = self.digests[i]
            if self.rewards[i] > observed.get(digest, -np.inf):
                observed[digest] = float(self.rewards[i])
                clean[digest] = float(self.clean[i])
        ranked = sorted(observed, key=observed.__getitem__, reverse=True)[:k]
        return float(np.mean([clean[d] for d in ranked])) if ranked else float("nan")


def median_time_to_reach(runs: Sequence[Timeline], target: float) -> tuple[float, int]:
    """The median over runs of the first time each one's ``best`` reaches ``target``, and how many reach it.

    A run that never reaches it counts as infinitely slow, so the median is infinite once half the runs never do.
    """
    times = []
    for run in runs:
        reached = np.flatnonzero(run.best >= target)
        times.append(float(run.times[reached[0]]) if reached.size else np.inf)
    return float(np.median(times)), int(np.isfinite(times).sum())


def _mean_std(values: Sequence[float]) -> str:
    array = np.asarray(values, dtype=np.float64)
    spread = f" ± {np.std(array, ddof=1):.4f}" if array.size > 1 else ""
    return f"{np.mean(array):.4f}{spread}"


def _days(seconds: float) -> str:
    return f"{seconds / SECONDS_PER_DAY:.2f}" if np.isfinite(seconds) else "never"


def results_table(
    specs: Sequence[RunSpec],
    done: dict[RunSpec, dict[str, Any]],
    timelines: dict[RunSpec, Timeline],
    *,
    top_k: int,
    target: float | None = None,
) -> str:
    """The markdown table: one block of rows per worker count (module docstring for the target and times)."""
    header = " | ".join(f"best at {f:g} T" for f in CHECKPOINTS)
    lines = [
        f"| workers | algorithm | mode | simulated days for the budget | utilisation | {header} | final best "
        f"| top-{top_k} at T | target | median days to reach it (runs that do) | speed-up async/sync |",
        "|" + "---|" * (10 + len(CHECKPOINTS)),
    ]
    for workers in sorted({s.workers for s in specs}):
        async_elapsed = [done[s]["elapsed"] for s in specs if s.workers == workers and s.mode == "async"]
        end = float(np.mean(async_elapsed))
        for algorithm in dict.fromkeys(s.algorithm for s in specs):
            runs = {
                mode: [timelines[s] for s in specs if (s.workers, s.algorithm, s.mode) == (workers, algorithm, mode)]
                for mode in MODES
            }
            goal = target
            if goal is None:
                goal = min(float(np.quantile([run.best[-1] for run in runs[m]], 0.5, method="lower")) for m in MODES)
            reach = {mode: median_time_to_reach(runs[mode], goal) for mode in MODES}
            sync_days, async_days = reach["sync"][0], reach["async"][0]
            speed = f"{sync_days / async_days:.2f}x" if np.isfinite([sync_days, async_days]).all() else "n/a"
            for mode in MODES:
                group = [s for s in specs if (s.workers, s.algorithm, s.mode) == (workers, algorithm, mode)]
                at = [_mean_std([float(timelines[s].best_at(f * end)) for s in group]) for f in CHECKPOINTS]
                final = _mean_std([timelines[s].best[-1] for s in group])
                topk = _mean_std([timelines[s].topk_at(end, top_k) for s in group])
                days, reached = reach[mode]
                lines.append(
                    f"| {workers} | {algorithm} | {mode} | {np.mean([done[s]['elapsed'] for s in group]) / 86400:.2f} "
                    f"| {np.mean([done[s]['utilisation'] for s in group]):.3f} | {' | '.join(at)} | {final} | {topk} "
                    f"| {goal:.4f} | {_days(days)} ({reached}/{len(group)}) | {speed if mode == 'async' else ''} |"
                )
    return "\n".join(lines) + "\n"


def plot_anytime(
    specs: Sequence[RunSpec], timelines: dict[RunSpec, Timeline], out: Path, *, top_k: int, title: str
) -> list[Path]:
    """Per worker count: best and top-k against simulated days, mean over seeds (solid async, dashed sync)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    algorithms = list(dict.fromkeys(s.algorithm for s in specs))
    for workers in sorted({s.workers for s in specs}):
        figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        runs = [timelines[s] for s in specs if s.workers == workers]
        grid = np.linspace(max(run.times[0] for run in runs), max(run.times[-1] for run in runs), 150)
        for colour, algorithm in enumerate(algorithms):
            for mode, style in zip(MODES, ("-", "--"), strict=True):
                group = [timelines[s] for s in specs if (s.workers, s.algorithm, s.mode) == (workers, algorithm, mode)]
                best = np.nanmean([run.best_at(grid) for run in group], axis=0)
                topk = np.nanmean([[run.topk_at(t, top_k) for t in grid] for run in group], axis=0)
                label = f"{algorithm} {mode}"
                for axis, values in zip(axes, (best, topk), strict=True):
                    axis.plot(grid / SECONDS_PER_DAY, values, style, color=f"C{colour}", label=label)
        for axis, what in zip(
            axes, ("best (noise-free reward of the incumbent)", f"top-{top_k} mean (noise-free)"), strict=True
        ):
            axis.set_xlabel("simulated wall-clock time (days)")
            axis.set_ylabel(what)
            axis.legend(fontsize=7)
        figure.suptitle(f"{title}, {workers} simulated worker{'s' * (workers > 1)}", fontsize=9)
        figure.tight_layout()
        path = out / f"anytime_{workers}w.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths


def write_curves(path: Path, specs: Sequence[RunSpec], timelines: dict[RunSpec, Timeline]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["algorithm", "mode", "workers", "seed", "finished", "reward", "clean_reward", "best"])
        for s in specs:
            run = timelines[s]
            for t, reward, clean, best in zip(run.times, run.rewards, run.clean, run.best, strict=True):
                writer.writerow([s.algorithm, s.mode, s.workers, s.seed, t, reward, clean, best])


def main(argv: Sequence[str] | None = None) -> Path:
    import automl_env
    from automl_env.backends.registry import BACKENDS
    from ma2ml_agents import ALGORITHMS, SearchAlgorithm
    from ma2ml_agents.async_search import default_update_every

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cifar100", choices=automl_env.list_tasks(), metavar="TASK")
    parser.add_argument(
        "--backend",
        default="synthetic-rugged",
        choices=sorted(set(BACKENDS) - {"train"}),
        help="a backend that reports a training cost (default: %(default)s)",
    )
    parser.add_argument("--algorithms", nargs="+", default=["ma2ml", "rea", "random"], metavar="NAME")
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 8, 32], help="simulated worker counts")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--evaluations", type=int, default=1008, help="budget of every run (default: %(default)s)")
    parser.add_argument(
        "--update-every",
        type=int,
        default=None,
        help="results per update of the asynchronous runs (default: the loop's, 8 for MA2ML, 1 for the others)",
    )
    parser.add_argument("--top-k", type=int, default=30, help="k of the top-k mean (default: %(default)s)")
    parser.add_argument(
        "--target",
        type=float,
        default=None,
        help="noise-free reward the speed-up is measured to (default: the lower of the modes' median final bests)",
    )
    parser.add_argument("--processes", type=int, default=1, help="runs in parallel (default: %(default)s)")
    parser.add_argument("--out", default="runs/bench_async", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    bad_every = args.update_every is not None and args.update_every < 1
    if min(args.workers) < 1 or args.evaluations < 1 or args.processes < 1 or bad_every:
        parser.error("--workers, --evaluations, --processes and --update-every must be positive")
    for option in ("algorithms", "workers", "seeds"):
        values = getattr(args, option)
        if len(set(values)) != len(values):
            parser.error(f"--{option} names a value more than once; give each once")
    out = Path(args.out)
    specs = [
        RunSpec(
            a,
            w,
            m,
            s,
            args.task,
            args.backend,
            args.evaluations,
            args.top_k,
            str(out / a / f"{m}-{w}w/seed{s}"),
            (args.update_every or default_update_every(ALGORITHMS[a].cls if a in ALGORITHMS else SearchAlgorithm))
            if m == "async"
            else None,
        )
        for w in args.workers
        for a in args.algorithms
        for m in MODES
        for s in args.seeds
    ]
    started = time.perf_counter()
    done = run_all(specs, processes=args.processes)
    timelines = {s: Timeline.read(Path(s.out_dir)) for s in specs}
    write_curves(out / "curves.csv", specs, timelines)
    command = "python examples/bench_async.py " + " ".join(argv if argv is not None else sys.argv[1:])
    every = ", ".join(dict.fromkeys(f"{s.algorithm} {s.update_every}" for s in specs if s.mode == "async"))
    synthetic = " (synthetic benchmark: not a real dataset's accuracy)" if args.backend.startswith("synthetic") else ""
    text = (
        f"Task {args.task}, backend {args.backend}{synthetic}; {args.evaluations} evaluations per run, seeds "
        f"{args.seeds}; asynchronous update_every {every}; "
        "T = the mean simulated time of the asynchronous runs with that many workers.\n\n"
        + results_table(specs, done, timelines, top_k=args.top_k, target=args.target)
        + f"\nCommand: `{command}`\n"
    )
    (out / "results.md").write_text(text)
    plot_anytime(specs, timelines, out, top_k=args.top_k, title=f"{args.task}, backend {args.backend}{synthetic}")
    print(text)
    print(f"wrote {out}/results.md, curves.csv, anytime_*w.png in {time.perf_counter() - started:.1f}s")
    return out


if __name__ == "__main__":
    main()
