"""Every value of ``automl-env train`` / ``benchmark`` is checked while the command line is parsed: a one-line
usage error and exit status 2, before any work, lock or folder exists (issues 20 and 23)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automl_env.arguments import command_line, integer, output_folder, real

pytest.importorskip("torch")

TRAIN_CASES = [
    ("--batches", "0"),
    ("--batches", "-3"),
    ("--batch-size", "0"),
    ("--retrain-top", "-1"),
    ("--top-k", "0"),
    ("--noise", "inf"),
    ("--noise", "nan"),
    ("--noise", "-0.1"),
    ("--seed", "-1"),
    ("--seed", "1.5"),
    ("--threads", "0"),
    ("--retrain-lr-scale", "0"),
]
BENCHMARK_CASES = [
    ("--workers", "0"),
    ("--batches", "0"),
    ("--batch-size", "0"),
    ("--top-k", "0"),
    ("--seeds", "-1"),
    ("--budgets", "0"),
    ("--backend-option", "noise=inf"),
    ("--backend-option", "noise"),
    ("--set", "bogus=1"),
    ("--set", "policy_lr=fast"),
]


def _refused(main: Callable[..., object], argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "error:" in last and "Traceback" not in err
    return last


@pytest.mark.parametrize(("option", "value"), TRAIN_CASES, ids=[f"{o} {v}" for o, v in TRAIN_CASES])
def test_train_refuses_a_bad_value_before_any_folder(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ma2ml_agents.train import main

    out = tmp_path / "run"
    last = _refused(main, ["--out", str(out), "--no-progress", option, value], capsys)
    assert option in last and not out.exists()


@pytest.mark.parametrize(("option", "value"), BENCHMARK_CASES, ids=[f"{o} {v}" for o, v in BENCHMARK_CASES])
def test_benchmark_refuses_a_bad_value_before_any_folder(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from baselines.benchmark import main

    out = tmp_path / "bench"
    argv = ["--algorithms", "random", "ma2ml_lite", "--seeds", "0", "--batches", "1", "--out", str(out), option, value]
    last = _refused(main, argv, capsys)
    assert (option in last or option.lstrip("-") in last or value.partition("=")[0] in last) and not out.exists()


@pytest.mark.parametrize("command", ["train", "benchmark"])
def test_an_out_that_is_a_file_is_named_with_the_reason(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl_env import cli

    blocker = tmp_path / "file"
    blocker.write_text("")
    for out, reason in ((blocker, f"{blocker} is a file"), (blocker / "run", f"lies under {blocker}, which is a file")):
        with pytest.raises(SystemExit) as refused:
            cli.main([command, "--out", str(out)])
        assert refused.value.code == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert "--out" in last and reason in last


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_named_with_the_reason(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(argparse.ArgumentTypeError, match="is not writable"):
        output_folder(str(locked / "run"))


def test_output_folder_accepts_new_and_existing_folders(tmp_path: Path) -> None:
    assert output_folder(str(tmp_path)) == tmp_path
    assert output_folder(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # the check creates nothing


@given(st.integers(min_value=-(10**6), max_value=10**6), st.integers(min_value=-3, max_value=3))
def test_integer_accepts_exactly_the_values_at_or_above_the_minimum(value: int, minimum: int) -> None:
    parse = integer(minimum=minimum)
    if value >= minimum:
        assert parse(str(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=f"at least {minimum}"):
            parse(str(value))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_real_accepts_exactly_the_finite_non_negative_values(value: float) -> None:
    parse = real(minimum=0.0)
    if value == value and abs(value) != float("inf") and value >= 0.0:
        assert parse(repr(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(repr(value))


def test_the_recorded_command_is_the_one_the_user_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert command_line(["--seeds", "0"], program=str(tmp_path / "my_benchmark.py")) == (
        "python my_benchmark.py --seeds 0"
    )
    assert command_line(["--seeds", "0"], program="automl-env benchmark") == "automl-env benchmark --seeds 0"
    assert command_line(["a b"], program="-c", fallback="automl-env train") == "automl-env train 'a b'"


def test_benchmark_csv_has_no_float_noise(tmp_path: Path) -> None:
    from baselines.benchmark.report import write_csv

    write_csv(tmp_path / "x.csv", [{"reward": 0.1 + 0.2, "n": 3}])
    assert (tmp_path / "x.csv").read_text() == "reward,n\n0.3,3\n"
