"""DHA as a run of ``automl-env train`` or ``automl-env benchmark``: its budget, its run folder, its score.

Budget. The commands count a search's budget in evaluations (``--batches`` x ``--batch-size``); DHA evaluates
no pipeline, so ours: DHA takes one training step per evaluation of the budget (``steps = evaluations``), its
LASSO re-solved every tenth of them (``resolve_every = steps // 10``, as the default 20 of 200), unless the
benchmark's ``--set steps=N`` / ``--set resolve_every=N`` says otherwise. Why steps: they are what DHA's
compute grows with, and "one step per evaluation" is the one rule that needs no machine-specific constant.
It is not equal compute: a step is one batch of 64 at the task's final network size plus a clean batch for
the hypergradient; on fashion-mnist-nb201 one real-training evaluation at the search fidelity costs as much
CPU as about 16-20 DHA steps, one weight-sharing evaluation about 0.7-0.9 (docs/peers.md, measured with one
torch thread). For equal compute set the steps (``--set steps=N``), as examples/compare_peers.py does.

The run folder holds what every search's does, so the benchmark reads it unchanged:

- ``config.json``: algorithm, task, backend, seed, the run's evaluations, DHA's resolved config, version;
- ``result.json`` and ``curve.csv``: DHA's own result (its network's test accuracy, cell, lr, wd, the most
  probable augmentation pairs) and its per-step curve (``baselines.dha.search``);
- ``pipeline.json``: DHA's answer projected onto the task's modules (``baselines.dha.answer``) and its score;
- ``evaluations.csv``: one row, the backend's evaluation of that pipeline at the search fidelity, exactly as
  any search's evaluation is recorded; its ``evaluation`` column is the run's whole budget (the answer exists
  only after the last step) and its ``cost_seconds`` DHA's training time (the scoring is not DHA's compute).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import automl_env
from automl_env.pipeline import Pipeline
from baselines.dha.answer import pipeline_of
from baselines.dha.search import DHAConfig, DHAResult, run_dha
from ma2ml_agents.base import derived_seed
from ma2ml_agents.evaluator import BatchEvaluator
from ma2ml_agents.run_folder import CONFIG, EVALUATIONS, RunExistsError, RunFolder
from ma2ml_agents.topk import plain

RESULT = "result.json"
PIPELINE = "pipeline.json"


@dataclass(frozen=True)
class OneShotRun:
    """What a DHA run in a folder produced."""

    out_dir: Path
    pipeline: Pipeline
    """DHA's answer in the task's modules."""
    reward: float
    """The backend's reward of ``pipeline`` at the search fidelity."""
    result: DHAResult
    """DHA's own result: its trained network's test accuracy, cell, lr, wd."""
    config: DHAConfig


def budget_config(evaluations: int, config: DHAConfig | None = None, *, overridden: Collection[str] = ()) -> DHAConfig:
    """DHA's config for a budget of ``evaluations`` (module docstring); fields in ``overridden`` are kept."""
    config = config or DHAConfig()
    if "steps" not in overridden:
        config = dataclasses.replace(config, steps=evaluations)
    if "resolve_every" not in overridden:
        config = dataclasses.replace(config, resolve_every=max(1, config.steps // 10))
    return config


def run_in_folder(
    task: str,
    *,
    backend: str,
    backend_options: Mapping[str, Any],
    seed: int,
    config: DHAConfig,
    evaluations: int,
    out_dir: str | Path,
    fidelity: Any = None,
    restart: bool = False,
) -> OneShotRun:
    """Run DHA, project its answer, score it with ``backend``, and write the run folder (module docstring).

    A folder that already holds a run is refused (``RunExistsError``) unless ``restart``, which clears it first
    (DHA's training is not checkpointed: a killed run starts again). Hold the folder's lock around the call.
    """
    folder = RunFolder(out_dir)
    found = [name for name in (CONFIG, EVALUATIONS, RESULT) if (folder.path / name).exists()]
    if found and not restart:
        raise RunExistsError(f"{folder.path} already holds a run ({', '.join(found)}); choose another folder")
    folder.clear()
    options = dict(backend_options)
    folder.write_json(
        CONFIG,
        {
            "algorithm": "dha", "task": task, "backend": backend, "backend_options": plain(options), "seed": seed,
            "evaluations": evaluations, "algorithm_config": dataclasses.asdict(config),
            "version": automl_env.__version__,
        },
    )  # fmt: skip
    data_root, download = options.get("data_root"), bool(options.get("download", True))
    result = run_dha(task, seed=seed, config=config, data_root=data_root, out_dir=folder.path, download=download)
    pipeline = pipeline_of(task, result)
    reward, info = score(task, pipeline, backend=backend, backend_options=options, fidelity=fidelity, seed=seed)
    row = {k: v for k, v in plain(info).items() if isinstance(v, bool | int | float | str)}
    row.update(score_cost_seconds=row.get("cost_seconds", 0.0), cost_seconds=result.seconds)
    tokens = " | ".join(f"{name}: {' '.join(map(str, space.encode(pipeline[name]).tolist()))}" for name, space in
                        automl_env.get_task(task).modules.items())  # fmt: skip
    row.update(batch=0, index=0, evaluation=evaluations, reward=reward, tokens=tokens, pipeline=pipeline.to_json())
    fixed = ["batch", "index", "evaluation", "reward"]
    columns = [*fixed, *sorted(k for k in row if k not in {*fixed, "tokens", "pipeline"}), "tokens", "pipeline"]
    folder.start_csv(columns)
    folder.append_csv(columns, [row])
    answer = {"pipeline": pipeline.to_dict(), "digest": pipeline.digest, "describe": pipeline.describe()}
    folder.write_json(PIPELINE, {**answer, "reward": reward, "backend": backend, "test_accuracy": result.test_accuracy})
    return OneShotRun(folder.path, pipeline, reward, result, config)


def score(
    task: str,
    pipeline: Pipeline,
    *,
    backend: str,
    backend_options: Mapping[str, Any],
    fidelity: Any,
    seed: int,
) -> tuple[float, dict[str, Any]]:
    """The reward and full info of one evaluation of ``pipeline`` on the task's env, as a search's step gets it."""
    fidelities = {} if fidelity is None else {"fidelity": fidelity}
    env = automl_env.parallel_env(task, backend=backend, backend_options=dict(backend_options), **fidelities)
    try:
        evaluator = BatchEvaluator(env)
        actions = {a: np.asarray([env.task.modules[a].encode(pipeline[a])]) for a in env.possible_agents}
        rewards, infos = evaluator.evaluate(actions, seed=derived_seed(seed, 0))
    finally:
        env.close()
    return float(rewards[0]), infos[0]


def summary(run: OneShotRun) -> str:
    """Two lines for a command's output."""
    r = run.result
    return (
        f"dha: {run.config.steps} steps in {r.seconds:.1f}s; its network's test accuracy {r.test_accuracy:.4f} "
        f"(cell {' '.join(r.cell)}, lr {r.lr:.3g}, wd {r.weight_decay:.3g}, policy entropy {r.policy_entropy:.3f})\n"
        f"its pipeline, scored by the backend at the search fidelity: reward {run.reward:.4f}"
    )
