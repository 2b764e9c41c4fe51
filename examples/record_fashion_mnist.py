"""Record real evaluations of the paper's joint space (AUG + NAS + HPO) on Fashion-MNIST, resumably.

    python examples/record_fashion_mnist.py --data-root /usr/share/datasets/fashion-mnist --hours 2
    python examples/record_fashion_mnist.py --plan-only          # print the design's composition and stop
    python examples/record_fashion_mnist.py --shard 1/2 ...       # the second of two collectors on one store

Every evaluation trains the pipeline with the ``train`` backend at the task's search fidelity and is
committed to an ``EvalStore`` (``--store``) the moment it finishes; a killed or stopped run is continued
by running the same command again (the store reads back what is done, nothing is trained twice). On a machine
that has the committed export but not the store, ``--restore`` reads the export into the store first. Every
``--export-every`` evaluations the store is exported as a table (``--export``, an ``EvalStore`` CSV that
the ``table`` backend serves) next to a ``provenance.json`` (code commits, data context, fidelity, hosts, the
training time and collection window of the store's rows, how much of the plan and of each kind the store holds).
``--export-only`` writes both from the store as it stands and trains nothing (after stopping the collectors, to
ship what they stored since their last export). ``--shard K/N`` takes the plan's evaluations i with i mod N = K
only: N collectors (processes on one machine, or hosts sharing the store's file) split the plan without training
anything twice, and together keep close to a prefix of it.

The design (``automl_env.record_design.plan``, fixed by ``--design-seed``) answers the questions of the landscape
study: ``uniform`` pipelines (spread, additive R^2, interactions between modules), one-token ``mutant``s of some of
them (mutation correlation), ``repeat``s of some at seeds 1..3 (seed noise, intraclass correlation) and ``module``
rows (the default pipeline with one module drawn at random; the default over several seeds), interleaved so that
every prefix is a balanced, smaller design (1,510 evaluations). A second stage follows it: the first
``--mutant-repeats`` mutants at seeds 1..3 (150 evaluations at the default 50), so that a pipeline and its
neighbour share four seeds (does a neighbour share its pipeline's seed noise?). Added after the first stage was
collected, it leaves that stage's plan as it was. ``examples/analyse_fashion_mnist_record.py`` reads them back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import automl_env
from automl_env.backends.registry import make_backend
from automl_env.pipeline import Pipeline
from automl_env.record_design import RECORDED_MUTANT_REPEATS, Design, Planned, plan
from automl_env.store import EvalStore
from automl_env.tasks import TaskSpec


def pipeline_of(task: TaskSpec, tokens: Sequence[int]) -> Pipeline:
    configs, start = {}, 0
    for name, space in task.modules.items():
        configs[name] = space.decode(tokens[start : start + space.num_tokens])
        start += space.num_tokens
    return Pipeline.of(configs)


def write_provenance(
    path: Path,
    store: EvalStore,
    backend: object,
    task: TaskSpec,
    planned: Sequence[Planned],
    *,
    design_seed: int,
    commit: str | None,
) -> None:
    """``provenance.json`` beside the export: the setting, and what the store holds (every session's and every
    shard's rows): the evaluations of ``planned`` it holds by kind, the longest prefix of the plan it holds, and
    its rows (fewer than the evaluations held where two planned ones decode to one pipeline and seed);
    ``commit`` (``git_commit()``, read once a run) joins the commits of earlier sessions."""
    records = [r for r in store.records(task) if r.context == getattr(backend, "context", "")]
    stored = {(r.pipeline.digest, r.seed) for r in records if r.fidelity == task.search_fidelity}
    held = [(pipeline_of(task, item.tokens).digest, item.seed) in stored for item in planned]
    prefix = held.index(False) if False in held else len(held)
    finished = sorted(r.finished_at for r in records)
    previous = json.loads(path.read_text()) if path.exists() else {}
    commits = list(previous.get("code_commits", []))
    if commit and commit not in commits:
        commits.append(commit)
    provenance = {
        "task": task.name,
        "task_version": task.version,
        "fidelity": asdict(task.search_fidelity),
        "context": getattr(backend, "context", None),
        "automl_env": automl_env.__version__,
        "python": platform.python_version(),
        "plan": {"design_seed": design_seed, "prefix": prefix, "held": sum(held), "of": len(planned)},
        "rows": len(stored),
        "evaluations": dict(Counter(item.kind for item, h in zip(planned, held, strict=True) if h)),
        "training_seconds": round(sum(r.result.cost_seconds for r in records), 1),
        "collected_utc": [_utc(finished[0]), _utc(finished[-1])] if finished else [],
        "hosts": sorted({r.host for r in records}),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "code_commits": commits,
    }
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(provenance, indent=1) + "\n")
    partial.replace(path)  # whole: another shard may be reading it


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))


def git_commit() -> str | None:
    """The checkout's commit (with ``+dirty`` when it has changes), or None outside a git checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="fashion-mnist")
    parser.add_argument("--data-root", default=None, help="Fashion-MNIST folder (default: the backend's)")
    parser.add_argument("--store", type=Path, default=Path("runs/record-fashion-mnist/store.sqlite"))
    parser.add_argument("--export", type=Path, default=Path("runs/record-fashion-mnist/evaluations.csv"))
    parser.add_argument("--export-every", type=int, default=10)
    parser.add_argument(
        "--restore",
        type=Path,
        action="append",
        default=[],
        help="an EvalStore export whose evaluations the store takes before collecting (repeatable)",
    )
    parser.add_argument("--hours", type=float, default=float("inf"), help="stop after this much wall time")
    parser.add_argument("--limit", type=int, default=None, help="evaluate at most the first N of the plan")
    parser.add_argument("--design-seed", type=int, default=0)
    parser.add_argument(
        "--mutant-repeats",
        type=int,
        default=RECORDED_MUTANT_REPEATS,
        help=f"mutants at seeds 1..3 after the first stage (the second stage; default {RECORDED_MUTANT_REPEATS})",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shard", type=shard, default=(0, 1), help="K/N: collect the plan's items i with i mod N = K")
    parser.add_argument("--plan-only", action="store_true")
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="write the export and provenance.json from the store as it is (after --restore), train nothing",
    )
    args = parser.parse_args(argv)
    if args.export_every < 1 or args.hours <= 0 or (args.limit is not None and args.limit < 1):
        parser.error("--export-every and --limit must be >= 1 and --hours > 0")
    if args.export.suffix not in (".csv", ".json"):
        parser.error(f"--export must end in .csv or .json (an EvalStore export), got {str(args.export)!r}")
    task = automl_env.get_task(args.task)
    try:
        planned = plan(task, Design(mutant_repeats=args.mutant_repeats), seed=args.design_seed)[: args.limit]
    except ValueError as error:
        parser.error(f"--mutant-repeats: {error}")
    if args.plan_only:
        print(f"{len(planned)} evaluations: {dict(Counter(p.kind for p in planned))}")
        return
    args.store.parent.mkdir(parents=True, exist_ok=True)
    store = EvalStore(args.store)
    for restored in args.restore:
        print(f"restored {store.restore(restored)} evaluations from {restored}")
    backend = make_backend("train", task, data_root=args.data_root, store=store, num_threads=args.threads, device="cpu")
    started, commit = time.monotonic(), git_commit()

    def write_export(trained_by: str | None) -> Path:
        export_table(args.export, store, task)
        provenance = args.export.with_name("provenance.json")
        write_provenance(provenance, store, backend, task, planned, design_seed=args.design_seed, commit=trained_by)
        return provenance

    if args.export_only:  # it trained nothing, so it adds no commit
        print(f"exported {args.export} and {write_export(None)}")
        return
    index, shards = args.shard
    mine = [(i, item) for i, item in enumerate(planned) if i % shards == index]
    for done, (i, item) in enumerate(mine, start=1):
        if time.monotonic() - started > args.hours * 3600:
            print(f"stopping after {args.hours} h; run the same command to continue")
            break
        tick = time.monotonic()
        [result] = backend.evaluate([pipeline_of(task, item.tokens)], seed=item.seed)
        print(
            f"[{i + 1}/{len(planned)}] {item.kind:7s} seed {item.seed} {result.status} {result.accuracy:.4f} "
            f"({time.monotonic() - tick:.1f} s)",
            flush=True,
        )
        if done % args.export_every == 0 or done == len(mine):
            write_export(commit)


def shard(text: str) -> tuple[int, int]:
    """``K/N`` with 0 <= K < N, for ``--shard``."""
    index, _, count = text.partition("/")
    try:
        k, n = int(index), int(count)
    except ValueError:
        k, n = -1, 0
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N (1/2: the second of two shards), got {text!r}")
    return k, n


def export_table(path: Path, store: EvalStore, task: TaskSpec) -> None:
    """The store's rows of ``task`` as a table at ``path``, replaced whole: shards export to the same file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}{path.suffix}")
    store.export(partial, task=task.name)
    partial.replace(path)


if __name__ == "__main__":
    main()
