"""The README and the docs pages run: every Python block and every command in them, on tiny budgets, so the
docs cannot drift.

Blocks and commands are read from README.md and docs/*.md when the tests are collected, so an edit of a page
is what runs. Python blocks run in order, one namespace per section, as a reader would paste them; a block
whose first line is ``# name.py`` is a file the reader writes, and the commands that mention it run
next to it. Each command runs as the README gives it, with ``TINY`` arguments appended (argparse keeps
the last value) to shrink its budget and send its output to a temporary folder. ``./run.sh`` itself is
never run (it installs); its jobs are run as what they run. A command this file has no rule for fails.
A ``console`` block (``$`` prompts) shows a recipe that takes hours or needs what a test machine lacks (a
cluster, the real training data); it is shown, not run, and its scripts' pieces are tested where they live.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES: dict[str, str] = {
    path.relative_to(ROOT).as_posix(): path.read_text()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}
"""Every page whose blocks and commands run: the README, then the docs pages, by path."""
README = PAGES["README.md"]
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
COMMAND_START = re.compile(r"^(python |\./run\.sh\b|pip install |automl-env\b|PYTHONPATH=|ruff |mypy\b)")


@dataclasses.dataclass(frozen=True)
class Block:
    section: str
    code: str

    @property
    def file(self) -> str | None:
        """The file name a ``# name.py`` first line asks the reader to save the block as."""
        found = re.fullmatch(r"# ([\w.-]+\.py)", self.code.splitlines()[0].strip())
        return found.group(1) if found else None


def _section_of(page: str, offset: int) -> str:
    """The heading a block is under; a docs page's sections are named after the page too."""
    headings = re.findall(r"^#{2,3} (.+)$", PAGES[page][:offset], re.M)
    heading = headings[-1] if headings else ""
    return heading if page == "README.md" else f"{page}: {heading}"


def python_blocks() -> list[Block]:
    return [
        Block(_section_of(page, m.start()), "\n".join(line[len(m.group(1)) :] for line in m.group(3).splitlines()))
        for page, text in PAGES.items()
        for m in FENCE.finditer(text)
        if m.group(2) == "python"
    ]


def commands() -> list[str]:
    """Every shell command of every page: lines of shell blocks, and inline code that starts like one."""
    return list(dict.fromkeys(command for text in PAGES.values() for command in _page_commands(text)))


def _page_commands(page: str) -> list[str]:
    """The shell commands of one page.

    "the same with `--task X`" after a block repeats the block's last command with those arguments.
    """
    found: list[str] = []
    position = 0
    for m in [*FENCE.finditer(page), None]:
        prose = page[position : m.start() if m else len(page)]
        for span in re.finditer(r"`([^`\n]+)`", prose):
            text = span.group(1).strip()
            if COMMAND_START.match(text):
                found.append(text)
            elif text.startswith("--") and prose[: span.start()].endswith("the same with ") and found:
                found.append(f"{found[-1]} {text}")
        if m is None:
            break
        position = m.end()
        if m.group(2) in ("", "bash", "sh"):
            for line in m.group(3).replace("\\\n", " ").splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if line:
                    found.append(" ".join(line.split()))
    return found


# ---------------------------------------------------------------------------------------------------
# Python blocks


