"""Sequential module search: NAS first with default AUG and HPO, then AUG with that NAS, then HPO.

The "sequential" baseline of the joint-optimisation papers (DHA, AutoHAS): each module is searched on
its own by the same inner algorithm, with a share of the budget, while the others stay fixed: a
module not searched yet keeps the task's default config, a module already searched keeps the best
config its phase found (best reward seen; ties go to the earliest).

It acts on the full joint action, like every search here, so ``run_search`` drives it on the same env
with the same accounting: in a phase the searched module's tokens come from the inner algorithm,
built on that module's action space alone, and every other module plays its fixed tokens. The
pipelines, and so the rewards, are exactly those of an env built with ``modules=(module,)`` and
``fixed={...}`` (``tests/test_baselines.py`` checks this); one env instead of three keeps one CSV,
one seed schedule and one budget counter for the whole run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from ma2ml_agents.spaces import JointActionSpace

InnerFactory = Callable[[Mapping[str, spaces.Space], int], Any]
"""(action spaces of the searched module, seed) -> an algorithm with act/update/state_dict."""


@dataclass(frozen=True)
class SequentialConfig:
    """Sequential search settings."""

    inner: str = "rea"
    """Search algorithm used inside every phase (a name of ``baselines.SEARCHES``)."""
    order: tuple[str, ...] = ("nas", "aug", "hpo")
    """Modules in the order they are searched (the joint-optimisation papers' order)."""
    phase_batches: tuple[int, ...] = ()
    """Batches given to each phase; ``split_budget`` divides a run's batches into equal thirds."""


def split_budget(batches: int, phases: int) -> tuple[int, ...]:
    """Equal shares of ``batches`` (the last phase takes the remainder)."""
    if batches < phases:
        raise ValueError(f"{batches} batches cannot be split into {phases} phases")
    share = batches // phases
    return (share,) * (phases - 1) + (batches - share * (phases - 1),)


class SequentialSearch:
    """One module at a time, the others fixed; ``act``/``update`` over the whole joint action."""

    name = "sequential"

    def __init__(
        self,
        action_spaces: Mapping[str, spaces.Space],
        config: SequentialConfig,
        *,
        seed: int,
        start_tokens: Mapping[str, Sequence[int]],
        make_inner: InnerFactory,
    ) -> None:
        self.action_spaces = dict(action_spaces)
        self.space = JointActionSpace.from_spaces(self.action_spaces)
        self.config = config
        self.seed = seed
        if sorted(config.order) != sorted(self.space.agents):
            raise ValueError(f"order {config.order} must list every agent {self.space.agents} once")
        if len(config.phase_batches) != len(config.order) or min(config.phase_batches) < 1:
            raise ValueError(f"phase_batches {config.phase_batches} needs one positive entry per module {config.order}")
        self.make_inner = make_inner
        self.fixed = {a: np.asarray(start_tokens[a], dtype=np.int64) for a in self.space.agents}
        self.phase = 0
        self.phase_done = 0
        self.best_reward = -np.inf
        self.inner = self._build_inner()

    @property
    def module(self) -> str:
        """The module searched now (the last one once the budget is spent)."""
        return self.config.order[min(self.phase, len(self.config.order) - 1)]

    def _build_inner(self) -> Any:
        # Each phase gets its own seed so phases do not replay the same random draws.
        return self.make_inner({self.module: self.action_spaces[self.module]}, self.seed * 101 + self.phase)

    def act(self, n: int) -> dict[str, np.ndarray]:
        searched = self.inner.act(n)[self.module]
        return {a: searched if a == self.module else np.tile(self.fixed[a], (n, 1)) for a in self.space.agents}

    def update(self, actions: Mapping[str, np.ndarray], rewards: np.ndarray) -> dict[str, float]:
        module = self.module
        values = np.asarray(rewards, dtype=np.float64)
        stats = dict(self.inner.update({module: np.asarray(actions[module])}, values))
        best = int(np.argmax(values))
        if values[best] > self.best_reward:
            self.best_reward = float(values[best])
            self.fixed[module] = np.asarray(actions[module][best], dtype=np.int64).reshape(-1)
        self.phase_done += 1
        if self.phase_done == self.config.phase_batches[self.phase] and self.phase + 1 < len(self.config.order):
            self.phase, self.phase_done, self.best_reward = self.phase + 1, 0, -np.inf
            self.inner = self._build_inner()
        return {**stats, "phase": float(self.phase)}

    def state_dict(self) -> dict[str, Any]:
        """Phase, fixed tokens and the inner algorithm's state, as ``run_search`` checkpoints them."""
        return {
            "name": self.name,
            "config": dataclasses.asdict(self.config),
            "phase": self.phase,
            "phase_done": self.phase_done,
            "best_reward": self.best_reward,
            "fixed": {a: v.tolist() for a, v in self.fixed.items()},
            "inner": self.inner.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["name"] != self.name:
            raise ValueError(f"state of algorithm {state['name']!r} cannot be loaded into {self.name!r}")
        self.phase, self.phase_done, self.best_reward = state["phase"], state["phase_done"], state["best_reward"]
        self.fixed = {a: np.asarray(v, dtype=np.int64) for a, v in state["fixed"].items()}
        self.inner = self._build_inner()
        self.inner.load_state_dict(state["inner"])
