"""The leaderboard: its tiny suite end to end (report, CSVs, reuse), and the pieces it is built from."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("torch")
pytest.importorskip("rliable", reason='rliable is not installed: pip install "automl-env[leaderboard]"')


def test_the_tiny_suite_writes_a_report_and_reuses_its_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.leaderboard import SUITES, main

    suite = SUITES["tiny"]
    argv = ["--suite", "tiny", "--out", str(tmp_path), "--workers", "1", "--reps", "50", "--improvement-reps", "20"]
    main(argv)
    report = (tmp_path / "leaderboard.md").read_text()
    assert (
        "Wall time of the whole leaderboard" in report
        and "Dong" in report
        and "ICLR 2020" in report
        and "synthetic" in report
    )
    for entry in suite.tasks:
        assert f"## {entry.task} (" in report
        for budget in entry.budgets:
            assert f"### {budget} evaluations (random search's expected best: " in report
    assert "IQM of normalised score" in report and "P(better than random)" in report
    with open(tmp_path / "runs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    per_task = len(suite.algorithms) * len(suite.seeds)
    assert len(rows) == sum(per_task * len(e.budgets) for e in suite.tasks)
    assert all(float(r["best_score"]) >= float(r["returned_score"]) - 1e-12 for r in rows)  # returned was evaluated
    assert (tmp_path / "aggregate.csv").exists() and (tmp_path / "iqm.png").exists()
    capsys.readouterr()
    main(argv)  # the same suite again: every run is reused
    assert capsys.readouterr().out.count(f"{per_task} runs reused, 0 to run") == len(suite.tasks)
    main([*argv, "--algorithms", "rea", "random"])  # a subset of the suite: its runs reused, its rows only
    assert capsys.readouterr().out.count(f"{2 * len(suite.seeds)} runs reused, 0 to run") == len(suite.tasks)
    with open(tmp_path / "runs.csv", newline="") as handle:
        assert {r["algorithm"] for r in csv.DictReader(handle)} == {"random", "rea"}
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--algorithms", "rea", "tpe"])
    assert stop.value.code == 2 and "tpe is not one of them" in capsys.readouterr().err
    main([*argv, "--tasks", "cifar100", "--algorithms", "rea"])  # one task of the suite, one search
    assert capsys.readouterr().out.count(f"{len(suite.seeds)} runs reused, 0 to run") == 1
    with open(tmp_path / "runs.csv", newline="") as handle:
        assert {(r["task"], r["algorithm"]) for r in csv.DictReader(handle)} == {("cifar100", "rea")}
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--tasks", "nb201-cifar100"])
    assert stop.value.code == 2 and "nb201-cifar100 is not one of them" in capsys.readouterr().err
    main([*argv, "--algorithms", "rea", "--seeds", "1", "2"])  # other seeds: seed 1's runs reused, seed 2's run
    assert capsys.readouterr().out.count("1 runs reused, 1 to run") == len(suite.tasks)
    with open(tmp_path / "runs.csv", newline="") as handle:
        assert {(r["algorithm"], r["seed"]) for r in csv.DictReader(handle)} == {("rea", "1"), ("rea", "2")}
    report = (tmp_path / "leaderboard.md").read_text()
    assert "x 2 seeds (1-2)," in report and "Seeds 1-2, not the suite's own (0-1)." in report
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--seeds", "3", "3"])
    assert stop.value.code == 2 and "3 more than once" in capsys.readouterr().err


def test_a_suite_on_other_seeds_runs_them_in_order_and_its_own_seeds_change_nothing() -> None:
    from baselines.leaderboard import SUITES

    tiny = SUITES["tiny"]
    assert tiny.with_seeds([1, 0]) is tiny  # its own seeds, in another order: the suite as it is, no note
    other = tiny.with_seeds([5, 3, 4])
    assert other.seeds == (3, 4, 5) and other.note.endswith("Seeds 3-5, not the suite's own (0-1).")
    for bad, said in (([], "none"), ([2, 2], "2 more than once"), ([-1], "-1")):
        with pytest.raises(ValueError, match=said):
            tiny.with_seeds(bad)


@given(st.sets(st.integers(min_value=0, max_value=60), min_size=1))
def test_a_seed_list_names_every_seed_once_in_runs(seeds: set[int]) -> None:
    from baselines.leaderboard.suites import seed_list

    named: list[int] = []
    for part in seed_list(list(seeds)).split(", "):
        first, _, last = part.partition("-")
        named += range(int(first), int(last or first) + 1)
    assert named == sorted(seeds)  # every seed, once, in order: no run of consecutive seeds split or merged wrongly
    assert seed_list(list(seeds)).count(", ") == sum(1 for s in seeds if s - 1 not in seeds) - 1


def test_the_fast_suite_runs_every_registered_search_on_every_real_task() -> None:
    from baselines import SEARCHES
    from baselines.leaderboard import SUITES
    from baselines.marl import MARL_ALGORITHMS

    fast = SUITES["fast"]
    assert set(fast.algorithms) == set(SEARCHES) and len(fast.seeds) >= 20
    tasks = {e.task: e.budgets for e in fast.tasks}
    assert len(tasks) == 11 and tasks["nb201-imagenet16-nodes"] == (96, 312, 1008) and tasks["cifar100"][-1] == 4008
    assert set(MARL_ALGORITHMS) <= set(SUITES["marl"].algorithms) and SUITES["marl"].note
    pipeline = SUITES["marl-pipeline"]
    [rugged] = pipeline.tasks
    runners = {a for a in MARL_ALGORITHMS if a.endswith("_pipeline") or a.startswith("tianshou_")}
    assert runners <= set(pipeline.algorithms) and "random" in pipeline.algorithms
    assert rugged.excluded == ()  # issue 21's rows at 4,008: every MARL runner, Tianshou's DQN included
    assert (rugged.task, rugged.backend, rugged.budgets[-1]) == ("cifar100", "synthetic-rugged", 4008)
    fast_rugged = next(e for e in fast.tasks if e.backend == "synthetic-rugged")
    assert fast_rugged.excluded and {a for a, _ in fast_rugged.excluded} <= set(fast.algorithms)  # names its searches


def test_the_scorer_is_exact_on_a_table_and_normalises_to_the_optimum() -> None:
    from automl_env.order_statistics import expected_best_of_random
    from baselines.leaderboard import task_scorer

    scorer = task_scorer("nb201-cifar100", "table", {})
    assert scorer.exact and scorer.random_values.size == 5**6
    assert scorer.normalised(scorer.optimum) == pytest.approx(1.0) and scorer.normalised(scorer.mean) == pytest.approx(
        0
    )
    assert scorer.random_target(1008) == expected_best_of_random(scorer.random_values, 1008)
    assert round(scorer.random_target(1008), 4) == 0.6067  # issue 18: random's exact expected best of 1,008


def test_a_run_is_scored_by_its_incumbent_where_it_wrote_one(tmp_path: Path) -> None:
    from baselines.benchmark import BenchmarkConfig, run_benchmark
    from baselines.leaderboard import SuiteTask
    from baselines.leaderboard.runs import score_task
    from baselines.leaderboard.suites import SUITES

    config = BenchmarkConfig(
        task="nb201-cifar10", algorithms=("random",), seeds=(0,), batches=2, batch_size=4, out=tmp_path
    )
    result = run_benchmark(config)
    entry = SuiteTask(task="nb201-cifar10", budgets=(4, 8))
    _, before = score_task(SUITES["tiny"], entry, result, "table")
    assert not any(s.incumbent for s in before)
    rows = result.evaluations["random", 0]
    worst = min(rows, key=lambda r: r["reward"])
    with open(tmp_path / "random" / "seed0" / "evaluations.csv", newline="") as handle:
        pipeline = next(r["pipeline"] for r in csv.DictReader(handle) if r["digest"] == worst["digest"])
    incumbent = {"digest": worst["digest"], "pipeline": json.loads(pipeline), "observed_mean": 0.0, "reevaluations": 3}
    (tmp_path / "random" / "seed0" / "incumbent.json").write_text(json.dumps(incumbent))
    _, after = score_task(SUITES["tiny"], entry, result, "table")
    assert [s.incumbent for s in after] == [False, True]  # only the run's full budget has an incumbent
    assert after[1].returned == pytest.approx(worst["reward"]) and after[0] == before[0]


def test_a_smaller_budget_returns_the_incumbent_a_run_of_that_budget_writes(tmp_path: Path) -> None:
    """On a noisy table the incumbent at a budget below the run's is its incumbent step recomputed on the run's first
    evaluations: the same pipeline a run of that budget returns (random search's first batch does not depend on how
    many follow)."""
    from baselines.benchmark import BenchmarkConfig, run_benchmark
    from baselines.leaderboard import SuiteTask
    from baselines.leaderboard.runs import score_task
    from baselines.leaderboard.scores import task_scorer
    from baselines.leaderboard.suites import SUITES

    def run(batches: int) -> object:
        out = tmp_path / str(batches)
        config = BenchmarkConfig(
            task="hpolib-naval", backend="table", algorithms=("random",), seeds=(3,), batches=batches, batch_size=12,
            top_k=10, out=out,
        )  # fmt: skip
        return run_benchmark(config)

    short, long = run(1), run(3)
    _, scores = score_task(SUITES["tiny"], SuiteTask(task="hpolib-naval", budgets=(12, 36)), long, "table")
    assert [s.incumbent for s in scores] == [True, True]
    written = json.loads((tmp_path / "1" / "random" / "seed3" / "incumbent.json").read_text())
    scorer = task_scorer("hpolib-naval", "table", {}, sample=SUITES["tiny"].random_sample)
    import automl_env

    assert scores[0].returned == scorer.values([automl_env.Pipeline.from_json(written["pipeline"])])[0]
    observed = short.evaluations["random", 3]
    best_observed = max(observed, key=lambda r: r["reward"])["digest"]
    assert written["digest"] != best_observed  # so the step, not the best observed reward, decided the first score


def test_intervals_count_runs_that_never_reach_the_target() -> None:
    from baselines.leaderboard.stats import mean_interval, median_interval

    reached = np.arange(1.0, 21.0)
    median, low, high = median_interval(reached, budget=96)
    assert median == 10 and low <= 10 <= high  # half the runs had reached it at the 10th
    assert median_interval([1.0, np.inf], budget=8)[0] == 1  # half reached it at 1: not an average with "> 8"
    censored = np.concatenate([reached[:8], np.full(12, np.inf)])  # most runs never reach it: the median is "> budget"
    assert math.isinf(median_interval(censored, budget=96)[0])
    mean, low, high = mean_interval([0.1, 0.2, 0.3, 0.4])
    assert mean == pytest.approx(0.25) and low < mean < high
    assert mean_interval([0.3, 0.3, 0.3]) == (0.3, 0.3, 0.3)


def test_a_search_that_cannot_run_on_a_task_is_named_not_dropped_silently() -> None:
    from baselines.leaderboard.runs import not_applicable

    assert "every agent" in (not_applicable("sequential_rea", "nb201-cifar10", "table", batches=42) or "")  # nas only
    assert not_applicable("sequential_rea", "cifar100", "synthetic-rugged", batches=42) is None
    assert not_applicable("rea", "nb201-cifar10", "table", batches=42) is None
