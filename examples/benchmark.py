"""Benchmark searches (MA2ML variants and baselines) on one task and backend: algorithms x seeds x budget.

    python examples/benchmark.py --task cifar100 --backend synthetic --seeds 0 1 2 3 4 --batches 40
    python examples/benchmark.py --task nb201-cifar100 --batches 42 --budgets 96 312 1008

Every (algorithm, seed) run is ``ma2ml_agents.run_search`` on a vector env of ``--batch-size``
pipelines, in its own folder ``OUT/<algorithm>/seed<k>/`` (config, evaluations.csv, top-k, plot),
run in parallel worker processes. A finished run leaves ``done.json``; re-running with the same
arguments reuses it, and resumes a run that was killed half-way from its checkpoint. The MARL library
algorithms (``baselines.marl``: ``benchmarl_mappo``, ``benchmarl_ippo``, ``benchmarl_iql``,
``benchmarl_qmix``, ``tianshou_dqn``, ``tianshou_ppo``) train their library on the token mode instead,
one evaluation per episode, ``--batch-size`` episodes per batch, into the same folder files; a killed one
starts again (their learners are not checkpointed). Then it writes:

- ``OUT/evaluations.csv``: every evaluation of every run, with best-so-far and cumulative cost;
- ``OUT/results.md``: per algorithm and budget (``--budgets``, default the whole run), mean and std
  over seeds of the best reward, the top-k mean reward (k distinct pipelines), the regret against the
  backend's optimum where it knows one, the evaluations needed to reach random search's final best,
  the simulated training time and the wall time of a run. On a recorded table with test accuracy
  (NAS-Bench-201), also the final test accuracy of the best pipeline by validation reward and its
  regret against the table's best test accuracy;
- ``OUT/anytime_evaluations.png`` and ``OUT/anytime_cost.png``: best reward so far against the number
  of evaluations and against simulated training time (mean over seeds, band = one std).

One benchmark per ``OUT`` at a time, and one process per run folder (``ma2ml_agents.run_folder.lock_folder``:
a second one is told which process has it); each algorithm and seed may be given once. A finished run whose
settings changed is started afresh; a killed run is resumed only with the settings it was started with.
The worker processes end with the main process, even when it is killed (SIGKILL): each watches its parent
and exits once it is gone, leaving its run folder to be resumed like any killed run.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_ALGORITHMS = (
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
DONE = "done.json"
SECONDS_PER_GPU_DAY = 86400.0
PARENT_POLL_SECONDS = 0.5
"""How often a worker checks that the main process is alive: the longest a killed benchmark's workers outlive it."""


@dataclass(frozen=True)
class RunSpec:
    """One (algorithm, seed) run; ``done.json`` stores it, and a run is reused only if it matches."""

    algorithm: str
    seed: int
    task: str
    backend: str
    backend_options: tuple[tuple[str, float], ...]
    batches: int
    batch_size: int
    top_k: int
    out_dir: str
    config_overrides: tuple[tuple[str, str], ...] = ()
    """``--set FIELD=VALUE`` pairs, applied to the algorithm's config where it has FIELD (else ignored)."""
    executor: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    """The env's ``executor``, ``workers`` and ``executor_options`` (``--executor`` ...): where evaluations run,
    which does not change their results, so a finished run is reused whatever executor ran it."""


def algorithm_config(name: str, overrides: Sequence[tuple[str, str]]) -> Any:
    """The config of search ``name`` with the ``overrides`` whose field it has; None when nothing applies."""
    import dataclasses

    from baselines import BASELINES
    from baselines.marl import MARL_ALGORITHMS
    from ma2ml_agents import ALGORITHMS

    if name in MARL_ALGORITHMS:  # one config class for several algorithms: the default is an instance
        default = MARL_ALGORITHMS[name].config
        config_cls = type(default)
    else:
        config_cls = BASELINES[name].config_cls if name in BASELINES else ALGORITHMS[name].config_cls
    fields = {f.name for f in dataclasses.fields(config_cls)} if dataclasses.is_dataclass(config_cls) else set()
    applicable = [(key, value) for key, value in overrides if key in fields]
    if not applicable:
        return None  # the search builds its own default config
    if name not in MARL_ALGORITHMS:
        try:
            default = config_cls()
        except TypeError as error:
            raise SystemExit(f"--set: {name}'s config has no defaults to override ({error})") from error
    changes = {key: _typed(getattr(default, key), value) for key, value in applicable}
    return dataclasses.replace(default, **changes)


