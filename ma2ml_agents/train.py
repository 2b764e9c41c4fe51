"""One search on one task, into a run folder: ``automl-env train``, ``examples/train_ma2ml.py``, ``./run.sh train``.

With no arguments: a short MA2ML search on the embedded synthetic cifar100 benchmark, which needs
no data and finishes in about a minute on a 2-core CPU. The NAS-Bench-201 tasks search the recorded
real results shipped with the package (backend ``table``). For real training pass ``--backend train``
(CIFAR-100 is downloaded to ``--data-root`` where the machine is online).

    automl-env train
    automl-env train --task nb201-cifar100-nodes --batches 42 --retrain-top 5
    automl-env train --algorithm ma2ml_lite --batches 100 --seed 3
    automl-env train --task fashion-mnist --backend train --batches 5 --retrain-top 3
    automl-env train --out runs/my-run --resume      # continue a stopped run exactly
    automl-env train --task fashion-mnist-nb201 --backend weight-sharing --algorithm autohas --batch-size 1
    automl-env train --task fashion-mnist-nb201 --backend train --algorithm dha --batches 20 --batch-size 24
    automl-env train --task fashion-mnist --backend train --device cuda --executor pool  # every GPU
    automl-env train --task fashion-mnist --backend train --executor ray --ray-address auto

``--executor pool`` trains on worker processes: one per GPU (``--per-device k`` packs k per GPU, each capped at
1/k of its memory) with ``--device cuda``, one per core on CPU (``--workers`` to choose); ``--executor ray`` runs
the same workers as Ray actors, on a local instance or on the cluster ``--ray-address`` names. A worker that
crashes or runs past ``--timeout`` seconds is replaced and its evaluation retried (``--retries``), then recorded
as failed with the reason. The executor changes where evaluations run, never their results: a run may be
resumed with another executor or number of workers.

The run folder holds config.json, evaluations.csv, topk.json, checkpoint.pt and the learning
curve plot; ``--retrain-top k`` adds retrain.json with the top-k pipelines' final training (on a
recorded table: their recorded final test accuracy, e.g. NAS-Bench-201's 200-epoch figure).

``--algorithm`` takes the MA2ML variants, the baselines (``baselines.registry.BASELINES``: rea, tpe, autohas, ...)
and the one-shot searches (``ONE_SHOT``: dha). DHA trains one network for ``--batches`` x ``--batch-size`` steps
(one step per evaluation of the budget) and returns it: its folder holds config.json, result.json (its network's
test accuracy), curve.csv, pipeline.json (its answer in the task's modules) and evaluations.csv (that pipeline
scored by the backend); it runs on real training only, is not checkpointed (no ``--resume``) and not retrained
(``baselines.dha.command``).

Real training commits every finished evaluation to an evaluation store (``--store``, by default
evaluations.sqlite in the run folder). Ctrl-C (or a kill) loses only the evaluations in flight: the
message printed on Ctrl-C names the command that resumes, and the resumed run reads the finished
evaluations back instead of training them again.

The run folder is safe to resume: one process uses it at a time (a second is told which process has
it); a folder that holds a run is continued only with ``--resume`` and only with the settings it was
started with (the refusal lists those that differ); ``--resume`` of a folder without a run is refused.
Exit status: 0 when the search ran, 1 when it could not (folder in use or refused, training data or device
missing, which is checked before any folder exists, every evaluation failed: the message says why), 2 for a
bad command line (every value is checked while it is parsed, before any folder or lock exists:
``automl_env.arguments``), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import automl_env
from automl_env import Pipeline
from automl_env.arguments import command_line, integer, output_folder, real
from automl_env.backends.base import BackendSetupError, Fidelity
from automl_env.backends.registry import BACKENDS, make_backend
from automl_env.executors import EXECUTORS, ExecutorOptions
from automl_env.store import EvalStore
from ma2ml_agents.registry import ALGORITHMS, make_algorithm
from ma2ml_agents.run_folder import RUN_FILES, STORE, RunFolderError, lock_folder, run_files
from ma2ml_agents.search import EvaluationsFailedError, SearchResult, checkpointed_batches, run_search

# One Fashion-MNIST evaluation at the task's search fidelity (default pipeline, after a warm-up) on the
# shared 2-core CPU this project runs on, load average 3.2-5.4: 1 thread 17-31 s (median 20 s), 2 threads
# 60-86 s (median 75 s); random pipelines 20 s vs 108 s and 68 s vs 516 s. With the cores busy, a second
# thread only waits for them. On an idle machine more threads may pay: measure before raising it.
DEFAULT_THREADS = 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from baselines import one_shot  # the command line of a one-shot search (DHA)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cifar100", choices=automl_env.list_tasks(), help="task to search")
    parser.add_argument(
        "--backend",
        default=None,
        choices=sorted(BACKENDS),
        help="how pipelines are evaluated (default: the task's fast backend: table for NAS-Bench-201, "
        "else synthetic-rugged)",
    )
    parser.add_argument(
        "--algorithm",
        default="ma2ml_screened",
        choices=search_names(),
        help="search algorithm (default: %(default)s, MA2ML whose critic screens its draws; ma2ml: the paper's); "
        "also the baselines (rea, tpe, autohas, ...) and the one-shot dha",
    )
    parser.add_argument("--batches", type=integer(minimum=1), default=60, help="number of batches (updates)")
    parser.add_argument("--batch-size", type=integer(minimum=1), default=24, help="pipelines per batch (paper: 24)")
    parser.add_argument(
        "--top-k", type=integer(minimum=1), default=30, help="size of the tracked top-k (paper: 30 on CIFAR)"
    )
    parser.add_argument("--seed", type=integer(minimum=0), default=0, help="seed of the agents and the run")
    parser.add_argument(
        "--out",
        type=output_folder,
        default=None,
        help="run folder (default: runs/<task>-<backend>-<algorithm>-s<seed>)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--device", default="cpu", help="torch device of the agents and the training backend")
    parser.add_argument("--data-root", type=Path, default=None, help="dataset folder for --backend train")
    parser.add_argument(
        "--threads",
        type=integer(minimum=1),
        default=DEFAULT_THREADS,
        help=f"torch CPU threads of real training (default {DEFAULT_THREADS}: on a busy 2-core CPU one Fashion-MNIST "
        "evaluation took 20 s with 1 thread, 75 s with 2); results differ slightly between thread counts",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help=f"evaluation store of real training (default: {STORE} in the run folder); shared stores are safe",
    )
    parser.add_argument(
        "--fidelity",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change the task's search fidelity (how much training one evaluation gets), e.g. epochs=2",
    )
    parser.add_argument(
        "--noise",
        type=real(minimum=0.0),
        default=None,
        help="synthetic backends: std of evaluation noise (default: the backend's own; synthetic-rugged's is the "
        "seed-to-seed level of real training)",
    )
    parser.add_argument(
        "--retrain-top",
        type=integer(minimum=0),
        default=0,
        help="after the search, retrain the k best with the real backend",
    )
    parser.add_argument(
        "--retrain-lr-scale",
        type=real(positive=True),
        default=4.0,
        help="learning-rate multiplier of the retraining (paper: 4)",
    )
    parser.add_argument(
        "--retrain-fidelity",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change the task's final fidelity (paper: 600 epochs, 17 cells, 36 channels), e.g. epochs=50",
    )
    parser.add_argument(
        "--executor",
        default=None,
        choices=sorted(EXECUTORS),
        help="where evaluations run: this process (serial), worker processes (pool) or Ray actors (ray); "
        "default: pool for real training on several GPUs, else serial",
    )
    parser.add_argument(
        "--workers",
        type=integer(minimum=1),
        default=None,
        help="pool or Ray workers (default: one per GPU slot, else per core)",
    )
    parser.add_argument(
        "--per-device", type=integer(minimum=1), default=1, help="pool or Ray: pipelines packed per GPU"
    )
    parser.add_argument(
        "--timeout", type=real(positive=True), default=None, help="pool or Ray: seconds one evaluation may take"
    )
    parser.add_argument(
        "--retries", type=integer(minimum=0), default=1, help="pool or Ray: retries of an evaluation whose worker died"
    )
    parser.add_argument("--ray-address", default=None, help="Ray cluster to run on (default: a local instance)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress display")
    args = parser.parse_args(argv)
    task = automl_env.get_task(args.task)
    args.backend = args.backend or task.fast_backend
    args.out = args.out or Path("runs") / f"{args.task}-{args.backend}-{args.algorithm}-s{args.seed}"
    if args.resume and not run_files(args.out):
        where = "holds no run" if args.out.is_dir() else "does not exist"
        parser.error(
            f"--resume: {args.out} {where} (none of {', '.join(RUN_FILES)}): nothing to resume; "
            "check --out (and the options that name the default folder), or start the run without --resume"
        )
    args.store = args.store or args.out / STORE
    if one_shot.is_one_shot(args.algorithm):
        one_shot.check_arguments(parser, args)
    args.executor_options = executor_options(parser, args)
    args.fidelity = changed_fidelity(parser, "--fidelity", task.search_fidelity, args.fidelity)
    args.retrain_fidelity = changed_fidelity(parser, "--retrain-fidelity", task.final_fidelity, args.retrain_fidelity)
    return args


def search_names() -> list[str]:
    """Every name ``--algorithm`` takes: the MA2ML variants, then the baselines and one-shot searches."""
    from baselines.registry import BASELINES, ONE_SHOT

    return list(dict.fromkeys([*sorted(ALGORITHMS), *BASELINES, *ONE_SHOT]))


def changed_fidelity(parser: argparse.ArgumentParser, option: str, base: Fidelity, items: Sequence[str]) -> Fidelity:
    """``base`` with ``FIELD=VALUE`` changes; a bad field or value stops with a usage error naming ``option``."""
    fields = {f.name for f in dataclasses.fields(Fidelity)}
    changes: dict[str, int | None] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields or not value:
            parser.error(f"{option} takes FIELD=VALUE with FIELD one of {sorted(fields)}, got {item!r}")
        try:
            changes[key] = None if value.lower() == "none" else int(value)
        except ValueError:
            parser.error(f"{option} {key} must be an integer, got {value!r}")
    try:
        return base.with_(**changes)
    except ValueError as error:
        parser.error(f"{option}: {error}")


def executor_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ExecutorOptions | None:
    """The pool's or Ray's settings; a usage error where they are given to the serial executor or are invalid."""
    given = {
        "--workers": args.workers is not None,
        "--per-device": args.per_device != 1,
        "--timeout": args.timeout is not None,
        "--retries": args.retries != 1,
        "--ray-address": args.ray_address is not None,
    }
    if args.executor in (None, "serial"):
        if any(given.values()):
            parser.error(f"{', '.join(k for k, v in given.items() if v)} apply to --executor pool or ray only")
        return None
    if args.ray_address is not None and args.executor != "ray":
        parser.error("--ray-address applies to --executor ray only")
    try:
        return ExecutorOptions(
            timeout=args.timeout, retries=args.retries, per_device=args.per_device, ray_address=args.ray_address
        )
    except ValueError as error:
        parser.error(str(error))


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.backend.startswith("synthetic"):
        return {} if args.noise is None else {"noise": args.noise}
    if args.backend == "train":
        return trainer_options(args)
    return {}


def trainer_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options of the real training backend, for the search and for the retraining alike."""
    return {"device": args.device, "data_root": args.data_root, "num_threads": args.threads, "store": args.store}


