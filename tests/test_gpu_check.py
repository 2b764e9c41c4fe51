"""examples/gpu_check.py in its tiny CPU mode: every step runs, each leaves a log, the summary names them."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_tiny_gpu_check_runs_every_step_and_writes_its_summary(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from test_training_data import write_fashion_mnist

    data = write_fashion_mnist(tmp_path / "data")
    check = runpy.run_path(str(ROOT / "examples" / "gpu_check.py"))
    code = check["main"](["--tiny", "--out", str(tmp_path / "out"), "--data-root", str(data)])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [step["name"] for step in summary["steps"]] == ["cuda_tests", "training", "training_batchwise", "packed"]
    assert code == 0 and all(step["exit"] == 0 for step in summary["steps"]), summary
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    logs = ["cuda_tests.log", "packed.log", "summary.json", "summary.md", "training.log", "training_batchwise.log"]
    assert files == logs  # <= 8 files
    assert "evaluations/h" in (tmp_path / "out" / "packed.log").read_text()
    assert "augmented 1 batch(es) per call" in (tmp_path / "out" / "training_batchwise.log").read_text()
    assert "## training: exit 0" in (tmp_path / "out" / "summary.md").read_text()
    assert sys.executable in summary["steps"][0]["command"]
