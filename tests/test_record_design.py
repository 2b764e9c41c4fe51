"""The design of the recorded Fashion-MNIST dataset (examples/record_fashion_mnist.py): what each kind holds."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import automl_env

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "record_fashion_mnist.py"


@pytest.fixture(scope="module")
def recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("record_fashion_mnist", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_plan_holds_every_kind_and_pairs_each_with_an_earlier_pipeline(recorder: ModuleType) -> None:
    task = automl_env.get_task("fashion-mnist")
    design = recorder.Design(uniform=40, mutants=20, repeated=6, per_module=3, default_seeds=2)
    planned = recorder.plan(task, design, seed=0)
    assert Counter(p.kind for p in planned) == {"uniform": 40, "mutant": 20, "repeat": 18, "module": 11}
    assert planned == recorder.plan(task, design, seed=0) != recorder.plan(task, design, seed=1)
    uniform = [p for p in planned if p.kind == "uniform"]
    position = {id(p): i for i, p in enumerate(planned)}
    for p in planned:
        if p.kind in ("mutant", "repeat"):
            parent = uniform[p.ref]
            assert position[id(parent)] < position[id(p)], "a pair comes after the pipeline it pairs with"
            differ = int(np.sum(np.array(p.tokens) != np.array(parent.tokens)))
            assert (differ, p.seed == 0) == ((1, True) if p.kind == "mutant" else (0, False))
    nvec = [n for space in task.modules.values() for n in space.nvec]
    assert all(0 <= t < n for p in planned for t, n in zip(p.tokens, nvec, strict=True))


def test_the_second_stage_repeats_mutants_after_the_first_which_it_leaves_as_it_was(recorder: ModuleType) -> None:
    task = automl_env.get_task("fashion-mnist")
    design = recorder.Design(uniform=40, mutants=20, repeated=6, per_module=3, default_seeds=2)
    first = recorder.plan(task, design, seed=0)
    both = recorder.plan(task, recorder.Design(**{**design.__dict__, "mutant_repeats": 4}), seed=0)
    assert both[: len(first)] == first and len(both) == len(first) + 4 * 3
    mutants = [p for p in first if p.kind == "mutant"]
    second = both[len(first) :]
    assert [(p.kind, p.ref, p.seed) for p in second] == [("mutant_repeat", i, s) for i in range(4) for s in (1, 2, 3)]
    assert all(p.tokens == mutants[p.ref].tokens for p in second)
    assert {p.ref for p in first if p.kind == "repeat"} >= {p.ref for p in second}  # both sides at every seed
    with pytest.raises(ValueError, match="mutant_repeats must be between 0 and 6"):
        recorder.plan(task, recorder.Design(**{**design.__dict__, "mutant_repeats": 7}), seed=0)


def test_every_prefix_is_a_balanced_design(recorder: ModuleType) -> None:
    planned = recorder.plan(automl_env.get_task("fashion-mnist"), recorder.Design(), seed=0)
    assert len(planned) >= 1_500
    for cut in (100, 400):
        counts = Counter(p.kind for p in planned[:cut])
        assert all(
            counts[kind] >= cut * share for kind, share in {"uniform": 0.4, "mutant": 0.2, "repeat": 0.15}.items()
        )


def test_module_rows_vary_one_module_of_the_default(recorder: ModuleType) -> None:
    task = automl_env.get_task("fashion-mnist")
    planned = recorder.plan(task, recorder.Design(uniform=4, mutants=0, repeated=0, per_module=5), seed=0)
    default = np.concatenate([s.encode(s.default()) for s in task.modules.values()])
    bounds = np.cumsum([0, *(s.num_tokens for s in task.modules.values())])
    for p in (p for p in planned if p.kind == "module"):
        changed = np.flatnonzero(np.array(p.tokens) != default)
        modules = {int(np.searchsorted(bounds, i, side="right")) for i in changed}
        assert len(modules) <= 1


@pytest.mark.parametrize("export", ["runs/record/evaluations", "runs/record/evaluations.txt"])
def test_an_export_path_the_store_cannot_write_is_a_usage_error_before_any_training(
    recorder: ModuleType, export: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        recorder.main(["--export", export, "--plan-only"])
    assert stop.value.code == 2
    assert "--export must end in .csv or .json" in capsys.readouterr().err


def test_the_provenance_describes_every_session_of_the_store(recorder: ModuleType, tmp_path: Path) -> None:
    """Training time, window, hosts and plan coverage come from the store's rows of the backend's context
    (restored ones and other shards' included), not from the session that writes it."""
    from types import SimpleNamespace

    from automl_env.backends.base import EvalResult
    from automl_env.store import EvalStore

    task = automl_env.get_task("fashion-mnist")
    planned = recorder.plan(
        task, recorder.Design(uniform=3, mutants=1, repeated=0, per_module=0, default_seeds=0), seed=0
    )
    store = EvalStore(tmp_path / "store.sqlite")
    held = [0, 1, 3]  # the third is missing: a prefix of 2
    for i in held:
        result = EvalResult(0.7, 1.0, 1.0, 20.0 + i, "train")
        item = planned[i]
        store.put(task, recorder.pipeline_of(task, item.tokens), task.search_fidelity, item.seed, result, context="c")
    store.put(task, recorder.pipeline_of(task, planned[2].tokens), task.search_fidelity, 9, result, context="other")
    path = tmp_path / "provenance.json"
    path.write_text(json.dumps({"code_commits": ["abc1234"]}))
    recorder.write_provenance(path, store, SimpleNamespace(context="c"), task, planned, design_seed=0, commit="def5678")
    provenance = json.loads(path.read_text())
    assert provenance["plan"] == {"design_seed": 0, "prefix": 2, "held": 3, "of": 4} and provenance["rows"] == 3
    assert provenance["evaluations"] == dict(Counter(planned[i].kind for i in held))
    assert provenance["training_seconds"] == 20.0 + 21.0 + 23.0
    assert provenance["code_commits"] == ["abc1234", "def5678"] and len(provenance["hosts"]) == 1
    assert len(provenance["collected_utc"]) == 2


class FakeTraining:
    """Stands in for the ``train`` backend: records what it is asked to evaluate, stores it as the backend would."""

    context = "fake"

    def __init__(self, task: automl_env.TaskSpec, store: object, asked: list[tuple[str, int]]) -> None:
        self.task, self.store, self.asked = task, store, asked

    def evaluate(self, pipelines: list[object], *, seed: int) -> list[object]:
        from automl_env.backends.base import EvalResult

        [pipeline] = pipelines
        self.asked.append((pipeline.digest, seed))  # type: ignore[attr-defined]
        result = EvalResult(0.5, 1.0, 1.0, 2.0, "fake")
        self.store.put(self.task, pipeline, self.task.search_fidelity, seed, result, context=self.context)  # type: ignore[attr-defined]
        return [result]


def test_shards_split_the_plan_and_together_record_a_prefix(
    recorder: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = automl_env.get_task("fashion-mnist")
    asked: dict[str, list[tuple[str, int]]] = {"0/2": [], "1/2": []}
    current: list[str] = []
    monkeypatch.setattr(
        recorder, "make_backend", lambda name, spec, store, **_: FakeTraining(spec, store, asked[current[0]])
    )
    export = tmp_path / "evaluations.csv"
    for shard in ("1/2", "0/2"):
        current[:] = [shard]
        argv = ["--store", str(tmp_path / "store.sqlite"), "--export", str(export), "--limit", "7", "--shard", shard]
        recorder.main([*argv, "--export-every", "2"])
    planned = recorder.plan(task, recorder.Design(), seed=0)[:7]
    keys = [(recorder.pipeline_of(task, p.tokens).digest, p.seed) for p in planned]
    assert asked == {"0/2": keys[0::2], "1/2": keys[1::2]}
    assert len(export.read_text().strip().splitlines()) == 1 + 7
    provenance = json.loads(export.with_name("provenance.json").read_text())
    assert provenance["plan"] == {"design_seed": 0, "prefix": 7, "held": 7, "of": 7}
    assert not list(tmp_path.glob(".*"))  # the partial exports and provenances were renamed into place


def test_export_only_ships_what_the_store_holds_and_trains_nothing(
    recorder: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collectors export every few evaluations; after they stop, --export-only writes the rows stored since."""
    asked: list[tuple[str, int]] = []
    monkeypatch.setattr(recorder, "make_backend", lambda name, spec, store, **_: FakeTraining(spec, store, asked))
    export = tmp_path / "evaluations.csv"
    argv = ["--store", str(tmp_path / "store.sqlite"), "--export", str(export)]
    recorder.main([*argv, "--limit", "5", "--export-every", "3"])  # exports after 3 and after the last, 5
    export.unlink()
    export.with_name("provenance.json").write_text(json.dumps({"code_commits": ["abc1234"]}))
    trained = len(asked)
    recorder.main([*argv, "--export-only"])
    assert len(asked) == trained == 5
    assert len(export.read_text().strip().splitlines()) == 1 + 5
    provenance = json.loads(export.with_name("provenance.json").read_text())
    design = recorder.Design(mutant_repeats=recorder.RECORDED_MUTANT_REPEATS)
    of = len(recorder.plan(automl_env.get_task("fashion-mnist"), design, seed=0))
    assert provenance["plan"] == {"design_seed": 0, "prefix": 5, "held": 5, "of": of}
    assert provenance["code_commits"] == ["abc1234"]  # it trained nothing, so it adds no commit


@pytest.mark.parametrize("bad", ["2/2", "1", "-1/2", "a/b", "0/0"])
def test_a_shard_outside_its_count_is_a_usage_error(
    recorder: ModuleType, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        recorder.main([f"--shard={bad}", "--plan-only"])
    assert stop.value.code == 2
    assert "expected K/N with 0 <= K < N" in capsys.readouterr().err
