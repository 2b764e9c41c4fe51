"""NAS-Bench-201 tasks on the shipped table: hand-checked lookups, the cell string, the protocol, the surrogate."""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import automl_env
from automl_env import Pipeline, get_task
from automl_env.backends.base import BackendSetupError
from automl_env.backends.registry import make_backend
from automl_env.backends.table.backend import TableBackend
from automl_env.backends.table.records import TableError
from automl_env.backends.table.surrogate import Surrogate, fit_held_out
from automl_env.cost import arch_cost
from automl_env.modules.nb201 import NB201Cell, NB201CellSpace, NB201Node, cell_of_nodes
from automl_env.nb201 import CELLS, EdgeCostTable, _parse, load_table, read_raw

DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "imagenet16"}


def shipped_rows() -> list[dict[str, str]]:
    """The shipped file read with the csv module (independently of the package's own parser)."""
    data = (resources.files("automl_env") / "data" / "nb201.csv.gz").read_bytes()
    return list(csv.DictReader(io.StringIO(gzip.decompress(data).decode())))


ROWS = shipped_rows()


def backend(task: str) -> TableBackend:
    made = make_backend("table", get_task(task))
    assert isinstance(made, TableBackend)
    return made


def cell(arch: str) -> Pipeline:
    return Pipeline.of({"nas": NB201Cell.from_arch_string(arch)})


