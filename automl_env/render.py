"""Readable descriptions of an episode for ``render()`` ("ansi" returns it, "human" prints it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl_env.env import AutoMLEnv


def describe_result(info: dict[str, Any], *, measure: str = "accuracy") -> str:
    """One line: status, accuracy (or the task's ``measure``), reward, cost; marks surrogate results so they are never
    read as real."""
    if info["status"] == "pending":
        return "result: not evaluated yet"
    if info["status"] == "failed":
        return f"result: FAILED ({info['reason']}) reward={info['reward']:.4f} [{info['backend']}]"
    label = " (synthetic benchmark, not a real accuracy)" if info["backend"].startswith("synthetic") else ""
    value = f"accuracy={100 * info['accuracy']:.2f}%" if measure == "accuracy" else f"{measure}={info['accuracy']:.4f}"
    recorded = "".join(f" {name}={v:.4g}" for name, v in sorted(info.get("metrics", {}).items()) if name != "recorded")
    return (
        f"result: {value}{recorded}{label} reward={info['reward']:.4f} "
        f"flops={info['flops'] / 1e6:.1f}M params={info['params'] / 1e6:.2f}M cost={info['cost_seconds']:.1f}s "
        f"[{info['backend']}]"
    )


def describe_episode(env: AutoMLEnv) -> str:
    lines = [f"task {env.task.name} | {env.action_mode} mode | backend {env.backend.name}"]
    joint = env._joint
    for agent in env.possible_agents:
        space = env.codec.spaces[agent]
        if joint is not None:
            lines.append(f"  {agent}: {space.decode(joint[agent]).describe()}")
        else:
            done = len(env._tokens.get(agent, []))
            lines.append(f"  {agent}: {done}/{space.num_tokens} tokens chosen")
    lines.append("  " + describe_result(env._last_info, measure=env.task.measure))
    return "\n".join(lines)
