"""The generic table backend: a store's export served back exactly, a complete table's optimum and search, clear
errors for tables that cannot serve, the index; and the training backend training a NAS-Bench-201 cell for real.

NAS-Bench-201's shipped table is tested in ``test_nb201.py``.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import automl_env
from automl_env import Pipeline, get_task
from automl_env.backends.base import BackendSetupError, EvalResult, Fidelity
from automl_env.backends.synthetic.backend import SyntheticBackend
from automl_env.backends.table.backend import TableBackend
from automl_env.backends.table.records import RecordedTable, Records, TableError, TableIndex, task_tokens
from automl_env.backends.table.surrogate import Surrogate
from automl_env.cost import arch_cost
from automl_env.modules.nb201 import OPERATIONS, NB201Node, NB201NodeSpace
from automl_env.store import EvalStore
from automl_env.tasks import TaskSpec

TASK = get_task("cifar100")
SEEDS = (0, 1, 2)
SPARSE_SEEDS = (0, 2)
"""Seeds of the one pipeline recorded at two seeds only: its unrecorded seeds pick among its own two runs."""
FAILURE = "diverged: non-finite training loss after 3 steps"


def random_pipelines(task: TaskSpec, n: int, rng: np.random.Generator) -> list[Pipeline]:
    return [
        Pipeline.of({name: space.decode(rng.integers(0, space.nvec)) for name, space in task.modules.items()})
        for _ in range(n)
    ]


@dataclass(frozen=True)
class Recorded:
    """Synthetic evaluations of TASK put into a store, and the store's exports."""

    folder: Path
    pipelines: list[Pipeline]
    results: dict[int, list[EvalResult]]
    """Seed -> the stored result of each of ``pipelines``."""
    sparse: Pipeline
    sparse_results: dict[int, EvalResult]
    failed: Pipeline
    retrained: list[Pipeline]
    """``pipelines[0]`` and two pipelines recorded only by a final training (task "cifar100/retrain")."""
    retrain_results: list[EvalResult]

    def export(self, suffix: str) -> Path:
        return self.folder / f"store.{suffix}"

    def rows(self) -> list[dict[str, str]]:
        with self.export("csv").open(newline="") as handle:
            return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("recorded")
    rng = np.random.default_rng(0)
    pipelines = random_pipelines(TASK, 60, rng)  # enough rows for the surrogate's trees to split
    sparse, failed, *only_retrained = random_pipelines(TASK, 4, rng)
    store = EvalStore(folder / "store.sqlite")
    search, final = TASK.search_fidelity, TASK.final_fidelity
    synthetic = SyntheticBackend(TASK, noise=0.01)  # with noise, each seed is a different run
    results = {seed: synthetic.evaluate(pipelines, fidelity=search, seed=seed) for seed in SEEDS}
    for seed, seed_results in results.items():
        for pipeline, result in zip(pipelines, seed_results, strict=True):
            store.put(TASK, pipeline, search, seed, result)
    sparse_results = {seed: synthetic.evaluate([sparse], fidelity=search, seed=seed)[0] for seed in SPARSE_SEEDS}
    for seed, result in sparse_results.items():
        store.put(TASK, sparse, search, seed, result)
    failure = EvalResult.failed(reason=FAILURE, backend="train", flops=1.5e8, params=2.5e6, cost_seconds=30.0)
    store.put(TASK, failed, search, 0, failure)
    retrained = [pipelines[0], *only_retrained]
    # Another noise level, so that pipelines[0]'s test accuracy differs from its validation accuracy.
    retrain_results = SyntheticBackend(TASK, noise=0.05).evaluate(retrained, fidelity=final, seed=0)
    for pipeline, result in zip(retrained, retrain_results, strict=True):
        store.put(f"{TASK.name}/retrain", pipeline, final, 0, result)  # where TrainingBackend.retrain stores
    store.export(folder / "store.csv")
    store.export(folder / "store.json")
    return Recorded(folder, pipelines, results, sparse, sparse_results, failed, retrained, retrain_results)


def assert_served(served: EvalResult, stored: EvalResult) -> None:
    assert (served.status, served.backend, served.metrics) == ("ok", "table", {"recorded": 1.0}), served
    assert served.accuracy == stored.accuracy
    assert (served.flops, served.params, served.cost_seconds) == (stored.flops, stored.params, stored.cost_seconds)


