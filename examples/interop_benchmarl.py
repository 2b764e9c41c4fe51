"""A BenchMARL task wrapping the token mode of the AutoML environment, trained briefly with MAPPO.

    pip install "automl-env[interop]" benchmarl
    python examples/interop_benchmarl.py --frames 600

BenchMARL cannot take MultiDiscrete actions, so the task uses the token mode (Discrete + action
mask, identical for every agent: one group ``modules`` sharing a policy). It builds the env through
TorchRL's ``PettingZooWrapper`` with the string infos dropped (``automl_env.wrappers.NumericInfos``)
and reuses BenchMARL's PettingZoo task class for every spec. Logging, evaluation and checkpoints are
off: this shows the wiring, with a budget far too small to learn.

BenchMARL 1.5.2 pins ``torchrl>=0.10,<0.12`` (so ``tensordict`` 0.11); pip resolves it beside
torch 2.14.1 with torchrl 0.11.1, and this script runs there.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from typing import Any

from benchmarl.environments.pettingzoo.common import PettingZooClass
from interop_torchrl import wrap  # examples/ is on sys.path when this script runs

import automl_env


class AutoMLTask(PettingZooClass):
    """BenchMARL task: one group of module agents, discrete tokens with masks, a global state.

    ``config`` holds ``task`` and ``backend``; every spec comes from BenchMARL's PettingZoo class.
    Defined at module level: BenchMARL pickles the task into its experiment folder.
    """

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any) -> Callable[[], Any]:
        config = self.config

        def make() -> Any:
            env = automl_env.parallel_env(
                config["task"], backend=config["backend"], action_mode="token", seed=seed or 0
            )
            return wrap(env, token_mode=True).to(device)

        return make

    def supports_continuous_actions(self) -> bool:
        return False

    def supports_discrete_actions(self) -> bool:
        return True

    def has_state(self) -> bool:
        return True

    def has_render(self, env: Any) -> bool:
        return False

    def max_steps(self, env: Any) -> int:
        spec = automl_env.get_task(self.config["task"])
        return max(space.num_tokens for space in spec.modules.values())  # the token-mode episode length

    @staticmethod
    def env_name() -> str:
        return "automl"


def make_task(*, task: str = "cifar100", backend: str = "synthetic") -> AutoMLTask:
    """The BenchMARL task of the token-mode AutoML env of ``task``."""
    return AutoMLTask(name=f"automl_{task}", config={"task": task, "backend": backend})


def train(*, frames: int = 600, seed: int = 0, task: str = "cifar100", backend: str = "synthetic") -> dict[str, float]:
    """MAPPO for ``frames`` env steps on the task; returns the mean episode reward of the last collection."""
    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    benchmark_task = make_task(task=task, backend=backend)
    episode = benchmark_task.max_steps(None)
    config = ExperimentConfig.get_from_yaml()
    config.max_n_frames = frames
    config.on_policy_collected_frames_per_batch = 3 * episode  # three pipelines per iteration
    config.on_policy_n_envs_per_worker = 1
    config.on_policy_minibatch_size = episode
    config.on_policy_n_minibatch_iters = 2
    config.evaluation = False
    config.render = False
    config.loggers = []
    config.create_json = False
    config.checkpoint_interval = 0
    config.checkpoint_at_end = False
    config.save_folder = tempfile.mkdtemp(prefix="benchmarl_automl_")
    experiment = Experiment(
        task=benchmark_task,
        algorithm_config=MappoConfig.get_from_yaml(),
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=seed,
        config=config,
    )
    experiment.run()
    return {"frames": float(experiment.total_frames), "iterations": float(experiment.n_iters_performed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="environment steps of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", default="cifar100")
    parser.add_argument("--backend", default="synthetic")
    args = parser.parse_args()
    stats = train(frames=args.frames, seed=args.seed, task=args.task, backend=args.backend)
    print(f"BenchMARL MAPPO on automl token mode: {stats['frames']:g} frames in {stats['iterations']:g} iterations")


if __name__ == "__main__":
    main()
