"""SuperSuit vectorisation of the token mode: agents as vector-env entries, several envs concatenated.

    pip install "automl-env[interop]"
    python examples/interop_supersuit.py --envs 4 --steps 200

``pettingzoo_env_to_vec_env_v1`` turns a ParallelEnv whose agents share one observation and action
space (the token mode: Discrete + action mask, the same for every agent) into a vector env with one
entry per agent; ``concat_vec_envs_v1`` stacks ``--envs`` copies, so one ``step`` moves
``envs x agents`` entries (the layout Stable-Baselines3-style parameter-sharing learners take).
A random policy that respects the action masks plays; every finished episode is one evaluated pipeline.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np


def make_vector_env(*, task: str, backend: str, envs: int, seed: int) -> Any:
    """``envs`` token-mode envs, every agent an entry of one gymnasium-style vector env."""
    import supersuit

    import automl_env

    env = automl_env.parallel_env(task, backend=backend, action_mode="token", seed=seed)
    vector = supersuit.pettingzoo_env_to_vec_env_v1(env)
    # num_cpus=0: stepped in this process (the synthetic backend is cheaper than process hops).
    return supersuit.concat_vec_envs_v1(vector, envs, num_cpus=0, base_class="gymnasium")


def masked_random_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One valid token per entry: uniform over the entries' allowed choices."""
    scores = rng.random(masks.shape) * masks
    return scores.argmax(axis=1).astype(np.int64)


def run(
    *, task: str = "cifar100", backend: str = "synthetic", envs: int = 4, steps: int = 200, seed: int = 0
) -> dict[str, float]:
    """Play ``steps`` vector steps; returns entries, finished episodes (per entry) and their mean reward."""
    vector = make_vector_env(task=task, backend=backend, envs=envs, seed=seed)
    rng = np.random.default_rng(seed)
    observations, _ = vector.reset(seed=seed)
    rewards_at_end: list[float] = []
    remaps = 0
    for _ in range(steps):
        actions = masked_random_actions(np.asarray(observations["action_mask"]), rng)
        observations, rewards, terminations, truncations, infos = vector.step(actions)
        finished = np.logical_or(terminations, truncations)
        rewards_at_end += [float(r) for r in np.asarray(rewards)[finished]]
        remaps += sum(int(info.get("masked_remaps", 0)) for info in infos)
    vector.close()
    return {
        "entries": float(vector.num_envs),
        "finished_agent_episodes": float(len(rewards_at_end)),
        "mean_reward": float(np.mean(rewards_at_end)) if rewards_at_end else float("nan"),
        "masked_remaps": float(remaps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="cifar100")
    parser.add_argument("--backend", default="synthetic")
    parser.add_argument("--envs", type=int, default=4, help="token-mode envs concatenated")
    parser.add_argument("--steps", type=int, default=200, help="vector steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    stats = run(task=args.task, backend=args.backend, envs=args.envs, steps=args.steps, seed=args.seed)
    print(", ".join(f"{k} {v:g}" for k, v in stats.items()))


if __name__ == "__main__":
    main()