def _typed(current: Any, value: str) -> Any:
    """``value`` parsed as the type of the field's default."""
    if isinstance(current, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise SystemExit(f"--set: {value!r} is not a boolean")
        return value.lower() in ("true", "1")
    if current is None:  # an optional number (e.g. MA2ML's reward_scale): "none" keeps it unset
        return None if value.lower() == "none" else _number(value)
    try:
        return type(current)(value) if isinstance(current, int | float | str) else value
    except ValueError:
        raise SystemExit(f"--set: {value!r} is not a {type(current).__name__}") from None


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"--set: {value!r} is not a number") from None


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run (or resume) one search in its folder, holding the folder; returns what ``done.json`` holds."""
    import torch

    torch.set_num_threads(1)  # one process per core: intra-op threads would only fight each other
    from ma2ml_agents.run_folder import RunFolder, lock_folder

    folder = Path(spec.out_dir)
    with lock_folder(folder):
        if (folder / DONE).exists():  # finished with other settings (run_all reruns only those): start afresh
            RunFolder(folder).clear()
        done = search_one(spec)
        (folder / DONE).write_text(json.dumps(done, indent=2) + "\n")
    return done


def search_one(spec: RunSpec) -> dict[str, Any]:
    """The search of ``spec`` in its folder (resumed where a killed run left it)."""
    import automl_env
    from baselines import make_search
    from baselines.marl import MARL_ALGORITHMS
    from ma2ml_agents import run_search

    if spec.algorithm in MARL_ALGORITHMS:
        return marl_search_one(spec)
    env = automl_env.vector_env(
        spec.task,
        num_envs=spec.batch_size,
        backend=spec.backend,
        backend_options=dict(spec.backend_options),
        seed=spec.seed,
        **dict(spec.executor),
    )
    config = algorithm_config(spec.algorithm, spec.config_overrides)
    algorithm = make_search(spec.algorithm, env, seed=spec.seed, batches=spec.batches, config=config)
    started = time.perf_counter()
    try:
        result = run_search(
            env,
            algorithm,
            batches=spec.batches,
            batch_size=spec.batch_size,
            top_k=spec.top_k,
            out_dir=spec.out_dir,
            seed=spec.seed,
            resume=True,
            progress=False,
        )
    finally:
        env.close()  # stops the evaluation workers of --executor pool or ray
    return {
        "spec": asdict(spec),
        "algorithm_config": resolved_config(spec),
        "wall_seconds": time.perf_counter() - started,
        "best_reward": result.best_reward,
    }


def marl_search_one(spec: RunSpec) -> dict[str, Any]:
    """A MARL library's run of ``spec``: started afresh (its learner state is not checkpointed)."""
    from baselines.marl import MARL_ALGORITHMS

    marl = MARL_ALGORITHMS[spec.algorithm]
    started = time.perf_counter()
    result = marl.run(
        task=spec.task,
        backend=spec.backend,
        backend_options=dict(spec.backend_options),
        batches=spec.batches,
        batch_size=spec.batch_size,
        top_k=spec.top_k,
        out_dir=spec.out_dir,
        seed=spec.seed,
        config=algorithm_config(spec.algorithm, spec.config_overrides) or marl.config,
        name=spec.algorithm,
        restart=True,  # a killed run left a partial folder: start it again
    )
    return {
        "spec": asdict(spec),
        "algorithm_config": resolved_config(spec),
        "wall_seconds": time.perf_counter() - started,
        "best_reward": result.best_reward,
    }


