"""BenchMARL's algorithms as searches: one evaluation per episode, on the benchmark's budget.

Two ways to be a BenchMARL task (``BenchmarlConfig.mode``):

- ``"token"``: the token mode (``action_mode="token"``: every agent plays one masked Discrete token per step, the
  episode ends with one pipeline evaluation) through TorchRL's ``PettingZooWrapper``, one group ``modules`` sharing
  a policy; an episode is as many steps as the widest module has tokens (50 on cifar100).
- ``"pipeline"``: pipeline mode on the TorchRL-native batched env (``automl_env.benchmarl_task.AutoMLTask``): one
  step per episode, one group ``tokens`` with one entry per token of the pipeline, ``batch size`` pipelines per
  env step on the vector env's token fast path, no wrapper.

Every setting is BenchMARL's own yaml default (``ExperimentConfig.get_from_yaml``, ``<Algorithm>Config.get_from_yaml``,
``MlpConfig.get_from_yaml`` for actor and critic) except what the budget forces, each written to the run's
config.json:

| setting (BenchMARL default)                        | here                                              |
|----------------------------------------------------|---------------------------------------------------|
| ``max_n_frames`` (3,000,000)                       | evaluations x episode length                      |
| ``*_collected_frames_per_batch`` (6000)            | batch size x episode length: one batch per iteration |
| ``*_n_envs_per_worker`` (10)                       | batch size: each env plays one episode per iteration |
| ``on_policy_minibatch_size`` (400)                 | min(400, frames per batch)                        |
| ``off_policy_n_optimizer_steps`` (1000 per 6000 frames) | the same ratio: frames per batch / 6, at least 1 |
| ``evaluation``, ``render``, ``loggers``, ``create_json``, checkpoints | off (nothing but the run folder is written) |
| ``sampling_device``, ``train_device``, ``buffer_device`` | cpu (already the defaults)                  |
| ``off_policy_memory_size`` (1,000,000), pipeline mode | min(1,000,000, frames of the run)             |

The last one changes nothing the algorithm sees (a buffer the run never fills either way) but TorchRL allocates it
up front, and a million pipeline-mode frames of T x T one-hot observations are 40 GB on cifar100.

``BenchmarlConfig.lr`` (None: BenchMARL's 5e-5) is the one optional change beyond those. Seeding: BenchMARL's
``seed_everything(seed)`` (torch, NumPy, Python) and the envs' evaluation seed; on CPU a run is reproducible.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from typing import Any

import automl_env
from baselines.marl.recorder import EvaluationRecorder, RunIdentity
from ma2ml_agents.search import SearchResult
from ma2ml_agents.topk import plain

BENCHMARL_ALGORITHMS = ("mappo", "ippo", "iql", "vdn", "qmix")
"""BenchMARL algorithms that take discrete actions with masks (a shared-reward group)."""
ON_POLICY = frozenset({"mappo", "ippo"})
DEFAULT_FRAMES_PER_BATCH = 6000
"""BenchMARL's default frames per iteration, the scale of its default optimiser steps per iteration."""
DEFAULT_MEMORY_SIZE = 1_000_000
"""BenchMARL's default replay buffer size (frames), allocated up front by TorchRL's ``LazyTensorStorage``."""
MODES = ("token", "pipeline")


@dataclass(frozen=True)
class BenchmarlConfig:
    """A BenchMARL run: the algorithm, and the one hyper-parameter one may change on purpose."""

    algorithm: str = "mappo"
    """BenchMARL's algorithm, one of ``BENCHMARL_ALGORITHMS``."""
    lr: float | None = None
    """Adam learning rate of every loss; None keeps BenchMARL's default (5e-5)."""
    mode: str = "token"
    """The task BenchMARL trains on: ``"token"`` (PettingZoo wrapper) or ``"pipeline"`` (native env); see above."""

    def __post_init__(self) -> None:
        if self.algorithm not in BENCHMARL_ALGORITHMS:
            raise ValueError(f"BenchMARL algorithm must be one of {BENCHMARL_ALGORITHMS}, got {self.algorithm!r}")
        if self.mode not in MODES:
            raise ValueError(f"BenchMARL mode must be one of {MODES}, got {self.mode!r}")


@dataclass(frozen=True)
class BenchmarlSettings:
    """Everything a BenchMARL run used, for config.json: ours, and BenchMARL's resolved configs."""

    runner: BenchmarlConfig
    changed: dict[str, Any]
    """The experiment settings changed from BenchMARL's defaults (``lr`` among them only when set)."""
    experiment: dict[str, Any]
    algorithm: dict[str, Any]
    model: dict[str, Any]


