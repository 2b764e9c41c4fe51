"""The pool executor: concurrency, a SIGKILLed worker, a hanging evaluation, searches that lose and repeat nothing.

Evaluations sleep (``executor_backends.SleepBackend``) rather than compute, so the concurrency check holds on a
loaded machine: two workers overlap sleeps whatever the CPU does. Timed checks compare with the serial sum of
the sleeps, with a wide margin, after the workers have started.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import pytest
from executor_backends import SleepBackend, evaluated, pipeline

import automl_env
from automl_env.backends.base import BackendSetupError
from automl_env.executors import EXECUTORS, ExecutorBackend, ExecutorOptions, default_executor, make_executor
from automl_env.executors.options import cpu_cores, default_workers, placements
from automl_env.executors.pool import PoolExecutor
from automl_env.pipeline import Pipeline
from automl_env.store import EvalStore
from baselines.registry import make_search
from ma2ml_agents import run_async_search, run_search
from ma2ml_agents.search import checkpointed_batches

TESTS = Path(__file__).parent
REPO = Path(automl_env.__file__).parents[1]


def _drain(executor: PoolExecutor) -> dict[int, object]:
    """Every result still pending, by ticket, each returned exactly once."""
    results = {}
    while executor.pending():
        for done in executor.wait():
            assert done.ticket not in results, f"ticket {done.ticket} returned twice"
            results[done.ticket] = done.result
    return results


def test_two_workers_overlap_their_evaluations(tmp_path: Path) -> None:
    seconds, n = 1.0, 6  # long sleeps: per-result overhead under machine load must not decide the outcome
    backend = SleepBackend(tmp_path, seconds=seconds)
    executor = PoolExecutor(backend, workers=2)
    try:
        batched = ExecutorBackend(backend, executor)
        batched.evaluate([pipeline(100), pipeline(101)])  # starts both workers: their start-up is not measured
        pipelines = [pipeline(i) for i in range(n)]
        start = time.perf_counter()
        results = batched.evaluate(pipelines)
        wall = time.perf_counter() - start
    finally:
        executor.close()
    assert [r.accuracy for r in results] == [r.accuracy for r in SleepBackend(tmp_path, seconds=0).evaluate(pipelines)]
    assert wall < 0.75 * n * seconds, f"{n} evaluations of {seconds} s on 2 workers took {wall:.2f} s"


def test_a_killed_worker_is_replaced_and_its_evaluation_retried_then_failed(tmp_path: Path) -> None:
    """A crash every time fails with the reason; a crash once succeeds on retry; a lost answer is not retrained."""
    pipelines = [pipeline(i) for i in range(5)]
    behaviours = {pipelines[1].digest: "crash", pipelines[2].digest: "crash_once", pipelines[3].digest: "lost_ack"}
    backend = SleepBackend(tmp_path, seconds=0.3, behaviours=behaviours, store=EvalStore(tmp_path / "store.sqlite"))
    executor = PoolExecutor(backend, workers=2, options=ExecutorOptions(retries=1))
    try:
        tickets = [executor.submit(p) for p in pipelines]
        results = _drain(executor)
        again = _drain_one(executor, pipeline(9))  # the pool still works after the crashes
    finally:
        executor.close()
    assert sorted(results) == tickets
    crashed = results[tickets[1]]
    assert crashed.status == "failed" and crashed.reason == "worker killed by SIGKILL; gave up after 2 attempts"
    assert all(results[t].status == "ok" for t in tickets if t != tickets[1]), "crash_once must succeed on retry"
    assert again.status == "ok"
    finished = evaluated(tmp_path)  # each once: the lost answer's retry was read back from the store
    assert sorted(finished) == sorted(p.digest for i, p in enumerate([*pipelines, pipeline(9)]) if i != 1)


def test_a_setup_error_in_a_worker_stops_the_caller(tmp_path: Path) -> None:
    broken = pipeline(0)
    env = automl_env.vector_env(
        "fashion-mnist",
        num_envs=2,
        backend=SleepBackend(tmp_path, behaviours={broken.digest: "setup_error"}),
        executor="pool",
        workers=1,
    )
    try:
        with pytest.raises(BackendSetupError, match="no data in"):
            env.evaluation.run([broken, pipeline(1)])
    finally:
        env.close()


def _drain_one(executor: PoolExecutor, one: Pipeline) -> object:
    executor.submit(one)
    [result] = _drain(executor).values()
    return result


def test_a_hanging_evaluation_times_out_and_the_others_go_on(tmp_path: Path) -> None:
    pipelines = [pipeline(i) for i in range(4)]
    backend = SleepBackend(tmp_path, seconds=0.2, behaviours={pipelines[0].digest: "hang"})
    executor = PoolExecutor(backend, workers=2, options=ExecutorOptions(timeout=3, retries=0))
    try:
        tickets = [executor.submit(p) for p in pipelines]
        results = _drain(executor)
    finally:
        executor.close()
    assert results[tickets[0]].status == "failed" and results[tickets[0]].reason == "timed out after 3 s"
    assert all(results[t].status == "ok" for t in tickets[1:])


def test_a_pipeline_twice_in_a_batch_is_evaluated_once(tmp_path: Path) -> None:
    env = automl_env.vector_env("fashion-mnist", num_envs=3, backend=SleepBackend(tmp_path), executor="pool", workers=2)
    try:
        twice, once = pipeline(0), pipeline(1)
        outcomes = env.evaluation.run([twice, once, twice])
    finally:
        env.close()
    assert outcomes[0] == outcomes[2] and outcomes[0] != outcomes[1]
    assert sorted(evaluated(tmp_path)) == sorted([twice.digest, once.digest])


def test_a_search_display_hears_of_each_evaluation_a_worker_finishes(tmp_path: Path) -> None:
    backend = SleepBackend(tmp_path, seconds=0.1)
    env = automl_env.vector_env("fashion-mnist", num_envs=3, backend=backend, executor="pool", workers=2)
    heard: list[tuple[int, int]] = []
    backend.progress = lambda done, total: heard.append((done, total))
    try:
        env.evaluation.run([pipeline(i) for i in range(3)])
    finally:
        env.close()
    assert heard == [(1, 3), (2, 3), (3, 3)]


def test_close_stops_every_worker(tmp_path: Path) -> None:
    env = automl_env.vector_env(
        "fashion-mnist", num_envs=2, backend=SleepBackend(tmp_path, seconds=0.1), executor="pool", workers=2
    )
    env.reset(seed=0)
    env.step({a: [env.action_space(a).sample() for _ in range(2)] for a in env.agents})
    executor = env.evaluation.executor
    assert isinstance(executor, PoolExecutor)
    processes = [worker.process for worker in executor._pool]
    env.close()
    assert processes and not any(process.is_alive() for process in processes)


def test_bad_executor_settings_say_what_to_pass(tmp_path: Path) -> None:
    backend = SleepBackend(tmp_path)
    with pytest.raises(ValueError, match="unknown executor 'threads'"):
        make_executor("threads", backend)
    with pytest.raises(ValueError, match="takes no workers or options"):
        make_executor("serial", backend, workers=4)
    with pytest.raises(ValueError, match=r"executor options: unknown option\(s\) \['timout'\]"):
        make_executor("pool", backend, options={"timout": 5})
    with pytest.raises(ValueError, match="option 'workers' must be an integer in \\[1, "):
        make_executor("pool", backend, workers=0)
    with pytest.raises(ValueError, match="option 'retries' must be an integer in \\[0, "):
        ExecutorOptions(retries=-1)
    with pytest.raises(ValueError, match="option 'timeout' must be a number in \\(0, "):
        ExecutorOptions(timeout=0)
    with pytest.raises(ValueError, match="per_device"):
        ExecutorOptions(per_device=0)
    assert set(EXECUTORS) == {"serial", "pool", "ray"}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_a_search_on_a_pool_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """Crashing workers mid-search: every pipeline ends up evaluated once, one row each in the CSV and the store."""
    store = EvalStore(tmp_path / "store.sqlite")
    backend = SleepBackend(tmp_path, seconds=0.1, crash_prefixes="01234567", store=store)  # half crash once
    env = automl_env.vector_env("fashion-mnist", num_envs=4, backend=backend, executor="pool", workers=2)
    try:
        algorithm = make_search("random", env, seed=3, batches=2)
        result = run_search(env, algorithm, batches=2, batch_size=4, out_dir=tmp_path / "run", seed=5, progress=False)
    finally:
        env.close()
    rows = _rows(tmp_path / "run" / "evaluations.csv")
    assert len(rows) == result.evaluations == 8
    assert len({(row["batch"], row["index"]) for row in rows}) == 8
    assert all(row["status"] == "ok" for row in rows), {row["reason"] for row in rows}
    digests = {row["digest"] for row in rows}
    trained = evaluated(tmp_path)
    assert len(trained) == len(set(trained)) and set(trained) == digests, "each pipeline trained exactly once"
    assert len(store) == len(digests)
    assert any(digest.startswith(tuple("01234567")) for digest in digests), "no worker crashed: the test tests nothing"


def test_an_asynchronous_search_keeps_both_pool_workers_busy_and_records_each_pipeline_once(tmp_path: Path) -> None:
    """run_async_search on a real pool (not the simulated clock): the workers overlap, nothing is lost or repeated."""
    seconds, budget = 1.0, 6  # long sleeps: the loop's own work per result must not decide the outcome under load
    backend = SleepBackend(tmp_path, seconds=seconds)
    env = automl_env.parallel_env("fashion-mnist", backend=backend, modules=("hpo",))
    executor = PoolExecutor(backend, workers=2)
    try:
        ExecutorBackend(backend, executor).evaluate([pipeline(100), pipeline(101)])  # start-up is not measured
        start = time.perf_counter()
        result = run_async_search(
            env, make_search("rea", env, seed=0, batches=1), executor=executor, evaluations=budget,
            out_dir=tmp_path / "run",
        )  # fmt: skip
        wall = time.perf_counter() - start
    finally:
        executor.close()
    rows = _rows(tmp_path / "run" / "evaluations.csv")
    assert len(rows) == result.evaluations == budget
    assert {row["worker"] for row in rows} == {"0", "1"}
    assert all(row["status"] == "ok" for row in rows), {row["reason"] for row in rows}
    trained = [d for d in evaluated(tmp_path) if d not in {pipeline(100).digest, pipeline(101).digest}]
    assert len(trained) == len(set(trained)) == len({row["digest"] for row in rows}), "each pipeline trained once"
    assert wall < 0.75 * budget * seconds, f"{budget} evaluations of {seconds} s on 2 workers took {wall:.2f} s"


SEARCH = """
import sys
from pathlib import Path
import automl_env
from executor_backends import SleepBackend
from automl_env.store import EvalStore
from baselines.registry import make_search
from ma2ml_agents import run_search

