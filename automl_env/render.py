"""Readable descriptions of an episode for ``render()`` ("ansi" returns it, "human" prints it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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


def describe_episode(
    *,
    task: str,
    action_mode: str,
    backend: str,
    modules: Mapping[str, str],
    info: dict[str, Any],
    measure: str = "accuracy",
) -> str:
    """The episode so far: task, mode and backend, one line per module (its choice or its progress), the result.

    It takes plain values, not the env, so that this module depends on nothing of the env's.
    """
    lines = [f"task {task} | {action_mode} mode | backend {backend}"]
    lines += [f"  {agent}: {text}" for agent, text in modules.items()]
    lines.append("  " + describe_result(info, measure=measure))
    return "\n".join(lines)