def _prepare_training_data(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """For a block that trains for real: the dataset its data_root names, written small, at a tiny fidelity."""
    import automl_env
    from automl_env.tasks import TASKS

    task = re.search(r"""parallel_env\(\s*["']([\w-]+)["']""", code)
    root = re.search(r"""["']data_root["']\s*:\s*["']([^"']+)["']""", code)
    assert task and root, "a real-training block names its task and its backend_options data_root"
    from test_training_data import trust_cifar100_files, write_cifar100, write_fashion_mnist

    dataset = automl_env.get_task(task.group(1)).dataset
    if dataset == "cifar100":
        trust_cifar100_files(monkeypatch, write_cifar100(Path(root.group(1))))
    elif dataset == "fashion-mnist":
        write_fashion_mnist(Path(root.group(1)))
    else:
        pytest.fail(f"no writer for dataset {dataset!r} of the README's real-training block")
    tiny = automl_env.Fidelity(epochs=1, train_subset=64, cells=2, channels=4, batch_size=32, warmup_epochs=0)
    spec = TASKS[task.group(1)]
    monkeypatch.setitem(TASKS, spec.name, dataclasses.replace(spec, search_fidelity=tiny))


def _check_printed_numbers(code: str, output: str) -> None:
    """``print(...)  # 0.6028: ...`` promises that number in the output."""
    for line in code.splitlines():
        promised = re.search(r"print\(.*\)\s*#\s*(-?\d+\.\d+)", line)
        if promised:
            assert promised.group(1) in output, f"{line.strip()!r} printed {output!r}"


SECTIONS = list(dict.fromkeys(b.section for b in python_blocks() if b.file is None))


@pytest.mark.parametrize("section", SECTIONS)
def test_python_blocks_run_in_order(section: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for block in (b for b in python_blocks() if b.section == section and b.file is None):
        if "data_root" in block.code:
            _prepare_training_data(block.code, monkeypatch)
        out = io.StringIO()
        with redirect_stdout(out):
            exec(compile(block.code, f"{section}", "exec"), namespace)
        _check_printed_numbers(block.code, out.getvalue())
        if "data_root" in block.code:
            assert "ok" in out.getvalue().split(), "the real-training step did not train"


def test_the_recipes_search_has_the_interface(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The README's own search: a SearchAlgorithm that acts, learns, and checkpoints exactly."""
    pytest.importorskip("torch")
    import numpy as np

    import automl_env
    from baselines import BASELINES
    from ma2ml_agents import SearchAlgorithm

    [block] = [b for b in python_blocks() if b.file == "my_benchmark.py"]
    path = tmp_path / "my_benchmark.py"
    path.write_text(block.code)
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved = dict(BASELINES)
    try:
        runpy.run_path(str(path), run_name="my_benchmark")
        added = {name: spec for name, spec in BASELINES.items() if name not in saved}
    finally:
        BASELINES.clear()
        BASELINES.update(saved)
    assert len(added) == 1, "the recipe registers one search"
    [spec] = added.values()
    env = automl_env.vector_env("cifar100", num_envs=4, backend="synthetic")
    search = spec.build(env, seed=0, batches=2)
    assert isinstance(search, SearchAlgorithm) and isinstance(search.config, spec.config_cls)
    for _ in range(2):
        actions = search.act(4)
        assert all(env.action_space(a).contains(row) for a in env.possible_agents for row in actions[a])
        search.update(actions, np.arange(4.0))
    copy = spec.build(env, seed=1, batches=2)
    copy.load_state_dict(search.state_dict())
    assert all(np.array_equal(search.act(3)[a], copy.act(3)[a]) for a in env.possible_agents)


# ---------------------------------------------------------------------------------------------------
# Commands

TINY: dict[str, list[str]] = {
    "benchmark.py": ["--seeds", "0", "--batches", "3", "--batch-size", "4", "--budgets", "4", "12", "--workers", "1"],
    "train_ma2ml.py": ["--batches", "1", "--batch-size", "4", "--no-progress"],
    "my_benchmark.py": ["--seeds", "0", "--batches", "3", "--batch-size", "4", "--workers", "2"],
    "bench_env.py": ["--seconds", "0.02"],
    "bench_backend.py": ["--batch-sizes", "24", "--min-seconds", "0.002", "--repeats", "1"],
    "bench_agents.py": ["--repeats", "1"],
    "bench_training.py": ["--train-subset", "64", "--repeats", "1", "--cells", "1", "--channels", "4"],
    "bench_throughput.py": ["--workers", "1", "--per-device", "1", "--evaluations", "1", "--train-subset", "64"],
    "surrogate_fit.py": ["--tasks", "nb201-cifar100", "--kinds", "hist_gb", "--fractions", "0.1"],
    "landscape.py": ["--tasks", "nb201-cifar100", "--samples", "40", "--restarts", "1"],
    "bench_async.py": ["--seeds", "0", "--workers", "1", "2", "--evaluations", "6", "--processes", "1"],
    "study_ma2ml.py": ["--batches", "2", "--batch-size", "4", "--every", "1"],
    "leaderboard.py": ["--suite", "tiny", "--workers", "1", "--reps", "50", "--improvement-reps", "20"],
    "record_fashion_mnist.py": [],
    "bench_hpolib.py": [],
    "bench_checkpoint.py": ["--batches", "2", "--batch-size", "4", "--repeats", "1"],
    "bench_incumbent.py": ["--batches", "1", "--seeds", "2"],
    "bench_vector.py": ["--envs", "4", "--seconds", "0.02", "--repeats", "1"],
    "bench_torchrl_env.py": ["--envs", "4", "--seconds", "0.05"],
}
"""Arguments appended to a script's README command: a tiny budget (the output folder is added apart)."""
WRITES_OUT = ("benchmark.py", "train_ma2ml.py", "my_benchmark.py", "bench_async.py", "leaderboard.py")


def _tiny(script: str, args: list[str], out: Path) -> list[str]:
    if "--help" in args:
        return args
    return [*args, *TINY[script], *(["--out", str(out)] if script in WRITES_OUT else [])]


def _run_example(script: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python examples/<script> ARGS``, in this process (the torch import is paid once)."""
    from automl_env import cli

    monkeypatch.setattr(sys, "path", list(sys.path))
    argv = _tiny(script, args, tmp_path / "out")
    command = next((name for name, c in cli.COMMANDS.items() if c.script == script), None)
    if "cuda" in args and not pytest.importorskip("torch").cuda.is_available():
        pytest.skip("needs a CUDA device")
    trains = script in ("bench_training.py", "bench_throughput.py") or _option(args, "--backend") == "train"
    if trains and "--data-root" not in args:  # the default root is empty on a fresh machine and offline
        from test_training_data import write_fashion_mnist

        argv += ["--data-root", str(write_fashion_mnist(tmp_path / "data"))]
    if script == "surrogate_fit.py":
        pytest.importorskip("sklearn")
    with _exits_cleanly():
        if command is not None:
            cli.main([command, *argv])
        else:
            monkeypatch.setattr(sys, "argv", [str(ROOT / "examples" / script), *argv])
            runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")


def _option(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args[:-1] else None


@contextmanager
def _exits_cleanly() -> Iterator[None]:
    """argparse's ``--help`` ends with SystemExit(0); any other exit fails the test."""
    try:
        yield
    except SystemExit as error:
        assert error.code in (0, None), f"exited with {error.code}"


def _run_job(words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``./run.sh JOB ARGS``: what run.sh runs for JOB after it has made the venv, never run.sh itself."""
    job, args = words[1], words[2:]
    script = ROOT / "run.sh"
    case = re.search(rf"^\s*{job}\)(.*)$", script.read_text(), re.M)
    assert case, f"run.sh has no job {job!r}"
    if job == "test":
        assert "pytest" in case.group(1)
        pytest.skip("./run.sh test is this test suite")
    target = re.search(r"examples/(\w+\.py)", case.group(1))
    assert target, f"run.sh's job {job!r} runs no example script"
    _run_example(target.group(1), args, tmp_path, monkeypatch)


def _run_automl_env(words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``automl-env COMMAND ARGS``: the console entry point's function (it is installed by pip install -e)."""
    from automl_env import cli

    if len(words) == 1:  # the command named on its own: its help lists the sub-commands
        words = [*words, "--help"]
        with _exits_cleanly():
            cli.main(words[1:])
        return
    assert words[1] in cli.COMMANDS, f"{words}: not an automl-env command"
    _run_example(cli.COMMANDS[words[1]].script, words[2:], tmp_path, monkeypatch)


def _run_python(words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {}
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        environment[key] = value
    assert words[0] == "python", words
    script = Path(words[1])
    if script.parts[0] == "examples":
        assert not environment, "examples run without environment variables"
        _run_example(script.name, words[2:], tmp_path, monkeypatch)
        return
    [block] = [b for b in python_blocks() if b.file == script.name]  # a file the README has the reader write
    (tmp_path / script.name).write_text(block.code)
    for key, value in environment.items():  # relative paths in PYTHONPATH are the checkout's
        environment[key] = os.pathsep.join(str(ROOT / p) for p in value.split(os.pathsep)) if "PATH" in key else value
    argv = [sys.executable, script.name, *_tiny(script.name, words[2:], tmp_path / "out")]
    run = subprocess.run(
        argv, cwd=tmp_path, env={**os.environ, **environment}, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (tmp_path / "out" / "results.md").exists(), run.stdout[-3000:]


def _check_install(words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pip install -e ".[extras]"`` is not run (it installs); the extras it names must exist."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert words[:3] == ["pip", "install", "-e"], "this package is installed from a checkout, not from PyPI"
    extras = re.findall(r"\[([\w,-]+)\]", words[3])
    for extra in ",".join(extras).split(",") if extras else []:
        assert extra in project["optional-dependencies"], f"no extra {extra!r} in pyproject.toml"
    assert project["name"] == "automl-env"
    pytest.skip("installs: the extras it names exist")


def _check_tool(words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ruff`` and ``mypy`` check the whole checkout before every commit (README, Development); here: they are
    configured in pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")
    assert words[0] in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    pytest.skip(f"{words[0]} is run over the checkout before committing, not inside the test suite")


RULES: dict[str, Callable[[list[str], Path, pytest.MonkeyPatch], None]] = {
    "./run.sh": _run_job,
    "automl-env": _run_automl_env,
    "python": _run_python,
    "PYTHONPATH": _run_python,
    "pip": _check_install,
    "ruff": _check_tool,
    "mypy": _check_tool,
}
"""How each kind of command runs, by its first word (before any ``=``)."""


def _marks(command: str) -> Iterator[pytest.MarkDecorator]:
    if "--device cuda" in command:
        yield pytest.mark.gpu


COMMANDS = commands()


@pytest.mark.parametrize("command", [pytest.param(c, marks=list(_marks(c)), id=c) for c in COMMANDS])
def test_command_runs(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    words = shlex.split(command)
    rule = RULES.get(words[0].partition("=")[0])
    assert rule is not None, f"no rule in tests/test_readme.py runs {command!r}: add one"
    rule(words, tmp_path, monkeypatch)


def test_the_readme_has_blocks_and_commands() -> None:
    """The extraction itself: what the README is known to hold is found."""
    assert {b.section for b in python_blocks()} >= {"Quick start", "docs/own_algorithm.md: Your own search"}
    assert any(c.startswith("python examples/benchmark.py") for c in COMMANDS)
    assert any("--task nb201-cifar100-nodes" in c for c in COMMANDS)
    assert any(c.startswith("python my_benchmark.py") for c in COMMANDS)


# ---------------------------------------------------------------------------------------------------
# Conventions the README promises: the console entry point and the Gymnasium registration


def test_console_entry_point_is_declared_and_dispatches() -> None:
    tomllib = pytest.importorskip("tomllib")
    from automl_env import cli

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["automl-env"] == "automl_env.cli:main"
    assert all((ROOT / "examples" / c.script).is_file() for c in cli.COMMANDS.values())
    assert cli.main([]) == 2
    with pytest.raises(SystemExit) as exit_:
        cli.main(["nonsense"])
    assert exit_.value.code == 2
    installed = Path(sys.executable).parent / "automl-env"
    if installed.exists():  # after `pip install -e .` of this pyproject.toml
        run = subprocess.run([str(installed), "--help"], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and "benchmark" in run.stdout


def test_benchmark_help_lists_choices_and_defaults(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    import automl_env
    from automl_env import cli
    from baselines import SEARCHES

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("COLUMNS", "10000")  # no line breaks inside names
    with pytest.raises(SystemExit) as exit_:
        cli.main(["benchmark", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert all(task in text.split() or f"{task}," in text.split() for task in automl_env.list_tasks())
    assert all(f"{name}," in text.split() or name in text.split() for name in SEARCHES)
    assert "(default: 40)" in text and "(default: cifar100)" in text


def test_every_task_is_registered_with_gymnasium() -> None:
    import gymnasium

    import automl_env

    for task in automl_env.list_tasks():
        spec = gymnasium.spec(automl_env.gymnasium_id(task))
        assert spec.entry_point == "automl_env.joint:JointAutoMLEnv" and spec.kwargs == {"task": task}
    env = gymnasium.make("automl/cifar100-v0", backend="synthetic")
    assert env.spec is not None and env.spec.id == "automl/cifar100-v0"
    assert isinstance(env.unwrapped, automl_env.JointAutoMLEnv)
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert terminated and not truncated and info["backend"] == "synthetic" and 0.0 < float(reward) < 1.0
    env = gymnasium.make("automl_env:automl/nb201-cifar100-v0")  # "module:id" imports the module first
    assert env.spec is not None and env.spec.id == "automl/nb201-cifar100-v0"


def test_a_registered_task_gets_a_gymnasium_id() -> None:
    import gymnasium

    import automl_env
    from automl_env.tasks import TASKS

    spec = dataclasses.replace(automl_env.get_task("nb201-cifar100"), name="my-task", version=3)
    try:
        automl_env.register_task(spec)
        env = gymnasium.make("automl/my-task-v3")
        assert env.spec is not None and env.unwrapped.task is spec  # type: ignore[attr-defined]
        env.reset(seed=0)
        assert env.step(env.action_space.sample())[2]
        with pytest.raises(gymnasium.error.Error):
            automl_env.register_task(dataclasses.replace(spec, name="my task"))
        assert "my task" not in TASKS
    finally:  # leave both registries as they were
        TASKS.pop("my-task", None)
        gymnasium.registry.pop("automl/my-task-v3", None)
