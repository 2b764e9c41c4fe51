"""One-shot (DHA, AutoHAS, MA2ML on the weight-sharing backend) vs multi-trial (MA2ML, REA, TPE) search on
``fashion-mnist-nb201``, each answer retrained at the task's final fidelity with the same recipe (docs/peers.md).

    python examples/compare_peers.py run --method autohas --seed 0 --out runs/peers
    python examples/compare_peers.py table --out runs/peers

``run`` searches, picks the answer, retrains it and writes ``OUT/<method>/seed<k>/summary.json``; compute is
the process CPU time (one torch thread), so it does not depend on how loaded the machine is. How each
method's answer is picked: multi-trial searches, the best validation reward; MA2ML on the weight-sharing
backend, the best of its top 5 after rescoring each on 4 validation batches (PEERS.md: one noisy reward per
pipeline is not a ranking); AutoHAS, its derived configuration; DHA, its own trained network (no retraining).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASK = "fashion-mnist-nb201"


@dataclass(frozen=True)
class Method:
    backend: str
    search: str
    batch_size: int


METHODS: dict[str, Method] = {
    "rea": Method("train", "rea", 4),
    "tpe": Method("train", "tpe", 4),
    "ma2ml": Method("train", "ma2ml", 4),
    "ma2ml-ws": Method("weight-sharing", "ma2ml", 8),
    "autohas": Method("weight-sharing", "autohas", 1),
}
ONE_SHOT = ("dha",)


def pipeline_of(task: Any, space: Any, actions: dict[str, list[int]]) -> Any:
    import numpy as np

    from automl_env.pipeline import Pipeline

    rows = space.rows_from_env({a: np.asarray([v]) for a, v in actions.items()})[0]
    return Pipeline.of({a: task.modules[a].decode(rows[space.slice_of(i)]) for i, a in enumerate(space.agents)})


def search(method: str, seed: int, out: Path, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """(answer pipeline, facts) of one search run."""
    import automl_env
    from baselines import make_search
    from ma2ml_agents import run_search

    spec = METHODS[method]
    evaluations = args.evals_train if spec.backend == "train" else args.evals_ws
    options: dict[str, Any] = {"download": False, "num_threads": 1}
    if spec.backend == "weight-sharing":
        options.update(seed=seed, op_warmup_steps=evaluations // 4, schedule_steps=evaluations)
    env = automl_env.parallel_env(TASK, backend=spec.backend, backend_options=options)
    batches = evaluations // spec.batch_size
    algorithm = make_search(spec.search, env, seed=seed, batches=batches)
    result = run_search(
        env, algorithm, batches=batches, batch_size=spec.batch_size, out_dir=out / "search", seed=seed,
        progress=False, checkpoint_every=max(1, batches // 4),
    )  # fmt: skip
    task = env.task
    if method == "autohas":
        return algorithm.derive_pipeline(task), {"evaluations": result.evaluations}  # type: ignore[attr-defined]
    if spec.backend == "weight-sharing":
        backend = env.backend
        candidates = [pipeline_of(task, algorithm.space, e["actions"]) for e in result.topk[:5]]  # type: ignore[attr-defined]
        scores = [backend.score(p, val_batches=4).accuracy for p in candidates]
        best = max(range(len(candidates)), key=lambda i: scores[i])
        return candidates[best], {"evaluations": result.evaluations, "rescored": scores}
    best_pipeline = pipeline_of(task, algorithm.space, result.best_actions)  # type: ignore[attr-defined]
    return best_pipeline, {"evaluations": result.evaluations, "best_reward": result.best_reward}


def run(method: str, seed: int, out_root: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    out = out_root / method / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    if method == "dha":
        from baselines.dha import DHAConfig, run_dha

        config = DHAConfig(steps=args.dha_steps, resolve_every=max(1, args.dha_steps // 10))
        dha = run_dha(TASK, seed=seed, config=config, out_dir=out, download=False)
        summary = {
            "test_accuracy": dha.test_accuracy,
            "answer": f"cell {dha.cell} lr={dha.lr:.3g} wd={dha.weight_decay:.3g}",
        }
        summary |= {"search_cpu_s": time.process_time() - start_cpu, "retrain_cpu_s": 0.0, "steps": args.dha_steps}
    else:
        from automl_env.backends.training import TrainingBackend

        pipeline, facts = search(method, seed, out, args)
        search_cpu = time.process_time() - start_cpu
        backend = TrainingBackend(TASK, download=False, num_threads=1, device="cpu")
        final = backend.retrain(pipeline, seed=seed)
        summary = {"test_accuracy": final.accuracy, "answer": pipeline.describe(), **facts}
        summary |= {"search_cpu_s": search_cpu, "retrain_cpu_s": time.process_time() - start_cpu - search_cpu}
    summary |= {"method": method, "seed": seed, "wall_s": time.perf_counter() - start_wall}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # Student t, two-sided 95%, by degrees of freedom


def table(out_root: Path) -> str:
    rows = ["| method | seeds | search evaluations | search CPU-s | retrain CPU-s | test accuracy (mean ± 95% CI) "
            "| per seed |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for method in [*METHODS, *ONE_SHOT]:
        runs = [json.loads(p.read_text()) for p in sorted((out_root / method).glob("seed*/summary.json"))]
        if not runs:
            continue
        acc = [100 * r["test_accuracy"] for r in runs]
        half = T95.get(len(acc) - 1, 2.0) * statistics.stdev(acc) / math.sqrt(len(acc)) if len(acc) > 1 else math.nan
        evals = str(runs[0].get("evaluations", runs[0].get("steps", "")))
        cpu = statistics.mean(r["search_cpu_s"] for r in runs)
        retrain = statistics.mean(r["retrain_cpu_s"] for r in runs)
        rows.append(
            f"| {method} | {len(runs)} | {evals} | {cpu:.0f} | {retrain:.0f} "
            f"| {statistics.mean(acc):.2f} ± {half:.2f} | {' / '.join(f'{a:.2f}' for a in acc)} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "table"])
    parser.add_argument("--method", choices=[*METHODS, *ONE_SHOT])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/peers"))
    parser.add_argument("--evals-train", type=int, default=8, help="evaluations of a multi-trial search")
    parser.add_argument("--evals-ws", type=int, default=200, help="evaluations of a weight-sharing search")
    parser.add_argument("--dha-steps", type=int, default=200, help="DHA's training steps")
    args = parser.parse_args()
    if args.command == "table":
        print(table(args.out))
        return
    if args.method is None:
        parser.error("run needs --method")
    print(json.dumps(run(args.method, args.seed, args.out, args), indent=2))


if __name__ == "__main__":
    main()
