"""Task registry: a task names a dataset, its modules (agents) and their search spaces, defaults.

Built-in tasks follow the MA2ML paper (METHOD.md): CIFAR-like tasks use the NASNet cell space,
5-sub-policy AutoAugment and averaged-token SGD; ImageNet-200 uses the FBNetV3-like space,
25-sub-policy AutoAugment, a training-recipe space and the FLOPs-constrained reward.
Users add tasks with ``register_task``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from automl_env.fidelity import Fidelity
from automl_env.modules.augment import AugmentSpace
from automl_env.modules.base import ModuleConfig, ModuleSpace
from automl_env.modules.fcnet import FCLayerSpace, FCTrainingSpace
from automl_env.modules.hparams import AveragedSGDSpace, HParams, RecipeSpace
from automl_env.modules.mobilenet import MobileNetSpace
from automl_env.modules.nasnet import NASNetSpace
from automl_env.modules.nb201 import NODES, NB201CellSpace, NB201NodeSpace, cell_of_nodes
from automl_env.pipeline import Pipeline


@dataclass(frozen=True, eq=False)
class TaskSpec:
    """Everything the env and the backends need to know about a task.

    ``modules`` maps agent name -> search space, in agent order. ``arch_module`` names the module
    whose config is the network (its FLOPs and parameters are reported); ``arch_from`` instead
    assembles the network's config from several modules (agents that share one architecture).
    ``recipe`` is the training recipe of pipelines without an HPO module; ``table`` is where the
    ``table`` backend reads the task's recorded results by default (a CSV/JSON path, or a
    ``"module:function"`` entry point taking the task). ``version`` goes up whenever a change
    alters results, as for Gymnasium environment ids. ``measure`` names what ``EvalResult.accuracy`` holds in
    user-facing text ("score" for HPOLib, whose reward is a map of log MSE, not an accuracy).
    """

    name: str
    dataset: str
    num_classes: int
    image_size: int
    in_channels: int
    modules: Mapping[str, ModuleSpace] = field(repr=False)
    arch_module: str | None = "nas"
    arch_from: Callable[[Mapping[str, ModuleConfig]], ModuleConfig] | None = field(default=None, repr=False)
    recipe: HParams | None = None
    table: str | None = None
    default_backend: str = "train"
    objective: str = "accuracy"
    flops_target: float | None = None
    search_fidelity: Fidelity = field(default_factory=Fidelity)
    final_fidelity: Fidelity = field(
        default_factory=lambda: Fidelity(epochs=600, cells=17, channels=36, warmup_epochs=5)
    )
    version: int = 0
    measure: str = "accuracy"

    def __post_init__(self) -> None:
        if not self.modules:
            raise ValueError(f"task {self.name!r} has no modules")
        if self.arch_module is not None and self.arch_module not in self.modules:
            raise ValueError(f"task {self.name!r}: arch_module {self.arch_module!r} is not one of {list(self.modules)}")
        if self.arch_module is not None and self.arch_from is not None:
            raise ValueError(f"task {self.name!r}: give arch_module or arch_from, not both")

    @property
    def fast_backend(self) -> str:
        """The backend that answers in milliseconds: the task's recorded table, else the rugged synthetic benchmark
        (``synthetic-rugged``, as hard as the recorded real landscapes; ``synthetic`` is the smooth version 0)."""
        return "table" if self.table is not None else "synthetic-rugged"

    def architecture(self, pipeline: Pipeline) -> ModuleConfig | None:
        """The config of the network this pipeline trains (None for a task without an architecture)."""
        if self.arch_from is not None:
            return self.arch_from(dict(pipeline.modules))
        return pipeline[self.arch_module] if self.arch_module is not None else None

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(self.modules)

    def default_pipeline(self) -> Pipeline:
        return Pipeline.of({name: space.default() for name, space in self.modules.items()})

    def log10_sizes(self) -> dict[str, float]:
        return {name: space.log10_size() for name, space in self.modules.items()}


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec, *, overwrite: bool = False) -> TaskSpec:
    """Add a task to the registry (``overwrite=True`` to replace one of the same name)."""
    if spec.name in TASKS and not overwrite:
        raise ValueError(f"task {spec.name!r} is already registered; pass overwrite=True to replace it")
    TASKS[spec.name] = spec
    return spec


def get_task(name: str | TaskSpec) -> TaskSpec:
    if isinstance(name, TaskSpec):
        return name
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered tasks: {sorted(TASKS)} (add one with register_task)")
    return TASKS[name]


def list_tasks() -> list[str]:
    return sorted(TASKS)


# The paper's search: 12 epochs with 1 of warm-up, batch 64 per GPU on 2 GPUs, an 8-cell network.
CIFAR_SEARCH = Fidelity(epochs=12, cells=8, channels=16, batch_size=128, warmup_epochs=1)
# Sized for a CPU: one evaluation of the default network on one idle core takes 23 s (examples/bench_training.py;
# 14 s at the 2 cells of version 0), random pipelines up to about twice that. 4 cells is the fewest at which every
# token of both cell types acts: reductions at cells // 3 = 1 and 2 * cells // 3 = 2, normal cells at 0 and 3. At 2
# cells both cells reduced and the 25 normal-cell tokens did nothing; at 3 the only normal cell is the first, whose
# two inputs are both the stem's output, so its blocks' input tokens 0 and 1 would mean the same
# (tests/test_inert_tokens.py).
FASHION_MNIST_SEARCH = Fidelity(epochs=1, train_subset=4800, cells=4, channels=4, batch_size=32, warmup_epochs=0)


def _cifar_like(
    name: str,
    *,
    num_classes: int,
    image_size: int,
    in_channels: int,
    search_fidelity: Fidelity = CIFAR_SEARCH,
    version: int = 0,
) -> TaskSpec:
    return TaskSpec(
        name=name,
        dataset=name,
        num_classes=num_classes,
        image_size=image_size,
        in_channels=in_channels,
        modules={"aug": AugmentSpace(num_sub_policies=5), "nas": NASNetSpace(), "hpo": AveragedSGDSpace(steps=10)},
        search_fidelity=search_fidelity,
        version=version,
    )


register_task(_cifar_like("cifar10", num_classes=10, image_size=32, in_channels=3))
register_task(_cifar_like("cifar100", num_classes=100, image_size=32, in_channels=3))
# v1: the search network has 4 cells, not 2 (FASHION_MNIST_SEARCH).
register_task(
    _cifar_like(
        "fashion-mnist", num_classes=10, image_size=28, in_channels=1, search_fidelity=FASHION_MNIST_SEARCH, version=1
    )
)
# One-shot search (AutoHAS, DHA, the weight-sharing backend) needs a supernet: the NAS module is the
# NAS-Bench-201 cell, whose 6 edges x 5 operations make a natural single-path supernet. Sized for a shared
# 2-core CPU: one cell per stage at 4 channels, 2,400 training images (docs/peers.md).
FASHION_NB201_SEARCH = Fidelity(epochs=1, train_subset=2400, cells=1, channels=4, batch_size=32, warmup_epochs=0)
FASHION_NB201_FINAL = Fidelity(epochs=1, train_subset=12000, cells=1, channels=8, batch_size=64, warmup_epochs=0)
register_task(
    TaskSpec(
        name="fashion-mnist-nb201",
        dataset="fashion-mnist",
        num_classes=10,
        image_size=28,
        in_channels=1,
        modules={"aug": AugmentSpace(num_sub_policies=5), "nas": NB201CellSpace(), "hpo": AveragedSGDSpace(steps=10)},
        search_fidelity=FASHION_NB201_SEARCH,
        final_fidelity=FASHION_NB201_FINAL,
    )
)
register_task(
    TaskSpec(
        name="imagenet200",
        dataset="imagenet200",
        num_classes=200,
        image_size=224,
        in_channels=3,
        modules={"aug": AugmentSpace(num_sub_policies=25), "nas": MobileNetSpace(), "hpo": RecipeSpace()},
        objective="flops_constrained",
        flops_target=600e6,  # the paper's MA2ML-A/B targets are 600M and 900M MACs
        search_fidelity=Fidelity(epochs=100, batch_size=256, warmup_epochs=5),
        final_fidelity=Fidelity(epochs=400, batch_size=256, warmup_epochs=5),
    )
)


# NAS-Bench-201 (automl_env.nb201): the benchmark's network (C=16, N=5 cells per stage) and recipe
# (SGD with Nesterov momentum, lr 0.1 with cosine decay, weight decay 5e-4, batch 256, no warm-up);
# its search protocol rewards the 12-epoch validation accuracy and reports the 200-epoch test accuracy.
NB201_SEARCH = Fidelity(epochs=12, cells=5, channels=16, batch_size=256, warmup_epochs=0)
NB201_FINAL = Fidelity(epochs=200, cells=5, channels=16, batch_size=256, warmup_epochs=0)
NB201_RECIPE = HParams(lr=0.1, weight_decay=5e-4, optimizer="nesterov")


def _nb201(
    name: str, *, dataset: str, num_classes: int, image_size: int, flops_target: float, per_node: bool
) -> TaskSpec:
    modules: dict[str, ModuleSpace] = (
        {f"node{k}": NB201NodeSpace(k) for k in range(1, NODES + 1)} if per_node else {"nas": NB201CellSpace()}
    )
    return TaskSpec(
        name=name,
        dataset=dataset,
        num_classes=num_classes,
        image_size=image_size,
        in_channels=3,
        modules=modules,
        arch_module=None if per_node else "nas",
        arch_from=cell_of_nodes if per_node else None,
        recipe=NB201_RECIPE,
        flops_target=flops_target,
        table="automl_env.nb201:load_table",
        default_backend="table",
        search_fidelity=NB201_SEARCH,
        final_fidelity=NB201_FINAL,
    )


# flops_target (for objective="flops_constrained"): about the median cell's MACs (47.1M at 32x32, 11.8M at 16x16).
for _dataset, _short, _classes, _size, _target in (
    ("cifar10", "cifar10", 10, 32, 50e6),
    ("cifar100", "cifar100", 100, 32, 50e6),
    ("imagenet16-120", "imagenet16", 120, 16, 12.5e6),
):
    for _per_node in (False, True):
        # The multi-agent variant ("-nodes"): one agent per cell node, choosing its 1, 2 and 3 incoming edges.
        register_task(
            _nb201(
                f"nb201-{_short}" + ("-nodes" if _per_node else ""),
                dataset=_dataset,
                num_classes=_classes,
                image_size=_size,
                flops_target=_target,
                per_node=_per_node,
            )
        )


# HPOLib / FCNet (automl_env.hpolib): one agent per module of a 2-layer MLP, 100 epochs of Adam; the reward is a
# score in [0, 1] (a map of log validation MSE), never an accuracy; one of 4 recorded training runs per evaluation.
HPOLIB_FIDELITY = Fidelity(epochs=100, warmup_epochs=0)
for _short, _dataset in (
    ("naval", "naval_propulsion"),
    ("parkinsons", "parkinsons_telemonitoring"),
    ("protein", "protein_structure"),
    ("slice", "slice_localization"),
):
    register_task(
        TaskSpec(
            name=f"hpolib-{_short}",
            dataset=_dataset,
            num_classes=1,  # regression; the image fields do not apply to these tables
            image_size=1,
            in_channels=1,
            modules={"layer1": FCLayerSpace(), "layer2": FCLayerSpace(), "training": FCTrainingSpace()},
            arch_module=None,
            table="automl_env.hpolib:load_table",
            default_backend="table",
            search_fidelity=HPOLIB_FIDELITY,
            final_fidelity=HPOLIB_FIDELITY,
            measure="score",
        )
    )