# Hand-copied from nb201.csv: (arch, {column: percent}). Index 9930 is the best CIFAR-100 cell (73.5133);
# index 1601 is the ResNet cell without its second skip connection (node 3 = node 0: the convolutions are dead).
HAND_CHECKED = [
    (
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",  # ResNet cell, 11472
        {"cifar100_val_12": 58.96, "cifar100_test_200": 70.89, "cifar10_test_200": 93.91,
         "imagenet16_test_200": 44.2333},
    ),
    (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        {"cifar100_val_12": 60.28, "cifar100_test_12": 61.12, "cifar100_test_200": 73.5133, "cifar10_val_12": 84.746,
         "cifar10_test_200": 94.3633, "imagenet16_val_12": 37.6333, "imagenet16_test_200": 46.3444},
    ),
    (
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",
        {"cifar100_val_12": 45.2, "cifar100_test_200": 58.6467, "cifar10_val_12": 73.266, "cifar10_test_200": 86.3367,
         "imagenet16_val_12": 22.6, "imagenet16_test_200": 28.6},
    ),
    (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
        {"cifar100_val_12": 31.84, "cifar100_test_12": 31.26, "cifar100_test_200": 52.9133, "cifar10_val_12": 63.364,
         "imagenet16_val_12": 18.4667, "imagenet16_test_200": 26.6333},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("arch", "figures"), HAND_CHECKED)
def test_exact_lookups_match_hand_checked_rows(arch: str, figures: dict[str, float]) -> None:
    for column, percent in figures.items():
        dataset, split, epochs = column.split("_")
        for task in (f"nb201-{dataset}", f"nb201-{dataset}-nodes"):
            b = backend(task)
            pipeline = cell(arch) if not task.endswith("nodes") else nodes_pipeline(NB201Cell.from_arch_string(arch))
            if split == "val":
                (result,) = b.evaluate([pipeline])
            else:
                fidelity = b.task.search_fidelity if epochs == "12" else b.task.final_fidelity
                result = b.retrain(pipeline, fidelity=fidelity)
            assert result.accuracy == pytest.approx(percent / 100, abs=1e-9), (task, column)
            assert result.backend == "table" and result.metrics["recorded"] == 1.0


def nodes_pipeline(c: NB201Cell) -> Pipeline:
    return Pipeline.of({f"node{k}": NB201Node(k, tuple(op for _, op in c.node_inputs(k))) for k in (1, 2, 3)})


def test_every_cell_string_round_trips() -> None:
    space = NB201CellSpace()
    seen = set()
    for row in ROWS:
        parsed = NB201Cell.from_arch_string(row["arch"])
        assert parsed.to_arch_string() == row["arch"]
        assert Pipeline.from_json(cell(row["arch"]).to_json()) == cell(row["arch"])
        tokens = space.encode(parsed)
        assert space.decode(tokens) == parsed
        assert cell_of_nodes(dict(nodes_pipeline(parsed).modules)) == parsed
        seen.add(tuple(tokens))
    assert len(ROWS) == len(seen) == CELLS == 5**6


@pytest.mark.parametrize("text", ["", "|none~0|", "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                                  "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"])  # fmt: skip
def test_bad_cell_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"cell string|unknown operations"):
        NB201Cell.from_arch_string(text)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_optimum_is_the_tables_maximum(dataset: str) -> None:
    b = backend(f"nb201-{dataset}")
    best_val = max(float(r[f"{dataset}_val_12"]) for r in ROWS) / 100
    best_test = max(ROWS, key=lambda r: float(r[f"{dataset}_test_200"]))
    optimum = b.optimum()
    assert optimum is not None and optimum.exact and optimum.accuracy == pytest.approx(best_val, abs=1e-12)
    (result,) = b.evaluate([optimum.pipeline])
    assert result.accuracy == optimum.accuracy
    test = b.optimum(split="test", fidelity=b.task.final_fidelity)
    assert test is not None and test.accuracy == pytest.approx(float(best_test[f"{dataset}_test_200"]) / 100)
    if dataset == "cifar100":
        assert round(100 * test.accuracy, 2) == 73.51 and round(100 * optimum.accuracy, 2) == 61.32


def test_the_200_epoch_test_accuracy_is_never_a_reward() -> None:
    b = backend("nb201-cifar100")
    with pytest.raises(TableError, match=r"only test accuracy.*never a reward"):
        b.evaluate([b.task.default_pipeline()], fidelity=b.task.final_fidelity)
    env = automl_env.parallel_env("nb201-cifar100", fidelity=b.task.final_fidelity)
    env.reset()
    with pytest.raises(BackendSetupError):  # a setup error: it stops a search rather than failing every evaluation
        env.step({"nas": np.zeros(6, dtype=np.int64)})


def test_multi_agent_variant_serves_the_same_table() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 5, size=(500, 6))
    single, nodes = backend("nb201-cifar100"), backend("nb201-cifar100-nodes")
    np.testing.assert_array_equal(single.evaluate_tokens(tokens), nodes.evaluate_tokens(tokens))
    env = automl_env.parallel_env("nb201-cifar100-nodes")
    env.reset(seed=0)
    _, rewards, *_ = env.step({"node1": [3], "node2": [3, 3], "node3": [1, 3, 3]})
    assert all(reward == pytest.approx(0.6028) for reward in rewards.values())  # the best CIFAR-100 cell, index 9930


def test_edge_cost_table_equals_the_analytic_cost() -> None:
    rng = np.random.default_rng(1)
    for task in (get_task("nb201-cifar10"), get_task("nb201-imagenet16")):
        table = EdgeCostTable(task, task.search_fidelity)
        tokens = rng.integers(0, 5, size=(40, 6))
        macs, params = table.macs_params(tokens)
        space = NB201CellSpace()
        for row, m, p in zip(tokens, macs, params, strict=True):
            c = arch_cost(space.decode(row), num_classes=task.num_classes, image_size=task.image_size,
                          in_channels=3, cells=5, channels=16)  # fmt: skip
            assert (c.macs, c.params) == (m, p)


def test_flops_constrained_objective_works_on_recorded_cells() -> None:
    env = automl_env.parallel_env("nb201-cifar10", objective="flops_constrained")
    env.reset()
    _, rewards, _, _, infos = env.step({"nas": np.full(6, 3)})
    assert infos["nas"]["flops"] > get_task("nb201-cifar10").flops_target  # the largest cell pays the penalty
    assert 0 < rewards["nas"] < infos["nas"]["accuracy"]


def test_surrogate_fitted_on_a_tenth_predicts_the_rest() -> None:
    """Fitted on a random 10% of the CIFAR-100 cells, scored on the other 90% (figures in the README)."""
    table = load_table(get_task("nb201-cifar100"))
    records = table.records(get_task("nb201-cifar100").search_fidelity)
    surrogate, fit = fit_held_out(
        "hist_gb", table.nvec, records.tokens, records.mean_accuracy(), train_fraction=0.1, seed=0
    )
    assert (fit.train_rows, fit.held_out_rows) == (1562, 14063)
    print(f"surrogate on 10%: Spearman {fit.spearman:.3f}, R^2 {fit.r2:.3f}")
    assert fit.spearman > 0.85 and fit.r2 > 0.8
    with pytest.raises(ValueError, match="cannot encode"):
        surrogate.predict(np.array([[0, 0, 0, 0, 0, 5]]))
    with pytest.raises(ValueError, match=r"encodes \(n, 6\) token rows"):
        Surrogate("hist_gb", table.nvec).features(np.zeros((1, 5), dtype=np.int64))


def test_backend_never_returns_a_value_for_a_pipeline_it_cannot_encode() -> None:
    b = TableBackend(get_task("nb201-cifar100"), surrogate="hist_gb", surrogate_train_fraction=0.5)
    assert b.describe()["surrogate"] is not None
    with pytest.raises(ValueError, match="cannot encode module 'nas'"):
        b.evaluate([get_task("cifar100").default_pipeline()])


def test_corrupted_and_wrong_schema_files_are_clear_errors(tmp_path: Path) -> None:
    text = gzip.decompress((resources.files("automl_env") / "data" / "nb201.csv.gz").read_bytes())
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(gzip.compress(text)[:5000])
    with pytest.raises(TableError, match="cannot read"):
        read_raw(truncated)
    with pytest.raises(TableError, match="corrupted"):
        _parse(text.replace(b"73.5133", b"99.9999"), "x", check_sha=True)
    short = tmp_path / "short.csv"
    short.write_bytes(b"\n".join(text.splitlines()[:100]))
    with pytest.raises(TableError, match="has 99 rows"):
        read_raw(short)
    renamed = tmp_path / "renamed.csv"
    renamed.write_bytes(text.replace(b"cifar100_val_12", b"c100_val", 1))
    with pytest.raises(TableError, match=r"missing columns \['cifar100_val_12'\]"):
        read_raw(renamed)
    garbled = tmp_path / "garbled.csv"
    garbled.write_bytes(text.replace(b"nor_conv_3x3~0", b"conv~0", 1))
    with pytest.raises(TableError, match="row 2: cannot parse"):
        read_raw(garbled)
    with pytest.raises(TableError, match="not a NAS-Bench-201 task"):
        load_table(get_task("cifar100"))


def expected_best_of(values: np.ndarray, n: int) -> tuple[float, float]:
    """Mean and std of the best of n uniform draws (with replacement) from ``values``: exact order statistic."""
    v = np.sort(values)
    cdf = np.arange(1, v.size + 1) / v.size
    mass = cdf**n - (cdf - 1 / v.size) ** n
    mean = float(mass @ v)
    return mean, float(np.sqrt(mass @ (v - mean) ** 2))


def test_random_search_matches_the_exact_order_statistic() -> None:
    from baselines import make_search

    runs, n = 60, 100
    env = automl_env.vector_env("nb201-cifar100", num_envs=n)
    values = np.array([float(r["cifar100_val_12"]) for r in ROWS]) / 100
    bests = []
    for seed in range(runs):
        search = make_search("random", env, seed=seed, batches=1)
        env.reset()
        _, rewards, *_ = env.step(search.act(n))
        bests.append(float(rewards["nas"].max()))
    mean, std = expected_best_of(values, n)
    assert abs(np.mean(bests) - mean) < 4 * std / np.sqrt(runs), (np.mean(bests), mean)
