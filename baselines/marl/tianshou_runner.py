"""Tianshou 2 independent learners (DQN or PPO, one per module) as searches on the benchmark's budget.

Tianshou takes multi-agent envs as AEC with identical spaces: the token mode through
``PettingZooEnv(parallel_to_aec(env))``, dispatched per agent by ``MultiAgentOff/OnPolicyAlgorithm``. One
collection is one batch: ``batch_size`` envs (``DummyVectorEnv``) each play one episode (one pipeline
evaluation), then the learners update; ``batches`` collections make the budget exactly.

Tianshou has no per-task defaults; the settings are its constructors' and trainers' defaults except:

- collection (trainer default: 2048 env steps): ``batch_size`` episodes, one batch of evaluations;
- ``gamma`` (0.99): 1.0, one reward per episode, at its end;
- DQN ``n_step_return_horizon`` (1): the number of agents. AEC stores the shared reward on the last agent's
  move only, ``num_agents - 1`` rows after every other agent's (DESIGN.md, "Facts measured");
- DQN ``eps_training`` (0.0): 0.1, as a Q-learner with 0 never explores;
- PPO: each agent's last move of an episode gets the shared reward and is terminal (``share_final_reward``):
  GAE runs per agent on its own moves, which otherwise never hold the reward;
- networks (``Net`` without hidden layers): two hidden layers of 64 (the high-level API's default); PPO's actor
  puts zero probability on the tokens the action mask forbids (DQN's policy masks its Q-values itself);
- replay buffer: 4096 (the high-level API's default), split over the ``batch_size`` envs.

Kept: Adam lr 1e-3 (high-level default), DQN target network off, batch 64 with one gradient step per collected
env step (off-policy) or one pass per collection (on-policy), PPO clip 0.2, GAE lambda 0.95, entropy 0.01,
value coefficient 0.5, advantage normalisation. Seeding: ``torch.manual_seed`` and ``np.random.seed`` (Tianshou
draws its networks, sampling and exploration from the global generators) and the envs' seeds; on CPU a run is
reproducible.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import numpy as np

import automl_env
from automl_env.evaluation import resolve_backend
from baselines.marl.recorder import EvaluationRecorder, RecordedEnv, RunIdentity
from baselines.marl.tianshou_config import TianshouConfig
from ma2ml_agents.search import SearchResult


def _require_tianshou() -> None:
    try:
        import tianshou  # noqa: F401
    except ImportError as error:
        raise ImportError('the Tianshou runners need Tianshou 2: pip install "automl-env[interop]"') from error


def run_tianshou(
    *,
    task: str,
    backend: str,
    backend_options: dict[str, float],
    batches: int,
    batch_size: int,
    top_k: int,
    out_dir: str,
    seed: int,
    config: TianshouConfig,
    name: str | None = None,
    restart: bool = False,
) -> SearchResult:
    """Train one ``config.algorithm`` learner per agent for exactly ``batches x batch_size`` episodes.

    A folder that already holds a run is an error unless ``restart`` (then it is emptied first).
    """
    _require_tianshou()

    # One evaluator for every env of the run: the runner makes batch_size + 2 of them, and building a
    # synthetic-rugged backend takes 0.7 s (19 s of a 200-second PPO run when each env built its own).
    evaluator = resolve_backend(automl_env.get_task(task), backend, backend_options)

    def make_env() -> Any:
        return automl_env.parallel_env(task, backend=evaluator, action_mode="token", seed=seed)

    probe = make_env()
    identity = RunIdentity(name=name or f"tianshou_{config.algorithm}", config=config, seed=seed)
    pipe_env = automl_env.parallel_env(task, backend=evaluator, seed=seed)  # the incumbent step re-evaluates on it
    recorder = EvaluationRecorder(
        probe, identity, pipe_env, batches=batches, batch_size=batch_size, top_k=top_k, out_dir=out_dir, restart=restart
    )
    with recorder:
        return _train(config, recorder, make_env, seed=seed, batch_size=batch_size)


def _train(
    config: TianshouConfig, recorder: EvaluationRecorder, make_env: Callable[[], Any], *, seed: int, batch_size: int
) -> SearchResult:
    """Collect a batch of episodes, learn from it; until the recorder holds the budget."""
    import torch
    from pettingzoo.utils.conversions import parallel_to_aec
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv, PettingZooEnv
    from tianshou.utils.torch_utils import policy_within_training_step, torch_train_mode

    from baselines.marl.tianshou_learners import build_learners

    # Tianshou warns on every multi-agent collect that per-agent returns are 2-D; nothing here reads them.
    logging.getLogger("tianshou.data.stats").setLevel(logging.ERROR)
    torch.manual_seed(seed)
    np.random.seed(seed)
    aec = PettingZooEnv(parallel_to_aec(make_env()))
    algorithm = build_learners(config, aec)
    envs = DummyVectorEnv([lambda: PettingZooEnv(parallel_to_aec(RecordedEnv(make_env(), recorder)))] * batch_size)
    envs.seed([seed + i for i in range(batch_size)])
    on_policy = config.algorithm == "ppo"
    # On-policy: the buffer holds one collection (every env's episode); off-policy: the replay buffer.
    size = batch_size * recorder.horizon * len(aec.agents) if on_policy else config.buffer_size
    buffer = VectorReplayBuffer(max(size, batch_size), buffer_num=batch_size)
    collector: Any = Collector(algorithm, envs, buffer, exploration_noise=True)
    collector.reset()
    env_steps = 0
    while not recorder.full:
        with ExitStack() as training:  # every learner's policy explores with its training epsilon
            for policy in (algorithm.policy, *algorithm.policy.policies.values()):
                training.enter_context(policy_within_training_step(policy))
            with torch_train_mode(algorithm.policy, enabled=False):
                collected = collector.collect(n_episode=batch_size)
            with torch_train_mode(algorithm.policy):
                _update(algorithm, buffer, config, collected.n_collected_steps, on_policy)
        env_steps += collected.n_collected_steps
    envs.close()
    return recorder.finish({"env_steps": float(env_steps)})


def _update(algorithm: Any, buffer: Any, config: TianshouConfig, steps: int, on_policy: bool) -> None:
    """One batch's learning: a PPO pass over the collection, or DQN gradient steps from the replay buffer."""
    from baselines.marl.tianshou_learners import share_final_reward

    if on_policy:
        share_final_reward(buffer, agents=len(algorithm.policy.policies))
        algorithm.update(buffer=buffer, batch_size=config.batch_size, repeat=config.update_repetitions)
        buffer.reset()
        return
    for _ in range(max(1, round(steps * config.gradient_steps_per_env_step))):
        algorithm.update(sample_size=config.batch_size, buffer=buffer)