def finished(spec: RunSpec) -> dict[str, Any] | None:
    """The ``done.json`` of a finished run with exactly these settings, else None."""
    path = Path(spec.out_dir) / DONE
    if not path.exists():
        return None
    done: dict[str, Any] = json.loads(path.read_text())
    saved = {
        k: tuple(map(tuple, v)) if k in ("backend_options", "config_overrides") else v for k, v in done["spec"].items()
    }
    saved.setdefault("config_overrides", ())
    saved.pop("executor", None)
    current = {k: v for k, v in asdict(spec).items() if k != "executor"}  # where evaluations ran changes no result
    # A finished run is reused only if the algorithm's settings are still these: a changed default must rerun it.
    same = saved == current and done.get("algorithm_config") == resolved_config(spec)
    return done if same else None


def resolved_config(spec: RunSpec) -> Any:
    """The algorithm's settings for this run as plain JSON (its defaults with the overrides applied)."""
    import dataclasses

    from baselines import BASELINES
    from baselines.marl import MARL_ALGORITHMS
    from ma2ml_agents import ALGORITHMS

    config = algorithm_config(spec.algorithm, spec.config_overrides)
    if config is None and spec.algorithm in MARL_ALGORITHMS:
        config = MARL_ALGORITHMS[spec.algorithm].config
    if config is None:
        config_cls = BASELINES[spec.algorithm].config_cls if spec.algorithm in BASELINES else None
        config_cls = config_cls or ALGORITHMS[spec.algorithm].config_cls
        try:
            config = config_cls()
        except TypeError:
            return None  # no defaults to compare: the spec alone decides
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def run_all(specs: Sequence[RunSpec], *, workers: int) -> dict[tuple[str, int], dict[str, Any]]:
    """Every run's ``done.json``, running the missing ones in ``workers`` processes."""
    results: dict[tuple[str, int], dict[str, Any]] = {}
    todo = []
    for spec in specs:
        done = finished(spec)
        if done is None:
            todo.append(spec)
        else:
            results[spec.algorithm, spec.seed] = done
    print(f"{len(specs) - len(todo)} runs reused, {len(todo)} to run on {workers} worker(s)", flush=True)
    if workers <= 1:
        for spec in todo:
            results[spec.algorithm, spec.seed] = _report(run_one(spec))
        return results
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=exit_with_parent, initargs=(os.getpid(),)
    )
    with pool:
        futures = [pool.submit(run_one, spec) for spec in todo]
        try:
            for future in as_completed(futures):
                done = _report(future.result())
                results[done["spec"]["algorithm"], done["spec"]["seed"]] = done
        except BaseException:  # a run failed (or Ctrl-C): start no other run; the running ones end theirs
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def exit_with_parent(parent: int) -> None:
    """Worker initializer: exit as soon as the main process ``parent`` is gone.

    A ProcessPoolExecutor worker otherwise runs its current run to the end when the main process is killed
    (SIGKILL leaves it no time to stop them). A killed worker leaves its run folder as any killed run does:
    resumable, its lock released by the OS. Spawned workers are the main process's children, so a changed
    parent (re-parented to init or a sub-reaper) means it died.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # no cleanup to wait for: the run's files are written atomically or cut back on resume

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _report(done: dict[str, Any]) -> dict[str, Any]:
    spec = done["spec"]
    print(
        f"  {spec['algorithm']:>16} seed {spec['seed']}: best {done['best_reward']:.4f} in {done['wall_seconds']:.1f}s",
        flush=True,
    )
    return done


def load_evaluations(spec: RunSpec) -> list[dict[str, Any]]:
    """The run's evaluations in order, with evaluation number, best-so-far and cumulative cost added."""
    with open(Path(spec.out_dir) / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    best, cost = -np.inf, 0.0
    out = []
    for number, row in enumerate(rows, start=1):
        reward = float(row["reward"])
        best, cost = max(best, reward), cost + float(row.get("cost_seconds") or 0.0)
        out.append(
            {
                "algorithm": spec.algorithm,
                "seed": spec.seed,
                "evaluation": number,
                "batch": int(row["batch"]),
                "index": int(row["index"]),
                "reward": reward,
                "accuracy": float(row.get("accuracy") or reward),
                "cost_seconds": float(row.get("cost_seconds") or 0.0),
                "cumulative_cost_seconds": cost,
                "best_so_far": best,
                "digest": row.get("digest", ""),
            }
        )
    return out


def run_metrics(
    rows: list[dict[str, Any]],
    *,
    top_k: int,
    optimum: float | None,
    rescore: Callable[[list[str]], list[float]] | None = None,
    final: FinalScorer | None = None,
) -> dict[str, float]:
    """Best reward, mean reward of the top-k distinct pipelines, regret, simulated cost of one run.

    With ``rescore`` (digests -> noise-free rewards, for a noisy backend) the pipeline with the best observed
    reward and the top-k by observed reward are also scored without noise, as the paper retrains its top-k:
    the observed best of a noisy search is biased upwards, most for the search that samples most widely.
    With ``final``, the pipeline with the best reward also gets its final test accuracy and its regret.
    """
    by_pipeline: dict[str, float] = {}
    for row in rows:
        key = row["digest"] or f"{row['batch']}:{row['index']}"
        by_pipeline[key] = max(by_pipeline.get(key, -np.inf), row["reward"])
    ranked = sorted(by_pipeline, key=by_pipeline.__getitem__, reverse=True)
    best = by_pipeline[ranked[0]]
    metrics = {
        "best": best,
        "topk": float(np.mean([by_pipeline[key] for key in ranked[:top_k]])),
        "regret": optimum - best if optimum is not None else float("nan"),
        "gpu_days": rows[-1]["cumulative_cost_seconds"] / SECONDS_PER_GPU_DAY,
    }
    if rescore is not None:
        clean = rescore(ranked[:top_k])
        metrics.update(clean_best=clean[0], clean_topk=float(np.mean(clean)))
        if optimum is not None:
            metrics["regret"] = optimum - clean[0]
    if final is not None:
        metrics["test"] = final.score(ranked[0])
        metrics["test_regret"] = final.optimum - metrics["test"]
    return metrics


def evaluations_to_reach(rows: list[dict[str, Any]], target: float) -> float:
    """The number of the first evaluation whose best-so-far reaches ``target`` (NaN: never)."""
    return next((float(row["evaluation"]) for row in rows if row["best_so_far"] >= target), float("nan"))


@dataclass(frozen=True)
class FinalScorer:
    """Digest of a run's pipeline -> its final (test) accuracy, and the best final accuracy of the backend."""

    score: Callable[[str], float]
    optimum: float


def run_pipelines(spec: RunSpec, digests: Sequence[str]) -> list[Any]:
    """The pipelines of ``digests`` as the run recorded them in its evaluations.csv, in order."""
    import automl_env

    wanted = set(digests)
    with open(Path(spec.out_dir) / "evaluations.csv", newline="") as handle:
        found = {row["digest"]: row["pipeline"] for row in csv.DictReader(handle) if row["digest"] in wanted}
    missing = wanted - set(found)
    if missing:
        raise SystemExit(f"{spec.out_dir}: no pipeline recorded for digests {sorted(missing)[:3]}")
    return [automl_env.Pipeline.from_json(found[d]) for d in digests]


def final_scorer(task: str, backend: str, options: dict[str, float]) -> Callable[[RunSpec], FinalScorer] | None:
    """For a recorded table with final test accuracy (NAS-Bench-201): run -> FinalScorer, else None.

    Test accuracy is read only for reporting, after the search, for the pipeline it chose by validation reward.
    """
    if backend != "table":
        return None
    import automl_env
    from automl_env.backends.registry import make_backend

    spec = automl_env.get_task(task)
    table = make_backend("table", spec, **options)
    optimum = table.optimum(split="test", fidelity=spec.final_fidelity)  # type: ignore[call-arg]
    if optimum is None:
        return None

    def scorer(run: RunSpec) -> FinalScorer:
        def score(digest: str) -> float:
            return float(table.retrain(run_pipelines(run, [digest])[0]).accuracy)  # type: ignore[attr-defined]

        return FinalScorer(score, optimum.accuracy)

    return scorer


def noise_free_rescorer(
    task: str, backend: str, options: dict[str, float]
) -> Callable[[RunSpec, list[str]], list[float]] | None:
    """For a backend with ``noise`` > 0 (given, or its default): (run, digests) -> rewards from it without noise."""
    import automl_env
    from automl_env.backends.registry import make_backend
    from automl_env.evaluation import Evaluation

    spec = automl_env.get_task(task)
    if float(getattr(make_backend(backend, spec, **options), "noise", 0.0)) <= 0.0:
        return None
    evaluation = Evaluation(spec, backend=backend, backend_options={**options, "noise": 0.0})

    def rescore(spec: RunSpec, digests: list[str]) -> list[float]:
        return [reward for reward, _ in evaluation.run(run_pipelines(spec, digests))]

    return rescore


def _mean_std(values: Sequence[float], digits: int = 4) -> str:
    array = np.asarray(values, dtype=np.float64)
    if np.all(np.isnan(array)):
        return "n/a"
    spread = f"{np.nanstd(array, ddof=1):.{digits}f}" if np.sum(~np.isnan(array)) > 1 else "n/a"
    return f"{np.nanmean(array):.{digits}f} ± {spread}"


def _reached(values: Sequence[float]) -> str:
    """Mean evaluations to reach the target over the seeds that reached it, and how many did."""
    array = np.asarray(values, dtype=np.float64)
    hit = ~np.isnan(array)
    if not hit.any():
        return "not reached"
    return f"{np.mean(array[hit]):.0f} ({int(hit.sum())}/{array.size})"


def table(
    algorithms: Sequence[str],
    metrics: dict[str, list[dict[str, float]]],
    walls: dict[str, list[float]],
    *,
    top_k: int,
    optimum: float | None,
    final_optimum: float | None = None,
) -> str:
    """The markdown results table (mean ± std over seeds)."""
    from baselines import BASELINES
    from baselines.marl import MARL_ALGORITHMS

    noisy = all("clean_best" in m for runs in metrics.values() for m in runs)
    tested = all("test" in m for runs in metrics.values() for m in runs)
    reach = all("reach" in m for runs in metrics.values() for m in runs)
    clean_header = f"best, noise-free | top-{top_k}, noise-free | " if noisy else ""
    extra_header = ("final test acc. of best | test regret | " if tested else "") + (
        "evals to reach random's final best | " if reach else ""
    )
    columns = 8 + 2 * noisy + 2 * tested + reach
    lines = [
        f"| algorithm | search | seeds | best reward | top-{top_k} mean | {clean_header}regret | {extra_header}"
        "simulated GPU-days / run | wall s / run |",
        "|" + "---|" * columns,
    ]
    for name in algorithms:
        runs = metrics[name]
        kind = "sequential" if name in BASELINES and not BASELINES[name].joint else "joint"
        kind = "per token (MARL library)" if name in MARL_ALGORITHMS else kind
        clean = (
            f"{_mean_std([m['clean_best'] for m in runs])} | {_mean_std([m['clean_topk'] for m in runs])} | "
            if noisy
            else ""
        )
        extra = (
            f"{_mean_std([m['test'] for m in runs])} | {_mean_std([m['test_regret'] for m in runs])} | "
            if tested
            else ""
        ) + (f"{_reached([m['reach'] for m in runs])} | " if reach else "")
        lines.append(
            f"| {name} | {kind} | {len(runs)} | {_mean_std([m['best'] for m in runs])} "
            f"| {_mean_std([m['topk'] for m in runs])} | {clean}{_mean_std([m['regret'] for m in runs])} "
            f"| {extra}{np.mean([m['gpu_days'] for m in runs]):.1f} | {np.mean(walls[name]):.1f} |"
        )
    if noisy:
        lines.append(
            f"\nObserved rewards are noisy; the noise-free columns score the best and the top-{top_k} pipelines "
            "(ranked by observed reward) again without noise, as retraining them would."
        )
    if optimum is not None:
        found = "noise-free reward of the best pipeline found" if noisy else "best reward found"
        lines.append(f"\nBackend optimum (noise-free): {optimum:.4f}; regret = optimum - {found}.")
    if tested:
        lines.append(
            f"\nFinal test accuracy (read after the search, never a reward) of the pipeline with the best reward; "
            f"test regret = the table's best test accuracy ({final_optimum:.4f}) - that accuracy."
        )
    if reach:
        lines.append(
            "\nEvaluations to reach random search's final best (mean over the seeds that reached it, and how many "
            "did); random search's own figure is its seeds' first evaluations at its mean final best."
        )
    return "\n".join(lines) + "\n"


def plot_anytime(
    curves: dict[str, list[list[dict[str, Any]]]], out: Path, *, optimum: float | None, title: str = ""
) -> list[Path]:
    """Best reward so far against evaluations and against simulated GPU-days, mean ± std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for axis_key, label, name in (
        ("evaluation", "evaluations", "anytime_evaluations.png"),
        ("cumulative_cost_seconds", "simulated training time (GPU-days)", "anytime_cost.png"),
    ):
        figure, axis = plt.subplots(figsize=(7, 4.5))
        for algorithm, runs in curves.items():
            end = min(r[-1][axis_key] for r in runs)
            grid = np.linspace(min(r[0][axis_key] for r in runs), end, 200)
            # Best-so-far is a step function: take the value of the last evaluation at or before each point.
            values = np.stack(
                [_step_at([row[axis_key] for row in r], [row["best_so_far"] for row in r], grid) for r in runs]
            )
            scale = SECONDS_PER_GPU_DAY if axis_key != "evaluation" else 1.0
            mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
            axis.plot(grid / scale, mean, label=algorithm)
            axis.fill_between(grid / scale, mean - std, mean + std, alpha=0.15)
        if optimum is not None:
            axis.axhline(optimum, color="black", linestyle="--", linewidth=1, label="optimum")
        axis.set_xlabel(label)
        axis.set_ylabel("best reward so far")
        axis.legend(fontsize=7, ncol=2)
        axis.set_title(title, fontsize=9)
        figure.tight_layout()
        figure.savefig(out / name, dpi=120)
        plt.close(figure)
        paths.append(out / name)
    return paths


def _step_at(xs: Sequence[float], ys: Sequence[float], grid: np.ndarray) -> np.ndarray:
    index = np.searchsorted(np.asarray(xs), grid, side="right") - 1
    return np.where(index >= 0, np.asarray(ys)[np.clip(index, 0, None)], np.nan)


def parse_options(items: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """``["noise=0.01"]`` -> ``(("noise", 0.01),)``."""
    options = []
    for item in items:
        key, _, value = item.partition("=")
        if not key or not value:
            raise SystemExit(f"--backend-option takes KEY=VALUE, got {item!r}")
        options.append((key, float(value)))
    return tuple(sorted(options))


def main(argv: Sequence[str] | None = None) -> Path:
    import automl_env
    from automl_env.backends.registry import BACKENDS
    from baselines import BASELINES
    from baselines.marl import MARL_ALGORITHMS
    from ma2ml_agents import ALGORITHMS
    from ma2ml_agents.run_folder import RunFolderError, lock_folder

    # Choices are read now, not at import: the README's recipe registers its own search before calling main.
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--task",
        default="cifar100",
        choices=automl_env.list_tasks(),
        metavar="TASK",
        help="task to search, one of: %(choices)s (default: %(default)s)",
    )
    parser.add_argument(
        "--backend",
        default=None,
        choices=sorted(BACKENDS),
        help="how pipelines are evaluated (default: the task's recorded table, else synthetic)",
    )
    parser.add_argument(
        "--backend-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a numeric backend option, repeatable, e.g. noise=0.005 (default: none)",
    )
    parser.add_argument(
        "--algorithms",
        nargs="+",
        default=list(DEFAULT_ALGORITHMS),
        choices=list(dict.fromkeys([*ALGORITHMS, *BASELINES, *MARL_ALGORITHMS])),
        metavar="NAME",
        help=f"searches to run, any of: %(choices)s (default: {' '.join(DEFAULT_ALGORITHMS)})",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2, 3, 4],
        metavar="SEED",
        help="one run per algorithm and seed (default: 0 1 2 3 4)",
    )
    parser.add_argument("--batches", type=int, default=40, help="batches per run, the budget (default: %(default)s)")
    parser.add_argument(
        "--batch-size", type=int, default=24, help="pipelines evaluated together per batch (default: %(default)s)"
    )
    parser.add_argument(
        "--top-k", type=int, default=30, help="k of the top-k mean reward (default: %(default)s, the paper's)"
    )
    parser.add_argument(
        "--budgets",
        nargs="+",
        type=int,
        default=None,
        metavar="EVALUATIONS",
        help="report at these evaluation counts (default: the end of the run)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel processes (default: %(default)s, the number of CPUs)",
    )
    parser.add_argument(
        "--executor",
        default="serial",
        choices=["serial", "pool", "ray"],
        help="where each run's evaluations run: in the run's process, on worker processes, on Ray actors "
        "(default: %(default)s; with pool or ray, --workers 1 runs the searches one at a time)",
    )
    parser.add_argument(
        "--eval-workers", type=int, default=None, help="pool or Ray workers per run (default: one per GPU or core)"
    )
    parser.add_argument("--ray-address", default=None, help="Ray cluster for --executor ray (default: local)")
    parser.add_argument("--out", default="runs/benchmark", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field of every algorithm whose config has it, repeatable, e.g. policy_lr=4e-3",
    )
    args = parser.parse_args(argv)

    if args.task not in automl_env.list_tasks():
        parser.error(f"unknown task {args.task!r}; choose from {automl_env.list_tasks()}")
    args.backend = args.backend or automl_env.get_task(args.task).fast_backend
    total = args.batches * args.batch_size
    budgets = sorted(set(args.budgets or [total]))
    if budgets[0] < 1 or budgets[-1] > total:
        parser.error(f"--budgets must be between 1 and the run's {total} evaluations, got {budgets}")

    known = [*ALGORITHMS, *BASELINES, *MARL_ALGORITHMS]  # looked up now: a user may have registered their own baseline
    unknown = [a for a in args.algorithms if a not in known]
    if unknown:
        parser.error(f"unknown algorithms {unknown}; choose from {known}")
    for option, values in (("--algorithms", args.algorithms), ("--seeds", args.seeds)):
        repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
        if repeated:  # two runs of one (algorithm, seed) would share, and corrupt, one folder
            parser.error(f"{option} names {', '.join(map(str, repeated))} more than once; give each once")
    out = Path(args.out)
    options = parse_options(args.backend_option)
    overrides = []
    for item in args.set:
        key, _, value = item.partition("=")
        if not key or not value:
            parser.error(f"--set takes FIELD=VALUE, got {item!r}")
        overrides.append((key, value))
    for name in args.algorithms:
        algorithm_config(name, overrides)  # fail on a bad value now, not in a worker
    if args.executor == "serial" and (args.eval_workers is not None or args.ray_address is not None):
        parser.error("--eval-workers and --ray-address apply to --executor pool or ray only")
    if args.ray_address is not None and args.executor != "ray":
        parser.error("--ray-address applies to --executor ray only")
    executor: tuple[tuple[str, Any], ...] = (
        ()
        if args.executor == "serial"
        else (
            ("executor", args.executor),
            ("workers", args.eval_workers),
            ("executor_options", {"ray_address": args.ray_address}),
        )
    )
    specs = [
        RunSpec(
            a,
            s,
            args.task,
            args.backend,
            options,
            args.batches,
            args.batch_size,
            args.top_k,
            str(out / a / f"seed{s}"),
            tuple(overrides),
            executor,
        )
        for a in args.algorithms
        for s in args.seeds
    ]
    try:
        with lock_folder(out):  # one benchmark per output folder at a time
            return run_benchmark(args, specs, options=options, argv=argv)
    except RunFolderError as error:
        raise SystemExit(f"error: {error}") from None


def run_benchmark(
    args: argparse.Namespace,
    specs: list[RunSpec],
    *,
    options: tuple[tuple[str, float], ...],
    argv: Sequence[str] | None,
) -> Path:
    """Run (or reuse) every run of ``specs``, then write the CSV, the results table and the plots into ``args.out``."""
    out = Path(args.out)
    total = args.batches * args.batch_size
    budgets = sorted(set(args.budgets or [total]))
    started = time.perf_counter()
    done = run_all(specs, workers=args.workers)
    optimum = benchmark_optimum(args.task, args.backend, dict(options))
    rows_of = {(s.algorithm, s.seed): load_evaluations(s) for s in specs}
    write_csv(out / "evaluations.csv", [row for s in specs for row in rows_of[s.algorithm, s.seed]])
    walls = {a: [done[a, s]["wall_seconds"] for s in args.seeds] for a in args.algorithms}
    command = "python examples/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (
        f"Task {args.task}, backend {args.backend}{' ' + str(dict(options)) if options else ''}, "
        f"{args.batches} batches x {args.batch_size} "
        f"= {total} evaluations per run, seeds {args.seeds}"
        f"{'; config overrides ' + ', '.join(args.set) if args.set else ''}.\n"
    )
    final = final_scorer(args.task, args.backend, dict(options))
    tables = [
        f"\n### After {budget} evaluations\n" * (len(budgets) > 1)
        + "\n"
        + table(
            args.algorithms,
            budget_metrics(specs, rows_of, budget, args=args, optimum=optimum, options=dict(options), final=final),
            walls,
            top_k=args.top_k,
            optimum=optimum,
            final_optimum=final(specs[0]).optimum if final is not None else None,
        )
        for budget in budgets
    ]
    text = header + "".join(tables) + f"\nCommand: `{command}`\n"
    (out / "results.md").write_text(text)
    synthetic = "; synthetic benchmark, not a real dataset's accuracy" if args.backend.startswith("synthetic") else ""
    title = f"{args.task} ({args.backend}{synthetic})\nseeds {args.seeds}, {total} evaluations per run"
    plot_anytime({a: [rows_of[a, s] for s in args.seeds] for a in args.algorithms}, out, optimum=optimum, title=title)
    print(text)
    print(f"wrote {out}/results.md, evaluations.csv, anytime_*.png in {time.perf_counter() - started:.1f}s")
    return out


def budget_metrics(
    specs: Sequence[RunSpec],
    rows_of: dict[tuple[str, int], list[dict[str, Any]]],
    budget: int,
    *,
    args: argparse.Namespace,
    optimum: float | None,
    options: dict[str, float],
    final: Callable[[RunSpec], FinalScorer] | None,
) -> dict[str, list[dict[str, float]]]:
    """Every run's metrics over its first ``budget`` evaluations, by algorithm (in ``specs`` order)."""
    rescorer = noise_free_rescorer(args.task, args.backend, options)
    metrics: dict[str, list[dict[str, float]]] = {s.algorithm: [] for s in specs}
    for s in specs:
        rescore = functools.partial(rescorer, s) if rescorer is not None else None
        rows = rows_of[s.algorithm, s.seed][:budget]
        scorer = final(s) if final is not None else None
        metrics[s.algorithm].append(run_metrics(rows, top_k=args.top_k, optimum=optimum, rescore=rescore, final=scorer))
    if "random" in metrics:
        target = float(np.mean([m["best"] for m in metrics["random"]]))
        for algorithm, runs in metrics.items():
            run_specs = [s for s in specs if s.algorithm == algorithm]
            for m, s in zip(runs, run_specs, strict=True):
                m["reach"] = evaluations_to_reach(rows_of[s.algorithm, s.seed][:budget], target)
    return metrics


def benchmark_optimum(task: str, backend: str, options: dict[str, float]) -> float | None:
    """The backend's optimal accuracy where it knows one and the task's reward is accuracy."""
    import automl_env

    spec = automl_env.get_task(task)
    if spec.objective != "accuracy":
        return None  # the optimum is one of accuracy; regret in another reward would be meaningless
    env = automl_env.parallel_env(task, backend=backend, backend_options=options)
    optimum = env.backend.optimum()
    return None if optimum is None else float(optimum.accuracy)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
