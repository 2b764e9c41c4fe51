"""Every searched token matters at its task's search fidelity.

The sense: position ``p`` of a module *matters* when some pipeline exists in which changing ``p`` alone
changes what the training backend hands its trainer at the task's search fidelity:

- the network: its output on a fixed input, with the weights the two networks share (same name and
  shape) set equal, so that a new operation's fresh weights, or weights drawn in another order, do not
  count as a change by themselves;
- the input: the resolution the network sees, or the augmented batch (the policy's augmenter on a
  fixed batch with a fixed generator);
- the hyper-parameters the trainer gets.

"Some pipeline", not "every pipeline": whether a token acts can depend on the others (an NB201 edge
into a node that nothing reads; an augmentation's magnitude at probability 0, or for Invert). That is
a property of the pipeline, not of the position. A position that acts in no pipeline is inert: the
normal cell of a network without normal cells (Fashion-MNIST's 2-cell search network had reduction
cells at 0 and 1, so half of its 50 architecture tokens did nothing). Each position is tried in a few
random pipelines with a few other values; the test names every position where nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest

from automl_env.backends.base import Fidelity
from automl_env.cost import reduction_indices
from automl_env.modules.base import ModuleConfig
from automl_env.modules.hparams import HParams
from automl_env.modules.nasnet import CellGenotype
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task, list_tasks

torch = pytest.importorskip("torch", reason='the networks need torch: pip install "automl-env[train]"')

from automl_env.backends.training import backend as training_backend  # noqa: E402 (needs torch)
from automl_env.backends.training.data import DeviceData, Split  # noqa: E402
from automl_env.backends.training.loop import Outcome  # noqa: E402
from automl_env.backends.training.networks import NetworkShape, build_network  # noqa: E402
from automl_env.backends.training.views import InputView  # noqa: E402

BASES = 8  # random pipelines tried per position (an augmentation's magnitude acts in about 3 pipelines of 4)
VALUES = 2  # other values tried per position and pipeline
NASNET_TASKS = [
    t for t in list_tasks() if isinstance(get_task(t).architecture(get_task(t).default_pipeline()), CellGenotype)
]


@dataclass
class Handed:
    """What the training backend gives its trainer for one pipeline (the network not built yet)."""

    arch: ModuleConfig
    shape: NetworkShape
    view: InputView
    hparams: HParams


class Recorder:
    """Stands in for the backend's ``build_network`` and ``Trainer``: records their arguments, trains nothing."""

    def __init__(self) -> None:
        self.handed: list[Handed] = []
        self._building: tuple[ModuleConfig, NetworkShape] | None = None

    def build_network(self, arch: ModuleConfig, shape: NetworkShape) -> Any:
        self._building = (arch, shape)
        return torch.nn.Identity()

    def trainer(self, model: Any, view: InputView, hparams: HParams, *, device: Any, seed: int) -> Recorder:
        assert self._building is not None
        self.handed.append(Handed(*self._building, view, hparams))
        return self

    def fit(self, split: Split, budget: Any) -> Outcome:
        return Outcome(accuracy=None, diverged=True)  # the backend then skips validation


@cache
def fake_data(task: TaskSpec) -> DeviceData:
    """A few random images of the task's shape: enough for the backend to build a training run."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, task.in_channels, task.image_size, task.image_size), generator=g)
    split = Split(images.to(torch.uint8), torch.zeros(8, dtype=torch.int64))
    mean = torch.full((1, task.in_channels, 1, 1), 128.0)
    return DeviceData(task.dataset, split, split, split, mean, torch.full_like(mean, 64.0), task.num_classes)


Hand = Callable[[TaskSpec, Pipeline], Handed]


@pytest.fixture
def hand(monkeypatch: pytest.MonkeyPatch) -> Hand:
    """``hand(task, pipeline)``: what the backend hands its trainer at the task's search fidelity."""
    recorder = Recorder()
    monkeypatch.setattr(training_backend, "build_network", recorder.build_network)
    monkeypatch.setattr(training_backend, "Trainer", recorder.trainer)
    tasks: dict[str, TaskSpec] = {}
    monkeypatch.setattr(training_backend, "load_device_data", lambda dataset, *_: fake_data(tasks[dataset]))
    monkeypatch.setattr(training_backend, "check_dataset", lambda *_: None)  # no files: the data is fake_data's

    def handed(task: TaskSpec, pipeline: Pipeline) -> Handed:
        tasks[task.dataset] = task
        training_backend.TrainingBackend(task, device="cpu").evaluate([pipeline])  # the task's search fidelity
        return recorder.handed.pop()

    return handed


