"""One benchmark run: its spec, the algorithm's config it resolves to, and running or reusing it in its folder.

Every (algorithm, seed) run is ``ma2ml_agents.run_search`` on a vector env in its own folder
``OUT/<algorithm>/seed<k>/``. A finished run leaves ``done.json`` holding its spec and resolved config; it is
reused only when both are unchanged (a changed default reruns it), and a killed run is resumed from its
checkpoint. The MARL library algorithms (``baselines.marl``) train their library on the token mode instead
and start again when killed (their learners are not checkpointed); so do the one-shot searches
(``baselines.registry.ONE_SHOT``, DHA), which train their own network for the run's budget and record the
backend's evaluation of the pipeline they return as the run's one evaluation, at its last.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DONE = "done.json"
"""The file a finished run leaves in its folder: its spec, resolved config, wall time and best reward."""


@dataclass(frozen=True)
class RunSpec:
    """One (algorithm, seed) run; ``done.json`` stores it, and a run is reused only if it matches."""

    algorithm: str
    seed: int
    task: str
    backend: str
    backend_options: tuple[tuple[str, float], ...]
    batches: int
    batch_size: int
    top_k: int
    out_dir: str
    config_overrides: tuple[tuple[str, str], ...] = ()
    """``--set FIELD=VALUE`` pairs, applied to the algorithm's config where it has FIELD."""
    executor: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    """The env's ``executor``, ``workers`` and ``executor_options``: where evaluations run, which does not
    change their results, so a finished run is reused whatever executor ran it."""


def config_class(name: str) -> type:
    """The config dataclass of search ``name`` (a baseline, an MA2ML variant or a MARL library runner)."""
    from baselines.marl import MARL_ALGORITHMS
    from baselines.registry import BASELINES, ONE_SHOT, one_shot_entry
    from ma2ml_agents import ALGORITHMS

    if name in MARL_ALGORITHMS:
        return type(MARL_ALGORITHMS[name].config)
    if name in ONE_SHOT:
        config_cls: type = one_shot_entry(name, "config_cls")
        return config_cls
    return BASELINES[name].config_cls if name in BASELINES else ALGORITHMS[name].config_cls


