"""HPOLib (FCNet) tasks: the shipped table (checksum, sampled rows, all rows where the source is present), the
score, the noise model (one recorded run per evaluation, its mean on request), the optimum, and random search's
best-of-N against the exact order statistic of the noise model.

The env API (PettingZoo's tests in both action modes) and the spaces' round trips cover these tasks through the
registry-driven tests (test_env_api.py, test_spaces.py).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import automl_env
from automl_env import Pipeline, get_task
from automl_env.backends.table.backend import TableBackend
from automl_env.backends.table.records import TableError, task_tokens
from automl_env.hpolib import (
    CONFIGURATIONS,
    DATASETS,
    SEED_COLUMNS,
    TABLE_FILE,
    TABLE_SHA256,
    choice_tokens,
    read_mse,
    row_codes,
)
from automl_env.modules import ConfigValueError, config_from_dict
from automl_env.modules.fcnet import FCLayer, FCTraining
from automl_env.order_statistics import expected_best_of_random

TASKS = {"naval_propulsion": "hpolib-naval", "parkinsons_telemonitoring": "hpolib-parkinsons"}
TASKS |= {"protein_structure": "hpolib-protein", "slice_localization": "hpolib-slice"}
SOURCE = Path("/work/shared/data/hpolib")
HEADER = "activation_fn_1,activation_fn_2,batch_size,dropout_1,dropout_2,init_lr,lr_schedule,n_units_1,n_units_2"
# Rows 1, 30,000 and 62,208 of each source CSV (shared/data/hpolib/<dataset>.csv.gz), copied verbatim.
SAMPLE = """\
naval_propulsion,relu,relu,8,0.0,0.0,0.0005,cosine,16,16,0.0017682454781606793,0.0020040383096784353,0.0027845464646816254,0.0016481878701597452
naval_propulsion,relu,tanh,64,0.6,0.0,0.005,const,32,512,0.17851698398590088,0.19624942541122437,0.12462621182203293,0.28222113847732544
naval_propulsion,tanh,tanh,64,0.6,0.6,0.1,const,512,512,1.1662683486938477,6.80674409866333,1.3754197359085083,8.955530166625977
parkinsons_telemonitoring,relu,relu,8,0.0,0.0,0.0005,cosine,16,16,0.11425743252038956,0.11206544190645218,0.1261294186115265,0.11288761347532272
parkinsons_telemonitoring,relu,tanh,64,0.6,0.0,0.005,const,32,512,0.2746383547782898,0.2404024749994278,0.3063347339630127,0.20758689939975739
parkinsons_telemonitoring,tanh,tanh,64,0.6,0.6,0.1,const,512,512,6.205442905426025,5.908977508544922,1.3242292404174805,3.3156232833862305
protein_structure,relu,relu,8,0.0,0.0,0.0005,cosine,16,16,0.341951459646225,0.34103745222091675,0.33918553590774536,0.33868858218193054
protein_structure,relu,tanh,64,0.6,0.0,0.005,const,32,512,0.39182671904563904,0.3965325355529785,0.39096519351005554,0.38939833641052246
protein_structure,tanh,tanh,64,0.6,0.6,0.1,const,512,512,2.3042681217193604,2.4665327072143555,2.5667378902435303,1.1711413860321045
slice_localization,relu,relu,8,0.0,0.0,0.0005,cosine,16,16,0.002408176427707076,0.0019091670401394367,0.002825625706464052,0.00291499518789351
slice_localization,relu,tanh,64,0.6,0.0,0.005,const,32,512,0.036579981446266174,0.03544672578573227,0.0789278894662857,0.024692032486200333
slice_localization,tanh,tanh,64,0.6,0.6,0.1,const,512,512,2.236285924911499,5.127954006195068,7.643651008605957,3.39688777923584
"""
FLOAT32 = 2.0**-24
"""The stated precision: values ship as float32, within half a unit in the last place (relative 6e-8)."""


def sample_rows() -> list[tuple[str, dict[str, str]]]:
    rows = []
    for line in SAMPLE.splitlines():
        dataset, rest = line.split(",", 1)
        rows.append((dataset, dict(zip([*HEADER.split(","), *SEED_COLUMNS], rest.split(","), strict=True))))
    return rows


@settings(max_examples=200, deadline=None)
@given(tokens=st.tuples(*(st.integers(0, n - 1) for n in (6, 2, 3, 6, 2, 3, 6, 4, 2))))
def test_tokens_and_the_tables_choices_map_one_to_one(tokens: tuple[int, ...]) -> None:
    """A pipeline's decoded configs, written as a CSV row's 9 choices, read back as the same tokens and row."""
    task = get_task("hpolib-protein")
    parts = dict(zip(task.modules, np.split(np.array(tokens), 3), strict=True))
    pipeline = Pipeline.of({name: space.decode(parts[name]) for name, space in task.modules.items()})
    layer1, layer2, training = pipeline["layer1"], pipeline["layer2"], pipeline["training"]
    assert isinstance(layer1, FCLayer) and isinstance(layer2, FCLayer) and isinstance(training, FCTraining)
    row = {
        "n_units_1": str(layer1.units),
        "activation_fn_1": layer1.activation,
        "dropout_1": str(layer1.dropout),
        "n_units_2": str(layer2.units),
        "activation_fn_2": layer2.activation,
        "dropout_2": str(layer2.dropout),
        "init_lr": str(training.init_lr),
        "batch_size": str(training.batch_size),
        "lr_schedule": training.schedule,
    }
    assert choice_tokens(row) == list(tokens)
    assert row_codes(np.array([tokens]))[0] == row_codes(task_tokens(task, [pipeline]))[0]


def test_the_shipped_file_is_the_checksummed_one() -> None:
    data = (resources.files("automl_env") / "data" / TABLE_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == TABLE_SHA256
    assert len(data) < 3_200_000  # compact: float32, byte-shuffled, deflated


def test_a_corrupted_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not a table")
    with pytest.raises(TableError, match="not an HPOLib table"):
        read_mse(bad)


@pytest.mark.parametrize("mode", ["env", "backend"])
def test_sampled_rows_match_the_source_for_every_run(mode: str) -> None:
    for dataset, row in sample_rows():
        expected = np.array([float(row[c]) for c in SEED_COLUMNS])
        tokens = np.array(choice_tokens(row))
        if mode == "backend":
            served = read_mse()[dataset][row_codes(tokens[None])[0]]
        else:  # through the env: evaluation seeds 0..3 read each of the 4 runs once (Records.runs_at)
            served = np.array([mse_through_env(TASKS[dataset], tokens, seed) for seed in range(4)])
        np.testing.assert_allclose(np.sort(served), np.sort(expected), rtol=FLOAT32, atol=0)


def mse_through_env(task: str, tokens: np.ndarray, seed: int) -> float:
    env = automl_env.parallel_env(task, seed=seed, infos="full")
    env.reset(seed=0)
    actions = dict(zip(env.agents, np.split(tokens, 3), strict=True))
    _, rewards, _, _, infos = env.step(actions)
    info = infos["layer1"]
    assert rewards["layer1"] == info["reward"] == info["accuracy"]
    expected_score = DATASETS[get_task(task).dataset].score(np.array([info["metrics"]["mse"]]))[0]
    assert info["accuracy"] == pytest.approx(expected_score, abs=1e-12), "the score is the stated map of the MSE read"
    return float(info["metrics"]["mse"])


@pytest.mark.slow
@pytest.mark.skipif(not SOURCE.is_dir(), reason="the source CSVs (shared/data/hpolib) are not on this machine")
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_every_value_matches_the_source(dataset: str) -> None:
    with gzip.open(SOURCE / f"{dataset}.csv.gz", "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    codes = row_codes(np.array([choice_tokens(row) for row in rows]))
    expected = np.array([[float(row[c]) for c in SEED_COLUMNS] for row in rows])
    assert sorted(codes.tolist()) == list(range(CONFIGURATIONS))
    np.testing.assert_allclose(read_mse()[dataset][codes], expected, rtol=FLOAT32, atol=0)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_the_score_is_in_0_1_monotone_and_its_constants_fit_the_table(dataset: str) -> None:
    mse, constants = read_mse()[dataset], DATASETS[dataset]
    score = constants.score(mse)
    assert score.min() >= 0.0 and score.max() <= 1.0
    order = np.argsort(mse.ravel())
    assert np.all(np.diff(score.ravel()[order]) <= 0), "higher MSE never scores higher"
    assert constants.mse_best <= mse.min() < constants.mse_best * 1.01  # the best run, rounded down
    assert np.quantile(mse, 0.99) == pytest.approx(constants.mse_q99, rel=0.01)
    assert 0.98 < score.max() <= 1.0 and np.mean(score == 0.0) == pytest.approx(0.01, abs=0.002)


def test_the_optimum_is_the_best_seed_mean() -> None:
    backend = TableBackend("hpolib-protein")
    optimum = backend.optimum()
    assert optimum is not None and optimum.exact
    scores = backend.table.records(get_task("hpolib-protein").search_fidelity).accuracy
    assert optimum.accuracy == scores.mean(axis=1).max()
    # The benchmark's README: best (seed-mean) protein configuration.
    expected = Pipeline.of(
        {
            "layer1": FCLayer(512, "relu", 0.0),
            "layer2": FCLayer(512, "relu", 0.3),
            "training": FCTraining(0.0005, 8, "cosine"),
        }
    )
    assert optimum.pipeline == expected
    assert backend.noise_free_accuracy([expected])[0] == optimum.accuracy


def test_runs_mean_serves_the_noise_free_value() -> None:
    noisy, mean = TableBackend("hpolib-slice"), TableBackend("hpolib-slice", runs="mean")
    assert noisy.noisy and not mean.noisy
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, noisy.table.nvec, size=(200, 9))
    pipelines = [noisy.pipeline_of(t) for t in tokens]
    draws = np.array([noisy.evaluate_tokens(tokens, seed=s) for s in range(4)])
    np.testing.assert_allclose(draws.mean(axis=0), noisy.noise_free(tokens), rtol=1e-12)
    recorded = noisy.table.records(get_task("hpolib-slice").search_fidelity).accuracy[row_codes(tokens)]
    np.testing.assert_array_equal(np.sort(draws.T, axis=1), np.sort(recorded, axis=1))  # seeds 0..3 read each run
    for seed in (0, 7):
        np.testing.assert_array_equal(mean.evaluate_tokens(tokens, seed=seed), noisy.noise_free(tokens))
    results = mean.evaluate(pipelines[:5], seed=3)
    mse = read_mse()["slice_localization"][row_codes(task_tokens(get_task("hpolib-slice"), pipelines[:5]))]
    np.testing.assert_allclose([r.metrics["mse"] for r in results], mse.mean(axis=1), rtol=1e-12)


@pytest.mark.parametrize("task", list(TASKS.values()))
def test_every_token_position_changes_the_recorded_results(task: str) -> None:
    """The table-level inert-token check (the training-level one, tests/test_inert_tokens.py, needs a network)."""
    backend = TableBackend(task)
    tokens = np.random.default_rng(0).integers(0, backend.table.nvec, size=(50, 9))
    base = backend.noise_free(tokens)
    for position, n in enumerate(backend.table.nvec):
        changed = tokens.copy()
        changed[:, position] = (changed[:, position] + 1) % n
        assert np.any(backend.noise_free(changed) != base), f"{task}: token {position} changes nothing"


def test_bad_configs_name_the_field() -> None:
    with pytest.raises(ConfigValueError, match="units"):
        FCLayer(100, "relu", 0.0)
    with pytest.raises(ConfigValueError, match="schedule"):
        config_from_dict({"kind": "fc_training", "init_lr": 0.001, "batch_size": 8, "schedule": "step"})
    with pytest.raises(TypeError, match="batch_size"):
        FCTraining(0.001, 8.0, "cosine")  # type: ignore[arg-type]


def test_random_search_best_of_n_is_the_order_statistic_of_the_noise_model() -> None:
    """Uniform pipelines, one batch per evaluation seed as ``run_search`` evaluates them: the mean observed best of
    n matches the exact expectation over every (pipeline, run) value, each drawn with chance 1 / (4 M)."""
    backend = TableBackend("hpolib-parkinsons")
    scores = backend.table.records(get_task("hpolib-parkinsons").search_fidelity).accuracy
    n, runs, rng = 50, 400, np.random.default_rng(0)
    best, best_noise_free = np.empty(runs), np.empty(runs)
    for r in range(runs):
        tokens = rng.integers(0, backend.table.nvec, size=(n, 9))
        observed = backend.evaluate_tokens(tokens, seed=1_000 + r)
        best[r] = observed.max()
        best_noise_free[r] = backend.noise_free(tokens[[int(np.argmax(observed))]])[0]
    expected = expected_best_of_random(scores, n)
    spread = np.sqrt(expected_best_of_random(scores**2, n) - expected**2)  # scores >= 0: max(v)^2 = max(v^2)
    assert abs(best.mean() - expected) < 4 * spread / np.sqrt(runs)
    # The noise-free target is lower: the observed best is partly a lucky run (the winner's curse) ...
    noise_free_target = expected_best_of_random(scores.mean(axis=1), n)
    assert noise_free_target < expected - spread / np.sqrt(runs)
    # ... and the pipeline random search returns is worth less than it observed.
    assert best_noise_free.mean() < best.mean()
