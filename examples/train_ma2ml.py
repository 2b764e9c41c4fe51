"""Run an MA2ML search (the README's main job).

With no arguments: a short MA2ML search on the embedded synthetic cifar100 benchmark, which needs
no data and finishes in about a minute on a 2-core CPU. The NAS-Bench-201 tasks search the recorded
real results shipped with the package (backend ``table``). For real training pass ``--backend train``
(CIFAR-100 is downloaded to ``--data-root`` where the machine is online).

    python examples/train_ma2ml.py
    python examples/train_ma2ml.py --task nb201-cifar100-nodes --batches 42 --retrain-top 5
    python examples/train_ma2ml.py --algorithm ma2ml_lite --batches 100 --seed 3
    python examples/train_ma2ml.py --task fashion-mnist --backend train --batches 5 --retrain-top 3
    python examples/train_ma2ml.py --out runs/my-run --resume      # continue a stopped run exactly

The run folder holds config.json, evaluations.csv, topk.json, checkpoint.pt and the learning
curve plot; ``--retrain-top k`` adds retrain.json with the top-k pipelines' final training (on a
recorded table: their recorded final test accuracy, e.g. NAS-Bench-201's 200-epoch figure).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import automl_env
from automl_env import Pipeline
from automl_env.backends.base import Fidelity
from automl_env.backends.registry import BACKENDS, make_backend
from ma2ml_agents.registry import ALGORITHMS, make_algorithm
from ma2ml_agents.search import SearchResult, run_search


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cifar100", choices=automl_env.list_tasks(), help="task to search")
    parser.add_argument(
        "--backend",
        default=None,
        choices=sorted(BACKENDS),
        help="how pipelines are evaluated (default: the task's recorded table, else synthetic)",
    )
    parser.add_argument("--algorithm", default="ma2ml", choices=sorted(ALGORITHMS), help="search algorithm")
    parser.add_argument("--batches", type=int, default=60, help="number of batches (updates)")
    parser.add_argument("--batch-size", type=int, default=24, help="pipelines per batch (paper: 24)")
    parser.add_argument("--top-k", type=int, default=30, help="size of the tracked top-k (paper: 30 on CIFAR)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the agents and the run")
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (default: runs/<task>-<backend>-<algorithm>-s<seed>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--device", default="cpu", help="torch device of the agents and the training backend")
    parser.add_argument("--data-root", type=Path, default=None, help="dataset folder for --backend train")
    parser.add_argument("--noise", type=float, default=0.0, help="synthetic backend: std of evaluation noise")
    parser.add_argument(
        "--retrain-top", type=int, default=0, help="after the search, retrain the k best with the real backend"
    )
    parser.add_argument(
        "--retrain-lr-scale", type=float, default=4.0, help="learning-rate multiplier of the retraining (paper: 4)"
    )
    parser.add_argument(
        "--retrain-fidelity",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change the task's final fidelity (paper: 600 epochs, 17 cells, 36 channels), e.g. epochs=50",
    )
    parser.add_argument("--no-progress", action="store_true", help="no live progress display")
    args = parser.parse_args(argv)
    args.backend = args.backend or automl_env.get_task(args.task).fast_backend
    args.retrain_fidelity = retrain_fidelity(
        parser, automl_env.get_task(args.task).final_fidelity, args.retrain_fidelity
    )
    return args


def retrain_fidelity(parser: argparse.ArgumentParser, final: Fidelity, items: Sequence[str]) -> Fidelity:
    """The task's final fidelity with ``FIELD=VALUE`` changes; a bad field or value stops with a usage error."""
    fields = {f.name for f in dataclasses.fields(Fidelity)}
    changes: dict[str, int | None] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields or not value:
            parser.error(f"--retrain-fidelity takes FIELD=VALUE with FIELD one of {sorted(fields)}, got {item!r}")
        try:
            changes[key] = None if value.lower() == "none" else int(value)
        except ValueError:
            parser.error(f"--retrain-fidelity {key} must be an integer, got {value!r}")
    try:
        return final.with_(**changes)
    except ValueError as error:
        parser.error(f"--retrain-fidelity: {error}")


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.backend == "synthetic":
        return {"noise": args.noise}
    if args.backend == "train":
        return {"device": args.device, "data_root": args.data_root}
    return {}


def retrain_top(args: argparse.Namespace, result: SearchResult, backend: Any) -> list[dict[str, Any]]:
    """Final training of the best pipelines; results are written as they come.

    A recorded table serves its recorded final training (at the task's final fidelity, its own recipe);
    otherwise the real backend trains them at ``--retrain-fidelity`` with the learning rate scaled.
    """
    recorded = backend.name == "table"
    trainer = (
        backend
        if recorded
        else make_backend("train", automl_env.get_task(args.task), device=args.device, data_root=args.data_root)
    )
    options = {} if recorded else {"fidelity": args.retrain_fidelity, "lr_scale": args.retrain_lr_scale}
    rows: list[dict[str, Any]] = []
    for rank, entry in enumerate(result.topk[: args.retrain_top]):
        pipeline = Pipeline.from_json(entry["info"]["pipeline"])
        final = trainer.retrain(pipeline, seed=args.seed, **options)  # type: ignore[attr-defined]
        rows.append(
            {"rank": rank, "search_reward": entry["reward"], "pipeline": pipeline.to_dict(), "result": final.to_dict()}
        )
        (result.out_dir / "retrain.json").write_text(json.dumps(rows, indent=2))
        print(f"retrained #{rank}: status={final.status} test accuracy={final.accuracy:.4f}")
    return rows


def main(argv: Sequence[str] | None = None) -> SearchResult:
    args = parse_args(argv)
    if args.backend != "train":
        # The controllers and critic are tiny: extra intra-op threads only contend (measured 3x slower
        # per batch on 2 busy cores). Real training keeps torch's default thread pool.
        torch.set_num_threads(1)
    out = args.out or Path("runs") / f"{args.task}-{args.backend}-{args.algorithm}-s{args.seed}"
    env = automl_env.vector_env(
        args.task, num_envs=args.batch_size, backend=args.backend, backend_options=backend_options(args), seed=args.seed
    )
    algorithm = make_algorithm(args.algorithm, env, seed=args.seed, device=args.device)
    result = run_search(
        env,
        algorithm,
        batches=args.batches,
        batch_size=args.batch_size,
        top_k=args.top_k,
        out_dir=out,
        seed=args.seed,
        resume=args.resume,
        progress=not args.no_progress,
    )
    topk_mean = result.topk_means[-1] if result.topk_means else float("nan")
    print(
        f"{result.evaluations} evaluations; best reward {result.best_reward:.4f}; top-{args.top_k} mean {topk_mean:.4f}"
    )
    optimum = env.backend.optimum()
    if optimum is not None:
        regret = optimum.accuracy - result.best_reward
        print(f"backend optimum {optimum.accuracy:.4f} (exact={optimum.exact}): regret of the best {regret:.4f}")
    if env.backend.name == "synthetic":
        print("(synthetic benchmark: rewards are a closed-form stand-in, not real accuracies)")
    if env.backend.name == "table":
        print("(recorded real results: the reward is the table's validation accuracy at the search fidelity)")
    if args.retrain_top:
        retrain_top(args, result, env.backend)
    print(f"run folder: {result.out_dir}")
    return result


if __name__ == "__main__":
    main()