def trains(args: argparse.Namespace) -> bool:
    """Whether the run trains for real: its search, or the final training of its best pipelines."""
    return args.backend == "train" or bool(args.retrain_top and args.backend != "table")


def check_training_setup(args: argparse.Namespace) -> None:
    """Build the training backend the run will use, without its store, so that missing data (or a device this
    machine lacks) stops the command before any folder or lock exists, not after the search."""
    if trains(args):
        options = {name: value for name, value in trainer_options(args).items() if name != "store"}
        make_backend("train", automl_env.get_task(args.task), **options)


def retrain_top(args: argparse.Namespace, result: SearchResult, backend: Any) -> list[dict[str, Any]]:
    """Final training of the best pipelines; results are written as they come.

    A recorded table serves its recorded final training (at the task's final fidelity, its own recipe);
    otherwise the real backend trains them at ``--retrain-fidelity`` with the learning rate scaled.
    """
    recorded = backend.name == "table"
    trainer = backend if recorded else make_backend("train", automl_env.get_task(args.task), **trainer_options(args))
    options = {} if recorded else {"fidelity": args.retrain_fidelity, "lr_scale": args.retrain_lr_scale}
    rows: list[dict[str, Any]] = []
    for rank, entry in enumerate(result.topk[: args.retrain_top]):
        pipeline = Pipeline.from_json(entry["info"]["pipeline"])
        final = trainer.retrain(pipeline, seed=args.seed, **options)  # type: ignore[union-attr]
        rows.append(
            {"rank": rank, "search_reward": entry["reward"], "pipeline": pipeline.to_dict(), "result": final.to_dict()}
        )
        (result.out_dir / "retrain.json").write_text(json.dumps(rows, indent=2))
        print(f"retrained #{rank}: status={final.status} test accuracy={final.accuracy:.4f}")
    return rows


