"""HPOLib (FCNet) tabular benchmarks on their recorded real results: the table behind the ``hpolib-*`` tasks.

Four complete tables (Klein & Hutter 2019, arXiv:1905.04970; cite it wherever these figures are used),
one per UCI regression dataset: every one of the 62,208 configurations of a two-hidden-layer MLP
(``automl_env.modules.fcnet``) trained for 100 epochs with Adam, with the validation MSE of 4
independent training runs. Provenance, licence and conversion: ``automl_env/data/README.md``.

The reward (``score``, stored in ``EvalResult.accuracy``; it is not an accuracy) is an affine map of
log MSE onto [0, 1] with two per-dataset constants, the best recorded run ``mse_best`` (rounded down)
and the 99th percentile of all recorded runs ``mse_q99``::

    score = clip(log(mse_q99 / mse) / log(mse_q99 / mse_best), 0, 1)

so higher is better, the best run scores about 1 and the worst 1% of runs 0, on every dataset
although their MSEs span 3e-5 to 1e8: RL libraries' default learning rates, value scales and
entropy bonuses work unchanged. Log: a factor in MSE is worth the same anywhere on the scale, and
seed noise is about constant in log MSE. The clip spares the scale from the few diverged runs
(MSE up to 1e8). The raw MSE of the run read is ``EvalResult.metrics["mse"]``.

Noise (``automl_env.backends.table.records.Records.runs_at``): an evaluation returns one of the 4
recorded runs, drawn reproducibly from the evaluation seed and the pipeline (each run with chance
1/4); ``runs="mean"`` (a table backend option) serves the mean over runs. The noise-free value of a
pipeline, used for regret and ``optimum()``, is the mean of its 4 runs' scores, i.e. the score of
the geometric mean of its 4 MSEs (up to the clip).

Loading reads the shipped file once per process, checks its sha256, and un-shuffles the bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from automl_env.backends.table.records import FloatArray, IntArray, RecordedTable, Records, TableError
from automl_env.modules.fcnet import ACTIVATIONS, BATCH_SIZES, DROPOUTS, INIT_LRS, SCHEDULES, UNITS
from automl_env.tasks import TaskSpec

TABLE_FILE = "hpolib.npz"
TABLE_SHA256 = "74bade5ceb20518f6285d006254eab085cddb7665e858c18c3707cbe9868d999"
"""sha256 of the shipped file (``examples/convert_hpolib.py`` prints it)."""
SEED_COLUMNS = tuple(f"valid_mse_seed{i}" for i in range(4))
NVEC = (len(UNITS), len(ACTIVATIONS), len(DROPOUTS)) * 2 + (len(INIT_LRS), len(BATCH_SIZES), len(SCHEDULES))
CONFIGURATIONS = math.prod(NVEC)
# The CSV's column of each token of a pipeline, in task token order (layer1, layer2, training), with its grid.
_CHOICES: tuple[tuple[str, tuple[object, ...]], ...] = (
    ("n_units_1", UNITS),
    ("activation_fn_1", ACTIVATIONS),
    ("dropout_1", DROPOUTS),
    ("n_units_2", UNITS),
    ("activation_fn_2", ACTIVATIONS),
    ("dropout_2", DROPOUTS),
    ("init_lr", INIT_LRS),
    ("batch_size", BATCH_SIZES),
    ("lr_schedule", SCHEDULES),
)


@dataclass(frozen=True)
class Dataset:
    """The score's two constants: MSE at score 1 (the best recorded run, rounded down) and at score 0."""

    mse_best: float
    mse_q99: float

    def score(self, mse: FloatArray) -> FloatArray:
        """``clip(log(mse_q99 / mse) / log(mse_q99 / mse_best), 0, 1)``: higher is better, monotone in MSE."""
        span = math.log(self.mse_q99 / self.mse_best)
        return np.clip(np.log(self.mse_q99 / mse) / span, 0.0, 1.0)


DATASETS: dict[str, Dataset] = {
    # Best run and 99th percentile of the 248,832 runs of each table, 3 significant digits (examples/convert_hpolib.py).
    "naval_propulsion": Dataset(mse_best=2.47e-5, mse_q99=3.44),
    "parkinsons_telemonitoring": Dataset(mse_best=3.82e-3, mse_q99=5.01),
    "protein_structure": Dataset(mse_best=0.220, mse_q99=2.07),
    "slice_localization": Dataset(mse_best=1.58e-4, mse_q99=158.0),
}