def _require_benchmarl() -> None:
    try:
        import benchmarl  # noqa: F401
    except ImportError as error:
        raise ImportError(
            'the BenchMARL runners need BenchMARL: pip install "automl-env[interop]" (BenchMARL pins torchrl<0.12)'
        ) from error


def budget_changes(config: BenchmarlConfig, *, batches: int, batch_size: int, horizon: int) -> dict[str, Any]:
    """The ExperimentConfig fields this runner sets, and their values (the module docstring's table)."""
    frames_per_batch = batch_size * horizon
    changes: dict[str, Any] = {
        "max_n_frames": batches * frames_per_batch,
        "max_n_iters": None,
        "evaluation": False,
        "render": False,
        "loggers": [],
        "create_json": False,
        "checkpoint_interval": 0,
        "checkpoint_at_end": False,
        "sampling_device": "cpu",
        "train_device": "cpu",
        "buffer_device": "cpu",
    }
    if config.algorithm in ON_POLICY:
        changes.update(
            on_policy_collected_frames_per_batch=frames_per_batch,
            on_policy_n_envs_per_worker=batch_size,
            on_policy_minibatch_size=min(400, frames_per_batch),
        )
    else:
        changes.update(
            off_policy_collected_frames_per_batch=frames_per_batch,
            off_policy_n_envs_per_worker=batch_size,
            off_policy_n_optimizer_steps=max(1, round(1000 * frames_per_batch / DEFAULT_FRAMES_PER_BATCH)),
        )
        if config.mode == "pipeline":
            changes["off_policy_memory_size"] = min(DEFAULT_MEMORY_SIZE, batches * frames_per_batch)
    if config.lr is not None:
        changes["lr"] = config.lr
    return changes


def _algorithm_config(name: str) -> Any:
    from benchmarl.algorithms import IppoConfig, IqlConfig, MappoConfig, QmixConfig, VdnConfig

    configs = {"mappo": MappoConfig, "ippo": IppoConfig, "iql": IqlConfig, "vdn": VdnConfig, "qmix": QmixConfig}
    return configs[name].get_from_yaml()


def run_benchmarl(
    *,
    task: str,
    backend: str,
    backend_options: dict[str, float],
    batches: int,
    batch_size: int,
    top_k: int,
    out_dir: str,
    seed: int,
    config: BenchmarlConfig,
    name: str | None = None,
    restart: bool = False,
) -> SearchResult:
    """Train BenchMARL's ``config.algorithm`` for exactly ``batches x batch_size`` episodes, recorded in ``out_dir``.

    A folder that already holds a run is an error unless ``restart`` (then it is emptied first).
    """
    _require_benchmarl()
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    from baselines.marl.benchmarl_task import AutoMLPipelineTask, AutoMLTokenTask

    probe = automl_env.parallel_env(
        task, backend=backend, backend_options=backend_options, action_mode="token", seed=seed
    )
    horizon = 1 if config.mode == "pipeline" else probe.horizon
    changes = budget_changes(config, batches=batches, batch_size=batch_size, horizon=horizon)
    experiment_config = ExperimentConfig.get_from_yaml()
    for field, value in changes.items():
        setattr(experiment_config, field, value)
    algorithm_config = _algorithm_config(config.algorithm)
    model_config = MlpConfig.get_from_yaml()
    settings = BenchmarlSettings(
        runner=config,
        changed=plain(changes),
        experiment=plain(dataclasses.asdict(experiment_config)),
        algorithm=plain(dataclasses.asdict(algorithm_config)),
        model=plain(dataclasses.asdict(model_config)),
    )
    identity = RunIdentity(name=name or f"benchmarl_{config.algorithm}", config=settings, seed=seed)
    env_config = {"task": task, "backend": backend, "backend_options": backend_options, "seed": seed}
    pipe_env = automl_env.parallel_env(task, backend=probe.backend, seed=seed)  # the incumbent step re-evaluates on it
    recorder = EvaluationRecorder(
        probe, identity, pipe_env, batches=batches, batch_size=batch_size, top_k=top_k, out_dir=out_dir, restart=restart
    )
    with recorder, tempfile.TemporaryDirectory(prefix="benchmarl_") as scratch:  # BenchMARL's folder: not kept
        experiment_config.save_folder = scratch
        task_class = AutoMLPipelineTask if config.mode == "pipeline" else AutoMLTokenTask
        experiment = Experiment(
            task=task_class(name=f"automl_{task}", config=env_config, recorder=recorder),
            algorithm_config=algorithm_config,
            model_config=model_config,
            critic_model_config=MlpConfig.get_from_yaml(),
            seed=seed,
            config=experiment_config,
        )
        experiment.run()
        return recorder.finish(
            {"frames": float(experiment.total_frames), "iterations": float(experiment.n_iters_performed)}
        )
