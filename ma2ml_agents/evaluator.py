"""One interface over the environments a search can use: evaluate n joint actions, get n rewards and infos.

- A vector env (``num_envs`` attribute; ``reset(seed)`` then one ``step`` of arrays (N, T_agent)) evaluates
  the whole batch in one call, so its backend sees the N pipelines together.
- A PettingZoo ParallelEnv with one-step episodes is stepped n times: ``reset(seed=seed)`` once, then
  ``reset()`` before every further episode, so the env's randomness is a pure function of ``seed``. Its
  ``last_info`` (automl_env's full info of the last evaluation), when it has one, joins the step's infos.

Rewards are cooperative; the reward of a joint action is the mean over agents (the shared value when the
env is cooperative). Infos of the agents are merged into one dict per joint action.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ma2ml_agents.spaces import JointActionSpace
from ma2ml_agents.topk import plain


class BatchEvaluator:
    """Evaluates batches of joint actions on a vector env or a one-step ParallelEnv."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.space = JointActionSpace.from_env(env)
        self.is_vector = hasattr(env, "num_envs")

    @property
    def batch_size(self) -> int | None:
        """The fixed batch size of a vector env; None for a ParallelEnv (any size)."""
        return int(self.env.num_envs) if self.is_vector else None

    def evaluate(self, actions: Mapping[str, np.ndarray], *, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Rewards (n,) float64 and one merged info dict per joint action."""
        n = len(next(iter(actions.values())))
        if self.is_vector:
            if n != self.batch_size:
                raise ValueError(f"the vector env takes batches of {self.batch_size} joint actions, got {n}")
            return self._evaluate_vector(actions, seed=seed)
        return self._evaluate_parallel(actions, n, seed=seed)

    def _evaluate_vector(self, actions: Mapping[str, np.ndarray], *, seed: int) -> tuple[np.ndarray, list[dict]]:
        self.env.reset(seed=seed)
        batch = {a: np.asarray(actions[a], dtype=np.int64) for a in self.space.agents}
        _, rewards, _, _, infos = self.env.step(batch)
        mean_reward = np.mean([np.asarray(rewards[a], dtype=np.float64) for a in self.space.agents], axis=0)
        merged = [_merge(infos[a][i] for a in self.space.agents if a in infos) for i in range(len(mean_reward))]
        return mean_reward, merged

    def _evaluate_parallel(self, actions: Mapping[str, np.ndarray], n: int, *, seed: int) -> tuple[np.ndarray, list]:
        rewards = np.zeros(n, dtype=np.float64)
        infos = []
        for i in range(n):
            self.env.reset(seed=seed if i == 0 else None)
            step_actions = {a: self._single(a, k, actions[a][i]) for k, a in enumerate(self.space.agents)}
            _, step_rewards, _, _, step_infos = self.env.step(step_actions)
            rewards[i] = np.mean([float(step_rewards[a]) for a in self.space.agents])
            merged = _merge(step_infos[a] for a in self.space.agents if a in step_infos)
            # automl_env's parallel env shows numbers only by default; its full info (pipeline JSON, status,
            # reason) is what a search records.
            last_info = getattr(self.env, "last_info", None)
            infos.append({**merged, **last_info} if isinstance(last_info, dict) else merged)
        return rewards, infos

    def _single(self, agent: str, index: int, values: np.ndarray) -> Any:
        """One episode's action in the form the agent's space takes (int for Discrete)."""
        if self.space.discrete[index]:
            return int(np.asarray(values).reshape(-1)[0])
        return np.asarray(values, dtype=np.int64)

    def describe(self) -> dict[str, Any]:
        """Plain-type description of the env for a run's config.json: everything that determines its rewards.

        A resume is refused when any of it differs. For an automl_env flavour (it has ``task``, ``codec`` and
        ``evaluation``) that is the task and its version, the backend and its options, fidelity, objective,
        evaluation seed, searched modules and the configs of the others; any other env is described by its class,
        spaces and ``repr`` (memory addresses removed), which is all a search can know of it.
        """
        env = self.env
        metadata = getattr(env, "metadata", None) or {}
        described: dict[str, Any] = {
            "class": f"{type(env).__module__}.{type(env).__qualname__}",
            "name": str(metadata.get("name", "")),
            "vector": self.is_vector,
            "num_envs": self.batch_size,
            "agents": list(self.space.agents),
            "action_spaces": self.space.describe(),
        }
        if all(hasattr(env, name) for name in ("task", "codec", "evaluation")):
            described.update(_automl_description(env))
        else:
            described["repr"] = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(env))[:500]
        return described


# What determines a backend's results besides its name, read where the backend has it: the synthetic benchmarks'
# noise and fitted constants; real training's device, CPU threads (results differ slightly between thread counts)
# and data preparation (validation split, ImageNet-200's classes, ...); not where the data lies, whether it may be
# downloaded or how many threads decode it (NEUTRAL_FIELDS). A backend with ``describe()`` (the recorded table: its
# source, groups and surrogate fit) describes itself.
RESULT_ATTRIBUTES = ("noise", "calibration", "shape", "ruggedness", "device", "num_threads", "data_config")
NEUTRAL_FIELDS = frozenset({"root", "download", "decode_threads"})


def _automl_description(env: Any) -> dict[str, Any]:
    """Task, backend, fidelity, objective, evaluation seed, modules and fixed configs of an automl_env flavour."""
    evaluation, codec = env.evaluation, env.codec
    objective, settings = evaluation.objective, _fields(evaluation.objective)
    # Any tokens decode to a pipeline whose unsearched modules hold the fixed configs; zeros are always valid.
    zeros = {agent: np.zeros(space.num_tokens, dtype=np.int64) for agent, space in codec.spaces.items()}
    pipeline = codec.pipeline(zeros).to_dict()
    return {
        "task": {"name": env.task.name, "version": env.task.version},
        "backend": {"name": evaluation.backend.name, "options": backend_options(evaluation.backend)},
        "fidelity": _fields(evaluation.fidelity),
        "objective": {
            "name": getattr(objective, "name", type(objective).__name__),
            **(settings if isinstance(settings, dict) else {"repr": settings}),
        },
        "evaluation_seed": evaluation.seed,
        "modules": list(codec.agents),
        "fixed": {name: config for name, config in pipeline.items() if name not in codec.agents},
    }


def backend_options(backend: Any) -> dict[str, Any]:
    """What determines ``backend``'s results besides its name (``RESULT_ATTRIBUTES``), as plain types; for real
    training also ``data``: its store context (training code version, the dataset files' fingerprint, the split
    settings), so a resume on other data is refused listing what differs, as for any other setting."""
    describe = getattr(backend, "describe", None)
    if callable(describe):
        return dict(plain(describe()))
    options = {name: _fields(getattr(backend, name)) for name in RESULT_ATTRIBUTES if hasattr(backend, name)}
    if isinstance(getattr(type(backend), "context", None), property):
        options["data"] = context_fields(backend.context)  # reads (downloads, where allowed) and hashes the files
    return options


def context_fields(context: str) -> dict[str, str]:
    """``"train-v1 data=3c0f split_seed=0 val_size=5000"`` as ``{"code": "train-v1", "data": "3c0f", ...}``: one
    field per setting, so a difference names the setting."""
    parts = context.split()
    fields = {"code": parts[0]} if parts and "=" not in parts[0] else {}
    fields.update(part.split("=", 1) for part in parts if "=" in part)  # type: ignore[misc]
    return fields


def _fields(value: Any) -> Any:
    """A dataclass as a dict of plain types without ``NEUTRAL_FIELDS``; anything else as ``plain`` has it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items() if k not in NEUTRAL_FIELDS}
    return plain(value)


def _merge(dicts: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for info in dicts:
        merged.update(info)
    return merged
