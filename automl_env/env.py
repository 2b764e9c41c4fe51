"""AutoML as a cooperative multi-agent environment (PettingZoo parallel API).

Each module of a machine-learning pipeline is an agent; the joint action defines a pipeline, a
backend trains (or looks up, or simulates) it, and every agent receives the same reward.

| property              | value                                                                    |
|-----------------------|--------------------------------------------------------------------------|
| agents                | the task's modules, e.g. ``["aug", "nas", "hpo"]`` (any subset)          |
| action (pipeline)     | ``MultiDiscrete(nvec)`` per agent: all its tokens in one step            |
| action (token)        | ``Discrete(max choices)`` for every agent: one token per step            |
| action (padded)       | one shared ``MultiDiscrete`` for every agent: pipeline mode, padded      |
| observation (pipeline)| ``Box(0, 1, (num_agents,), float32)``: the agent's one-hot id            |
| observation (token)   | ``Dict(observation=Box float32, action_mask=Box int8)``, same for all    |
| observation (padded)  | ``Dict(observation=one-hot id, action_mask=Box int8 (W, C))``            |
| state                 | the joint tokens chosen so far, each scaled to [0, 1]                    |
| reward                | the objective of the evaluated pipeline (accuracy, or FLOPs-constrained) |
| episode               | 1 step (pipeline, padded); the longest module's token count (token mode) |

Arguments (``parallel_env``): ``task``, ``backend`` (name or Evaluator; the task's default when
None), ``backend_options``, ``modules`` (subset of agents; the others take ``fixed[module]`` when
given, else the task's default config), ``action_mode``, ``objective``, ``fidelity``, ``seed``
(the evaluation seed: the same pipeline with the same seed gets the same result), ``executor``,
``workers`` and ``executor_options`` (where evaluations run: ``automl_env.env_options.EnvOptions``),
``infos``, ``render_mode`` ("ansi" or "human").

Infos: numbers only by default (``infos="numeric"``: reward, accuracy, flops, params, cost_seconds,
``status_code`` 1 ok / 0 failed / -1 pending, masked_remaps), so TorchRL's and BenchMARL's wrappers,
which make a tensor of every info value, take the env as it is. ``infos="full"`` adds the strings a
search records (status, reason, backend, pipeline JSON, digest) and the backend's recorded ``metrics`` (a dict,
e.g. HPOLib's raw ``mse``); in either mode ``last_info`` is the
full info of the last evaluation (``Pipeline.from_json(env.last_info["pipeline"])``).

Token mode: all agents act at every step so the agent set stays fixed (BenchMARL and Tianshou
need that); an agent whose module is complete may only play 0. A token that the action mask
forbids is remapped to ``token % choices`` (0 for a complete agent) and counted in
``infos[agent]["masked_remaps"]``: PettingZoo's testers and Tianshou's random warm-up sample
without masks. Anything else invalid raises ValueError naming the agent and the position; in
both modes the actions must name exactly the agents, and a refused step changes nothing.

Padded mode (``action_mode="padded"``, ``automl_env.padded``): pipeline mode in one space shared by every
agent, for clients that stack or vectorise agents (TorchRL with one group, SuperSuit; not BenchMARL's
stock models, which emit one logit vector per agent: BenchMARL's pipeline mode is
``automl_env.benchmarl_task`` on the TorchRL-native env): each
action is padded to the longest module's width W, every position offering the most choices C of any module;
the mask holds each agent's own choices, padded positions are ignored, and a masked choice is remapped
(``token % choices``) and counted in ``masked_remaps``, as in token mode. Shared spaces:

| task                  | shared action                       | agents' own widths          |
|-----------------------|-------------------------------------|-----------------------------|
| cifar100 (all 3)      | ``MultiDiscrete([15] * 50)``        | aug 30, nas 50, hpo 20      |
| nb201-*-nodes         | ``MultiDiscrete([5] * 3)``          | node1 1, node2 2, node3 3   |

Version history: v0: first release; v0.1: ``action_mode="padded"`` (the other modes unchanged).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from automl_env.backends.base import Evaluator
from automl_env.env_options import EnvOptions, resolve_env
from automl_env.evaluation import InfoMode, check_info_mode, pending_info, shown_info
from automl_env.modules.base import TokenArray
from automl_env.padded import PaddedActions
from automl_env.render import describe_episode
from automl_env.tasks import TaskSpec

if TYPE_CHECKING:
    from typing import Unpack

ActionMode = Literal["pipeline", "token", "padded"]
ACTION_MODES: tuple[str, ...] = ("pipeline", "token", "padded")


class AutoMLEnv(ParallelEnv):
    """The parallel environment; build it with ``automl_env.parallel_env``."""

    metadata: ClassVar[dict[str, Any]] = {
        "name": "automl_v0",
        "render_modes": ["ansi", "human"],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        task: str | TaskSpec = "cifar100",
        *,
        action_mode: ActionMode = "pipeline",
        infos: InfoMode = "numeric",
        render_mode: str | None = None,
        **options: Unpack[EnvOptions],
    ) -> None:
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {action_mode!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.infos = check_info_mode(infos)
        self.task, self.codec, self.evaluation = resolve_env(task, **options)
        self.action_mode = action_mode
        self.render_mode = render_mode
        self.possible_agents = list(self.codec.agents)
        self.agents: list[str] = []
        n = len(self.possible_agents)
        self._agent_ids = {a: np.eye(n, dtype=np.float32)[i] for i, a in enumerate(self.possible_agents)}
        self.state_space = self.codec.state_space()
        if action_mode == "pipeline":
            self._action_spaces: dict[str, spaces.Space] = dict(self.codec.action_spaces)
            box = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
            self._observation_spaces: dict[str, spaces.Space] = {a: box for a in self.possible_agents}
        elif action_mode == "padded":
            self._setup_padded_mode()
        else:
            self._setup_token_mode()
        self._tokens: dict[str, list[int]] = {}
        self._joint: dict[str, TokenArray] | None = None
        self._last_info: dict[str, Any] = pending_info()

    def _setup_token_mode(self) -> None:
        nvecs = [self.codec.spaces[a].nvec for a in self.possible_agents]
        self.max_choices = max(max(v) for v in nvecs)
        self.horizon = max(len(v) for v in nvecs)
        action = spaces.Discrete(self.max_choices)
        self._obs_size = len(self.possible_agents) + 2 * self.horizon
        observation = spaces.Dict(
            {
                "observation": spaces.Box(0.0, 1.0, shape=(self._obs_size,), dtype=np.float32),
                "action_mask": spaces.Box(0, 1, shape=(self.max_choices,), dtype=np.int8),
            }
        )
        self._action_spaces = {a: action for a in self.possible_agents}
        self._observation_spaces = {a: observation for a in self.possible_agents}

    def _setup_padded_mode(self) -> None:
        self._padded = PaddedActions(self.codec.spaces)
        n = len(self.possible_agents)
        observation = spaces.Dict(
            {
                "observation": spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32),
                "action_mask": self._padded.mask_space(),
            }
        )
        self._action_spaces = {a: self._padded.action_space for a in self.possible_agents}
        self._observation_spaces = {a: observation for a in self.possible_agents}

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    @property
    def backend(self) -> Evaluator:
        return self.evaluation.backend

    @property
    def last_info(self) -> dict[str, Any]:
        """The full info of the last evaluation (status, reason, backend, pipeline JSON, digest), whatever ``infos``
        shows; ``Pipeline.from_json(env.last_info["pipeline"])`` is the pipeline."""
        return dict(self._last_info)

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        # Nothing here is random: an episode is a pure function of the actions and the evaluation seed.
        # ``seed`` is accepted for API compatibility; the action spaces are seeded by the caller.
        self.agents = list(self.possible_agents)
        self._tokens = {a: [] for a in self.agents}
        self._joint = None
        self._remaps = dict.fromkeys(self.agents, 0)
        self._last_info = pending_info()
        infos = {a: pending_info(self.infos) for a in self.agents}
        return self._observations(), infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        if self.action_mode == "pipeline":
            self._joint = self.codec.validate(actions)
        elif self.action_mode == "padded":
            self.codec.check_agents(actions)
            unpadded = {agent: self._padded.unpad(agent, actions[agent]) for agent in self.agents}
            self._joint = {agent: tokens for agent, (tokens, _) in unpadded.items()}
            self._remaps = {agent: remaps for agent, (_, remaps) in unpadded.items()}
        else:
            self._step_tokens(actions)
        if self._joint is None:
            obs = self._observations()
            rewards = dict.fromkeys(self.agents, 0.0)
            infos = {a: {**pending_info(self.infos), "masked_remaps": self._remaps.get(a, 0)} for a in self.agents}
            return obs, rewards, dict.fromkeys(self.agents, False), dict.fromkeys(self.agents, False), infos
        [(reward, info)] = self.evaluation.run([self.codec.pipeline(self._joint)])
        self._last_info = info
        obs = self._observations()
        infos = {a: {**shown_info(info, self.infos), "masked_remaps": self._remaps.get(a, 0)} for a in self.agents}
        rewards = dict.fromkeys(self.agents, reward)
        done = dict.fromkeys(self.agents, True)
        self.agents = []
        if self.render_mode == "human":
            self.render()
        return obs, rewards, done, dict.fromkeys(done, False), infos

    def _step_tokens(self, actions: dict[str, Any]) -> None:
        """Append one token per agent; when every module is complete, set the joint action.

        Every action is checked before any is applied, so a refused step changes nothing.
        """
        self.codec.check_agents(actions)  # all agents act at every step: self.agents == codec.agents
        tokens = {agent: self._checked_token(agent, actions[agent]) for agent in self.agents}
        for agent, token in tokens.items():
            nvec = self.codec.spaces[agent].nvec
            position = len(self._tokens[agent])
            if position < len(nvec):
                if token >= nvec[position]:
                    token %= nvec[position]
                    self._remaps[agent] += 1
                self._tokens[agent].append(token)
            elif token != 0:
                self._remaps[agent] += 1
        # The longest module completes last, so "every module complete" is "horizon steps played".
        if all(len(self._tokens[a]) == len(self.codec.spaces[a].nvec) for a in self.agents):
            self._joint = {a: np.asarray(t, dtype=np.int64) for a, t in self._tokens.items()}

    def _checked_token(self, agent: str, action: Any) -> int:
        position = len(self._tokens[agent])
        try:
            value = np.asarray(action)
        except (ValueError, TypeError, OverflowError) as error:  # ragged nested lists, unconvertible objects
            raise ValueError(f"agent {agent!r}: position {position}: action is not a token ({error})") from None
        if value.shape not in ((), (1,)):
            raise ValueError(f"agent {agent!r}: token-mode action must be a scalar, got shape {value.shape}")
        value = value.reshape(())
        if value.dtype.kind not in "iufb":
            raise ValueError(f"agent {agent!r}: action dtype {value.dtype} is not an integer type")
        if value.dtype.kind == "f" and (not np.isfinite(value) or value != np.round(value)):
            raise ValueError(f"agent {agent!r}: position {position}: action {value!r} is not an integer")
        token = int(value)
        if not 0 <= token < self.max_choices:
            raise ValueError(f"agent {agent!r}: position {position}: action {token} outside [0, {self.max_choices})")
        return token

    def _observations(self) -> dict[str, Any]:
        if self.action_mode == "pipeline":
            return {a: self._agent_ids[a].copy() for a in self.possible_agents}
        if self.action_mode == "padded":
            return {
                a: {"observation": self._agent_ids[a].copy(), "action_mask": self._padded.masks[a].copy()}
                for a in self.possible_agents
            }
        return {a: self._token_observation(a) for a in self.possible_agents}

    def _token_observation(self, agent: str) -> dict[str, np.ndarray]:
        nvec = self.codec.spaces[agent].nvec
        tokens = self._tokens.get(agent, [])
        position = len(tokens)
        obs = np.zeros(self._obs_size, dtype=np.float32)
        n = len(self.possible_agents)
        obs[:n] = self._agent_ids[agent]
        if position < len(nvec):
            obs[n + position] = 1.0
        if tokens:
            scale = np.maximum(np.asarray(nvec[: len(tokens)], dtype=np.float32) - 1, 1)
            obs[n + self.horizon : n + self.horizon + len(tokens)] = np.asarray(tokens, dtype=np.float32) / scale
        mask = np.zeros(self.max_choices, dtype=np.int8)
        mask[: nvec[position] if position < len(nvec) else 1] = 1
        return {"observation": obs, "action_mask": mask}

    def state(self) -> np.ndarray:
        if self.action_mode != "token" or self._joint is not None:
            return self.codec.state_vector(self._joint)
        partial = {
            a: np.pad(
                np.asarray(self._tokens.get(a, []), dtype=np.int64), (0, len(s.nvec) - len(self._tokens.get(a, [])))
            )
            for a, s in self.codec.spaces.items()
        }
        return self.codec.state_vector(partial)

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        modules = {}
        for agent in self.possible_agents:
            space = self.codec.spaces[agent]
            if self._joint is not None:
                modules[agent] = space.decode(self._joint[agent]).describe()
            else:
                modules[agent] = f"{len(self._tokens.get(agent, []))}/{space.num_tokens} tokens chosen"
        text = describe_episode(
            task=self.task.name,
            action_mode=self.action_mode,
            backend=self.backend.name,
            modules=modules,
            info=self._last_info,
            measure=self.task.measure,
        )
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        self.evaluation.close()  # stops the workers of a pool or Ray executor