@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_recorded_evaluations_are_served_exactly(recorded: Recorded, suffix: str) -> None:
    backend = TableBackend(TASK, table=recorded.export(suffix))
    assert backend.name == "table"
    for seed in SEEDS:
        for served, stored in zip(backend.evaluate(recorded.pipelines, seed=seed), recorded.results[seed], strict=True):
            assert_served(served, stored)
    for seed in SPARSE_SEEDS:
        assert_served(backend.evaluate([recorded.sparse], seed=seed)[0], recorded.sparse_results[seed])


def test_an_unrecorded_seed_draws_a_run_per_pipeline(recorded: Recorded) -> None:
    backend = TableBackend(TASK, table=recorded.export("csv"))
    assert backend.noisy
    pipelines, tokens = [*recorded.pipelines, recorded.sparse], task_tokens(TASK, recorded.pipelines)
    stored = [[recorded.results[s][i] for s in SEEDS] for i in range(len(recorded.pipelines))]
    stored.append([recorded.sparse_results[s] for s in SPARSE_SEEDS])
    runs_of = {seed: [] for seed in range(10, 16)}  # seeds 10..15: none recorded, 6 = lcm(3, 2) of them
    for seed, runs in runs_of.items():
        results = backend.evaluate(pipelines, seed=seed)
        for served, own in zip(results, stored, strict=True):
            matches = [k for k, r in enumerate(own) if r.accuracy == served.accuracy]
            assert len(matches) == 1, "an unrecorded seed serves one of the pipeline's own runs"
            assert_served(served, own[matches[0]])
            runs.append(matches[0])
        assert results == backend.evaluate(pipelines, seed=seed), "the same seed serves the same runs"
        np.testing.assert_array_equal(backend.evaluate_tokens(tokens, seed=seed), [r.accuracy for r in results[:-1]])
    # One seed: the pipelines read different runs (seed % k would read one column for all of them) ...
    assert all(len(set(runs)) == len(SEEDS) for runs in runs_of.values())
    # ... and consecutive seeds read each of a pipeline's k runs once: seeds 10..12 for 3 runs, 10..11 for 2.
    for i in range(len(pipelines)):
        k = len(stored[i])
        assert sorted(runs_of[10 + j][i] for j in range(k)) == list(range(k))


def test_a_recorded_failure_fails_again_with_its_reason(recorded: Recorded) -> None:
    (result,) = TableBackend(TASK, table=recorded.export("json")).evaluate([recorded.failed], seed=5)
    assert (result.status, result.backend, result.accuracy) == ("failed", "table", 0.0)
    assert result.reason.endswith(f"store.json: {FAILURE}") and "recorded as failed" in result.reason
    assert (result.flops, result.params) == (1.5e8, 2.5e6)


def test_an_unrecorded_pipeline_needs_a_surrogate(recorded: Recorded) -> None:
    backend = TableBackend(TASK, table=recorded.export("csv"))
    new = random_pipelines(TASK, 2, np.random.default_rng(1))
    results = backend.evaluate([recorded.pipelines[3], *new])
    assert results[0].ok and results[0].metrics == {"recorded": 1.0}
    for pipeline, result in zip(new, results[1:], strict=True):
        assert (result.status, result.backend) == ("failed", "table")
        assert "not recorded" in result.reason and "no surrogate" in result.reason, result.reason
        fidelity = TASK.search_fidelity
        cost = arch_cost(pipeline["nas"], num_classes=100, image_size=32, in_channels=3,
                         cells=fidelity.cells, channels=fidelity.channels)  # fmt: skip
        assert (result.flops, result.params) == (cost.macs, cost.params)
    with pytest.raises(ValueError, match=r"not recorded .* no surrogate"):
        backend.evaluate_tokens(task_tokens(TASK, new))


def test_a_surrogate_predicts_unrecorded_pipelines(recorded: Recorded) -> None:
    backend = TableBackend(TASK, table=recorded.export("csv"), surrogate="hist_gb")
    new = random_pipelines(TASK, 3, np.random.default_rng(2))
    results = backend.evaluate([*new, recorded.pipelines[0]], seed=1)
    for result in results[:3]:
        assert (result.status, result.backend, result.metrics) == ("ok", "table", {"recorded": 0.0}), result
        assert 0.0 <= result.accuracy <= 1.0 and result.flops > 0 and result.cost_seconds > 0
    assert_served(results[3], recorded.results[1][0])
    (fit,) = backend.describe()["surrogate"].values()
    # 62 rows, less the failed one, split 80/20 (the failed row has no accuracy to fit)
    assert (fit["kind"], fit["train_rows"], fit["held_out_rows"]) == ("hist_gb", 49, 12)
    assert set(fit) == {"kind", "train_rows", "held_out_rows", "spearman", "r2"}


