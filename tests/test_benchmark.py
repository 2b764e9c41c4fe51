"""examples/benchmark.py on a tiny budget: folders, CSV, table, plots, and reuse of finished runs."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "benchmark.py"


@pytest.fixture(scope="module")
def benchmark() -> ModuleType:
    return importlib.import_module("baselines.benchmark")


def test_benchmark_writes_table_csv_plots_and_reuses_runs(benchmark: ModuleType, tmp_path: Path) -> None:
    def argv(batches: int) -> list[str]:
        return [
            *("--algorithms", "random", "rea", "ma2ml_lite", "sequential_rea", "--seeds", "0", "1"),
            *("--batches", str(batches), "--batch-size", "4", "--top-k", "5", "--workers", "1", "--out", str(tmp_path)),
        ]

    benchmark.main(argv(3))
    for algorithm in ("random", "rea", "ma2ml_lite", "sequential_rea"):
        for seed in (0, 1):
            assert (tmp_path / algorithm / f"seed{seed}" / "done.json").exists()
    with open(tmp_path / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 2 * 3 * 4
    assert {"algorithm", "seed", "evaluation", "reward", "cost_seconds", "best_so_far"} <= set(rows[0])
    table = (tmp_path / "results.md").read_text()
    assert "| sequential_rea | sequential | 2 |" in table and "regret" in table and "optimum" in table
    assert "Paired by seed against random (2 seeds): each search's regret minus random's" in table
    assert re.search(r"\| sequential_rea \| [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\] \| \d / \d \|", table)
    assert (tmp_path / "anytime_evaluations.png").stat().st_size > 0
    assert (tmp_path / "anytime_cost.png").stat().st_size > 0

    done = tmp_path / "rea" / "seed0" / "done.json"
    stamp = json.loads(done.read_text())["wall_seconds"]
    benchmark.main(argv(3))  # same arguments: every run is reused, nothing is recomputed
    assert json.loads(done.read_text())["wall_seconds"] == stamp

    benchmark.main(argv(4))
    assert json.loads(done.read_text())["spec"]["batches"] == 4  # a changed budget reruns


def test_searches_are_paired_by_seed_against_the_first_with_a_t_interval() -> None:
    from scipy import stats

    from baselines.benchmark.report import paired_interval, paired_table

    differences = [0.004, -0.001, 0.006, 0.002, 0.009]
    mean, low, high = paired_interval(differences) or (0.0, 0.0, 0.0)
    expected = stats.ttest_1samp(differences, 0.0).confidence_interval(0.95)
    assert mean == pytest.approx(0.004) and (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert paired_interval([0.1, float("nan")]) is None and paired_interval([0.2, 0.2, 0.2]) == pytest.approx(
        (0.2, 0.2, 0.2)
    )

    def runs(values: list[float], key: str) -> list[dict[str, float]]:
        return [{"regret": v if key == "regret" else float("nan"), "best": 1 - v} for v in values]

    metrics = {"ours": runs([0.10, 0.20, 0.30], "regret"), "theirs": runs([0.15, 0.20, 0.20], "regret")}
    text = paired_table(["ours", "theirs"], metrics)
    low, high = stats.ttest_1samp([0.05, 0.0, -0.1], 0.0).confidence_interval(0.95)
    assert f"| theirs | -0.0167 [{low:+.4f}, {high:+.4f}] | 1 / 1 |" in text  # lower on seed 2, level on seed 1
    assert "regret minus ours's" in text and "(3 seeds)" in text
    no_optimum = {name: runs([0.10, 0.20, 0.30], "best") for name in ("ours", "theirs")}
    assert "best minus ours's" in paired_table(["ours", "theirs"], no_optimum)  # no optimum: the best reward
    assert (
        paired_table(["ours"], metrics) == ""
        and paired_table(["ours", "theirs"], {k: v[:1] for k, v in metrics.items()}) == ""
    )


def test_noisy_runs_are_rescored_without_noise(benchmark: ModuleType, tmp_path: Path) -> None:
    import automl_env

    argv = ["--algorithms", "random", "--seeds", "0", "--batches", "2", "--batch-size", "6", "--top-k", "3"]
    benchmark.main([*argv, "--workers", "1", "--backend-option", "noise=0.02", "--out", str(tmp_path)])
    table = (tmp_path / "results.md").read_text()
    assert "| best, noise-free | top-3, noise-free |" in table

    run = benchmark.RunSpec(
        "random", 0, "cifar100", "synthetic", (("noise", 0.02),), 2, 6, 3, str(tmp_path / "random" / "seed0")
    )
    rescorer = benchmark.noise_free_rescorer("cifar100", "synthetic", {"noise": 0.02})
    metrics = benchmark.run_metrics(
        benchmark.load_evaluations(run), top_k=3, optimum=0.851, rescore=lambda digests: rescorer(run, digests)
    )
    with open(tmp_path / "random" / "seed0" / "evaluations.csv", newline="") as handle:
        recorded = list(csv.DictReader(handle))
    best = max(recorded, key=lambda row: float(row["reward"]))
    clean_env = automl_env.parallel_env("cifar100", backend="synthetic")
    [(clean, _)] = clean_env.evaluation.run([automl_env.Pipeline.from_json(best["pipeline"])])
    assert metrics["best"] == float(best["reward"]) != clean  # the observed best carries noise
    assert metrics["clean_best"] == clean and metrics["regret"] == 0.851 - clean
    assert benchmark.noise_free_rescorer("cifar100", "synthetic", {}) is None


def test_an_outdated_incumbent_is_redone_without_rerunning_the_search(benchmark: ModuleType, tmp_path: Path) -> None:
    argv = ["--task", "hpolib-naval", "--backend", "table", "--algorithms", "rea", "--seeds", "0", "--batches", "2"]
    argv += ["--batch-size", "8", "--top-k", "10", "--workers", "1", "--out", str(tmp_path)]
    benchmark.main(argv)
    run = tmp_path / "rea" / "seed0"
    done, evaluations = json.loads((run / "done.json").read_text()), (run / "evaluations.csv").stat()
    written = json.loads((run / "incumbent.json").read_text())
    # As a run made before the step had two stages left it: no settings, the top 5 re-evaluated 3 times each.
    (run / "incumbent.json").write_text(json.dumps({k: v for k, v in written.items() if k != "settings"}))
    spec = benchmark.RunSpec("rea", 0, "hpolib-naval", "table", (), 2, 8, 10, str(run))
    assert benchmark.finished(spec) is None
    benchmark.main(argv)
    assert json.loads((run / "incumbent.json").read_text()) == written  # redone, and the step is deterministic
    after = (run / "evaluations.csv").stat()  # from its topk.json: the search is not run again
    assert (after.st_ino, after.st_mtime_ns) == (evaluations.st_ino, evaluations.st_mtime_ns)
    assert json.loads((run / "done.json").read_text()) == done  # its time and settings kept
    assert benchmark.finished(spec) is not None


@pytest.mark.parametrize(
    ("option", "values"), [("--seeds", ["0", "1", "0"]), ("--algorithms", ["random", "rea", "random"])]
)
def test_a_run_given_twice_is_a_usage_error(
    benchmark: ModuleType, option: str, values: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twice the same (algorithm, seed) would be two processes writing one run folder."""
    argv = ["--algorithms", "random", "--seeds", "0", "--batches", "1", "--batch-size", "2", "--out", str(tmp_path)]
    argv[argv.index(option) + 1 : argv.index(option) + 2] = values
    with pytest.raises(SystemExit) as refused:
        benchmark.main(argv)
    assert refused.value.code == 2
    assert f"{option} names {values[0]} more than once" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_one_benchmark_per_output_folder(benchmark: ModuleType, tmp_path: Path) -> None:
    from ma2ml_agents.run_folder import lock_folder

    taken, release = threading.Event(), threading.Event()

    def hold() -> None:  # another holder (its own open file, as another process has)
        with lock_folder(tmp_path):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(30)
        with pytest.raises(SystemExit, match=re.escape(f"{tmp_path} is in use by process {os.getpid()}")):
            benchmark.main(["--algorithms", "random", "--seeds", "0", "--batches", "1", "--out", str(tmp_path)])
    finally:
        release.set()
        holder.join()
    assert not (tmp_path / "random").exists()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init, which may never reap it in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes through /proc")
def test_killing_the_benchmark_ends_its_workers(tmp_path: Path) -> None:
    argv = ["--algorithms", "random", "--seeds", "0", "--batches", "100000", "--batch-size", "2"]
    main = subprocess.Popen(
        [sys.executable, str(EXAMPLE), *argv, "--workers", "2", "--out", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "random" / "seed0" / "checkpoint.pt").exists():  # the worker is searching
            if main.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the benchmark did not get going:\n{main.communicate(timeout=60)[1]}")
            time.sleep(0.05)
        workers = _children(main.pid)
        assert workers  # the worker (one per run to do) and multiprocessing's resource tracker
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=60)  # not communicate(): orphaned workers would hold its stderr open
        deadline = time.monotonic() + 10
        while any(map(_running, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _running(pid)], "workers outlived the killed benchmark"
    finally:
        main.kill()
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
