"""Padded pipeline mode: every agent acts in one shared MultiDiscrete space, with an action mask.

Pipeline mode gives each agent its module's own ``MultiDiscrete(nvec)``; clients that stack the agents of a
group (TorchRL with all agents in one group) or that vectorise them (SuperSuit) need one space for all.
BenchMARL stacks agents too, but its stock models emit one logit vector per agent (the action spec's last
dimension), not one per position, so they cannot act here: BenchMARL takes pipeline mode on the TorchRL-native
env instead, one group entry per token (``automl_env.torchrl_env``, ``layout="tokens"``).
``action_mode="padded"`` pads every agent's action to the longest module's width W and puts a mask of the
choices each agent really has in its observation.

- Space: ``MultiDiscrete([C] * W)``, C the most choices any position of any module has (TorchRL reads
  equal choices as one ``Categorical`` of shape (W,)).
- Mask: ``action_mask`` is an int8 (W, C) array (TorchRL's layout for that ``Categorical``; the action
  space's ``sample`` takes it too): at a real position the agent's own choices, at a padded position (past
  its module's tokens) choice 0 only.
- Padded positions are ignored; a token the mask forbids is remapped to ``token % choices`` at a real position
  (0 at a padded one) and counted in ``infos[agent]["masked_remaps"]``, as token mode does, since PettingZoo's
  testers, SuperSuit and unmasked warm-ups sample without masks. What the shared space itself refuses
  (shape, type, range) is a ValueError naming the agent and the position.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from automl_env.modules.base import ModuleSpace, TokenArray, checked_tokens


class PaddedMultiDiscrete(spaces.MultiDiscrete):
    """``MultiDiscrete([C] * W)`` whose ``sample`` also takes the (W, C) mask that padded mode observes.

    Gymnasium masks a MultiDiscrete with a tuple of per-position masks; TorchRL reads a MultiDiscrete of equal
    choices as a ``Categorical`` of shape (W,) and its mask as (W, C). The observation holds the (W, C) one, so
    both PettingZoo's testers (``sample(mask=obs["action_mask"])``) and TorchRL's wrapper take it.
    """

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if isinstance(mask, np.ndarray) and self.nvec.ndim == 1:
            if mask.shape != (len(self.nvec), int(self.nvec.max())):
                raise ValueError(f"a padded mask has shape {(len(self.nvec), int(self.nvec.max()))}, got {mask.shape}")
            mask = tuple(row.astype(np.int8) for row in mask)
        return super().sample(mask=mask, probability=probability)


class PaddedActions:
    """The shared action space and per-agent masks of padded mode, and the unpadding of actions."""

    def __init__(self, modules: Mapping[str, ModuleSpace[Any]]) -> None:
        self.modules = dict(modules)
        self.width = max(space.num_tokens for space in self.modules.values())
        self.choices = max(max(space.nvec) for space in self.modules.values())
        self.nvec = np.full(self.width, self.choices, dtype=np.int64)
        self.action_space = PaddedMultiDiscrete(self.nvec)
        self.masks: dict[str, np.ndarray] = {}
        for agent, space in self.modules.items():
            mask = np.zeros((self.width, self.choices), dtype=np.int8)
            mask[space.num_tokens :, 0] = 1  # a padded position offers choice 0 only
            for position, choices in enumerate(space.nvec):
                mask[position, :choices] = 1
            self.masks[agent] = mask

    def mask_space(self) -> spaces.Box:
        return spaces.Box(0, 1, shape=(self.width, self.choices), dtype=np.int8)

    def unpad(self, agent: str, action: Any) -> tuple[TokenArray, int]:
        """The agent's module tokens from a padded action, and how many masked choices were remapped."""
        tokens = self._checked(agent, action)
        nvec = np.asarray(self.modules[agent].nvec, dtype=np.int64)
        own, padding = tokens[: len(nvec)], tokens[len(nvec) :]
        remaps = int(np.count_nonzero(own >= nvec) + np.count_nonzero(padding))
        return own % nvec, remaps

    def _checked(self, agent: str, action: Any) -> TokenArray:
        return checked_tokens(
            action,
            self.nvec,
            agent=agent,
            names=None,
            shape_error=f"padded action has shape {{shape}}, expected ({self.width},): one token per position of the "
            f"shared MultiDiscrete({self.nvec.tolist()})",
        )