def test_the_averaged_surrogate_predicts_the_mean_of_the_two_models() -> None:
    pytest.importorskip("sklearn")
    nvec = (3, 4, 2)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, nvec, size=(80, 3))
    accuracy = 0.5 + 0.1 * tokens[:, 0] - 0.05 * tokens[:, 1] * tokens[:, 2] + rng.normal(0, 0.01, 80)
    fitted = {kind: Surrogate(kind, nvec, seed=3).fit(tokens, accuracy) for kind in ("hist_gb", "random_forest")}
    averaged = Surrogate("averaged", nvec, seed=3).fit(tokens, accuracy)
    new = rng.integers(0, nvec, size=(20, 3))
    mean = (fitted["hist_gb"].predict(new) + fitted["random_forest"].predict(new)) / 2
    np.testing.assert_allclose(averaged.predict(new), mean, rtol=0, atol=1e-12)
    assert not np.allclose(fitted["hist_gb"].predict(new), fitted["random_forest"].predict(new))


def test_describe_reports_the_groups_and_a_partial_table_has_no_optimum(recorded: Recorded) -> None:
    backend = TableBackend(TASK, table=recorded.export("csv"))
    described = backend.describe()
    assert (described["backend"], described["task"], described["surrogate"]) == ("table", "cifar100", None)
    assert described["source"] == str(recorded.export("csv"))
    groups = {group["split"]: group for group in described["groups"]}
    assert groups["validation"] == {
        "fidelity": TASK.search_fidelity.key,
        "split": "validation",
        "rows": 62,
        "seeds": list(SEEDS),
        "complete": False,
        "failed_rows": 1,
    }
    assert groups["test"] == {
        "fidelity": TASK.final_fidelity.key,
        "split": "test",
        "rows": 3,
        "seeds": [0],
        "complete": False,
        "failed_rows": 0,
    }
    assert backend.optimum() is None and backend.optimum(split="test") is None and not backend.complete()


def test_final_trainings_are_served_by_retrain_and_never_by_evaluate(recorded: Recorded) -> None:
    backend = TableBackend(TASK, table=recorded.export("json"))
    for pipeline, stored in zip(recorded.retrained, recorded.retrain_results, strict=True):
        assert_served(backend.retrain(pipeline), stored)
    first = recorded.retrained[0]
    validation = backend.evaluate([first])[0]
    assert validation.accuracy == recorded.results[0][0].accuracy != backend.retrain(first).accuracy
    for result in backend.evaluate(recorded.retrained[1:]):
        assert result.status == "failed" and "not recorded" in result.reason
    with pytest.raises(TableError, match="only test accuracy"):
        backend.evaluate([first], fidelity=TASK.final_fidelity)
    with pytest.raises(ValueError, match=r"lr_scale=4\.0"):
        backend.retrain(first, lr_scale=4.0)
    assert backend.retrain(recorded.pipelines[5]).reason.startswith("not recorded")


# -- a complete table on a tiny task -----------------------------------------------------------------------------

NODE2 = TaskSpec(
    name="table-test-node2",  # not registered: a TaskSpec goes everywhere a task name does
    dataset="none",
    num_classes=10,
    image_size=8,
    in_channels=3,
    modules={"node2": NB201NodeSpace(2)},
    arch_module=None,
    default_backend="table",
)
NODE2_TOKENS = np.array(list(itertools.product(range(len(OPERATIONS)), repeat=2)), dtype=np.int64)


@dataclass(frozen=True)
class Complete:
    path: Path
    accuracy: np.ndarray
    """(25, 2): the accuracy of each of NODE2_TOKENS' pipelines at seeds 0 and 1."""

    def pipeline(self, row: int) -> Pipeline:
        return Pipeline.of({"node2": NB201Node(2, tuple(OPERATIONS[t] for t in NODE2_TOKENS[row]))})

    @staticmethod
    def row_of(pipeline: Pipeline) -> int:
        return int(np.ravel_multi_index(NB201NodeSpace(2).encode(pipeline["node2"]), NB201NodeSpace(2).nvec))


