"""The design of a recorded dataset of a task's joint space: which pipelines to train, at which seeds, and why.

``examples/record_fashion_mnist.py`` trains ``plan(task, Design(), seed=0)`` in order and
``automl_env.record_analysis`` reads the statistics the design was made for back from its export. Kinds:

- ``uniform``: pipelines drawn uniformly from the joint token space, at seed 0 (the landscape's spread,
  additive R^2 and interactions between modules);
- ``mutant``: for each of the first uniform pipelines, one neighbour with one token redrawn (mutation
  correlation);
- ``repeat``: some uniform pipelines again at seeds 1..3 (seed-to-seed noise and the intraclass correlation);
- ``module``: the task's default pipeline with one module's tokens drawn at random and the others left at their
  defaults, and the default pipeline itself over ``default_seeds`` seeds (what each module alone can do);
- ``mutant_repeat`` (a second stage, after all of the above; ``mutant_repeats`` pairs, 0 by default): the first
  mutants again at the repeat seeds, so that a pipeline and its one-token neighbour are both trained at the same
  four seeds. Whether a neighbour trained at its pipeline's seed shares that seed's noise, and the mutation
  correlation of seed means, need those (``record_analysis.shared_noise``).

The first stage's kinds are interleaved so that every prefix of the plan holds each kind in proportion: a
collection cut short is still a balanced, smaller design. The second stage comes after it whole, pair by pair, so
adding it leaves the first stage's plan as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl_env.tasks import TaskSpec


@dataclass(frozen=True)
class Planned:
    """One evaluation of the design: a joint token row, the evaluation seed, and why it is in the design."""

    kind: str
    tokens: tuple[int, ...]
    seed: int
    ref: int = -1
    """For ``mutant`` and ``repeat``: the index of the uniform pipeline it is paired with."""


@dataclass(frozen=True)
class Design:
    uniform: int = 750
    mutants: int = 375
    repeated: int = 100
    repeat_seeds: tuple[int, ...] = (1, 2, 3)
    per_module: int = 25
    default_seeds: int = 10
    mutant_repeats: int = 0
    """Second stage: mutants 0..k-1 at ``repeat_seeds`` (their pipelines must be repeated: k <= ``repeated``)."""


RECORDED_MUTANT_REPEATS = 50
"""The second stage of the shipped Fashion-MNIST record (``mutant_repeats``; 150 evaluations after the first
stage's 1,510): what ``examples/record_fashion_mnist.py`` collects and ``examples/analyse_fashion_mnist_record.py``
reads by default."""


def plan(task: TaskSpec, design: Design, *, seed: int) -> list[Planned]:
    """The whole design in collection order (see the module docstring)."""
    pairs = min(design.mutants, design.repeated, design.uniform)
    if not 0 <= design.mutant_repeats <= pairs:
        raise ValueError(
            f"mutant_repeats must be between 0 and {pairs} (mutants whose pipelines are repeated), "
            f"got {design.mutant_repeats}"
        )
    rng = np.random.default_rng(seed)
    nvec = np.array([n for space in task.modules.values() for n in space.nvec])
    uniform = rng.integers(0, nvec, size=(design.uniform, nvec.size))
    kinds: dict[str, list[Planned]] = {"uniform": [Planned("uniform", tuple(map(int, r)), 0) for r in uniform]}
    mutants = []
    for i in range(min(design.mutants, design.uniform)):
        row = uniform[i].copy()
        position = int(rng.integers(nvec.size))
        row[position] = (row[position] + 1 + rng.integers(nvec[position] - 1)) % nvec[position]
        mutants.append(Planned("mutant", tuple(map(int, row)), 0, ref=i))
    kinds["mutant"] = mutants
    kinds["repeat"] = [
        Planned("repeat", kinds["uniform"][i].tokens, s, ref=i)
        for i in range(min(design.repeated, design.uniform))
        for s in design.repeat_seeds
    ]
    default = np.concatenate([space.encode(space.default()) for space in task.modules.values()])
    module_rows = [Planned("module", tuple(map(int, default)), s) for s in range(design.default_seeds)]
    start = 0
    for space in task.modules.values():
        stop = start + space.num_tokens
        for _ in range(design.per_module):
            row = default.copy()
            row[start:stop] = rng.integers(0, nvec[start:stop])
            module_rows.append(Planned("module", tuple(map(int, row)), 0))
        start = stop
    kinds["module"] = module_rows
    # Interleave: item i of a kind with n items sits at (i + 0.5) / n of the collection; a mutant or a repeat
    # of uniform pipeline i therefore comes after it.
    keyed = [
        ((i + 0.5) / len(items), order, p) for order, items in enumerate(kinds.values()) for i, p in enumerate(items)
    ]
    second = [
        Planned("mutant_repeat", mutants[i].tokens, s, ref=i)
        for i in range(design.mutant_repeats)
        for s in design.repeat_seeds
    ]
    return [p for _, _, p in sorted(keyed, key=lambda k: (k[0], k[1]))] + second