def main(argv: Sequence[str] | None = None, *, program: str | None = None) -> Any:
    """Run the search of a command line (``sys.argv[1:]`` by default) under ``program``'s name; its result (a
    ``SearchResult``; for a one-shot search, what its run returns: ``baselines.dha.command.OneShotRun``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        check_training_setup(args)
        with lock_folder(args.out):  # the search, its report and the retraining: one process at a time
            return search(args)
    except KeyboardInterrupt:
        print(interrupted_message(args, argv, program=program), file=sys.stderr)
        raise SystemExit(130) from None  # the shell's code for a run ended by SIGINT
    except (RunFolderError, EvaluationsFailedError, BackendSetupError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def interrupted_message(args: argparse.Namespace, argv: Sequence[str], *, program: str | None = None) -> str:
    """What a stopped run kept, and the exact command that resumes it."""
    from baselines import one_shot

    if one_shot.is_one_shot(args.algorithm):
        return f"\ninterrupted: {args.algorithm} is not checkpointed; delete {args.out} and start it again"
    batches = checkpointed_batches(args.out)
    kept = [f"{batches} of {args.batches} batches (checkpoint in {args.out})"]
    if trains(args) and args.store.exists():
        finished = sum(1 for _ in EvalStore(args.store).records(args.task))  # a shared store holds other tasks too
        kept.append(f"{finished} finished evaluations (store {args.store})")
    lost = "the evaluations in flight" if trains(args) else f"batch {batches}, which a resumed run evaluates again"
    has_out = any(arg == "--out" or arg.startswith("--out=") for arg in argv)
    resume = [*argv, *([] if has_out else ["--out", str(args.out)]), *([] if args.resume else ["--resume"])]
    command = command_line(resume, program=program, fallback="automl-env train")
    return f"\ninterrupted: kept {' and '.join(kept)}; lost only {lost}.\nresume with:\n  {command}"


def search(args: argparse.Namespace) -> Any:
    """The search, its report and the retraining of the best pipelines (a one-shot search: its run)."""
    from baselines import one_shot

    if one_shot.is_one_shot(args.algorithm):
        return one_shot.run(args, backend_options=backend_options(args))
    if args.backend != "train":
        # The controllers and critic are tiny: extra intra-op threads only contend (measured 3x slower
        # per batch on 2 busy cores). Real training sets its own threads (--threads) around each evaluation.
        torch.set_num_threads(1)
    env = automl_env.vector_env(
        args.task,
        num_envs=args.batch_size,
        backend=args.backend,
        backend_options=backend_options(args),
        fidelity=args.fidelity,
        seed=args.seed,
        executor=args.executor,
        **(
            {}
            if args.executor_options is None
            else {"workers": args.workers, "executor_options": args.executor_options}
        ),
    )
    algorithm = build_search(args, env)
    try:
        result = run_search(
            env,
            algorithm,
            batches=args.batches,
            batch_size=args.batch_size,
            top_k=args.top_k,
            out_dir=args.out,
            seed=args.seed,
            resume=args.resume,
            progress=not args.no_progress,
        )
    finally:
        env.close()  # stops the workers of a pool or Ray executor
    topk_mean = result.topk_means[-1] if result.topk_means else float("nan")
    print(
        f"{result.evaluations} evaluations; best reward {result.best_reward:.4f}; top-{args.top_k} mean {topk_mean:.4f}"
    )
    if result.evaluations and result.failed == result.evaluations:
        raise EvaluationsFailedError(all_failed_message(result))
    if result.incumbent is not None:
        chosen = result.incumbent
        print(
            f"returned pipeline {chosen['digest']}: the best of the top {chosen['top_k']} re-evaluated "
            f"({chosen['reevaluations']} evaluations beside the budget), mean of its re-evaluations "
            f"{chosen['observed_mean']:.4f} (incumbent.json)"
        )
    optimum = env.backend.optimum()
    if optimum is not None:
        regret = regrets(args, result, optimum.accuracy)
        print(f"backend optimum {optimum.accuracy:.4f} (exact={optimum.exact}): {regret}")
    if env.backend.name.startswith("synthetic"):
        print("(synthetic benchmark: rewards are a closed-form stand-in, not real accuracies)")
    if env.backend.name == "table":
        print("(recorded real results: the reward is the table's validation accuracy at the search fidelity)")
    if args.retrain_top:
        retrain_top(args, result, env.backend)
    print(f"run folder: {result.out_dir}")
    return result


def regrets(args: argparse.Namespace, result: SearchResult, optimum: float) -> str:
    """The regret line: on a noisy backend, of the returned pipeline and the best observed one scored without noise
    (an observed reward carries the noise that made it the best); else of the best reward."""
    from baselines.benchmark.metrics import noise_free_evaluation

    observed = f"regret of the best {optimum - result.best_reward:.4f}"
    if not result.best_info.get("pipeline"):
        return observed
    quiet = noise_free_evaluation(args.task, args.backend, backend_options(args), fidelity=args.fidelity)
    if quiet is None:
        return observed
    returned = result.incumbent or result.best_info
    try:
        scored = quiet.run([Pipeline.from_json(info["pipeline"]) for info in (returned, result.best_info)])
    finally:
        quiet.close()
    (clean_returned, _), (clean_best, _) = scored
    return (
        f"noise-free regret of the returned pipeline {optimum - clean_returned:.4f}, "
        f"of the best observed one {optimum - clean_best:.4f} (its observed regret {optimum - result.best_reward:.4f})"
    )


def build_search(args: argparse.Namespace, env: Any) -> Any:
    """An MA2ML variant (on ``--device``), or a baseline by ``baselines.make_search``."""
    if args.algorithm in ALGORITHMS:
        return make_algorithm(args.algorithm, env, seed=args.seed, device=args.device)
    from baselines.registry import make_search

    return make_search(args.algorithm, env, seed=args.seed, batches=args.batches)


def all_failed_message(result: SearchResult) -> str:
    """Why a search found nothing: its failure reasons, most frequent first."""
    reasons = sorted(result.failure_reasons.items(), key=lambda item: -item[1])
    listed = "; ".join(f"{count} x {reason or '(no reason given)'}" for reason, count in reasons[:5])
    more = f"; and {len(reasons) - 5} other reasons" if len(reasons) > 5 else ""
    return (
        f"every one of the {result.evaluations} evaluations failed, so the search found nothing: {listed}{more} "
        f"(column reason of {result.out_dir / 'evaluations.csv'})"
    )
