"""A TorchRL-native batched multi-agent env: N padded pipeline-mode episodes per step, no PettingZoo wrapper.

    from automl_env.torchrl_env import TorchRLAutoMLEnv     # needs TorchRL: pip install "automl-env[interop]"
    env = TorchRLAutoMLEnv("cifar100", num_envs=1024, backend="synthetic-rugged")

Through ``PettingZooWrapper`` every env step is a Python round trip per agent and per info key; here one
``step`` hands all N pipelines' tokens to the vector env's token fast path (``automl_env.vector``) and gets
the rewards back as arrays. TorchRL's multi-agent convention (the layout of VMAS and BenchMARL): one group of
E entries, ``layout`` choosing what an entry is.

``layout="modules"`` (the default): one entry per agent (module), acting in padded pipeline mode
(``automl_env.padded``: W tokens of C choices each, W the longest module's width):

| key                                   | shape                  | what                                      |
|---------------------------------------|------------------------|-------------------------------------------|
| ``("modules", "action")``             | (N, agents, W), int64  | padded tokens (``automl_env.padded``)     |
| ``("modules", "observation")``        | (N, agents, agents)    | the agent's one-hot id                    |
| ``("modules", "action_mask")``        | (N, agents, W, C) bool | each agent's own choices                  |
| ``("modules", "reward")``             | (N, agents, 1)         | the shared reward of the pipeline         |
| ``("modules", "masked_remaps")``      | (N, agents, 1)         | masked choices remapped (``padded``)      |
| ``("modules", "done"/"terminated")``  | (N, agents, 1) bool    | True after every step (one-step episodes) |
| ``"state"``                           | (N, state_size)        | the joint tokens scaled to [0, 1]         |
| ``"done"``, ``"terminated"``          | (N, 1) bool            | True after every step                     |

``layout="tokens"``: one entry per token of the pipeline (T of them, the modules' widths summed: 100 on
cifar100, 6 on nb201-*-nodes; padded positions are left out), group ``"tokens"``, entry names
``"<agent>_<position>"``. An entry plays one token: ``("tokens", "action")`` (N, T), its mask (N, T, C) (the
position's own choices), its one-hot id (N, T, T), and reward, remaps and flags (N, T, 1); ``state``, ``done``
and ``terminated`` as above. It is the same pipeline and the same reward, written so that each entry's action
is one categorical: what every BenchMARL algorithm and model acts in (``automl_env.benchmarl_task``), whereas
a (W,) action per entry needs (agents, W, C) logits that BenchMARL's stock MLP does not emit (it gives one
logit vector per entry) and per-position log-probabilities and Q-values its losses do not reduce.

Padded positions are ignored and a masked choice plays ``token % choices``, as in the parallel env's padded
mode; an episode is one step, so TorchRL's collectors reset after each. Nothing is random: ``set_seed``
changes nothing, and the evaluation seed is the ``seed`` option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from automl_env.padded import PaddedActions
from automl_env.vector import AutoMLVectorEnv

try:
    import torch
    from tensordict import TensorDict, TensorDictBase
    from torchrl.data import Bounded, Categorical, Composite, Unbounded
    from torchrl.envs import EnvBase
except ImportError as error:  # this module is only imported by whoever asks for the TorchRL env
    raise ImportError(f'the TorchRL env needs TorchRL: pip install "automl-env[interop]" ({error})') from None

if TYPE_CHECKING:
    from typing import Unpack

    from automl_env.env_options import EnvOptions
    from automl_env.tasks import TaskSpec

Layout = Literal["modules", "tokens"]
LAYOUTS: tuple[Layout, ...] = ("modules", "tokens")
GROUP = "modules"
"""The group of the default layout (``layout="modules"``); ``layout="tokens"`` names its group ``"tokens"``."""


class TorchRLAutoMLEnv(EnvBase):
    """N one-step episodes of the AutoML env as one TorchRL env of batch size (N,); see the module docstring."""

    def __init__(
        self,
        task: str | TaskSpec = "cifar100",
        *,
        num_envs: int,
        layout: Layout = "modules",
        device: Any = "cpu",
        **options: Unpack[EnvOptions],
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"TorchRL env: layout must be one of {LAYOUTS}, got {layout!r}")
        super().__init__(device=device, batch_size=torch.Size([num_envs]))
        self.vector = AutoMLVectorEnv(task, num_envs=num_envs, infos="arrays", **options)
        self.agents = list(self.vector.possible_agents)
        self.padded = PaddedActions(self.vector.codec.spaces)
        self.layout, self.group = layout, layout
        widths = [self.vector.codec.spaces[a].num_tokens for a in self.agents]
        width = self.padded.width
        self._real = np.arange(width)[None, :] < np.asarray(widths)[:, None]
        """(agents, W): which padded positions are a module's tokens."""
        nvecs = [self.vector.codec.spaces[a].nvec for a in self.agents]
        self._nvec = np.stack([np.pad(nvec, (0, width - len(nvec))) for nvec in nvecs])
        """(agents, W): each position's choices (0 past a module's tokens)."""
        self._positions = np.flatnonzero(self._real)
        """The tokens layout's entries as indices into the flattened (agents, W) padded action."""
        if layout == "modules":
            self.group_map = {GROUP: list(self.agents)}
        else:
            self.group_map = {"tokens": [f"{self.agents[i // width]}_{i % width}" for i in self._positions]}
        self._build_specs()

    @property
    def entries(self) -> int:
        """E: the group's entries (agents in the modules layout, tokens in the tokens layout)."""
        return len(self.group_map[self.group])

    def _build_specs(self) -> None:
        n, entries, choices = self.batch_size[0], self.entries, self.padded.choices
        tail = (self.padded.width,) if self.layout == "modules" else ()
        masks = np.stack([self.padded.masks[a] for a in self.agents]).astype(bool)
        if self.layout == "tokens":
            masks = masks.reshape(-1, choices)[self._positions]
        self._mask = torch.as_tensor(masks, device=self.device).expand(n, *masks.shape).clone()
        self._ids = torch.eye(entries, device=self.device).expand(n, entries, entries).clone()
        group, kind = (n, entries), self.group
        self.observation_spec = Composite(
            {
                kind: Composite(
                    {
                        "observation": Bounded(0.0, 1.0, (*group, entries), device=self.device),
                        "action_mask": Categorical(2, (*group, *tail, choices), dtype=torch.bool, device=self.device),
                    },
                    shape=group,
                ),
                "state": Bounded(0.0, 1.0, (n, self.vector.codec.state_size), device=self.device),
            },
            shape=(n,),
        )
        self.action_spec = Composite(
            {kind: Composite({"action": Categorical(choices, (*group, *tail), device=self.device)}, shape=group)},
            shape=(n,),
        )
        self.reward_spec = Composite(
            {kind: Composite({"reward": Unbounded((*group, 1), device=self.device)}, shape=group)}, shape=(n,)
        )
        flag = {"dtype": torch.bool, "device": self.device}
        self.done_spec = Composite(
            {
                "done": Categorical(2, (n, 1), **flag),
                "terminated": Categorical(2, (n, 1), **flag),
                kind: Composite(
                    {"done": Categorical(2, (*group, 1), **flag), "terminated": Categorical(2, (*group, 1), **flag)},
                    shape=group,
                ),
            },
            shape=(n,),
        )
        self.observation_spec[kind, "masked_remaps"] = Unbounded((*group, 1), dtype=torch.int64, device=self.device)
        # No update_mask on the action spec: its unbatched copy (what BenchMARL builds policies from) would keep the
        # (N, ...) mask and fail against a policy's logits. Policies mask with (group, "action_mask").

    def _observation(self, state: np.ndarray, remaps: np.ndarray, done: bool) -> TensorDict:
        n, entries = self.batch_size[0], self.entries
        flags = torch.full((n, entries, 1), done, dtype=torch.bool, device=self.device)
        group = TensorDict(
            {
                "observation": self._ids.clone(),
                "action_mask": self._mask.clone(),
                "masked_remaps": torch.as_tensor(remaps, device=self.device).reshape(n, entries, 1),
                "done": flags,
                "terminated": flags.clone(),
            },
            batch_size=(n, entries),
            device=self.device,
        )
        return TensorDict(
            {
                self.group: group,
                "state": torch.as_tensor(state, device=self.device),
                "done": flags[:, 0].clone(),
                "terminated": flags[:, 0].clone(),
            },
            batch_size=self.batch_size,
            device=self.device,
        )

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDict:
        n = self.batch_size[0]
        self.vector.reset()
        state = np.zeros((n, self.vector.codec.state_size), dtype=np.float32)
        return self._observation(state, np.zeros((n, self.entries), dtype=np.int64), done=False)

    def padded_actions(self, action: np.ndarray) -> np.ndarray:
        """The (N, agents, W) padded tokens of the group's actions (the tokens layout's padded positions: 0)."""
        if self.layout == "modules":
            return action
        n, agents, width = action.shape[0], len(self.agents), self.padded.width
        padded = np.zeros((n, agents * width), dtype=np.int64)
        padded[:, self._positions] = action
        return padded.reshape(n, agents, width)

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        action = tensordict.get((self.group, "action")).detach().cpu().numpy().astype(np.int64)
        padded = self.padded_actions(action)
        own = padded % np.where(self._real, self._nvec, 1)
        remapped = np.where(self._real, padded >= self._nvec, padded != 0)
        tokens = {a: own[:, i, : self._real[i].sum()] for i, a in enumerate(self.agents)}
        if self.layout == "modules":
            remaps = remapped.sum(axis=2)
        else:
            remaps = remapped.reshape(len(action), -1)[:, self._positions].astype(np.int64)
        if not self.vector.agents:
            self.vector.reset()
        _, rewards, *_ = self.vector.step(tokens)
        out = self._observation(self.vector.state(), remaps, done=True)
        shared = torch.as_tensor(rewards[self.agents[0]], dtype=torch.float32, device=self.device)
        out.set((self.group, "reward"), shared.reshape(-1, 1, 1).expand(-1, self.entries, 1).clone())
        return out

    def _set_seed(self, seed: int | None) -> None:
        """Nothing here is random (the evaluation seed is the ``seed`` option); kept for TorchRL's API."""

    def close(self, *, raise_if_closed: bool = True) -> None:
        self.vector.close()
        super().close(raise_if_closed=raise_if_closed)
