"""DHA's answer in a task's own terms, and the tasks and backends a command can run DHA on.

DHA returns a trained network, not a pipeline; to be scored by a backend like every other search's answer
it is projected onto the task's modules (``pipeline_of``):

- NAS: the cell DHA froze (exact: the task's NB201 cell space holds every cell).
- HPO: DHA's final lr and wd (``DHAResult.lr``, ``weight_decay``), each snapped to the nearest mean the
  averaged-SGD space can express (the same rule as AutoHAS's derivation, ``baselines.autohas``).
- AUG: DHA learns a schedule, a distribution P over 196 ordered pairs that keeps moving, and trains under
  all of it; the task's policy is a fixed set of K sub-policies drawn uniformly. Ours (DHA extracts no
  policy): the K most probable pairs of the final P, each operation applied with probability 1 (DHA applies
  its pair to every image) at magnitude level 5 (DHA draws a magnitude uniformly over the operation's
  range, mean 4.5 of the 9 levels; ties round up), Identity as an operation of probability 0. This loses
  P's weights and the schedule's history; when P is still near uniform (short runs) the K pairs are close
  to arbitrary (``DHAResult.policy_entropy`` tells: ln 196 = 5.278 is uniform).

A command runs DHA only where it can (``check_setting``, at parse time): the task's modules are an NB201
cell and at most an AUG and an averaged-SGD HPO module (what the projection can express), its dataset is
one the training backend reads (DHA trains on the real data), and the backend is ``train`` (the answer is
scored by real training; the weight-sharing backend's reward of one pipeline on a supernet that no search
has trained says nothing, and a synthetic or recorded backend would score a network trained on data it does
not have).
"""

from __future__ import annotations

from typing import Any

from automl_env.modules.augment import AugmentOp, AugmentPolicy, AugmentSpace
from automl_env.modules.hparams import AveragedSGDSpace
from automl_env.modules.nb201 import NB201Cell, NB201CellSpace
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task
from baselines.autohas import snap_hparams
from baselines.dha.search import DHAResult

MAGNITUDE_LEVEL = 5
"""The magnitude level of a projected operation (module docstring)."""
BACKENDS = ("train",)
"""The backends that score DHA's answer (module docstring)."""
SPACES = (NB201CellSpace, AugmentSpace, AveragedSGDSpace)


def pipeline_of(task: TaskSpec | str, result: DHAResult) -> Pipeline:
    """DHA's answer as a pipeline of ``task`` (module docstring)."""
    task = get_task(task)
    configs: dict[str, Any] = {}
    for name, space in task.modules.items():
        if isinstance(space, NB201CellSpace):
            configs[name] = NB201Cell(tuple(result.cell))
        elif isinstance(space, AveragedSGDSpace):
            configs[name] = snap_hparams(space, lr=result.lr, weight_decay=result.weight_decay)
        elif isinstance(space, AugmentSpace):
            configs[name] = augment_policy(result.top_pairs, space.num_sub_policies)
        else:
            raise ValueError(f"DHA's answer has no value for module {name!r} ({type(space).__name__}) of {task.name}")
    return Pipeline.of(configs)


def augment_policy(pairs: tuple[tuple[str, str, float], ...], sub_policies: int) -> AugmentPolicy:
    """The ``sub_policies`` most probable pairs as a fixed AutoAugment policy (module docstring)."""
    if len(pairs) < sub_policies:
        raise ValueError(f"the policy needs {sub_policies} pairs, DHA's result lists {len(pairs)}")

    def op(name: str) -> AugmentOp:
        return AugmentOp("ShearX", 0, 0) if name == "Identity" else AugmentOp(name, 10, MAGNITUDE_LEVEL)

    return AugmentPolicy(sub_policies=tuple((op(first), op(second)) for first, second, _ in pairs[:sub_policies]))


def check_setting(task: TaskSpec | str, backend: str) -> None:
    """ValueError saying why DHA cannot run on ``task`` with ``backend`` (module docstring), else nothing."""
    from automl_env.backends.training.data import READERS

    task = get_task(task)
    if backend not in BACKENDS:
        raise ValueError(
            f"dha trains its own network on {task.name}'s data and its answer is scored by real training: "
            f"use --backend {' or '.join(BACKENDS)}, not {backend!r}"
        )
    kinds = [type(space) for space in task.modules.values()]
    cells = sum(kind is NB201CellSpace for kind in kinds)
    others = [kind for kind in kinds if kind is not NB201CellSpace]
    if cells != 1 or any(kind not in SPACES for kind in others) or len(set(others)) != len(others):
        modules = ", ".join(f"{name} ({type(space).__name__})" for name, space in task.modules.items())
        raise ValueError(
            f"dha answers one NAS-Bench-201 cell, an augmentation policy and SGD's lr and weight decay; task "
            f"{task.name} has modules {modules}: use a task with an NB201CellSpace module and at most an "
            "AugmentSpace and an AveragedSGDSpace one, e.g. fashion-mnist-nb201"
        )
    if task.dataset not in READERS:
        raise ValueError(f"dha trains on real data; the training backend has no reader for {task.dataset!r}")
