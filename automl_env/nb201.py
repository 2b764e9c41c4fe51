"""NAS-Bench-201 on its recorded real results: the shipped table behind the ``nb201-*`` tasks.

The table (``automl_env/data/nb201.csv.gz``, provenance and licence in ``automl_env/data/README.md``)
holds every one of the 15,625 cells with its real top-1 accuracies, averaged over the benchmark's
seeds, on CIFAR-10, CIFAR-100 and ImageNet16-120. Cite Dong & Yang (ICLR 2020) and Dong et al.
(TPAMI 2021) wherever these figures are used.

The benchmark's search protocol (``load_table``):
- the search fidelity (12 epochs, ``NB201_SEARCH``) records validation accuracy (the reward) and
  test accuracy; the final fidelity (200 epochs, ``NB201_FINAL``) records test accuracy only, read
  with ``TableBackend.retrain``, never a reward;
- FLOPs (MACs) and parameters are ``automl_env.cost``'s analytic counts of the benchmark's network
  (C=16 channels, N=5 cells per stage), priced per edge (``EdgeCostTable``);
- ``cost_seconds`` is an ESTIMATE, not a recorded time (the file has none): 3 x MACs x epochs x
  training images / ``CIFAR_MACS_PER_SECOND``, the effective throughput the synthetic backend is
  calibrated to, so simulated times of both backends are on one scale.

Loading parses the file once per process (about 0.1 s) and checks its sha256; every task and env
then shares the arrays by reference.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from automl_env.backends.base import Fidelity
from automl_env.backends.synthetic.backend import CIFAR_MACS_PER_SECOND
from automl_env.backends.synthetic.cost import FORWARD_BACKWARD
from automl_env.backends.table.records import FloatArray, IntArray, RecordedTable, Records, Split, TableError
from automl_env.cost import arch_cost
from automl_env.modules.nb201 import EDGES, OPERATIONS, NB201Cell
from automl_env.tasks import TaskSpec

TABLE_FILE = "nb201.csv.gz"
TABLE_SHA256 = "93e0554dac80eef093ba5ba47f44567fd2ac239e50152d5d20dd24adf354178a"
"""sha256 of the decompressed CSV (the project's ``shared/data/nb201/nb201.csv``)."""
CELLS = 15_625


@dataclass(frozen=True)
class Dataset:
    """Where a dataset's figures are in the file, and the training-set sizes behind the cost estimate."""

    column: str
    search_train_images: int
    final_train_images: int


DATASETS: dict[str, Dataset] = {
    # CIFAR-10's 12-epoch validation figure is "cifar10-valid": trained on 25k of the 50k training images.
    "cifar10": Dataset("cifar10", 25_000, 50_000),
    "cifar100": Dataset("cifar100", 50_000, 50_000),
    "imagenet16-120": Dataset("imagenet16", 151_700, 151_700),
}


@dataclass(frozen=True)
class RawTable:
    """The parsed file: cell tokens in file order and each accuracy column as fractions."""

    tokens: IntArray
    columns: dict[str, FloatArray]


def read_raw(source: str | Path | None = None) -> RawTable:
    """Parse the table (the shipped file when ``source`` is None); TableError when it is not the benchmark."""
    if source is None:
        return _shipped()
    try:
        data = Path(source).read_bytes()
        data = gzip.decompress(data) if str(source).endswith(".gz") else data
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise TableError(f"cannot read the NAS-Bench-201 table {source}: {error}") from None
    return _parse(data, str(source), check_sha=False)


@lru_cache(maxsize=1)
def _shipped() -> RawTable:
    path = resources.files("automl_env") / "data" / TABLE_FILE
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise TableError(f"cannot read the shipped NAS-Bench-201 table {path}: {error}; reinstall automl-env") from None
    return _parse(data, str(path), check_sha=True)


def _parse(data: bytes, source: str, *, check_sha: bool) -> RawTable:
    if check_sha and hashlib.sha256(data).hexdigest() != TABLE_SHA256:
        raise TableError(f"{source} is corrupted: its sha256 is not the shipped table's {TABLE_SHA256}")
    lines = io.StringIO(data.decode("utf-8", errors="replace")).read().splitlines()
    header = lines[0].split(",") if lines else []
    wanted = ["arch", *(f"{d.column}_{s}" for d in DATASETS.values() for s in ("val_12", "test_12", "test_200"))]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise TableError(f"{source} is not a NAS-Bench-201 table: missing columns {missing} (header {header})")
    if len(lines) - 1 != CELLS:
        raise TableError(f"{source} has {len(lines) - 1} rows; NAS-Bench-201 has {CELLS} cells")
    op_index = {op: i for i, op in enumerate(OPERATIONS)}
    at = {c: header.index(c) for c in wanted}
    tokens = np.empty((CELLS, len(EDGES)), dtype=np.int64)
    values = np.empty((CELLS, len(wanted) - 1))
    for i, line in enumerate(lines[1:]):
        fields = line.split(",")
        try:
            # "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|": every other piece between bars is "op~j".
            ops = [piece.partition("~")[0] for piece in fields[at["arch"]].split("|") if "~" in piece]
            tokens[i] = [op_index[op] for op in ops]
            values[i] = [float(fields[at[c]]) for c in wanted[1:]]
        except (KeyError, ValueError, IndexError) as error:
            raise TableError(f"{source} row {i + 1}: cannot parse {line[:120]!r} ({error!r})") from None
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 100:
        raise TableError(f"{source}: accuracies must be percentages in [0, 100]")
    columns = {c: values[:, j] / 100.0 for j, c in enumerate(wanted[1:])}
    return RawTable(tokens, columns)


class EdgeCostTable:
    """MACs and parameters of every cell at once: the network's cost is a base plus one term per (edge, op).

    Each edge's operation appears in every cell of every stage at a channel count and size fixed by the
    stage, so the total is additive over edges; the terms are recovered exactly by probing
    ``automl_env.cost`` with one-edge cells (the tests compare with ``arch_cost`` on random cells).
    """

    def __init__(self, task: TaskSpec, fidelity: Fidelity) -> None:
        def cost(ops: tuple[str, ...]) -> np.ndarray:
            c = arch_cost(
                NB201Cell(ops),
                num_classes=task.num_classes,
                image_size=task.image_size,
                in_channels=task.in_channels,
                cells=fidelity.cells,
                channels=fidelity.channels,
            )
            return np.array([c.macs, c.params], dtype=np.int64)

        empty = ("none",) * len(EDGES)
        self.base = cost(empty)
        self.terms = np.zeros((len(EDGES), len(OPERATIONS), 2), dtype=np.int64)
        for edge in range(len(EDGES)):
            for op, name in enumerate(OPERATIONS):
                self.terms[edge, op] = cost((*empty[:edge], name, *empty[edge + 1 :])) - self.base

    def macs_params(self, tokens: IntArray) -> tuple[FloatArray, FloatArray]:
        total = self.base + self.terms[np.arange(len(EDGES)), tokens].sum(axis=1)
        return total[:, 0].astype(np.float64), total[:, 1].astype(np.float64)


def load_table(task: TaskSpec, source: str | Path | None = None) -> RecordedTable:
    """The NAS-Bench-201 table of ``task`` (an ``nb201-*`` task: its dataset picks the columns)."""
    if task.dataset not in DATASETS:
        raise TableError(f"task {task.name!r} uses dataset {task.dataset!r}; NAS-Bench-201 has {sorted(DATASETS)}")
    width = sum(space.num_tokens for space in task.modules.values())
    if width != len(EDGES) or any(n != len(OPERATIONS) for s in task.modules.values() for n in s.nvec):
        raise TableError(f"task {task.name!r} is not a NAS-Bench-201 task: its tokens are not 6 edges x 5 operations")
    raw = read_raw(source)
    dataset = DATASETS[task.dataset]
    groups = []
    splits: tuple[tuple[Fidelity, Split, str, int], ...] = (
        (task.search_fidelity, "validation", "val_12", dataset.search_train_images),
        (task.search_fidelity, "test", "test_12", dataset.final_train_images),
        (task.final_fidelity, "test", "test_200", dataset.final_train_images),
    )
    for fidelity, split, suffix, images in splits:
        macs, params = EdgeCostTable(task, fidelity).macs_params(raw.tokens)
        groups.append(
            Records(
                fidelity=fidelity,
                split=split,
                tokens=raw.tokens,
                accuracy=raw.columns[f"{dataset.column}_{suffix}"][:, None],
                flops=macs,
                params=params,
                cost_seconds=FORWARD_BACKWARD * macs * fidelity.epochs * images / CIFAR_MACS_PER_SECOND,
            )
        )
    return RecordedTable(task, groups, source=f"NAS-Bench-201 ({TABLE_FILE}, {task.dataset})")