def choice_tokens(row: Mapping[str, str]) -> list[int]:
    """The 9 tokens of one CSV row (its choices as text), in task token order."""
    tokens = []
    for column, grid in _CHOICES:
        text = row[column]
        # Text choices match as written; numbers as floats ("16" and "16.0", "0.0005" and "5e-4" alike).
        values: list[object] = list(grid) if isinstance(grid[0], str) else [float(v) for v in grid]  # type: ignore[arg-type]
        value: object = text if isinstance(grid[0], str) else float(text)
        if value not in values:
            raise TableError(f"{column}={text!r} is not on the benchmark's grid {list(grid)}")
        tokens.append(values.index(value))
    return tokens


def row_codes(tokens: IntArray) -> IntArray:
    """Row of each token vector in the shipped arrays: its mixed-radix code over ``NVEC``."""
    return np.ravel_multi_index(tuple(np.asarray(tokens, dtype=np.int64).T), NVEC).astype(np.int64)


def all_tokens() -> IntArray:
    """Every pipeline's tokens, row ``i`` the one of code ``i``."""
    return np.stack(np.unravel_index(np.arange(CONFIGURATIONS), NVEC), axis=1).astype(np.int64)


def shuffle_bytes(values: FloatArray) -> np.ndarray:
    """float32 (n, 4) -> uint8 (4, 4n): the bytes of every little-endian float, one plane per byte position."""
    return np.ascontiguousarray(values, dtype="<f4").view(np.uint8).reshape(-1, 4).T.copy()


def unshuffle_bytes(planes: np.ndarray) -> FloatArray:
    """Inverse of ``shuffle_bytes``, as float64 (n, 4)."""
    return np.ascontiguousarray(planes.T).view("<f4").reshape(-1, len(SEED_COLUMNS)).astype(np.float64)


def read_mse(source: str | Path | None = None) -> dict[str, FloatArray]:
    """dataset -> (62,208, 4) validation MSEs (rows by ``row_codes``); the shipped file when ``source`` is None."""
    if source is None:
        return _shipped()
    try:
        data = Path(source).read_bytes()
    except OSError as error:
        raise TableError(f"cannot read the HPOLib table {source}: {error}") from None
    return _parse(data, str(source))


@lru_cache(maxsize=1)
def _shipped() -> dict[str, FloatArray]:
    path = resources.files("automl_env") / "data" / TABLE_FILE
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TableError(f"cannot read the shipped HPOLib table {path}: {error}; reinstall automl-env") from None
    if hashlib.sha256(data).hexdigest() != TABLE_SHA256:
        raise TableError(f"{path} is corrupted: its sha256 is not the shipped table's {TABLE_SHA256}")
    return _parse(data, str(path))


def _parse(data: bytes, source: str) -> dict[str, FloatArray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            planes = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise TableError(f"{source} is not an HPOLib table (.npz): {error}") from None
    missing = sorted(set(DATASETS) - set(planes))
    if missing:
        raise TableError(f"{source} lacks the datasets {missing}; it holds {sorted(planes)}")
    out = {}
    for name in DATASETS:
        if planes[name].shape != (4, CONFIGURATIONS * len(SEED_COLUMNS)) or planes[name].dtype != np.uint8:
            raise TableError(f"{source}: {name} is not {CONFIGURATIONS} x {len(SEED_COLUMNS)} shuffled float32s")
        mse = unshuffle_bytes(planes[name])
        if not (np.all(np.isfinite(mse)) and mse.min() > 0):
            raise TableError(f"{source}: {name} holds MSEs that are not finite and positive")
        mse.setflags(write=False)
        out[name] = mse
    return out


def load_table(task: TaskSpec, source: str | Path | None = None) -> RecordedTable:
    """The HPOLib table of ``task`` (an ``hpolib-*`` task: its dataset picks the table)."""
    if task.dataset not in DATASETS:
        raise TableError(f"task {task.name!r} uses dataset {task.dataset!r}; HPOLib has {sorted(DATASETS)}")
    nvec = tuple(n for space in task.modules.values() for n in space.nvec)
    if nvec != NVEC:
        raise TableError(f"task {task.name!r} is not an HPOLib task: its tokens {nvec} are not FCNet's {NVEC}")
    mse = read_mse(source)[task.dataset]
    records = Records(
        fidelity=task.search_fidelity,
        split="validation",
        tokens=_tokens(),
        accuracy=DATASETS[task.dataset].score(mse),
        seeds=tuple(range(len(SEED_COLUMNS))),
        seed_keyed=False,
        metrics={"mse": mse},
    )
    return RecordedTable(task, [records], source=f"HPOLib FCNet ({TABLE_FILE}, {task.dataset})")


@lru_cache(maxsize=1)
def _tokens() -> IntArray:
    tokens = all_tokens()
    tokens.setflags(write=False)
    return tokens
