"""Single-agent view: one agent chooses every module (the paper's Figure 1, left).

A Gymnasium env whose action is the concatenation of all searched modules' tokens; one step per
episode. The observation is a constant (the single controller's fixed input). Infos are full by
default (Gymnasium's clients pass them through untouched); ``infos="numeric"`` gives the numbers-only
view (``automl_env.evaluation``), and ``last_info`` keeps the last evaluation's full info either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from automl_env.env_options import EnvOptions, resolve_env
from automl_env.evaluation import InfoMode, check_info_mode, pending_info, shown_info
from automl_env.render import describe_result
from automl_env.tasks import TaskSpec

if TYPE_CHECKING:
    from typing import Unpack


class JointAutoMLEnv(gym.Env):
    """All modules as one MultiDiscrete action; build it with ``automl_env.joint_env``."""

    metadata = {"render_modes": ["ansi", "human"]}  # noqa: RUF012 (gymnasium declares it an instance attribute)

    def __init__(
        self,
        task: str | TaskSpec = "cifar100",
        *,
        render_mode: str | None = None,
        infos: InfoMode = "full",
        **options: Unpack[EnvOptions],
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.infos = check_info_mode(infos)
        self.task, self.codec, self.evaluation = resolve_env(task, **options)
        self.render_mode = render_mode
        self.action_space = spaces.MultiDiscrete(np.concatenate([self.codec.spaces[a].nvec for a in self.codec.agents]))
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        ends = np.cumsum([self.codec.spaces[a].num_tokens for a in self.codec.agents])
        self._slices = {
            a: slice(int(end - self.codec.spaces[a].num_tokens), int(end))
            for a, end in zip(self.codec.agents, ends, strict=True)
        }
        self._info: dict[str, Any] = pending_info()

    @property
    def last_info(self) -> dict[str, Any]:
        """The full info of the last evaluation (status, reason, backend, pipeline JSON, digest), whatever ``infos``
        shows; ``Pipeline.from_json(env.last_info["pipeline"])`` is the pipeline."""
        return dict(self._info)

    def split(self, action: Any) -> dict[str, Any]:
        """The joint action as one token vector per module."""
        flat = np.asarray(action)
        if flat.shape != self.action_space.shape:
            raise ValueError(f"joint action has shape {flat.shape}, expected {self.action_space.shape}")
        return {a: flat[s] for a, s in self._slices.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._info = pending_info()
        return np.zeros(1, dtype=np.float32), shown_info(self._info, self.infos)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        tokens = self.codec.validate(self.split(action))
        [(reward, info)] = self.evaluation.run([self.codec.pipeline(tokens)])
        self._info = info
        if self.render_mode == "human":
            self.render()
        return np.zeros(1, dtype=np.float32), reward, True, False, shown_info(info, self.infos)

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        text = f"task {self.task.name} | joint single agent\n  {describe_result(self._info)}"
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        self.evaluation.close()  # stops the workers of a pool or Ray executor
