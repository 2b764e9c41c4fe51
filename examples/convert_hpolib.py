"""Build ``automl_env/data/hpolib.npz`` from the HPOLib (FCNet) CSVs (``shared/data/hpolib``).

    python examples/convert_hpolib.py /work/shared/data/hpolib automl_env/data/hpolib.npz

Each dataset becomes one array of the 62,208 x 4 validation MSEs, rows in the token order of the
``hpolib-*`` tasks (``automl_env.hpolib.row_codes``: mixed radix over the 9 choices, layer 1, layer 2,
training), stored as float32 (7 significant digits; the CSV's float64 values are rounded to nearest)
and byte-shuffled (the 4 bytes of every float in 4 planes) so that deflate compresses it: 2.9 MB for
the four tables. Prints the file's sha256 for ``automl_env.hpolib.TABLE_SHA256``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
from pathlib import Path

import numpy as np

from automl_env.hpolib import DATASETS, SEED_COLUMNS, choice_tokens, row_codes, shuffle_bytes


def convert(folder: Path) -> dict[str, np.ndarray]:
    """dataset -> (62,208 x 4) float32 MSEs in task token order."""
    arrays = {}
    for dataset in DATASETS:
        with gzip.open(folder / f"{dataset}.csv.gz", "rt", newline="") as handle:
            rows = list(csv.DictReader(handle))
        tokens = np.array([choice_tokens(row) for row in rows], dtype=np.int64)
        codes = row_codes(tokens)
        if sorted(codes.tolist()) != list(range(len(rows))):
            raise SystemExit(f"{dataset}: the CSV does not hold every configuration exactly once")
        mse = np.empty((len(rows), len(SEED_COLUMNS)), dtype=np.float32)
        mse[codes] = np.array([[float(row[c]) for c in SEED_COLUMNS] for row in rows], dtype=np.float64)
        arrays[dataset] = mse
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the folder of the four <dataset>.csv.gz files")
    parser.add_argument("target", type=Path, help="the .npz to write")
    args = parser.parse_args()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{d: shuffle_bytes(a) for d, a in convert(args.source).items()})
    data = buffer.getvalue()
    args.target.write_bytes(data)
    print(f"wrote {args.target} ({len(data):,} bytes), sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
