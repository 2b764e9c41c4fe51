"""What every search algorithm shares: token controllers, seeded generators, the act/update interface, state.

An algorithm sees the problem as: sample n joint actions (``act``), learn from their n rewards
(``update``). Randomness comes only from the algorithm's own generators, derived from its seed:
one for initial weights, one for ``act`` and one for ``update`` (so extra sampling inside an update,
such as the counterfactual baseline's, never shifts the actions drawn later).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast, runtime_checkable

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ma2ml_agents.controllers import TokenController
from ma2ml_agents.recall import Recall
from ma2ml_agents.spaces import JointActionSpace

if TYPE_CHECKING:
    from typing import Self

ConfigT = TypeVar("ConfigT")


def derived_seed(*keys: int) -> int:
    """A 63-bit seed that is a pure function of ``keys`` (NumPy's SeedSequence mixing)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0] >> 1)


@runtime_checkable
class SearchAlgorithm(Protocol):
    """What ``run_search`` needs from a search: propose n joint actions, learn from their rewards, checkpoint.

    ``ControllerAlgorithm`` implements it; so do the baselines, which need not be torch models.
    """

    name: str
    seed: int
    config: Any

    def act(self, n: int) -> dict[str, np.ndarray]: ...

    def update(self, actions: Mapping[str, np.ndarray], rewards: np.ndarray) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class SeededSearch(ABC, Generic[ConfigT]):
    """A search over a joint action space, built from a config and a seed, that checkpoints itself.

    A checkpoint (``state_dict``) holds the name, the config, ``core_state()`` and ``extra_state()``.
    """

    name: ClassVar[str] = ""

    def __init__(self, space: JointActionSpace | Mapping[str, spaces.Space], config: ConfigT, *, seed: int) -> None:
        self.space = space if isinstance(space, JointActionSpace) else JointActionSpace.from_spaces(space)
        self.config = config
        self.seed = seed

    @classmethod
    def from_env(cls, env: object, config: ConfigT | None = None, *, seed: int) -> Self:
        """Build for an env's ``possible_agents`` and action spaces; ``config`` defaults to ``default_config()``."""
        return cls(JointActionSpace.from_env(env), config if config is not None else cls.default_config(), seed=seed)

    @classmethod
    @abstractmethod
    def default_config(cls) -> ConfigT:
        """The config with this search's defaults."""

    @abstractmethod
    def core_state(self) -> dict[str, Any]:
        """The checkpoint entries that every search of this kind has: its generators' states, its weights."""

    @abstractmethod
    def load_core_state(self, state: dict[str, Any]) -> None:
        """Restore, from a whole checkpoint, what ``core_state`` saved."""

    def extra_state(self) -> dict[str, Any]:
        """Further state (tensors and plain types only: checkpoints load with ``torch.load(weights_only=True)``)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_state`` returned."""

    def state_dict(self) -> dict[str, Any]:
        """Name, config, core state and extra state, as ``run_search`` checkpoints them."""
        return {
            "name": self.name,
            "config": dataclasses.asdict(self.config),  # type: ignore[call-overload]
            **self.core_state(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["name"] != self.name:
            raise ValueError(f"state of algorithm {state['name']!r} cannot be loaded into {self.name!r}")
        self.load_core_state(state)
        self.load_extra_state(state["extra"])


class ControllerAlgorithm(SeededSearch[ConfigT]):
    """Base of the algorithms: one ``TokenController`` per group of joint-action columns."""

    def __init__(self, space: JointActionSpace | Mapping[str, spaces.Space], config: ConfigT, *, seed: int) -> None:
        super().__init__(space, config, seed=seed)
        self.device = torch.device(getattr(config, "device", "cpu"))
        init_generator = torch.Generator().manual_seed(derived_seed(seed, 0))
        self.act_generator = torch.Generator(self.device).manual_seed(derived_seed(seed, 1))
        self.update_generator = torch.Generator(self.device).manual_seed(derived_seed(seed, 2))
        self.groups = self.token_groups()
        # nn.Module constructors draw from torch's global RNG; fork it so we neither use nor disturb it.
        with torch.random.fork_rng(devices=[]):
            self.controllers = nn.ModuleList(
                TokenController(
                    self.space.flat_nvec[g],
                    hidden_size=self.hidden_size,
                    autoregressive=bool(getattr(config, "autoregressive", True)),
                )
                for g in self.groups
            )
            self.build(init_generator)
        self.policies = cast(list[TokenController], list(self.controllers))
        """The controllers, typed (the same objects as ``self.controllers``)."""
        for policy in self.policies:
            policy.reset_parameters(init_generator)
        self.recall = (
            Recall(int(getattr(config, "recall_draws", 1)), self.space.total_tokens)
            if getattr(config, "recall_known", False)
            else None
        )
        """Each pipeline evaluated once (``ma2ml_agents.recall``), where the config has ``recall_known``."""
        for module in self.modules().values():  # after build: its copies (MA2ML's targets) too
            module.to(self.device)

    @property
    def hidden_size(self) -> int:
        return int(getattr(self.config, "hidden_size", 100))

    def token_groups(self) -> list[slice]:
        """Columns each controller emits: one controller per agent."""
        return [self.space.slice_of(i) for i in range(len(self.space.agents))]

    def build(self, generator: torch.Generator) -> None:
        """Create further modules and optimisers (called under a forked global RNG)."""

    @torch.no_grad()
    def sample_tokens(
        self, n: int, generator: torch.Generator | None = None, *, temperature: float = 1.0
    ) -> torch.Tensor:
        """(n, total_tokens) joint token rows drawn from the current policies (``act``'s generator by default), at
        ``temperature`` (``TokenController.sample``)."""
        generator = self.act_generator if generator is None else generator
        parts = [p.sample(n, generator=generator, temperature=temperature).actions for p in self.policies]
        return torch.cat(parts, dim=1)

    def act(self, n: int) -> dict[str, np.ndarray]:
        """n joint actions: ``{agent: int64 array (n, T_agent)}`` in the env's values; with recall, n new ones."""
        if self.recall is None or n < 1:
            return self.space.to_env(self.sample_tokens(n))
        return self.space.to_env(self.recall.choose(self.sample_tokens, n))

    def update(self, actions: Mapping[str, np.ndarray], rewards: np.ndarray) -> dict[str, float]:
        """Learn from n evaluated joint actions and their shared rewards; returns scalar statistics."""
        return self.update_tokens(*self.as_tensors(actions, rewards))

    def as_tensors(self, actions: Mapping[str, np.ndarray], rewards: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Token rows (n, total_tokens) and rewards (n,) on the device; ValueError unless there are n rewards."""
        tokens = self.space.to_tensor(actions, device=self.device)
        reward_tensor = torch.as_tensor(np.asarray(rewards, dtype=np.float32), device=self.device)
        if reward_tensor.shape != (tokens.shape[0],):
            raise ValueError(f"rewards must have shape ({tokens.shape[0]},), got {tuple(reward_tensor.shape)}")
        return tokens, reward_tensor

    @abstractmethod
    def update_tokens(self, tokens: torch.Tensor, rewards: torch.Tensor) -> dict[str, float]:
        """``update`` on token rows (n, total_tokens) and rewards (n,)."""

    def modules(self) -> dict[str, nn.Module]:
        """Every module whose weights are part of the state."""
        return {"controllers": self.controllers}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def core_state(self) -> dict[str, Any]:
        """Weights, optimiser states, the act/update generators' states and, with recall, what it remembers."""
        recall = {} if self.recall is None else {"recall": self.recall.state_dict()}
        return {
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "generators": {"act": self.act_generator.get_state(), "update": self.update_generator.get_state()},
            **recall,
        }

    def load_core_state(self, state: dict[str, Any]) -> None:
        for key, module in self.modules().items():
            module.load_state_dict(state["modules"][key])
        for key, optimizer in self.optimizers().items():
            optimizer.load_state_dict(state["optimizers"][key])
        self.act_generator.set_state(state["generators"]["act"])
        self.update_generator.set_state(state["generators"]["update"])
        if self.recall is not None and "recall" in state:  # checkpoints from before recall hold none: it starts now
            self.recall.load_state_dict(state["recall"], self.device)