@pytest.fixture(scope="module")
def complete(tmp_path_factory: pytest.TempPathFactory) -> Complete:
    folder = tmp_path_factory.mktemp("complete")
    table = Complete(folder / "node2.csv", np.random.default_rng(3).uniform(0.3, 0.9, size=(len(NODE2_TOKENS), 2)))
    store = EvalStore(folder / "node2.sqlite")
    for row, seed in itertools.product(range(len(NODE2_TOKENS)), (0, 1)):
        cost = 10.0 + seed  # each run its own training time
        result = EvalResult(float(table.accuracy[row, seed]), 1e6 * (row + 1), 1e3 * (row + 1), cost, "train")
        store.put(NODE2, table.pipeline(row), NODE2.search_fidelity, seed, result)
    store.export(table.path)
    return table


def test_an_export_of_two_data_contexts_is_never_served_as_one_table(recorded: Recorded, tmp_path: Path) -> None:
    """A store reused with other data holds both datasets' results; a table of its export must pick one."""
    store = EvalStore(tmp_path / "two.sqlite")
    pipeline = recorded.pipelines[0]
    first, other = recorded.results[0][0], dataclasses.replace(recorded.results[0][0], accuracy=0.123)
    store.put(TASK, pipeline, TASK.search_fidelity, 0, first, context="data=aaaa")
    store.put(TASK, pipeline, TASK.search_fidelity, 0, other, context="data=bbbb")
    export = store.export(tmp_path / "two.csv")
    with pytest.raises(TableError, match=r"2 contexts.*'data=aaaa'; 'data=bbbb'.*context="):
        TableBackend(TASK, table=export)
    for context, stored in (("data=aaaa", first), ("data=bbbb", other)):
        [served] = TableBackend(TASK, table=export, context=context).evaluate([pipeline])
        assert served.accuracy == stored.accuracy
    with pytest.raises(TableError, match="no rows of context 'data=cccc'"):
        TableBackend(TASK, table=export, context="data=cccc")


def test_the_optimum_of_a_complete_table_is_exact(complete: Complete) -> None:
    backend = TableBackend(NODE2, table=complete.path)
    assert backend.complete() and backend.describe()["groups"][0]["complete"]
    mean = complete.accuracy.mean(axis=1)
    optimum = backend.optimum()
    assert optimum is not None and optimum.exact
    assert optimum.accuracy == optimum.pipeline_accuracy == pytest.approx(mean.max(), rel=1e-12)
    assert optimum.pipeline == complete.pipeline(int(np.argmax(mean)))
    for seed in (0, 1):
        np.testing.assert_array_equal(backend.evaluate_tokens(NODE2_TOKENS, seed=seed), complete.accuracy[:, seed])


def test_a_search_runs_on_a_table_through_the_vector_env(complete: Complete, tmp_path: Path) -> None:
    from baselines import make_search
    from ma2ml_agents import run_search

    env = automl_env.vector_env(NODE2, num_envs=5, backend="table", backend_options={"table": str(complete.path)})
    assert isinstance(env.backend, TableBackend)
    search = make_search("rea", env, seed=0, batches=4)
    result = run_search(env, search, batches=4, batch_size=5, top_k=3, out_dir=tmp_path, seed=0, progress=False)
    assert result.evaluations == 20 and result.best_info["backend"] == "table"
    with (tmp_path / "evaluations.csv").open(newline="") as handle:
        evaluations = list(csv.DictReader(handle))
    assert len(evaluations) == 20
    for evaluation in evaluations:  # the env evaluates at seed 0: seed 0's runs, each with its own cost
        row = complete.row_of(Pipeline.from_json(evaluation["pipeline"]))
        assert (evaluation["status"], evaluation["backend"]) == ("ok", "table")
        assert float(evaluation["reward"]) == complete.accuracy[row, 0]
        assert (float(evaluation["flops"]), float(evaluation["cost_seconds"])) == (1e6 * (row + 1), 10.0)
    assert result.best_reward == max(float(evaluation["reward"]) for evaluation in evaluations)


# -- tables that cannot serve --------------------------------------------------------------------------------------


