"""Strict validation where values enter: pipeline JSON and the env's actions.

Every input either loads, in one canonical form (equal pipelines have equal JSON and digests), or is
refused with a ValueError or TypeError naming the module and the field, or the agent; a refused step
changes nothing.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import automl_env
from automl_env import Pipeline, get_task, list_tasks
from automl_env.modules import CONFIG_TYPES, AugmentOp, AugmentSpace, HParams, ModuleConfig, StageConfig

Path = tuple[str | int, ...]


def examples_by_kind() -> dict[str, tuple[str, ModuleConfig]]:
    """One (module name, default config) per config kind, found through the task registry."""
    found: dict[str, tuple[str, ModuleConfig]] = {}
    for task in list_tasks():
        for name, space in get_task(task).modules.items():
            found.setdefault(space.default().kind, (name, space.default()))
    return found


EXAMPLES = examples_by_kind()


def load(module: str, config: Any) -> Pipeline:
    return Pipeline.from_json(json.dumps({module: config}))


def edited(data: Any, path: Path, value: Any) -> Any:
    """A deep copy of ``data`` with the item at ``path`` replaced by ``value``."""
    out = copy.deepcopy(data)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return out


def test_every_builtin_config_kind_has_an_example() -> None:
    builtin = {kind for kind, cls in CONFIG_TYPES.items() if cls.__module__.startswith("automl_env.")}
    assert builtin <= EXAMPLES.keys()


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_missing_and_unknown_fields_are_refused_alike_in_every_module(kind: str) -> None:
    name, config = EXAMPLES[kind]
    data = config.to_dict()
    assert load(name, data) == Pipeline.of({name: config})
    for field in data:
        where = f"pipeline module '{name}'" + ("" if field == "kind" else f" ({kind})")
        with pytest.raises(ValueError, match=re.escape(f"{where}: field '{field}' is missing")):
            load(name, {k: v for k, v in data.items() if k != field})
    with pytest.raises(ValueError, match=re.escape(f"pipeline module '{name}' ({kind}): field 'colour' is unknown")):
        load(name, {**data, "colour": 1})


HP = HParams(lr=0.08, weight_decay=4e-4).to_dict()
AUG = AugmentSpace(num_sub_policies=2).default().to_dict()
NAS = EXAMPLES["nasnet_cell"][1].to_dict()
MOB = EXAMPLES["mobilenet"][1].to_dict()
NODE = EXAMPLES["nb201_node"][1].to_dict()
CELL = EXAMPLES["nb201_cell"][1].to_dict()

# (module JSON, the JSON it must equal after loading): aliases that load as the canonical form.
CANONICAL_ALIASES = [
    (edited(HP, ("mixup",), 0), HP),
    (edited(HP, ("lr",), 1), edited(HP, ("lr",), 1.0)),
    (edited(HP, ("weight_decay",), 0), edited(HP, ("weight_decay",), 0.0)),
    (edited(HP, ("weight_decay",), -0.0), edited(HP, ("weight_decay",), 0.0)),
    ({**MOB, "stages": [[k, e, int(w), d] if w == 1.0 else [k, e, w, d] for k, e, w, d in MOB["stages"]]}, MOB),
]


@pytest.mark.parametrize(("alias", "canonical"), CANONICAL_ALIASES, ids=["mixup", "lr", "wd", "wd-0", "width"])
def test_numeric_aliases_load_as_one_canonical_form(alias: dict, canonical: dict) -> None:
    loaded, expected = load("m", alias), load("m", canonical)
    assert loaded == expected
    assert loaded.to_json() == expected.to_json() and loaded.digest == expected.digest


REFUSED = [
    (edited(HP, ("lr",), True), TypeError, "lr"),
    (edited(HP, ("lr",), "0.1"), TypeError, "lr"),
    (edited(HP, ("lr",), float("nan")), ValueError, "lr"),
    (edited(HP, ("lr",), float("inf")), ValueError, "lr"),
    (edited(HP, ("lr",), 10**400), ValueError, "lr"),
    (edited(HP, ("lr",), 0.0), ValueError, "lr"),
    (edited(HP, ("weight_decay",), None), TypeError, "weight_decay"),
    (edited(HP, ("dropout",), 1.0), ValueError, "dropout"),
    (edited(HP, ("ema",), 0), TypeError, "ema"),
    (edited(HP, ("optimizer",), ["sgd"]), TypeError, "optimizer"),
    (edited(HP, ("optimizer",), "lbfgs"), ValueError, "optimizer"),
    (edited(HP, ("kind",), "augment_policy"), ValueError, "sub_policies"),
    (edited(HP, ("kind",), ["hparams"]), TypeError, "kind"),
    (edited(AUG, ("sub_policies", 0, 0, 1), 1.0), TypeError, "sub_policies[0][0].probability_level"),
    (edited(AUG, ("sub_policies", 1, 1, 2), True), TypeError, "sub_policies[1][1].magnitude"),
    (edited(AUG, ("sub_policies", 0, 1, 2), 10), ValueError, "sub_policies[0][1].magnitude"),
    (edited(AUG, ("sub_policies", 0, 1, 0), 3), TypeError, "sub_policies[0][1].name"),
    (edited(AUG, ("sub_policies", 0, 1), ["Invert", 1]), ValueError, "sub_policies[0][1]"),
    (edited(AUG, ("sub_policies", 0), [["Invert", 1, 1]]), ValueError, "sub_policies[0]"),
    (edited(AUG, ("sub_policies",), []), ValueError, "sub_policies"),
    (edited(AUG, ("sub_policies",), {"0": []}), TypeError, "sub_policies"),
    (edited(NAS, ("normal", 0, 0), True), TypeError, "normal[0].input_a"),
    (edited(NAS, ("normal", 0, 0), 1.0), TypeError, "normal[0].input_a"),
    (edited(NAS, ("reduce", 0, 2), 2), ValueError, "reduce[0].input_b"),
    (edited(NAS, ("normal", 4, 4), "mul"), ValueError, "normal[4].combiner"),
    (edited(NAS, ("normal", 4, 3), {}), TypeError, "normal[4].op_b"),
    (edited(NAS, ("normal",), NAS["normal"][:4]), ValueError, "normal"),
    (edited(MOB, ("stages", 0, 0), 3.0), TypeError, "stages[0].kernel"),
    (edited(MOB, ("stages", 6, 2), True), TypeError, "stages[6].width"),
    (edited(MOB, ("stages", 6, 2), 2), ValueError, "stages[6].width"),
    (edited(MOB, ("resolution",), 224.0), TypeError, "resolution"),
    (edited(MOB, ("stages",), MOB["stages"][:6]), ValueError, "stages"),
    (edited(NODE, ("node",), True), TypeError, "node"),
    (edited(NODE, ("node",), 4), ValueError, "node"),
    (edited(NODE, ("ops",), [*NODE["ops"], "none"]), ValueError, "ops"),
    (edited(NODE, ("ops", 0), ["none"]), TypeError, "ops[0]"),
    (edited(NODE, ("ops",), "none"), TypeError, "ops"),
    (edited(CELL, ("arch",), CELL["arch"].replace("|+", "|junk+", 1)), ValueError, "arch"),
    (edited(CELL, ("arch",), 5), TypeError, "arch"),
]


@pytest.mark.parametrize(("data", "error", "field"), REFUSED, ids=[f"{d['kind']}.{f}" for d, _, f in REFUSED])
def test_bad_field_values_are_refused_naming_module_and_field(data: dict, error: type, field: str) -> None:
    kind = f" ({data['kind']})" if isinstance(data["kind"], str) else ""
    with pytest.raises(error, match=re.escape(f"pipeline module 'm'{kind}: field '{field}'")):
        load("m", data)


def test_the_message_says_what_the_field_must_be() -> None:
    with pytest.raises(TypeError) as caught:
        load("hpo", edited(HP, ("lr",), "x"))
    assert str(caught.value) == "pipeline module 'hpo' (hparams): field 'lr' must be a number > 0, got 'x'"


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("[]", TypeError, "pipeline JSON must be an object"),
        ("null", TypeError, "pipeline JSON must be an object"),
        ("{}", ValueError, "pipeline has no modules"),
        ('{"hpo": 3}', TypeError, "pipeline module 'hpo': .*must be a JSON object"),
        ('{"hpo": [["kind", "hparams"]]}', TypeError, "pipeline module 'hpo': .*must be a JSON object"),
        ('{"hpo": {"lr": 0.1}}', ValueError, "pipeline module 'hpo': field 'kind' is missing"),
        ('{"hpo": {"kind": []}}', TypeError, "pipeline module 'hpo': field 'kind'"),
        ('{"hpo": {"kind": "nope"}}', ValueError, "pipeline module 'hpo': field 'kind'.*unknown module config kind"),
        ("{", ValueError, "pipeline JSON is not valid"),
        ('{"hpo": {"kind": "hparams", "kind": "hparams"}}', ValueError, "pipeline JSON .*duplicate key 'kind'"),
        ("[" * 100_000, ValueError, "pipeline JSON"),
    ],
)
def test_bad_pipeline_json_is_refused_at_the_pipeline_level(text: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Pipeline.from_json(text)


def test_pipeline_json_must_be_text() -> None:
    with pytest.raises(TypeError, match="pipeline JSON must be text"):
        Pipeline.from_json(3)  # type: ignore[arg-type]


def test_constructors_hold_the_same_canonical_form() -> None:
    as_int = Pipeline.of({"hpo": HParams(lr=1, weight_decay=0)})
    as_float = Pipeline.of({"hpo": HParams(lr=1.0, weight_decay=0.0)})
    assert as_int == as_float and as_int.digest == as_float.digest
    assert StageConfig(3, 1, 1, 1).width == 1.0 and isinstance(StageConfig(3, 1, 1, 1).width, float)
    with pytest.raises(TypeError, match="field 'lr'"):
        HParams(lr=True, weight_decay=0.0)
    with pytest.raises(TypeError, match="field 'probability_level'"):
        AugmentOp("ShearX", 1.0, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="field 'ema'"):
        HParams(lr=0.1, weight_decay=0.0, ema=1)  # type: ignore[arg-type]


# --- env: token mode ---------------------------------------------------------------------------


def token_env() -> automl_env.AutoMLEnv:
    return automl_env.parallel_env("cifar100", backend="synthetic", action_mode="token")


def same_step(a: tuple, b: tuple) -> bool:
    """Two step() results are equal (observations compared array by array)."""
    (obs_a, *rest_a), (obs_b, *rest_b) = a, b

    def arrays(obs: Any) -> list[np.ndarray]:
        return [obs[k] for k in sorted(obs)] if isinstance(obs, dict) else [obs]

    return (
        rest_a == rest_b
        and obs_a.keys() == obs_b.keys()
        and all(
            len(arrays(obs_a[agent])) == len(arrays(obs_b[agent]))
            and all(np.array_equal(x, y) for x, y in zip(arrays(obs_a[agent]), arrays(obs_b[agent]), strict=True))
            for agent in obs_a
        )
    )


def test_a_token_step_refused_for_the_second_agent_changes_nothing() -> None:
    env, reference = token_env(), token_env()
    env.reset()
    reference.reset()
    assert same_step(env.step({"aug": 3, "nas": 1, "hpo": 2}), reference.step({"aug": 3, "nas": 1, "hpo": 2}))
    state = env.state()
    with pytest.raises(ValueError, match=r"agent 'hpo'"):
        env.step({"aug": 14, "nas": 0, "hpo": 15})  # aug's 14 is valid and would be applied first
    assert np.array_equal(env.state(), state)
    assert same_step(env.step({"aug": 5, "nas": 0, "hpo": 1}), reference.step({"aug": 5, "nas": 0, "hpo": 1}))


@pytest.mark.parametrize("mode", ["pipeline", "token"])
def test_unexpected_agents_are_refused_in_both_modes(mode: str) -> None:
    env = automl_env.parallel_env("cifar100", backend="synthetic", action_mode=mode)
    env.reset()
    actions = {a: env.action_space(a).sample() for a in env.agents}
    state = env.state()
    with pytest.raises(ValueError, match=r"unexpected \['loss'\]"):
        env.step({**actions, "loss": actions["aug"]})
    assert np.array_equal(env.state(), state) and env.agents == env.possible_agents


@pytest.mark.parametrize("mode", ["pipeline", "token"])
@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        ([[1], [1, 2]], ValueError, "agent 'nas'"),
        (np.array(1 + 2j), ValueError, "agent 'nas'"),
        (None, ValueError, "agent 'nas'"),
    ],
)
def test_unreadable_actions_name_the_agent(mode: str, action: Any, error: type, message: str) -> None:
    env = automl_env.parallel_env("cifar100", backend="synthetic", action_mode=mode)
    env.reset()
    actions = {a: env.action_space(a).sample() for a in env.agents}
    with pytest.raises(error, match=message):
        env.step({**actions, "nas": action})


@pytest.mark.parametrize("mode", ["pipeline", "token"])
def test_actions_must_be_a_mapping(mode: str) -> None:
    env = automl_env.parallel_env("cifar100", backend="synthetic", action_mode=mode)
    env.reset()
    with pytest.raises(TypeError, match="actions must be a dict of agent -> action"):
        env.step([0, 0, 0])  # type: ignore[arg-type]


# --- properties: random JSON ---------------------------------------------------------------------

FIELD_NAMES = sorted({key for _, config in EXAMPLES.values() for key in config.to_dict()})
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
config_like = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | st.text(max_size=4),
    st.sampled_from(sorted(CONFIG_TYPES)) | json_values,
    max_size=8,
)


def check_canonical(pipeline: Pipeline) -> None:
    again = Pipeline.from_json(pipeline.to_json())
    assert again == pipeline and hash(again) == hash(pipeline)
    assert again.to_json() == pipeline.to_json() and again.digest == pipeline.digest


def check_loads_or_names(text: str, names: tuple[str, ...] = ()) -> Pipeline | None:
    """Load ``text``; a refusal must be a ValueError/TypeError from the pipeline level naming ``names``."""
    try:
        pipeline = Pipeline.from_json(text)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert message.startswith("pipeline "), message
        assert all(name in message for name in names), (names, message)
        return None
    check_canonical(pipeline)
    return pipeline


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        json_values.map(json.dumps),
        st.dictionaries(st.text(max_size=4), config_like, max_size=3).map(json.dumps),
    )
)
def test_random_json_loads_canonically_or_is_refused_cleanly(text: str) -> None:
    check_loads_or_names(text)


def paths(data: Any, prefix: Path = ()) -> list[Path]:
    """Every path into a nested JSON value (dict keys and list indices), the root included."""
    found: list[Path] = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths(value, (*prefix, i))
    return found


def at(data: Any, path: Path) -> Any:
    for key in path:
        data = data[key]
    return data


def retyped(value: Any) -> list[Any]:
    """Values of another type or out of range that a mutation may put in place of ``value``."""
    options: list[Any] = [None, True, False, "x", [], {}, -1, 10**6, 1e300, float("nan"), float("-inf"), -0.0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        options += [value + 1, -value, value * 1000, float(value), str(value)]
        if float(value).is_integer():
            options += [int(value)]
    if isinstance(value, str):
        options += [value.upper(), value + "x", f" {value}"]
    return options


@st.composite
def mutated_pipeline_json(draw: st.DrawFn) -> tuple[dict, dict, Path, str]:
    """(original JSON, mutated JSON, mutated path, mutation) of a random valid pipeline."""
    task = get_task(draw(st.sampled_from(list_tasks())))
    original = Pipeline.of(
        {a: s.decode([draw(st.integers(0, n - 1)) for n in s.nvec]) for a, s in task.modules.items()}
    ).to_dict()
    path = draw(st.sampled_from(paths(original)))
    target = at(original, path)
    mutation = draw(st.sampled_from(["drop", "extra", "retype"] if isinstance(target, (dict, list)) else ["retype"]))
    if mutation == "retype":
        value = draw(st.sampled_from(retyped(target)) | json_values)
        return original, edited(original, path, value) if path else value, path, mutation
    data = copy.deepcopy(original)
    container = at(data, path)
    if mutation == "drop" and container:
        key = draw(st.sampled_from(list(container.keys()) if isinstance(container, dict) else range(len(container))))
        del container[key]
        return original, data, (*path, key), mutation
    if isinstance(container, dict):
        key = draw(st.text(min_size=1, max_size=6).filter(lambda k: k not in container))
        container[key] = draw(json_values)
        return original, data, (*path, key), mutation
    container.append(draw(json_values))
    return original, data, path, mutation


@settings(max_examples=400, deadline=None)
@given(mutated_pipeline_json())
def test_mutated_pipeline_json_loads_canonically_or_names_module_and_field(case: tuple[dict, dict, Path, str]) -> None:
    original, mutated, path, mutation = case
    # The message names the module, and the field of its config that was changed (seen through repr);
    # a changed kind is reported as the fields that kind lacks.
    names = tuple(f"pipeline module {key!r}" for key in path[:1])
    names += tuple(repr(key)[1:-1] for key in path[1:2] if isinstance(key, str) and key != "kind")
    if mutation == "drop" and len(path) == 1:
        names = ()  # a dropped module leaves a smaller pipeline, or an empty one
    loaded = check_loads_or_names(json.dumps(mutated), names)
    if loaded is not None and loaded == Pipeline.from_dict(original):
        assert loaded.digest == Pipeline.from_dict(original).digest  # equal pipelines, equal digests


# --- properties: random actions ------------------------------------------------------------------

ENV_CASES = [(task, mode) for task in ("cifar10", "nb201-cifar10-nodes") for mode in ("pipeline", "token")]


@functools.cache
def shared_env(task: str, mode: str) -> automl_env.AutoMLEnv:
    """One env per case for all of hypothesis' examples (each example resets it)."""
    backend = "table" if get_task(task).default_backend == "table" else "synthetic"
    return automl_env.parallel_env(task, action_mode=mode, backend=backend)


