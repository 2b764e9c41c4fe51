"""TorchRL's ``PettingZooWrapper`` on the AutoML environment, pipeline mode and token mode.

    pip install "automl-env[interop]"
    python examples/interop_torchrl.py

For each mode: wrap, ``check_env_specs``, then a rollout of a TorchRL policy (a ``ProbabilisticActor``
over an MLP; in token mode its categorical respects the action mask).

- Pipeline mode: every agent has its own MultiDiscrete space, so every agent is its own group
  (TorchRL's default ``group_map``); one step per episode.
- Token mode: every agent has the same Discrete space and mask, so they form one group ``modules``
  and share one policy network (stacked along the agent dimension).

TorchRL builds a tensor spec for every info key at reset and cannot take strings, while the env's
infos carry ``status``, ``reason``, ``backend``, ``pipeline`` and ``digest`` as strings;
``automl_env.wrappers.NumericInfos`` keeps the numeric entries only (and ``ok`` for the status).
"""

from __future__ import annotations

import argparse
from typing import Any

from pettingzoo import ParallelEnv

from automl_env.wrappers import NumericInfos


def wrap(env: ParallelEnv, *, token_mode: bool) -> Any:
    """TorchRL env around a parallel AutoML env (one shared group in token mode, one group per agent else)."""
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    group_map = {"modules": list(env.possible_agents)} if token_mode else None
    return PettingZooWrapper(
        env=NumericInfos(env), return_state=True, group_map=group_map, use_mask=token_mode, categorical_actions=True
    )


def policy_for(env: Any, group: str, *, seed: int) -> Any:
    """A ``ProbabilisticActor`` for one group: MLP logits, masked where the group has an action mask."""
    import torch
    from tensordict.nn import TensorDictModule
    from torchrl.modules import MLP, MaskedCategorical, ProbabilisticActor

    torch.manual_seed(seed)
    # A Dict observation {"observation", "action_mask"} becomes (group, "observation", "observation") and
    # (group, "action_mask"): the mask is lifted out of the observation.
    key = (group, "observation", "observation")
    action = env.full_action_spec[group, "action"]
    if len(action.shape) != 1:  # (n_agents,) Discrete per agent; MultiDiscrete would add a dimension
        raise ValueError(f"group {group!r}: this example's policy takes one Discrete action per agent")
    net = MLP(in_features=env.observation_spec[key].shape[-1], out_features=int(action.space.n), num_cells=[64])
    module = TensorDictModule(net, in_keys=[key], out_keys=[(group, "logits")])
    masked = (group, "action_mask") in env.observation_spec.keys(True)
    in_keys = {"logits": (group, "logits"), **({"mask": (group, "action_mask")} if masked else {})}
    return ProbabilisticActor(
        module,
        in_keys=in_keys,
        out_keys=[(group, "action")],
        distribution_class=MaskedCategorical if masked else torch.distributions.Categorical,
        spec=env.full_action_spec,
    )


def run(*, task: str = "cifar100", backend: str = "synthetic", seed: int = 0) -> dict[str, dict[str, float]]:
    """check_env_specs and a rollout in both modes; returns per mode the episode count and mean reward."""
    import torch
    from torchrl.envs.utils import check_env_specs

    import automl_env

    summary = {}
    for mode in ("pipeline", "token"):
        env = wrap(
            automl_env.parallel_env(task, backend=backend, action_mode=mode, seed=seed), token_mode=mode == "token"
        )
        env.set_seed(seed)
        check_env_specs(env, seed=seed)
        if mode == "token":  # one shared policy for the group: masked categorical over the tokens
            rollout = env.rollout(120, policy=policy_for(env, "modules", seed=seed), break_when_any_done=False)
        else:  # agents with different MultiDiscrete spaces: actions sampled from each group's spec
            rollout = env.rollout(5, break_when_any_done=False)
        group = next(iter(env.group_map))
        done = rollout["next", group, "done"].squeeze(-1).any(-1)
        rewards = rollout["next", group, "reward"].squeeze(-1)[..., 0][done]
        summary[mode] = {
            "steps": float(done.numel()),
            "episodes": float(done.sum()),
            "mean_reward": float(rewards.mean()),
        }
        if mode == "token":
            remaps = rollout["next", "modules", "info", "masked_remaps"]
            summary[mode]["masked_remaps"] = float(torch.as_tensor(remaps).sum())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="cifar100")
    parser.add_argument("--backend", default="synthetic")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for mode, stats in run(task=args.task, backend=args.backend, seed=args.seed).items():
        print(f"{mode:>8} mode: check_env_specs passed; rollout " + ", ".join(f"{k} {v:g}" for k, v in stats.items()))


if __name__ == "__main__":
    main()
