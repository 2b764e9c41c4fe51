"""The train command's side of a one-shot search (``baselines.registry.ONE_SHOT``, DHA): which of its options
apply, and the run. The search's own code is behind the registry's entry points (``baselines.dha.command``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from baselines.registry import ONE_SHOT, one_shot_entry


def is_one_shot(name: str) -> bool:
    return name in ONE_SHOT


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A usage error (exit 2) where the one-shot ``args.algorithm`` cannot run as asked: on this task or backend,
    or with options that apply only to searches that evaluate pipelines (resume, retraining, executors, a device)."""
    try:
        one_shot_entry(args.algorithm, "check")(args.task, args.backend)
    except ValueError as error:
        parser.error(str(error))
    refused = {
        "--resume": args.resume,
        "--retrain-top": args.retrain_top > 0,
        "--executor": args.executor not in (None, "serial"),
        "--device": args.device != "cpu",
    }
    if any(refused.values()):
        parser.error(
            f"{', '.join(k for k, v in refused.items() if v)} do not apply to {args.algorithm}: it trains one network "
            "on the CPU, is not checkpointed (start it again in a new folder) and returns it without retraining"
        )


def run(args: argparse.Namespace, *, backend_options: Mapping[str, Any]) -> Any:
    """The run of the train command's ``args`` into ``--out``: ``--batches`` x ``--batch-size`` evaluations of
    budget (what they mean: the search's ``budget_config``); prints its summary and returns what it ran."""
    import torch

    torch.set_num_threads(args.threads)
    evaluations = args.batches * args.batch_size
    result = one_shot_entry(args.algorithm, "run")(
        args.task,
        backend=args.backend,
        backend_options=backend_options,
        seed=args.seed,
        config=one_shot_entry(args.algorithm, "budget_config")(evaluations),
        evaluations=evaluations,
        out_dir=args.out,
        fidelity=args.fidelity,
    )
    print(one_shot_entry(args.algorithm, "summary")(result))
    print(f"run folder: {result.out_dir}")
    return result
