"""The NAS-Bench-201 network: torch's counts, the benchmark's published counts, and training.

Convention as in test_training_networks.py: cost.py counts MACs, FlopCounterMode 2 FLOPs per MAC.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from automl_env.backends.training.nb201 import ResidualReduction  # noqa: E402
from automl_env.backends.training.networks import BUILDERS, NetworkShape, build_network  # noqa: E402
from automl_env.cost import COST_MODELS, arch_cost  # noqa: E402
from automl_env.modules.nb201 import OPERATIONS, RESNET_CELL, NB201Cell, NB201CellSpace  # noqa: E402

ALL_CONV3 = NB201Cell(("nor_conv_3x3",) * 6)
ALL_NONE = NB201Cell(("none",) * 6)
RESNET = NB201Cell(RESNET_CELL)
CELLS = [
    ALL_NONE,
    ALL_CONV3,
    RESNET,
    NB201Cell(("nor_conv_1x1", "avg_pool_3x3", "skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1")),
    NB201Cell(("none", "none", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3")),  # dead node 1
]
# (in_channels, image_size, num_classes) of CIFAR-10, CIFAR-100 and ImageNet16-120.
DATASETS = {"cifar10": (3, 32, 10), "cifar100": (3, 32, 100), "ImageNet16-120": (3, 16, 120)}


def cost(cell: NB201Cell, dataset: str, *, cells: int = 5, channels: int = 16) -> tuple[int, int]:
    in_channels, size, classes = DATASETS[dataset]
    c = arch_cost(cell, num_classes=classes, image_size=size, in_channels=in_channels, cells=cells, channels=channels)
    return c.macs, c.params


def test_nb201_is_registered_for_cost_and_training() -> None:
    assert NB201Cell in COST_MODELS and NB201Cell in BUILDERS


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.describe())
def test_flops_and_params_match_torch_exactly(cell: NB201Cell, dataset: str) -> None:
    in_channels, size, classes = DATASETS[dataset]
    shape = NetworkShape(classes, in_channels, size, cells=2, channels=8)  # small, same layout
    net = build_network(cell, shape).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = net(torch.zeros(1, in_channels, size, size))
    assert out.shape == (1, classes)
    assert counter.get_total_flops() == 2 * cost(cell, dataset, cells=2, channels=8)[0]
    assert sum(p.numel() for p in net.parameters()) == cost(cell, dataset, cells=2, channels=8)[1]


def test_benchmark_size_network_matches_torch() -> None:
    net = build_network(ALL_CONV3, NetworkShape(10, 3, 32, cells=5, channels=16)).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, 3, 32, 32))
    macs, params = cost(ALL_CONV3, "cifar10")
    assert (counter.get_total_flops(), sum(p.numel() for p in net.parameters())) == (2 * macs, params)


# The benchmark's 'flop' (M, conv and linear MACs plus one per linear output for its bias: its
# counter, utils/flop_benchmark.py, adds the bias) and 'params' (count / 1e6) of C=16, N=5 networks.
# Minima and maxima over NAS-Bench-201-v1_1-096897, per dataset, as listed under "Get Bounds for
# Nasbench benchmarks" in the README of automl/MO-HPOBenchExperimentUtils (also in EvoXBench-style
# min_max_values tables): the maximum is the all-nor_conv_3x3 cell, the minimum any cell without
# convolutions (e.g. all "none").
PUBLISHED = {
    ("cifar10", ALL_CONV3): (220.11969, 1.531546),
    ("cifar10", ALL_NONE): (7.78305, 0.073306),
    ("cifar100", ALL_CONV3): (220.12554, 1.537396),
    ("cifar100", ALL_NONE): (7.7889, 0.079156),
    ("ImageNet16-120", ALL_CONV3): (55.03756, 1.538696),
    ("ImageNet16-120", ALL_NONE): (1.9534, 0.080456),
    # The cost_info example quoted in pprp/PicoNAS's NB201 evaluator (cifar10-valid); it fits every
    # cell with two nor_conv_3x3 and no nor_conv_1x1, the ResNet cell among them.
    ("cifar10", RESNET): (78.56193, 0.559386),
}


@pytest.mark.parametrize(("dataset", "cell"), list(PUBLISHED), ids=[f"{d}-{c.describe()}" for d, c in PUBLISHED])
def test_matches_published_benchmark_figures(dataset: str, cell: NB201Cell) -> None:
    flops, params = PUBLISHED[dataset, cell]
    macs, count = cost(cell, dataset)
    classes = DATASETS[dataset][2]
    assert (macs + classes) / 1e6 == pytest.approx(flops, abs=5e-6)
    assert count / 1e6 == pytest.approx(params, abs=5e-7)


def test_odd_image_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        arch_cost(ALL_CONV3, num_classes=10, image_size=30, in_channels=3, cells=1, channels=4)


def train_step(cell: NB201Cell) -> tuple[torch.Tensor, torch.nn.Module]:
    torch.manual_seed(0)
    net = build_network(cell, NetworkShape(10, 3, 16, cells=1, channels=4, dropout=0.1)).train()
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    logits = net(x)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert logits.shape == (4, 10) and torch.isfinite(logits).all() and torch.isfinite(loss)
    return logits, net


@pytest.mark.parametrize("cell", CELLS[1:], ids=lambda c: c.describe())
def test_forward_backward_reaches_every_stage(cell: NB201Cell) -> None:
    _, net = train_step(cell)
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    reductions = [m for m in net.layers if isinstance(m, ResidualReduction)]
    assert len(reductions) == 2
    for block in (net.stem, *reductions):
        assert any(p.grad.abs().sum() > 0 for p in block.parameters())


def test_all_none_cell_is_a_constant_network_that_still_steps() -> None:
    """Every cell outputs zeros whatever its input, so the logits ignore the image (the benchmark's
    chance-level cell): the step runs and the classifier bias learns, but no gradient reaches
    anything before the classifier, the reduction blocks included.
    """
    logits, net = train_step(ALL_NONE)
    assert torch.allclose(logits, logits[:1].expand_as(logits))
    assert net.classifier.bias.grad.abs().sum() > 0
    others = [p.grad for n, p in net.named_parameters() if n != "classifier.bias" and p.grad is not None]
    assert all(g.abs().sum() == 0 for g in others)


def test_every_operation_builds() -> None:
    space = NB201CellSpace()
    for i, _ in enumerate(OPERATIONS):
        net = build_network(space.decode([i] * 6), NetworkShape(10, 3, 8, cells=1, channels=2))
        assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 10)


def test_resnet_cell_is_the_benchmarks() -> None:
    """``ResNet_CODE`` of the official code: node 3 = skip(node 0) + skip(node 2)."""
    expected = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    assert RESNET.to_arch_string() == expected