def rewrite_csv(recorded: Recorded, path: Path, change: Callable[[list[dict[str, str]]], None]) -> Path:
    rows = recorded.rows()
    change(rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def set_column(
    column: str, value: str | Callable[[str], str], *, row: int | None = None
) -> Callable[[list[dict[str, str]]], None]:
    """Set ``column`` of data row ``row`` (1-based, as the errors count) or of every row."""

    def change(rows: list[dict[str, str]]) -> None:
        for number, r in enumerate(rows, start=1):
            if row is None or number == row:
                r[column] = value(r[column]) if callable(value) else value

    return change


def drop_columns(*columns: str) -> Callable[[list[dict[str, str]]], None]:
    def change(rows: list[dict[str, str]]) -> None:
        for r in rows:
            for column in columns:
                del r[column]

    return change


def repeat_a_pipeline(rows: list[dict[str, str]]) -> None:
    """The same pipeline again under a differently written JSON: another entry, the same tokens."""
    repeated = dict(rows[0], seed="9", pipeline=json.dumps(json.loads(rows[0]["pipeline"]), indent=1))
    rows.append(repeated)


def percent(value: str) -> str:
    return str(100 * float(value))


CSV_ERRORS: dict[str, tuple[Callable[[list[dict[str, str]]], None], str]] = {
    "missing columns": (drop_columns("status", "accuracy"), r"row 1: missing columns \['status', 'accuracy'\]"),
    "another task": (set_column("task", "cifar10", row=3), r"row 3: recorded for task 'cifar10', not 'cifar100'"),
    "non-numeric": (set_column("accuracy", "n/a", row=2), r"row 2: accuracy='n/a' is not a number"),
    "unknown status": (set_column("status", "running", row=4), r"row 4: status 'running' is neither 'ok' nor 'failed'"),
    "percent": (set_column("accuracy", percent), r"fractions in \[0, 1\].*divided by 100"),
    "duplicate": (repeat_a_pipeline, r"\.csv, fidelity .*: the pipeline of record \d+ appears twice"),
}


@pytest.mark.parametrize("case", sorted(CSV_ERRORS))
def test_a_bad_csv_is_a_clear_setup_error(recorded: Recorded, tmp_path: Path, case: str) -> None:
    change, message = CSV_ERRORS[case]
    path = rewrite_csv(recorded, tmp_path / "table.csv", change)
    with pytest.raises(TableError, match=message) as raised:
        TableBackend(TASK, table=path)
    assert isinstance(raised.value, BackendSetupError) and isinstance(raised.value, ValueError)


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "table.pkl": (b"\x80\x04\x95\x00", r"\(\.csv or \.json\), not '\.pkl'; never pickles"),
    "table.pickle": (b"\x80\x04\x95\x00", r"never pickles"),
    "list.json": (b"[1, 2]", r"expected an EvalStore JSON export"),
    "rows-not-records.json": (b'{"schema_version": 1, "rows": [1, 2]}', r"expected an EvalStore JSON export"),
    "no-rows.json": (b'{"schema_version": 1}', r"expected an EvalStore JSON export"),
    "truncated.json": (b'{"rows": [', r"cannot read export"),
    "binary.csv": (bytes(range(128, 256)) * 4, r"cannot read export"),
    "binary.json": (b"\xff\xfe\x00\x81" * 64, r"cannot read export"),
    "empty.csv": (b"", r"no records for task 'cifar100'"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_file_that_is_not_an_export_is_a_clear_setup_error(tmp_path: Path, name: str) -> None:
    data, message = BAD_FILES[name]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(TableError, match=message):
        TableBackend(TASK, table=tmp_path / name)


def test_a_missing_file_is_a_clear_setup_error(tmp_path: Path) -> None:
    with pytest.raises(BackendSetupError, match=r"absent\.csv does not exist"):
        TableBackend(TASK, table=tmp_path / "absent.csv")
    with pytest.raises(TableError, match="ships no table: pass table="):
        TableBackend(TASK)


def test_an_unrecorded_fidelity_lists_what_the_table_holds(recorded: Recorded) -> None:
    backend = TableBackend(TASK, table=recorded.export("csv"))
    fidelity = Fidelity(epochs=3)
    with pytest.raises(TableError, match=f"no validation accuracy at fidelity {fidelity.key}") as raised:
        backend.evaluate([recorded.pipelines[0]], fidelity=fidelity)
    assert f"{TASK.search_fidelity.key} (validation, 62 rows)" in str(raised.value)
    assert f"{TASK.final_fidelity.key} (test, 3 rows)" in str(raised.value)
    with pytest.raises(TableError, match="no test accuracy"):
        backend.retrain(recorded.pipelines[0], fidelity=fidelity)


def test_the_index_refuses_a_pipeline_twice() -> None:
    tokens = np.array([[0, 1], [2, 3], [0, 1]], dtype=np.int64)
    with pytest.raises(TableError, match="record 0 appears twice"):
        TableIndex([5, 5], tokens)
    records = Records(fidelity=NODE2.search_fidelity, split="validation", tokens=tokens, accuracy=np.full((3, 1), 0.5))
    with pytest.raises(TableError, match="twice"):
        RecordedTable(NODE2, [records], source="in memory")


# -- the index -----------------------------------------------------------------------------------------------------


def token_rows(rows: list[tuple[int, ...]], width: int) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


@st.composite
def index_cases(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, ...]], list[tuple[int, ...]]]:
    """(nvec, distinct stored rows, probe rows); half the spaces exceed 2**62 token vectors (the hashed index)."""
    if draw(st.booleans()):
        nvec = draw(st.lists(st.integers(2**7, 2**20), min_size=10, max_size=12))
    else:
        nvec = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    row = st.tuples(*(st.integers(0, n - 1) for n in nvec))
    stored = draw(st.lists(row, unique=True, max_size=40))
    probes = draw(st.lists(st.sampled_from(stored) | row if stored else row, max_size=40))
    return nvec, stored, probes


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(index_cases())
def test_the_index_finds_each_row_and_nothing_else(
    case: tuple[list[int], list[tuple[int, ...]], list[tuple[int, ...]]],
) -> None:
    nvec, stored, probes = case
    index = TableIndex(nvec, token_rows(stored, len(nvec)))
    assert index.exact == (math.prod(nvec) < 2**62)
    np.testing.assert_array_equal(index.rows(token_rows(stored, len(nvec))), np.arange(len(stored)))
    # Near misses (one token changed) besides the drawn probes; in a small space, every token vector.
    near = [(*r[:-1], (r[-1] + 1) % nvec[-1]) for r in stored]
    every = list(itertools.product(*(range(n) for n in nvec))) if index.exact else []
    position = {r: i for i, r in enumerate(stored)}
    for queries in (probes, near, every):
        expected = [position.get(tuple(q), -1) for q in queries]
        np.testing.assert_array_equal(index.rows(token_rows(queries, len(nvec))), expected)


