"""The paper's peers as searches of ``automl-env benchmark`` and ``automl-env train``: DHA's run folder, its scored
answer, its budget and the usage errors where it cannot run (tiny Fashion-MNIST-shaped data written by the test);
AutoHAS through the train command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from test_training_data import write_fashion_mnist  # noqa: E402

from automl_env import Pipeline, cli  # noqa: E402
from automl_env.modules.hparams import HParams  # noqa: E402
from automl_env.modules.nb201 import NB201Cell  # noqa: E402
from baselines.dha import DHAResult  # noqa: E402
from baselines.dha.answer import check_setting, pipeline_of  # noqa: E402
from baselines.dha.command import budget_config  # noqa: E402

TASK = "fashion-mnist-nb201"
CELL = ("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "skip_connect")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _check_run_folder(folder: Path, *, steps: int, evaluations: int) -> dict[str, str]:
    """The files of a DHA run; returns its one evaluation row, checked against its result and answer."""
    result = json.loads((folder / "result.json").read_text())["result"]
    answer = json.loads((folder / "pipeline.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    assert config["algorithm"] == "dha" and config["algorithm_config"]["steps"] == steps
    assert [int(row["step"]) for row in _rows(folder / "curve.csv")] == list(range(steps))
    (row,) = _rows(folder / "evaluations.csv")
    pipeline = Pipeline.from_json(row["pipeline"])
    assert int(row["evaluation"]) == evaluations and row["status"] == "ok"
    assert row["digest"] == pipeline.digest == answer["digest"] and float(row["reward"]) == answer["reward"]
    assert pipeline["nas"] == NB201Cell(tuple(result["cell"]))  # the cell DHA trained is the one scored
    assert float(row["cost_seconds"]) == pytest.approx(result["seconds"])  # its compute: DHA's training
    assert 0.0 <= result["test_accuracy"] <= 1.0 and answer["test_accuracy"] == result["test_accuracy"]
    return row


def test_benchmark_runs_dha_scores_its_pipeline_and_reports_it_only_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl_env.backends.training import data

    # The benchmark takes numeric backend options only, so the data is found where a default root looks:
    # a home folder of the test's own; the dataset cache is the test's too (no other test sees this data).
    write_fashion_mnist(tmp_path / "home" / ".cache" / "automl_env" / "data", n_train=300, n_test=50)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(data, "_CACHE", {})
    out = tmp_path / "bench"
    argv = ["benchmark", "--task", TASK, "--backend", "train", "--algorithms", "dha", "random", "--seeds", "0"]
    argv += ["--batches", "1", "--batch-size", "2", "--budgets", "1", "2", "--workers", "1", "--set", "steps=3"]
    assert cli.main([*argv, "--out", str(out)]) == 0

    row = _check_run_folder(out / "dha" / "seed0", steps=3, evaluations=2)
    done = json.loads((out / "dha" / "seed0" / "done.json").read_text())
    assert done["best_reward"] == float(row["reward"]) and done["algorithm_config"]["steps"] == 3
    text = (out / "results.md").read_text()
    early, late = text.split("### After 2 evaluations")
    (dha_early,) = [line for line in early.splitlines() if line.startswith("| dha |")]
    (dha_late,) = [line for line in late.splitlines() if line.startswith("| dha |")]
    assert "| one-shot |" in dha_early and "| n/a |" in dha_early  # no answer before its last step
    assert f"| {float(row['reward']):.4f} ± n/a |" in dha_late
    assert "trained one network for 3 steps" in text
    assert any(r["algorithm"] == "dha" and r["evaluation"] == "2" for r in _rows(out / "evaluations.csv"))


def test_train_runs_dha_for_its_budget_and_keeps_a_finished_folder(tmp_path: Path) -> None:
    root = write_fashion_mnist(tmp_path / "data", n_train=300, n_test=50)
    out = tmp_path / "run"
    argv = ["train", "--task", TASK, "--backend", "train", "--algorithm", "dha", "--data-root", str(root)]
    argv += ["--batches", "1", "--batch-size", "3", "--fidelity", "train_subset=64", "--out", str(out)]
    assert cli.main(argv) == 0
    _check_run_folder(out, steps=3, evaluations=3)  # budget: one DHA step per evaluation
    with pytest.raises(SystemExit) as stopped:  # a folder holding a run is not overwritten
        cli.main(argv)
    assert stopped.value.code == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["benchmark", "--task", TASK, "--backend", "weight-sharing", "--algorithms", "dha"], "--backend train"),
        (["benchmark", "--task", "cifar100", "--backend", "train", "--algorithms", "dha"], "NAS-Bench-201 cell"),
        (["train", "--task", "nb201-cifar10-nodes", "--backend", "train", "--algorithm", "dha"], "NB201CellSpace"),
        (["train", "--task", TASK, "--algorithm", "dha"], "not 'synthetic-rugged'"),
        (["train", "--task", TASK, "--backend", "train", "--algorithm", "dha", "--retrain-top", "1"], "--retrain-top"),
    ],
)
def test_dha_where_it_cannot_run_is_a_usage_error(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main([*argv, "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_answer_is_the_cell_the_snapped_hyper_parameters_and_the_most_probable_pairs() -> None:
    pairs = (("Rotate", "Identity", 0.3), ("Color", "Solarize", 0.2), ("Equalize", "Equalize", 0.1))
    pairs += tuple(("ShearY", "Contrast", 0.05) for _ in range(3))
    result = DHAResult(0.5, CELL, 0.0913, 3.04e-4, 4.0, 1.0, [], top_pairs=pairs)
    pipeline = pipeline_of(TASK, result)
    assert pipeline["nas"] == NB201Cell(CELL)
    assert pipeline["hpo"] == HParams(lr=0.092, weight_decay=3e-4)  # the nearest means the 10 tokens can express
    subs = pipeline["aug"].sub_policies  # type: ignore[attr-defined]
    assert [(a.name, b.name) for a, b in subs[:3]] == [("Rotate", "ShearX"), ("Color", "Solarize"), ("Equalize",) * 2]
    assert subs[0][1].probability == 0.0 and (subs[0][0].probability, subs[0][0].magnitude) == (1.0, 5)
    with pytest.raises(ValueError, match="needs 5 pairs"):
        pipeline_of(TASK, DHAResult(0.5, CELL, 0.08, 4e-4, 4.0, 1.0, [], top_pairs=pairs[:4]))
    check_setting(TASK, "train")  # the task it is made for


def test_budget_is_one_step_per_evaluation_unless_set() -> None:
    assert (budget_config(480).steps, budget_config(480).resolve_every) == (480, 48)
    assert budget_config(5).resolve_every == 1
    set_steps = budget_config(480, budget_config(7, overridden=()), overridden={"steps"})
    assert (set_steps.steps, set_steps.resolve_every) == (7, 1)


def test_train_takes_the_baselines_autohas_among_them(tmp_path: Path) -> None:
    argv = ["train", "--task", "cifar100", "--algorithm", "autohas", "--batches", "3", "--batch-size", "2"]
    assert cli.main([*argv, "--no-progress", "--out", str(tmp_path / "run")]) == 0
    rows = _rows(tmp_path / "run" / "evaluations.csv")
    assert [int(row["batch"]) for row in rows] == [0, 0, 1, 1, 2, 2]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["algorithm"] == "autohas"
