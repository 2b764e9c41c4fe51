"""A TorchRL-native batched multi-agent env: N padded pipeline-mode episodes per step, no PettingZoo wrapper.

    from automl_env.torchrl_env import TorchRLAutoMLEnv     # needs TorchRL: pip install "automl-env[interop]"
    env = TorchRLAutoMLEnv("cifar100", num_envs=1024, backend="synthetic-rugged")

Through ``PettingZooWrapper`` every env step is a Python round trip per agent and per info key; here one
``step`` hands all N x agents actions to the vector env's token fast path (``automl_env.vector``) and gets
the rewards back as arrays. Layout (TorchRL's multi-agent convention, one group ``"modules"`` of every
agent, the layout of VMAS and BenchMARL):

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

Padded positions are ignored and a masked choice plays ``token % choices``, as in the parallel env's padded
mode; an episode is one step, so TorchRL's collectors reset after each. Nothing is random: ``set_seed``
changes nothing, and the evaluation seed is the ``seed`` option.

BenchMARL reads this layout (its task's spec methods on the ``*_unbatched`` specs, as for VMAS), but its stock
MLP emits one logit vector per agent, not one per position of a (W,) action, so MAPPO cannot act in it yet:
that needs a model with (agents, W, C) logits, or a layout with one group entry per (agent, position).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

GROUP = "modules"


class TorchRLAutoMLEnv(EnvBase):
    """N one-step episodes of the AutoML env as one TorchRL env of batch size (N,); see the module docstring."""

    def __init__(
        self, task: str | TaskSpec = "cifar100", *, num_envs: int, device: Any = "cpu", **options: Unpack[EnvOptions]
    ) -> None:
        super().__init__(device=device, batch_size=torch.Size([num_envs]))
        self.vector = AutoMLVectorEnv(task, num_envs=num_envs, infos="arrays", **options)
        self.agents = list(self.vector.possible_agents)
        self.padded = PaddedActions(self.vector.codec.spaces)
        self.group_map = {GROUP: self.agents}
        n, agents = num_envs, len(self.agents)
        width, choices = self.padded.width, self.padded.choices
        masks = np.stack([self.padded.masks[a] for a in self.agents]).astype(bool)
        self._mask = torch.as_tensor(masks, device=self.device).expand(n, agents, width, choices).clone()
        self._ids = torch.eye(agents, device=self.device).expand(n, agents, agents).clone()
        group = (n, agents)
        self.observation_spec = Composite(
            {
                GROUP: Composite(
                    {
                        "observation": Bounded(0.0, 1.0, (*group, agents), device=self.device),
                        "action_mask": Categorical(2, (*group, width, choices), dtype=torch.bool, device=self.device),
                    },
                    shape=group,
                ),
                "state": Bounded(0.0, 1.0, (n, self.vector.codec.state_size), device=self.device),
            },
            shape=(n,),
        )
        self.action_spec = Composite(
            {GROUP: Composite({"action": Categorical(choices, (*group, width), device=self.device)}, shape=group)},
            shape=(n,),
        )
        self.reward_spec = Composite(
            {GROUP: Composite({"reward": Unbounded((*group, 1), device=self.device)}, shape=group)}, shape=(n,)
        )
        flag = {"dtype": torch.bool, "device": self.device}
        self.done_spec = Composite(
            {
                "done": Categorical(2, (n, 1), **flag),
                "terminated": Categorical(2, (n, 1), **flag),
                GROUP: Composite(
                    {"done": Categorical(2, (*group, 1), **flag), "terminated": Categorical(2, (*group, 1), **flag)},
                    shape=group,
                ),
            },
            shape=(n,),
        )
        self.observation_spec[GROUP, "masked_remaps"] = Unbounded((*group, 1), dtype=torch.int64, device=self.device)
        # No update_mask on the action spec: its unbatched copy (what BenchMARL builds policies from) would keep the
        # (N, ...) mask and fail against a policy's logits. Policies mask with ("modules", "action_mask").

    def _observation(self, state: np.ndarray, remaps: np.ndarray, done: bool) -> TensorDict:
        n, agents = self.batch_size[0], len(self.agents)
        flags = torch.full((n, agents, 1), done, dtype=torch.bool, device=self.device)
        group = TensorDict(
            {
                "observation": self._ids.clone(),
                "action_mask": self._mask.clone(),
                "masked_remaps": torch.as_tensor(remaps, device=self.device).reshape(n, agents, 1),
                "done": flags,
                "terminated": flags.clone(),
            },
            batch_size=(n, agents),
            device=self.device,
        )
        return TensorDict(
            {
                GROUP: group,
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
        return self._observation(state, np.zeros((n, len(self.agents)), dtype=np.int64), done=False)

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        action = tensordict.get((GROUP, "action")).detach().cpu().numpy().astype(np.int64)
        tokens, remaps = {}, np.zeros(action.shape[:2], dtype=np.int64)
        for i, agent in enumerate(self.agents):
            nvec = np.asarray(self.vector.codec.spaces[agent].nvec, dtype=np.int64)
            own, padding = action[:, i, : len(nvec)], action[:, i, len(nvec) :]
            tokens[agent] = own % nvec
            remaps[:, i] = (own >= nvec).sum(axis=1) + np.count_nonzero(padding, axis=1)
        if not self.vector.agents:
            self.vector.reset()
        _, rewards, *_ = self.vector.step(tokens)
        out = self._observation(self.vector.state(), remaps, done=True)
        shared = torch.as_tensor(rewards[self.agents[0]], dtype=torch.float32, device=self.device)
        out.set((GROUP, "reward"), shared.reshape(-1, 1, 1).expand(-1, len(self.agents), 1).clone())
        return out

    def _set_seed(self, seed: int | None) -> None:
        """Nothing here is random (the evaluation seed is the ``seed`` option); kept for TorchRL's API."""

    def close(self, *, raise_if_closed: bool = True) -> None:
        self.vector.close()
        super().close(raise_if_closed=raise_if_closed)