# -- the training backend on NAS-Bench-201 cells -------------------------------------------------------------------

TRAIN_FIDELITY = Fidelity(epochs=1, train_subset=64, cells=1, channels=4, batch_size=32, warmup_epochs=0)
BEST_CIFAR100_NODES = {  # NAS-Bench-201's best CIFAR-100 cell (index 9930), one agent per node
    "node1": NB201Node(1, ("nor_conv_3x3",)),
    "node2": NB201Node(2, ("nor_conv_3x3", "nor_conv_3x3")),
    "node3": NB201Node(3, ("skip_connect", "nor_conv_3x3", "nor_conv_3x3")),
}


def test_the_training_backend_trains_nb201_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from test_training_data import trust_cifar100_files, write_cifar100

    from automl_env.backends.training import TrainingBackend

    trust_cifar100_files(monkeypatch, write_cifar100(tmp_path))
    nodes = Pipeline.of(BEST_CIFAR100_NODES)
    cell = Pipeline.of({"nas": get_task("nb201-cifar100-nodes").architecture(nodes)})
    cases = [
        ("nb201-cifar100", get_task("nb201-cifar100").default_pipeline()),
        ("nb201-cifar100", cell),
        ("nb201-cifar100-nodes", nodes),
    ]
    trained = []
    for name, pipeline in cases:
        task = get_task(name)
        backend = TrainingBackend(task, data_root=tmp_path, device="cpu", download=False, num_threads=1)
        (result,) = backend.evaluate([pipeline], fidelity=TRAIN_FIDELITY)
        assert (result.status, result.backend) == ("ok", "train"), result.reason
        arch = task.architecture(pipeline)
        assert arch is not None
        cost = arch_cost(arch, num_classes=100, image_size=32, in_channels=3, cells=1, channels=4)
        assert (result.flops, result.params) == (cost.macs, cost.params) and cost.macs > 0
        trained.append(result)
    default, by_cell, by_nodes = trained
    assert default.flops != by_cell.flops  # two different networks
    # the nodes' agents assemble the very cell the single agent chooses: the same network, trained the same way
    assert (by_nodes.accuracy, by_nodes.metrics["final_loss"]) == (by_cell.accuracy, by_cell.metrics["final_loss"])


def test_the_training_backend_stops_on_a_dataset_it_cannot_read(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from automl_env.backends.training import TrainingBackend

    task = get_task("nb201-imagenet16")
    with pytest.raises(BackendSetupError, match="no reader for dataset 'imagenet16-120'"):  # when it is built
        TrainingBackend(task, data_root=tmp_path, device="cpu", download=False)