def config_fields(name: str) -> set[str]:
    """The field names of search ``name``'s config (empty when it is not a dataclass)."""
    cls = config_class(name)
    return {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()


def check_overrides(algorithms: Sequence[str], overrides: Sequence[tuple[str, str]]) -> None:
    """ValueError naming every override no algorithm has as a field, or whose value does not parse.

    An override applies to every algorithm whose config has the field; one that applies to none would be
    silently ignored (and listed in the results as if applied), so it is refused.
    """
    fields = {name: config_fields(name) for name in algorithms}
    for key, _ in overrides:
        if not any(key in f for f in fields.values()):
            known = sorted(set().union(*fields.values()))
            raise ValueError(f"--set {key}: no config of {', '.join(algorithms)} has a field {key!r}; fields: {known}")
    for name in algorithms:
        algorithm_config(name, overrides)  # a bad value fails now, not in a worker


def algorithm_config(name: str, overrides: Sequence[tuple[str, str]]) -> Any:
    """The config of search ``name`` with the ``overrides`` whose field it has; None when nothing applies."""
    from baselines.marl import MARL_ALGORITHMS

    applicable = [(key, value) for key, value in overrides if key in config_fields(name)]
    if not applicable:
        return None  # the search builds its own default config
    if name in MARL_ALGORITHMS:  # one config class for several algorithms: the default is an instance
        default = MARL_ALGORITHMS[name].config
    else:
        try:
            default = config_class(name)()
        except TypeError as error:
            raise ValueError(f"--set: {name}'s config has no defaults to override ({error})") from error
    changes = {key: _typed(key, getattr(default, key), value) for key, value in applicable}
    return dataclasses.replace(default, **changes)


def _typed(key: str, current: Any, value: str) -> Any:
    """``value`` parsed as the type of the field's default (``none`` for an optional number)."""
    if isinstance(current, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"--set {key}: {value!r} is not a boolean (true or false)")
        return value.lower() in ("true", "1")
    try:
        if current is None:  # an optional number (e.g. MA2ML's reward_scale): "none" keeps it unset
            return None if value.lower() == "none" else float(value)
        return type(current)(value) if isinstance(current, int | float | str) else value
    except ValueError:
        kind = "number" if current is None else type(current).__name__
        raise ValueError(f"--set {key}: {value!r} is not a {kind}") from None


def resolved_config(spec: RunSpec) -> Any:
    """The algorithm's settings for this run as plain JSON (its defaults with the overrides applied)."""
    from baselines.marl import MARL_ALGORITHMS
    from baselines.registry import ONE_SHOT

    config = algorithm_config(spec.algorithm, spec.config_overrides)
    if spec.algorithm in ONE_SHOT:
        config = one_shot_config(spec)
    if config is None and spec.algorithm in MARL_ALGORITHMS:
        config = MARL_ALGORITHMS[spec.algorithm].config
    if config is None:
        try:
            config = config_class(spec.algorithm)()
        except TypeError:
            return None  # no defaults to compare: the spec alone decides
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def finished(spec: RunSpec) -> dict[str, Any] | None:
    """The ``done.json`` of a finished run with exactly these settings and an up-to-date incumbent, else None."""
    done = _same_run(spec)
    return done if done is not None and not incumbent_outdated(Path(spec.out_dir)) else None


def _same_run(spec: RunSpec) -> dict[str, Any] | None:
    """The ``done.json`` of a finished run of these settings (its incumbent step aside), else None."""
    path = Path(spec.out_dir) / DONE
    if not path.exists():
        return None
    done: dict[str, Any] = json.loads(path.read_text())
    saved = {
        k: tuple(map(tuple, v)) if k in ("backend_options", "config_overrides") else v for k, v in done["spec"].items()
    }
    saved.setdefault("config_overrides", ())
    saved.pop("executor", None)
    current = {k: v for k, v in asdict(spec).items() if k != "executor"}  # where evaluations ran changes no result
    # A finished run is reused only if the algorithm's settings are still these: a changed default must rerun it.
    same = saved == current and done.get("algorithm_config") == resolved_config(spec)
    return done if same else None


def incumbent_outdated(folder: Path) -> bool:
    """Whether the run's incumbent.json was chosen with other settings than the incumbent step's defaults (a file
    without its settings predates them: 2026-12-06). A run without one took no step (a noise-free backend)."""
    from ma2ml_agents.incumbent import INCUMBENT_FILE
    from ma2ml_agents.search import DEFAULT_INCUMBENT

    path = folder / INCUMBENT_FILE
    return path.exists() and json.loads(path.read_text()).get("settings") != dataclasses.asdict(DEFAULT_INCUMBENT)


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run (or resume) one search in its folder, holding the folder; returns what ``done.json`` holds.

    A finished run whose settings differ is started afresh; one that differs only in its incumbent step gets that
    step again (``redo_incumbent``), its search and ``done.json`` kept.
    """
    import torch

    torch.set_num_threads(1)  # one process per core: intra-op threads would only fight each other
    from ma2ml_agents.run_folder import RunFolder, lock_folder

    folder = Path(spec.out_dir)
    with lock_folder(folder):
        done = _same_run(spec)
        if done is not None:
            redo_incumbent(spec)
            return done
        if (folder / DONE).exists():  # finished with other settings: start afresh
            RunFolder(folder).clear()
        done = search_one(spec)
        (folder / DONE).write_text(json.dumps(done, indent=2) + "\n")
    return done


def redo_incumbent(spec: RunSpec) -> None:
    """Choose a finished run's incumbent again, with the incumbent step's current settings, from its topk.json: the
    step is a pure function of the run's top pipelines, its evaluation seed and the backend, so no evaluation of the
    search is repeated, whichever search made the run (a MARL library's too)."""
    from ma2ml_agents.evaluator import BatchEvaluator
    from ma2ml_agents.incumbent import INCUMBENT_FILE, choose_incumbent, evaluator_measure
    from ma2ml_agents.run_folder import RunFolder
    from ma2ml_agents.search import DEFAULT_INCUMBENT

    folder = Path(spec.out_dir)
    env = run_env(spec, with_executor=False)  # the re-evaluations are table lookups or the backend's own
    try:
        record = choose_incumbent(
            json.loads((folder / "topk.json").read_text()),
            settings=DEFAULT_INCUMBENT,
            searched_seed=int(env.evaluation.seed),
            measure=evaluator_measure(BatchEvaluator(env), seed=spec.seed),
        )
    finally:
        env.close()
    if record is not None:
        RunFolder(folder).write_json(INCUMBENT_FILE, record)  # atomic, as the search's own step writes it


def run_env(spec: RunSpec, *, with_executor: bool) -> Any:
    """The vector env of ``spec``'s run (its evaluation seed is the run's seed), on the spec's executor if asked."""
    import automl_env

    return automl_env.vector_env(
        spec.task,
        num_envs=spec.batch_size,
        backend=spec.backend,
        backend_options=dict(spec.backend_options),
        seed=spec.seed,
        **(dict(spec.executor) if with_executor else {}),
    )


def search_one(spec: RunSpec) -> dict[str, Any]:
    """The search of ``spec`` in its folder (resumed where a killed run left it)."""
    from baselines.marl import MARL_ALGORITHMS
    from baselines.registry import ONE_SHOT, make_search
    from ma2ml_agents import run_search

    if spec.algorithm in MARL_ALGORITHMS:
        return marl_search_one(spec)
    if spec.algorithm in ONE_SHOT:
        return one_shot_one(spec)
    env = run_env(spec, with_executor=True)
    config = algorithm_config(spec.algorithm, spec.config_overrides)
    algorithm = make_search(spec.algorithm, env, seed=spec.seed, batches=spec.batches, config=config)
    started = time.perf_counter()
    try:
        result = run_search(
            env,
            algorithm,
            batches=spec.batches,
            batch_size=spec.batch_size,
            top_k=spec.top_k,
            out_dir=spec.out_dir,
            seed=spec.seed,
            resume=True,
            progress=False,
        )
    finally:
        env.close()  # stops the evaluation workers of an executor pool or ray
    return _done(spec, time.perf_counter() - started, result.best_reward)


def marl_search_one(spec: RunSpec) -> dict[str, Any]:
    """A MARL library's run of ``spec``: started afresh (its learner state is not checkpointed)."""
    from baselines.marl import MARL_ALGORITHMS

    marl = MARL_ALGORITHMS[spec.algorithm]
    started = time.perf_counter()
    result = marl.run(
        task=spec.task,
        backend=spec.backend,
        backend_options=dict(spec.backend_options),
        batches=spec.batches,
        batch_size=spec.batch_size,
        top_k=spec.top_k,
        out_dir=spec.out_dir,
        seed=spec.seed,
        config=algorithm_config(spec.algorithm, spec.config_overrides) or marl.config,
        name=spec.algorithm,
        restart=True,  # a killed run left a partial folder: start it again
    )
    return _done(spec, time.perf_counter() - started, result.best_reward)


def one_shot_config(spec: RunSpec) -> Any:
    """The config a one-shot search runs ``spec`` with: its budget's (``batches`` x ``batch_size`` evaluations)
    with the ``--set`` overrides it has applied on top."""
    from baselines.registry import one_shot_entry

    overrides = algorithm_config(spec.algorithm, spec.config_overrides)
    overridden = {key for key, _ in spec.config_overrides if key in config_fields(spec.algorithm)}
    budget_config = one_shot_entry(spec.algorithm, "budget_config")
    return budget_config(spec.batches * spec.batch_size, overrides, overridden=overridden)


def one_shot_one(spec: RunSpec) -> dict[str, Any]:
    """A one-shot search's run of ``spec``: started afresh (its training is not checkpointed)."""
    from baselines.registry import one_shot_entry

    started = time.perf_counter()
    run = one_shot_entry(spec.algorithm, "run")(
        spec.task,
        backend=spec.backend,
        backend_options=dict(spec.backend_options),
        seed=spec.seed,
        config=one_shot_config(spec),
        evaluations=spec.batches * spec.batch_size,
        out_dir=spec.out_dir,
        restart=True,  # a killed run left a partial folder: start it again
    )
    return _done(spec, time.perf_counter() - started, run.reward) | {"test_accuracy": run.result.test_accuracy}


def _done(spec: RunSpec, wall_seconds: float, best_reward: float) -> dict[str, Any]:
    return {
        "spec": asdict(spec),
        "algorithm_config": resolved_config(spec),
        "wall_seconds": wall_seconds,
        "best_reward": best_reward,
    }
