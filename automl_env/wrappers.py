"""Wrappers for clients with narrower expectations than PettingZoo's.

``NumericInfos``: TorchRL's ``PettingZooWrapper`` (and BenchMARL through it) builds a tensor spec
from every info value at reset and fails on strings (``TypeError: new(): invalid data type 'str'``).
The parallel and AEC envs give numeric infos by default (``infos="numeric"``, see
``automl_env.evaluation``) and need no wrapper; this one is for an env built with ``infos="full"``
(or any env whose infos mix strings and numbers): it keeps the numeric entries as floats and adds
``ok``, 1.0 for a successful evaluation.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.wrappers import BaseParallelWrapper

from automl_env.evaluation import STATUS_CODES


def numeric_info(info: dict[str, Any]) -> dict[str, float]:
    """Numeric entries of an info dict as floats; ``ok`` is 1.0 for a successful evaluation.

    Takes either view: a full info's ``status`` or a numeric info's ``status_code``.
    """
    kept = {k: float(v) for k, v in info.items() if isinstance(v, int | float)}
    ok = info.get("status") == "ok" or info.get("status_code") == STATUS_CODES["ok"]
    kept["ok"] = float(ok)
    return kept


class NumericInfos(BaseParallelWrapper):
    """The env with only numeric infos (same keys at reset and at every step)."""

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        observations, infos = self.env.reset(seed=seed, options=options)
        return observations, {a: numeric_info(i) for a, i in infos.items()}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        return observations, rewards, terminations, truncations, {a: numeric_info(i) for a, i in infos.items()}
