"""Registry of the baselines, and one entry point for every search: baselines and MA2ML variants alike.

Every search implements ``SearchAlgorithm`` (the act/update interface of ``ma2ml_agents``), so
``ma2ml_agents.run_search`` drives any of them on the same env with the same budget accounting:

    from baselines import make_search
    from ma2ml_agents import run_search
    algorithm = make_search("rea", env, seed=0, batches=40)
    run_search(env, algorithm, batches=40, out_dir="runs/rea", seed=0)

``SEARCHES`` lists every name ``make_search`` accepts: ``BASELINES`` plus ``ma2ml_agents.ALGORITHMS``.
``ONE_SHOT`` lists the searches that train their own network instead of proposing pipelines (DHA): the
commands run them through their own entry point, into the same run folder.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gymnasium import spaces

from baselines.autohas import AutoHAS, AutoHASConfig
from baselines.base import TokenSearch
from baselines.evolution import EvolutionConfig, RegularizedEvolution
from baselines.random_search import RandomSearch, RandomSearchConfig
from baselines.sequential import SequentialConfig, SequentialSearch, split_budget
from baselines.tpe import TPE, TPEConfig
from ma2ml_agents.base import SearchAlgorithm
from ma2ml_agents.registry import ALGORITHMS, make_algorithm
from ma2ml_agents.spaces import JointActionSpace


@dataclass(frozen=True)
class BaselineSpec:
    """A baseline: how to build it for an env, and what it is (tests iterate over ``BASELINES``)."""

    build: Callable[..., SearchAlgorithm]
    """(env, *, seed, batches, config) -> the search; ``config`` None means the defaults."""
    config_cls: type
    """Its frozen config dataclass."""
    description: str
    """One line for tables and ``--help``."""
    joint: bool = True
    """Searches all modules together (False: one module at a time)."""


TOKEN_SEARCHES: dict[str, type[TokenSearch[Any]]] = {"random": RandomSearch, "rea": RegularizedEvolution, "tpe": TPE}
"""The NumPy baselines by name (those a sequential phase can run besides ``ma2ml_agents.ALGORITHMS``)."""


def _token_search(cls: type[TokenSearch[Any]]) -> Callable[..., SearchAlgorithm]:
    def build(env: Any, *, seed: int, batches: int, config: Any = None) -> SearchAlgorithm:
        return cls.from_env(env, config, seed=seed)  # type: ignore[return-value]

    return build


def _reinforce(env: Any, *, seed: int, batches: int, config: Any = None) -> SearchAlgorithm:
    return make_algorithm("reinforce", env, seed=seed, config=config)  # type: ignore[return-value]


def _autohas(env: Any, *, seed: int, batches: int, config: AutoHASConfig | None = None) -> SearchAlgorithm:
    # The controller's 30% warm-up is counted in the run's batches.
    resolved = dataclasses.replace(config or AutoHASConfig(), batches=batches)
    return AutoHAS.from_env(env, resolved, seed=seed)  # type: ignore[return-value]


def _inner_factory(name: str) -> Callable[[Mapping[str, spaces.Space], int], SearchAlgorithm]:
    """Builds search ``name`` on a subset of the action spaces (one module), as a sequential phase needs."""

    def make_inner(action_spaces: Mapping[str, spaces.Space], seed: int) -> SearchAlgorithm:
        space = JointActionSpace.from_spaces(action_spaces)
        if name in TOKEN_SEARCHES:
            cls = TOKEN_SEARCHES[name]
            return cls(space, cls.default_config(), seed=seed)  # type: ignore[return-value]
        return make_algorithm(name, space, seed=seed)  # type: ignore[return-value]

    return make_inner


def _sequential(inner: str) -> Callable[..., SearchAlgorithm]:
    def build(env: Any, *, seed: int, batches: int, config: SequentialConfig | None = None) -> SearchAlgorithm:
        resolved = config or SequentialConfig(inner=inner)
        if not resolved.phase_batches:
            resolved = dataclasses.replace(resolved, phase_batches=split_budget(batches, len(resolved.order)))
        # Modules start at the task's default config: the tokens that encode it.
        default = env.task.default_pipeline()
        start = {a: env.task.modules[a].encode(default[a]) for a in env.possible_agents}
        action_spaces = {a: env.action_space(a) for a in env.possible_agents}
        return SequentialSearch(
            action_spaces, resolved, seed=seed, start_tokens=start, make_inner=_inner_factory(resolved.inner)
        )

    return build


BASELINES: dict[str, BaselineSpec] = {
    "random": BaselineSpec(_token_search(RandomSearch), RandomSearchConfig, "uniform random search"),
    "rea": BaselineSpec(_token_search(RegularizedEvolution), EvolutionConfig, "regularised (aging) evolution"),
    "tpe": BaselineSpec(_token_search(TPE), TPEConfig, "TPE (Optuna), one categorical per token"),
    "reinforce": BaselineSpec(
        _reinforce, ALGORITHMS["reinforce"].config_cls, "single-agent REINFORCE, one LSTM over all tokens"
    ),
    "autohas": BaselineSpec(
        _autohas, AutoHASConfig, "AutoHAS: REINFORCE over independent categoricals (for the weight-sharing backend)"
    ),
    "sequential_rea": BaselineSpec(
        _sequential("rea"), SequentialConfig, "NAS, then AUG, then HPO, each by REA", joint=False
    ),
    "sequential_tpe": BaselineSpec(
        _sequential("tpe"), SequentialConfig, "NAS, then AUG, then HPO, each by TPE", joint=False
    ),
}


@dataclass(frozen=True)
class OneShotSpec:
    """A one-shot search: it trains its own network while it searches and returns it, proposing no pipelines,
    so the commands run it through ``run`` instead of ``run_search``. Entry points are ``"module:name"``
    strings, imported on use (they import torch)."""

    run: str
    """``run(task, *, backend, backend_options, seed, config, evaluations, out_dir, fidelity, restart)``: writes
    the run folder (config.json, evaluations.csv with the backend's score of its answer, its own results) and
    returns an object with ``reward``; ``baselines.dha.command.run_in_folder``."""
    budget_config: str
    """``(evaluations, config, *, overridden) -> config``: what a budget of evaluations means for it."""
    check: str
    """``(task, backend) -> None``, ValueError where it cannot run; called where the command line is parsed."""
    config_cls: str
    """Its frozen config dataclass."""
    summary: str
    """``(run) -> str``: what the run found, for a command's output."""
    description: str


ONE_SHOT: dict[str, OneShotSpec] = {
    "dha": OneShotSpec(
        run="baselines.dha.command:run_in_folder",
        budget_config="baselines.dha.command:budget_config",
        check="baselines.dha.answer:check_setting",
        config_cls="baselines.dha.search:DHAConfig",
        summary="baselines.dha.command:summary",
        description="DHA: one-level differentiable AUG+NAS+HPO, one network trained while searching (one-shot)",
    )
}
"""The one-shot searches by name; ``automl-env train --algorithm`` and ``benchmark --algorithms`` accept them."""


def one_shot_entry(name: str, part: str) -> Any:
    """The object behind ``ONE_SHOT[name].<part>``, one of its entry points (``run``, ``check``, ...)."""
    module, _, attribute = getattr(ONE_SHOT[name], part).partition(":")
    return getattr(importlib.import_module(module), attribute)


SEARCHES: tuple[str, ...] = tuple(dict.fromkeys([*ALGORITHMS, *BASELINES]))
"""Every name ``make_search`` accepts."""


def make_search(name: str, env: Any, *, seed: int, batches: int, config: Any = None) -> SearchAlgorithm:
    """Build search ``name`` (a baseline or an MA2ML variant) for ``env``, given the run's number of batches."""
    if name in BASELINES:
        return BASELINES[name].build(env, seed=seed, batches=batches, config=config)
    if name in ALGORITHMS:
        return make_algorithm(name, env, seed=seed, config=config)  # type: ignore[return-value]
    raise KeyError(f"unknown search {name!r}; known: {list(SEARCHES)}")