class Comparison:
    """How what the trainer gets for a pipeline differs from what it gets for a base pipeline.

    The base's network output and augmented batch are computed once. Networks run on a fixed batch of
    four 8x8 inputs (any input shows a different function; the resolution a MobileNet sees is compared
    apart) in training mode: batch statistics keep the signal alive through a freshly initialised deep
    network, whose output in evaluation mode hardly depends on its input (a MobileNet's, to 1e-9).
    """

    def __init__(self, task: TaskSpec) -> None:
        g = torch.Generator().manual_seed(1)
        self.images = torch.randn(4, task.in_channels, 8, 8, generator=g)
        # 256 images draw each of 25 sub-policies at least once with probability 1 - 3e-5.
        self.batch = torch.randint(0, 256, (256, task.in_channels, 8, 8), generator=g).float()
        self._networks: dict[int, tuple[dict[str, Any], Any]] = {}
        self._augmented: dict[int, Any] = {}

    def what_changed(self, base: Handed, other: Handed) -> str | None:
        if base.hparams != other.hparams:
            return "hyper-parameters"
        if base.view.input_size != other.view.input_size:
            return "input size"
        if not self._same_augmentation(base, other):
            return "augmentation"
        if (base.arch, base.shape) != (other.arch, other.shape) and not self._same_function(base, other):
            return "network"
        return None

    def _same_function(self, base: Handed, other: Handed) -> bool:
        """Whether the two networks compute the same function once the weights they share are equal."""
        if id(base) not in self._networks:
            net = _network(base)
            self._networks[id(base)] = net.state_dict(), _forward(net, self.images)
        weights, expected = self._networks[id(base)]
        changed = _network(other)
        with torch.no_grad():
            for name, tensor in changed.state_dict().items():  # the tensors themselves: copy_ sets the network's
                if name in weights and weights[name].shape == tensor.shape:
                    tensor.copy_(weights[name])
        return bool(torch.allclose(_forward(changed, self.images), expected, rtol=1e-4, atol=1e-6))

    def _same_augmentation(self, base: Handed, other: Handed) -> bool:
        a, b = base.view.augmenter, other.view.augmenter
        if a is None or b is None:
            return a is b
        if torch.equal(a.table, b.table):
            return True  # the same tables: the same augmentation, without running it
        if id(base) not in self._augmented:
            self._augmented[id(base)] = a(self.batch, torch.Generator().manual_seed(2))
        return torch.equal(b(self.batch, torch.Generator().manual_seed(2)), self._augmented[id(base)])


def _network(h: Handed) -> Any:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_network(h.arch, h.shape)


def _forward(net: Any, images: Any) -> Any:
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(3)  # the same dropout mask for both networks
        return net(images)


def random_tokens(task: TaskSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.integers(0, space.nvec) for name, space in task.modules.items()}


def pipeline_of(task: TaskSpec, tokens: dict[str, np.ndarray]) -> Pipeline:
    return Pipeline.of({name: space.decode(tokens[name]) for name, space in task.modules.items()})


def inert_positions(task: TaskSpec, module: str, hand: Hand, *, bases: int = BASES, seed: int = 0) -> list[str]:
    """The module's positions ("module[i] name") where no tried pipeline and value changed what the trainer gets."""
    rng = np.random.default_rng(seed)
    base_tokens = [random_tokens(task, rng) for _ in range(bases)]
    handed = [hand(task, pipeline_of(task, tokens)) for tokens in base_tokens]
    comparison = Comparison(task)
    space = task.modules[module]
    inert = []
    for i, n in enumerate(space.nvec):
        if not any(
            comparison.what_changed(base_handed, hand(task, pipeline_of(task, changed)))
            for base, base_handed in zip(base_tokens, handed, strict=True)
            for changed in _changes(base, module, i, n, rng)
        ):
            inert.append(f"{module}[{i}] {space.position_names[i]}")
    return inert


def _changes(tokens: dict[str, np.ndarray], name: str, i: int, n: int, rng: np.random.Generator) -> Iterator[dict]:
    """The tokens with position i of module ``name`` set to up to VALUES other values (lazily: stop at a change)."""
    others = [v for v in rng.permutation(n) if v != tokens[name][i]][:VALUES]
    for value in others:
        changed = {k: v.copy() for k, v in tokens.items()}
        changed[name][i] = value
        yield changed


# Tasks the training backend can train (a network to build); table-only tasks (HPOLib's MLPs, recorded results
# only) are checked on their tables (tests/test_hpolib.py).
TRAINABLE = [t for t in list_tasks() if get_task(t).architecture(get_task(t).default_pipeline()) is not None]


@pytest.mark.parametrize(("task_name", "module"), [(t, m) for t in TRAINABLE for m in get_task(t).modules])
def test_every_position_changes_the_training_at_the_search_fidelity(task_name: str, module: str, hand: Hand) -> None:
    task = get_task(task_name)
    inert = inert_positions(task, module, hand)
    assert inert == [], f"{task.name}: positions that change nothing at {task.search_fidelity}"


def test_the_check_finds_the_normal_cell_of_a_network_without_one(hand: Hand) -> None:
    """At 2 cells both cells reduce (cells // 3 = 0, 2 * cells // 3 = 1): the 25 normal-cell tokens are inert."""
    base = get_task("cifar10")
    task = TaskSpec(
        name="two-cell",
        dataset=base.dataset,
        num_classes=base.num_classes,
        image_size=base.image_size,
        in_channels=base.in_channels,
        modules={"nas": base.modules["nas"]},
        search_fidelity=Fidelity(epochs=1, cells=2, channels=4, warmup_epochs=0),
    )
    inert = inert_positions(task, "nas", hand, bases=1)  # an inert position tries every base: keep it quick
    assert len(inert) == 25 and all(p.split()[1].startswith("normal.") for p in inert), inert


@pytest.mark.parametrize("task_name", NASNET_TASKS)
def test_nasnet_search_networks_give_every_cell_type_two_distinct_inputs(task_name: str) -> None:
    """A NASNet cell chooses between its inputs h_{k-2} and h_{k-1}; in the first cell both are the stem's
    output, so a cell type built only at index 0 makes its blocks' input tokens 0 and 1 equivalent (the same
    network up to which 1x1 preprocessing weights are used), which the weight-sharing check cannot see."""
    task = get_task(task_name)
    cells = task.search_fidelity.cells
    reductions = reduction_indices(cells)
    normals = set(range(cells)) - reductions
    assert any(i > 0 for i in normals), f"{task.name}: no normal cell past the first at {cells} cells"
    assert any(i > 0 for i in reductions), f"{task.name}: no reduction cell past the first at {cells} cells"