folder, executor, resume = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "resume"
backend = SleepBackend(folder, seconds=0.3, store=EvalStore(folder / "store.sqlite"))
workers = {"workers": 2} if executor == "pool" else {}
env = automl_env.vector_env("fashion-mnist", num_envs=4, backend=backend, executor=executor, **workers)
algorithm = make_search("random", env, seed=3, batches=4)
run_search(env, algorithm, batches=4, batch_size=4, out_dir=folder / "run", seed=5, progress=False, resume=resume)
env.close()
"""


def _search(folder: Path, executor: str, mode: str) -> subprocess.Popen[bytes]:
    folder.mkdir(exist_ok=True)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}
    command = [sys.executable, "-c", textwrap.dedent(SEARCH), str(folder), executor, mode]
    return subprocess.Popen(command, env=environment)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent (gone) would have reaped it


@pytest.mark.slow  # three searches in fresh interpreters, each importing torch: about 30 s
@pytest.mark.skipif(not Path("/proc").exists(), reason="reads worker states from /proc")
def test_a_killed_search_resumes_to_the_same_final_state(tmp_path: Path) -> None:
    """SIGKILL a pool search after its first checkpoint: its workers exit, and the resumed run writes what an
    uninterrupted serial run writes, training nothing twice."""
    killed = tmp_path / "killed"
    search = _search(killed, "pool", "new")
    try:
        deadline = time.monotonic() + 120
        while checkpointed_batches(killed / "run") < 1 and search.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert search.poll() is None, "the search ended before it could be killed"
        search.send_signal(signal.SIGKILL)
        search.wait()
    finally:
        search.kill()
    workers = {int(line.split()[1]) for line in (killed / "evaluated.txt").read_text().splitlines()}
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "workers outlived their killed search"
    assert _search(killed, "pool", "resume").wait() == 0
    reference = tmp_path / "reference"
    assert _search(reference, "serial", "new").wait() == 0
    assert (killed / "run" / "evaluations.csv").read_bytes() == (reference / "run" / "evaluations.csv").read_bytes()
    assert (killed / "run" / "topk.json").read_bytes() == (reference / "run" / "topk.json").read_bytes()
    trained = evaluated(killed)
    assert len(trained) == len(set(trained)), "the resumed search trained a finished evaluation again"
    assert len(EvalStore(killed / "store.sqlite")) == len(EvalStore(reference / "store.sqlite"))


def _load_example(name: str) -> ModuleType:
    """The package module behind ``examples/<name>.py``."""
    return importlib.import_module({"train_ma2ml": "ma2ml_agents.train", "benchmark": "baselines.benchmark"}[name])


def test_train_ma2ml_on_a_pool_writes_what_the_serial_run_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_ma2ml = _load_example("train_ma2ml")
    common = ["--batches", "2", "--batch-size", "4", "--top-k", "3", "--no-progress"]
    train_ma2ml.main([*common, "--out", str(tmp_path / "serial")])
    train_ma2ml.main([*common, "--out", str(tmp_path / "pool"), "--executor", "pool", "--workers", "2"])
    serial, pool = (tmp_path / name / "evaluations.csv" for name in ("serial", "pool"))
    assert pool.read_bytes() == serial.read_bytes()
    with pytest.raises(SystemExit):
        train_ma2ml.parse_args(["--workers", "2"])
    assert "--workers apply to --executor pool or ray only" in capsys.readouterr().err


class _GPUTrainer:
    """Stands for the training backend on a machine with GPUs (only what the executor reads: name, device)."""

    name = "train"

    def __init__(self, device: str) -> None:
        torch = pytest.importorskip("torch")
        self.device = torch.device(device)


def test_gpu_workers_are_spread_round_robin_and_packed(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    every_gpu = _GPUTrainer("cuda")
    assert default_executor(every_gpu) == "pool" and default_workers(every_gpu, ExecutorOptions()) == 8
    packed = ExecutorOptions(per_device=4, threads=2)
    plan = placements(every_gpu, default_workers(every_gpu, packed), packed)
    assert len(plan) == 32
    assert [p.device for p in plan[:9]] == [*(f"cuda:{i}" for i in range(8)), "cuda:0"]
    assert all(p.memory_fraction == 0.25 and p.threads == 2 for p in plan)
    assert default_executor(_GPUTrainer("cuda:3")) == "serial"  # one GPU named
    assert default_executor(SleepBackend(".")) == "serial"
    cpu = placements(SleepBackend("."), 2, ExecutorOptions())
    assert [(p.device, p.memory_fraction) for p in cpu] == [(None, None), (None, None)]
    assert all(p.threads == max(1, cpu_cores() // 2) for p in cpu)


@pytest.mark.slow  # two benchmarks, one spawning a pool: about 8 s
def test_benchmark_runs_on_a_pool_and_reuses_its_runs_serially(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmark = _load_example("benchmark")
    tiny = ["--algorithms", "random", "--seeds", "0", "--batches", "1", "--batch-size", "4", "--workers", "1"]
    benchmark.main([*tiny, "--out", str(tmp_path), "--executor", "pool", "--eval-workers", "2"])
    benchmark.main([*tiny, "--out", str(tmp_path)])  # where evaluations ran changes no result: reused
    assert "1 runs reused, 0 to run" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        benchmark.main([*tiny, "--out", str(tmp_path), "--eval-workers", "2"])
    assert "apply to --executor pool or ray only" in capsys.readouterr().err