DTYPES = [np.int8, np.int64, np.uint8, np.uint64, np.float16, np.float32, np.float64, np.bool_, np.complex64]


def action_values(env: automl_env.AutoMLEnv, agent: str) -> st.SearchStrategy[Any]:
    """Mostly plausible actions of ``agent`` (the right shape, values near the range), plus junk."""
    if env.action_mode == "token":
        plausible: st.SearchStrategy[Any] = st.integers(-1, env.max_choices) | st.floats(-1, env.max_choices)
    else:
        nvec = env.action_space(agent).nvec
        plausible = st.lists(st.integers(-1, int(nvec.max())), min_size=len(nvec), max_size=len(nvec)).map(np.array)
    junk = st.one_of(
        hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)),
        st.lists(st.lists(st.integers(-2, 3), max_size=2), max_size=3),
        json_scalars,
    )
    return st.one_of(plausible, plausible, junk)


@st.composite
def random_actions(draw: st.DrawFn, env: automl_env.AutoMLEnv) -> dict[Any, Any]:
    actions = {a: draw(action_values(env, a)) for a in env.agents if draw(st.integers(0, 9)) > 0}
    if draw(st.integers(0, 9)) == 0:
        actions[draw(st.text(max_size=4) | st.integers())] = 0
    return actions


@pytest.mark.parametrize(("task", "mode"), ENV_CASES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_actions_step_or_are_refused_naming_the_agent_and_change_nothing(
    task: str, mode: str, data: st.DataObject
) -> None:
    env = shared_env(task, mode)
    reference = automl_env.parallel_env(task, action_mode=mode, backend=env.backend)
    env.reset()
    reference.reset()
    while env.agents and data.draw(st.integers(0, 7)) > 0:
        actions = data.draw(random_actions(env))
        state = env.state()
        try:
            result = env.step(actions)
        except (ValueError, TypeError) as error:
            message = str(error)
            assert "actions" in message or any(repr(a) in message for a in env.possible_agents), message
            assert np.array_equal(env.state(), state) and env.agents == reference.agents
            continue
        assert same_step(result, reference.step(actions))
        assert np.array_equal(env.state(), reference.state())
