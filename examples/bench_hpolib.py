"""Load time of the shipped HPOLib table (a fresh process each time) and lookup throughput of an hpolib task.

python examples/bench_hpolib.py
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

LOAD = (
    "import time; from automl_env.hpolib import read_mse; "
    "t = time.perf_counter(); read_mse(); print(time.perf_counter() - t)"
)


def main() -> None:
    loads = [float(subprocess.check_output([sys.executable, "-c", LOAD], text=True)) for _ in range(5)]
    what = "load (read, sha256, un-shuffle 4 x 62,208 x 4 MSEs; after import)"
    print(f"{what}, 5 fresh processes: median {np.median(loads):.3f} s")
    from automl_env.backends.table.backend import TableBackend

    start = time.perf_counter()
    backend = TableBackend("hpolib-protein")
    print(f"first TableBackend('hpolib-protein') in this process: {time.perf_counter() - start:.3f} s")
    tokens = np.random.default_rng(0).integers(0, backend.table.nvec, size=(100_000, 9))
    start = time.perf_counter()
    backend.evaluate_tokens(tokens, seed=0)
    print(f"evaluate_tokens: {100_000 / (time.perf_counter() - start):,.0f} pipelines/s")


if __name__ == "__main__":
    main()
