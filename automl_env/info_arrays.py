"""The vector env's numeric infos as arrays: one (N,) array per key instead of N dicts.

``infos="arrays"`` gives, per agent, ``{"reward", "accuracy", "flops", "params", "cost_seconds"}`` as float64
and ``{"status_code", "masked_remaps"}`` as int64 arrays: the keys and values of ``infos="numeric"``
(``automl_env.evaluation.shown_info``), row i being env i. Batched learners read columns, not dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from automl_env.batch import BatchResults
from automl_env.evaluation import STATUS_CODES, shown_info

VectorInfoMode = Literal["numeric", "full", "arrays"]
VECTOR_INFO_MODES: tuple[str, ...] = ("numeric", "full", "arrays")
FLOAT_KEYS = ("reward", "accuracy", "flops", "params", "cost_seconds")
INT_KEYS = ("status_code", "masked_remaps")


def numeric_arrays(rewards: np.ndarray, results: BatchResults) -> dict[str, np.ndarray]:
    """The numeric infos of a batch's results, as arrays."""
    return {
        "reward": np.asarray(rewards, dtype=np.float64),
        "accuracy": results.accuracy,
        "flops": results.flops,
        "params": results.params,
        "cost_seconds": results.cost_seconds,
        "status_code": np.where(results.ok, STATUS_CODES["ok"], STATUS_CODES["failed"]).astype(np.int64),
        "masked_remaps": np.zeros(len(results), dtype=np.int64),
    }


def infos_as_arrays(infos: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Full infos (``automl_env.evaluation.result_info``) as the arrays ``numeric_arrays`` gives."""
    shown = [shown_info(info, "numeric") for info in infos]
    arrays = {key: np.array([info[key] for info in shown], dtype=np.float64) for key in FLOAT_KEYS}
    return arrays | {key: np.array([info[key] for info in shown], dtype=np.int64) for key in INT_KEYS}


def numeric_dicts(arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The arrays as N numeric info dicts (plain floats and ints, ``shown_info``'s key order)."""
    keys = (*FLOAT_KEYS, *INT_KEYS)
    columns = [arrays[key].tolist() for key in keys]
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


def pending_arrays(n: int) -> dict[str, np.ndarray]:
    """The numeric infos of N episodes not yet evaluated (``pending_info``'s values), as arrays."""
    arrays = {key: np.zeros(n, dtype=np.float64) for key in FLOAT_KEYS}
    return arrays | {
        "status_code": np.full(n, STATUS_CODES["pending"], dtype=np.int64),
        "masked_remaps": np.zeros(n, dtype=np.int64),
    }
