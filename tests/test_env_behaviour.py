"""What the env does with good and bad input, and that its flavours agree with each other."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import automl_env
from automl_env import EvalResult, Fidelity, Pipeline, TaskSpec


def sample(env: automl_env.AutoMLEnv, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {a: rng.integers(0, env.action_space(a).nvec) for a in env.possible_agents}


@pytest.fixture
def env() -> automl_env.AutoMLEnv:
    return automl_env.parallel_env("cifar100", backend="synthetic")


def test_headline_call_shapes(env: automl_env.AutoMLEnv) -> None:
    env.reset(seed=0)
    assert env.agents == ["aug", "nas", "hpo"]
    _, rewards, terms, truncs, infos = env.step(sample(env))
    reward = rewards["aug"]
    assert isinstance(reward, float) and 0.0 < reward < 1.0
    assert rewards["aug"] == rewards["nas"] == rewards["hpo"]
    assert all(t is True for t in terms.values()) and all(t is False for t in truncs.values())
    assert env.agents == []
    assert infos["nas"]["accuracy"] == reward and infos["nas"]["status_code"] == 1
    assert env.last_info["backend"] == "synthetic"
    assert Pipeline.from_json(env.last_info["pipeline"]).digest == env.last_info["digest"]


def test_info_schema_is_the_same_at_reset_and_step(env: automl_env.AutoMLEnv) -> None:
    _, reset_infos = env.reset()
    _, _, _, _, step_infos = env.step(sample(env))
    for agent in env.possible_agents:
        assert reset_infos[agent].keys() == step_infos[agent].keys()
        assert {k: type(v) for k, v in reset_infos[agent].items()} == {k: type(v) for k, v in step_infos[agent].items()}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.zeros(29, dtype=np.int64), r"agent 'aug': action has shape \(29,\)"),
        (np.full(30, 15, dtype=np.int64), r"agent 'aug': position 0 \(sub_policy\[0\].op\[0\].type\) is 15"),
        (np.r_[np.zeros(4), -1, np.zeros(25)].astype(np.int64), r"agent 'aug': position 4 .* is -1"),
        (np.r_[np.zeros(7), np.nan, np.zeros(22)], r"agent 'aug': position 7 .* is nan"),
        (np.r_[np.zeros(2), 0.5, np.zeros(27)], r"agent 'aug': position 2 .* is 0.5"),
        (np.array(["a"] * 30), r"agent 'aug': action dtype"),
    ],
)
def test_bad_pipeline_actions_name_agent_and_position(
    env: automl_env.AutoMLEnv, action: np.ndarray, message: str
) -> None:
    env.reset()
    actions = sample(env)
    actions["aug"] = action
    with pytest.raises(ValueError, match=message):
        env.step(actions)


def test_missing_agent_is_an_error(env: automl_env.AutoMLEnv) -> None:
    env.reset()
    actions = sample(env)
    del actions["hpo"]
    with pytest.raises(ValueError, match=r"missing \['hpo'\]"):
        env.step(actions)


def test_float_actions_with_integer_values_are_accepted(env: automl_env.AutoMLEnv) -> None:
    env.reset()
    actions = sample(env)
    _, as_int, *_ = env.step(actions)
    env.reset()
    _, as_float, *_ = env.step({a: v.astype(np.float64) for a, v in actions.items()})
    assert as_int == as_float


def test_token_mode_remaps_and_counts_masked_tokens() -> None:
    env = automl_env.parallel_env("cifar100", backend="synthetic", action_mode="token")
    obs, _ = env.reset()
    nas_mask = obs["nas"]["action_mask"]
    assert nas_mask.dtype == np.int8 and nas_mask.tolist() == [1, 1] + [0] * 13  # block 0 input: 2 choices
    steps = env.horizon
    for _ in range(steps):
        # 14 is valid only where a position has 15 choices (the augmentation types).
        obs, _, terms, _, infos = env.step(dict.fromkeys(env.agents, 14))
    nvec = {a: env.codec.spaces[a].nvec for a in env.possible_agents}
    remapped = sum(1 for n in nvec["nas"] if n <= 14) + (steps - len(nvec["nas"]))
    assert infos["nas"]["masked_remaps"] == remapped
    assert all(terms.values()) and env.agents == []
    tokens = env.codec.tokens_of(Pipeline.from_json(env.last_info["pipeline"]))
    assert tokens["nas"].tolist() == [14 % n for n in nvec["nas"]]


def test_token_mode_rejects_actions_outside_the_space() -> None:
    env = automl_env.parallel_env("cifar100", backend="synthetic", action_mode="token")
    env.reset()
    with pytest.raises(ValueError, match=r"agent 'hpo': position 0: action 15 outside \[0, 15\)"):
        env.step({"aug": 0, "nas": 0, "hpo": 15})


def test_token_and_pipeline_modes_agree() -> None:
    pipe = automl_env.parallel_env("cifar10", backend="synthetic")
    tok = automl_env.parallel_env("cifar10", backend="synthetic", action_mode="token")
    actions = sample(pipe, seed=3)
    pipe.reset()
    _, expected, *_ = pipe.step(actions)
    tok.reset()
    for t in range(tok.horizon):
        _, rewards, *_ = tok.step({a: int(v[t]) if t < len(v) else 0 for a, v in actions.items()})
    assert rewards == expected


def test_unsearched_modules_take_the_task_default() -> None:
    env = automl_env.parallel_env("cifar100", backend="synthetic", modules=("hpo",))
    assert env.possible_agents == ["hpo"]
    env.reset()
    env.step({"hpo": np.zeros(20, dtype=np.int64)})
    pipeline = Pipeline.from_json(env.last_info["pipeline"])
    default = automl_env.get_task("cifar100").default_pipeline()
    assert pipeline["aug"] == default["aug"] and pipeline["nas"] == default["nas"]
    assert pipeline["hpo"] != default["hpo"]


def test_bad_constructor_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown task 'cifar1000'"):
        automl_env.parallel_env("cifar1000")
    with pytest.raises(ValueError, match=r"modules=.*choose a non-empty subset"):
        automl_env.parallel_env("cifar100", backend="synthetic", modules=("nas", "loss"))
    with pytest.raises(ValueError, match="action_mode must be one of"):
        automl_env.parallel_env("cifar100", backend="synthetic", action_mode="tokens")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown objective"):
        automl_env.parallel_env("cifar100", backend="synthetic", objective="loss")


def test_vector_env_matches_single_envs() -> None:
    vec = automl_env.vector_env("cifar100", num_envs=5, backend="synthetic")
    single = automl_env.parallel_env("cifar100", backend="synthetic")
    rng = np.random.default_rng(1)
    actions = {
        a: rng.integers(0, vec.action_space(a).nvec, size=(5, len(vec.action_space(a).nvec)))
        for a in vec.possible_agents
    }
    obs, _ = vec.reset(seed=0)
    assert obs["aug"].shape == (5, 3)
    _, rewards, terms, _, _ = vec.step(actions)
    assert rewards["aug"].shape == (5,) and terms["nas"].all()
    for i in range(5):
        single.reset()
        _, r, *_ = single.step({a: v[i] for a, v in actions.items()})
        assert r["aug"] == rewards["aug"][i]
    assert vec.state().shape == (5, vec.codec.state_size)


def test_vector_env_names_the_env_index_of_a_bad_action() -> None:
    vec = automl_env.vector_env("cifar100", num_envs=3, backend="synthetic")
    vec.reset()
    actions = {a: np.zeros((3, len(vec.action_space(a).nvec)), dtype=np.int64) for a in vec.possible_agents}
    actions["nas"][2, 0] = 7
    with pytest.raises(ValueError, match=r"agent 'nas\[env 2\]': position 0 .* is 7"):
        vec.step(actions)


class ExplodingBackend:
    """A backend that crashes on every batch, as a dead worker or a driver error would."""

    name = "exploding"

    def __init__(self, task: TaskSpec) -> None:
        self.task = task

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def optimum(self) -> None:
        return None


def test_a_crashing_backend_fails_the_pipeline_not_the_search() -> None:
    env = automl_env.parallel_env("cifar10", backend=ExplodingBackend(automl_env.get_task("cifar10")))
    env.reset()
    _, rewards, terms, _, infos = env.step(sample(env))
    assert rewards["nas"] == 0.0 and all(terms.values())
    assert infos["nas"]["status_code"] == 0 and "illegal memory access" in env.last_info["reason"]


def test_flops_constrained_reward_on_imagenet200() -> None:
    env = automl_env.parallel_env("imagenet200", backend="synthetic")
    env.reset()
    _, rewards, _, _, infos = env.step(sample(env))
    info = infos["nas"]
    assert rewards["nas"] == pytest.approx(info["accuracy"] * (info["flops"] / 600e6) ** -0.07)


def test_render_describes_the_pipeline_and_says_synthetic() -> None:
    env = automl_env.parallel_env("cifar100", backend="synthetic", render_mode="ansi")
    env.reset()
    assert "not evaluated yet" in env.render()
    env.step(sample(env))
    text = env.render()
    assert "normal[" in text and "lr=" in text and "(p=" in text
    assert "synthetic benchmark, not a real accuracy" in text


def test_env_import_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, automl_env; e = automl_env.parallel_env('cifar100', backend='synthetic'); "
        "e.reset(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_fixed_modules_replace_the_default() -> None:
    task = automl_env.get_task("cifar100")
    nas = task.modules["nas"].decode(np.ones(50, dtype=np.int64))
    env = automl_env.parallel_env("cifar100", backend="synthetic", modules=("hpo",), fixed={"nas": nas})
    env.reset()
    env.step({"hpo": np.zeros(20, dtype=np.int64)})
    assert Pipeline.from_json(env.last_info["pipeline"])["nas"] == nas
    with pytest.raises(ValueError, match=r"fixed=\['hpo'\]: only modules of the task that are not searched"):
        automl_env.parallel_env(
            "cifar100", backend="synthetic", modules=("hpo",), fixed={"hpo": task.modules["hpo"].default()}
        )


def test_headline_env_trains_for_real_and_checks_its_data_when_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default backend is real training. Building the env checks that its dataset is there (a missing one
    stops the build, naming the folder, ``data_root`` and the offline alternatives); building and resetting read
    no data, the first step does, and data gone by then is raised naming the folder, not recorded as failed
    pipelines."""
    pytest.importorskip("torchvision")
    from test_training_data import trust_cifar100_files, write_cifar100

    from automl_env.backends.training.datasets import DatasetNotFoundError

    options = {"data_root": tmp_path, "download": False}
    with pytest.raises(DatasetNotFoundError) as missing:
        automl_env.parallel_env("cifar100", backend_options=options)
    message = str(missing.value)
    assert f"dataset not found in {tmp_path / 'cifar-100-python'} (download=False)" in message
    assert "data_root" in message and 'backend="synthetic-rugged"' in message and len(message.splitlines()) <= 4
    trust_cifar100_files(monkeypatch, write_cifar100(tmp_path, n_train=20, n_test=5))
    env = automl_env.parallel_env("cifar100", backend_options=options)
    assert env.backend.name == "train"
    env.reset(seed=0)
    for path in (tmp_path / "cifar-100-python").iterdir():
        path.unlink()
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        env.step(sample(env))


def test_numeric_infos_keep_the_schema_numeric_and_flag_success() -> None:
    from automl_env.wrappers import NumericInfos

    env = NumericInfos(automl_env.parallel_env("cifar10", backend="synthetic"))
    _, reset_infos = env.reset(seed=0)
    _, rewards, _, _, infos = env.step(sample(env.unwrapped))
    assert reset_infos["nas"].keys() == infos["nas"].keys()
    assert all(isinstance(v, float) for v in infos["nas"].values())
    assert infos["nas"]["ok"] == 1.0 and reset_infos["nas"]["ok"] == 0.0
    assert infos["nas"]["reward"] == rewards["nas"]
