"""What the recorded Fashion-MNIST evaluations say so far: landscape statistics, surrogates, joint vs sequential.

    python examples/analyse_fashion_mnist_record.py                       # the shipped export
    python examples/analyse_fashion_mnist_record.py --export runs/record-fashion-mnist/evaluations.csv --out a.json

Reads an ``EvalStore`` export of ``examples/record_fashion_mnist.py``'s design (any prefix of it) and prints, as
markdown tables:

1. the design-based landscape statistics (``automl_env.record_analysis``) of the record, beside
   ``synthetic-rugged`` (v1, and v2 with the seed noise measured here) on the same token rows and seeds and v1 on
   the whole design (made-up accuracies, never real ones: what the estimators can see at the record's n and at the
   design's), those rows in docs/landscapes.md's hardness-table format, and how the seed noise grows below the
   median pipeline (``noise_profile``: the record's is what ``synthetic-rugged`` v2's ``SEARCH_NOISE`` holds) and
   whether a one-token mutant shares its pipeline's seed noise (``neighbour_differences``);
2. the held-out fit of each surrogate kind on the recorded pipelines (``baselines.joint_vs_sequential``);
3. joint versus sequential search on the record served with ``--serve`` (``averaged``, the mean of the two
   models, fixed in advance: serving whichever ranked better flipped between records whose two scores were 0.01
   apart, and the comparison flipped with it), at equal budgets over seeds, with intervals, and whether that
   surrogate is good enough to decide (``--no-search`` skips it). The search seeds exclude the design seed: a
   search generator seeded like the design's draws its uniform pipelines.

``--out`` writes every figure as JSON. Single process; the searches take a few minutes at the defaults.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import automl_env
from automl_env.backends.table.surrogate import SURROGATES
from automl_env.landscape import token_objective
from automl_env.record_analysis import (
    describe_neighbours,
    describe_noise_profiles,
    describe_record,
    describe_shared_noise,
    design_sample,
    hardness_row,
    neighbour_differences,
    noise_profile,
    read_record,
    record_statistics,
    shared_noise,
)
from automl_env.record_design import RECORDED_MUTANT_REPEATS, Design
from baselines.joint_vs_sequential import compare, describe_comparison, describe_fits, surrogate_spread

SHIPPED = Path(automl_env.__file__).parent / "data" / "fashion_mnist_record" / "evaluations.csv"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export", type=Path, default=SHIPPED, help="EvalStore export (default: the shipped one)")
    parser.add_argument("--task", default="fashion-mnist")
    parser.add_argument("--design-seed", type=int, default=0)
    parser.add_argument(
        "--mutant-repeats",
        type=int,
        default=RECORDED_MUTANT_REPEATS,
        help="the design's second stage (as record_fashion_mnist.py's)",
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of every interval")
    parser.add_argument("--splits", type=int, default=10, help="random 80/20 splits scoring each surrogate")
    parser.add_argument("--surrogates", nargs="+", default=list(SURROGATES), help="surrogate kinds to score")
    parser.add_argument("--serve", default="averaged", choices=sorted(SURROGATES), help="the surrogate searches see")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(range(1, 11)), help="search seeds (not the design seed)"
    )
    parser.add_argument("--budgets", type=int, nargs="+", default=[96, 312], help="evaluations per search")
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--no-search", action="store_true", help="skip joint versus sequential search")
    parser.add_argument("--no-reference", action="store_true", help="skip synthetic-rugged on the whole design")
    parser.add_argument("--out", type=Path, default=None, help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.resamples < 10 or args.splits < 2:
        parser.error("--resamples must be >= 10 and --splits >= 2")
    if args.design_seed in args.seeds:
        # A search's generator seeded like the design's draws the design's uniform pipelines first: the recorded ones.
        parser.error(f"--seeds must not hold the design seed {args.design_seed}: that search would replay the record")

    design = Design(mutant_repeats=args.mutant_repeats)
    sample = read_record(args.export, args.task, design=design, design_seed=args.design_seed)
    print(
        f"{args.export}: {sample.accuracy.size} evaluations of the {sample.planned}-evaluation design {sample.counts()}"
    )
    if sample.unplanned:
        print(f"({sample.unplanned} recorded evaluations are not in the design and are left out)")
    held = "" if sample.accuracy.size == sample.planned else f", partial: {sample.accuracy.size} of {sample.planned}"
    record = record_statistics(sample, name=f"{args.task} (recorded{held})", resamples=args.resamples)
    rugged = token_objective(args.task, "synthetic-rugged")
    as_v1 = sample.rescored(rugged)
    as_v2 = sample.rescored(token_objective(args.task, "synthetic-rugged", backend_options={"version": 2}))
    synthetic = record_statistics(as_v1, name=f"{args.task}, synthetic-rugged, same rows", resamples=args.resamples)
    synthetic2 = record_statistics(as_v2, name=f"{args.task}, synthetic-rugged v2, same rows", resamples=args.resamples)
    statistics = [record, synthetic, synthetic2]
    if not args.no_reference:
        whole = design_sample(args.task, design=Design(), design_seed=args.design_seed)  # the first stage
        name = f"{args.task}, synthetic-rugged, whole design"
        statistics.append(record_statistics(whole.rescored(rugged), name=name, resamples=args.resamples))
    print("\n## Landscape statistics (95% intervals, n)\n")
    print(describe_record(statistics))
    print("Hardness-table rows (docs/landscapes.md):\n")
    for row in (record, synthetic, synthetic2):
        print(hardness_row(row))
    profiles = {
        name: noise_profile(rows, resamples=args.resamples)
        for name, rows in ((record.name, sample), (synthetic.name, as_v1), (synthetic2.name, as_v2))
    }
    print("\n## Seed noise by level: std = base (1 + slope z), z = shortfall below the median in spreads\n")
    print(describe_noise_profiles(profiles))
    neighbours = {
        record.name: neighbour_differences(sample, resamples=args.resamples),
        synthetic2.name: neighbour_differences(as_v2, resamples=args.resamples),
    }
    print("## Same seed, other pipeline against same pipeline, other seed: median |difference| (95% interval, n)\n")
    print(describe_neighbours(neighbours))
    shared = {
        record.name: shared_noise(sample, resamples=args.resamples),
        synthetic2.name: shared_noise(as_v2, resamples=args.resamples),
    }
    print("## Pipelines and their mutants at the same four seeds (the design's second stage)\n")
    print(describe_shared_noise(shared))
    fits = [surrogate_spread(sample, kind, splits=args.splits) for kind in args.surrogates]
    print("\n## Surrogates on the recorded pipelines (seed means; mean and 2.5-97.5% over splits)\n")
    print(describe_fits(fits))
    figures = {
        "export": str(args.export),
        "counts": sample.counts(),
        "statistics": [s.to_dict() for s in statistics],
        "surrogates": [f.to_dict() for f in fits],
        "noise_profiles": {name: p.to_dict() for name, p in profiles.items()},
        "neighbours": {name: d.to_dict() for name, d in neighbours.items()},
        "shared_noise": {name: d.to_dict() for name, d in shared.items()},
    }
    if not args.no_search:
        comparison = compare(
            str(args.export),
            sample,
            surrogate=args.serve,
            seeds=args.seeds,
            budgets=args.budgets,
            batch_size=args.batch_size,
            splits=args.splits,
            served_fit=next((f for f in fits if f.kind == args.serve), None),
        )
        print(f"\n## Joint versus sequential on the record served with {args.serve} (best served value; n seeds)\n")
        print(describe_comparison(comparison))
        figures["search"] = comparison.to_dict()
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
