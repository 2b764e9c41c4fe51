"""The commands work from a regular wheel install, outside the checkout (issue 20).

The wheel is built from this checkout without build isolation (nothing downloaded), installed without its
dependencies into a fresh virtual environment whose only other packages are this test's own environment's
(a path file; the editable install's import hook there is not run), and each ``automl-env`` command runs with
a tiny budget from a temporary folder that holds no source.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "train": ["--batches", "1", "--batch-size", "4", "--top-k", "2", "--no-progress", "--out", "train"],
    "benchmark": [
        *("--algorithms", "random", "ma2ml_lite", "--seeds", "0", "--batches", "2", "--batch-size", "4"),
        *("--top-k", "2", "--workers", "2", "--out", "benchmark"),
    ],
    "leaderboard": ["--suite", "tiny", "--workers", "1", "--reps", "20", "--improvement-reps", "10", "--out", "board"],
}


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a fresh venv with this checkout's wheel installed."""
    pytest.importorskip("torch")
    base = tmp_path_factory.mktemp("wheel")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "-w", "dist", str(ROOT)], base
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "Warning" not in built.stdout + built.stderr, "the build warns"  # e.g. a deprecated licence table
    [wheel] = (base / "dist").glob("automl_env-*.whl")
    made = _run([sys.executable, "-m", "venv", "--without-pip", "venv"], base)
    assert made.returncode == 0, made.stderr
    [packages] = (base / "venv" / "lib").glob("python*/site-packages")
    (packages / "parent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = base / "venv" / "bin" / "python"
    done = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], base
    )
    assert done.returncode == 0, done.stderr
    return python.parent


@pytest.mark.slow  # builds and installs a wheel, then runs each command: about 2 minutes
@pytest.mark.parametrize("command", list(TINY))
def test_each_command_runs_from_the_installed_wheel(installed: Path, command: str, tmp_path: Path) -> None:
    where = _run(
        [
            str(installed / "python"),
            "-W",
            "error",
            "-c",
            "import automl_env, ma2ml_agents, baselines; print(automl_env.__file__)",
        ],
        tmp_path,
    )
    assert where.returncode == 0, where.stderr  # and no warning of ours at import (-W error)
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), f"imported from {where.stdout}"
    run = _run([str(installed / "automl-env"), command, *TINY[command]], tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    written = {
        "train": "train/evaluations.csv",
        "benchmark": "benchmark/results.md",
        "leaderboard": "board/leaderboard.md",
    }
    assert (tmp_path / written[command]).is_file()
