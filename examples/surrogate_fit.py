"""How well the table backend's surrogates predict cells they were not fitted on (NAS-Bench-201).

For each task, surrogate kind and training fraction: fit on a random fraction of the task's table
at the search fidelity (12-epoch validation accuracy) and report the held-out Spearman rank
correlation and R^2, as ``TableBackend(..., surrogate=kind).describe()`` does, with the fit time.

    python examples/surrogate_fit.py
    python examples/surrogate_fit.py --tasks nb201-cifar100 --fractions 0.1 --kinds hist_gb
"""

from __future__ import annotations

import argparse
import time

from automl_env.backends.table.surrogate import SURROGATES, fit_held_out
from automl_env.nb201 import load_table
from automl_env.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tasks = ["nb201-cifar10", "nb201-cifar100", "nb201-imagenet16"]
    parser.add_argument("--tasks", nargs="+", default=tasks, choices=tasks, help="NAS-Bench-201 tasks")
    parser.add_argument("--kinds", nargs="+", default=sorted(SURROGATES), choices=sorted(SURROGATES))
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.8], help="training fractions")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the regressor")
    args = parser.parse_args()

    print(f"{'task':>18} {'surrogate':>14} {'train rows':>10} {'held out':>9} {'Spearman':>9} {'R^2':>7} {'fit s':>6}")
    for name in args.tasks:
        task = get_task(name)
        table = load_table(task)
        records = table.records(task.search_fidelity)
        for kind in args.kinds:
            for fraction in args.fractions:
                start = time.perf_counter()
                _, fit = fit_held_out(
                    kind, table.nvec, records.tokens, records.mean_accuracy(), train_fraction=fraction, seed=args.seed
                )
                seconds = time.perf_counter() - start
                print(
                    f"{name:>18} {kind:>14} {fit.train_rows:>10} {fit.held_out_rows:>9} "
                    f"{fit.spearman:>9.3f} {fit.r2:>7.3f} {seconds:>6.1f}"
                )


if __name__ == "__main__":
    main()
