"""The weight-sharing backend: AutoHAS's temporary step leaves the shared weights alone; evaluations train them."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from test_training_data import write_fashion_mnist  # noqa: E402

import automl_env  # noqa: E402
from automl_env.backends.registry import make_backend  # noqa: E402
from automl_env.backends.weight_sharing.supernet import NB201Supernet  # noqa: E402
from automl_env.backends.weight_sharing.temporary import temporary_score  # noqa: E402
from automl_env.pipeline import Pipeline  # noqa: E402
from automl_env.tasks import get_task  # noqa: E402

TASK = get_task("fashion-mnist-nb201")
CELL = ("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fashion_mnist(tmp_path_factory.mktemp("fashion"), n_train=300, n_test=50)


def backend_options(root: Path) -> dict:
    return {"data_root": root, "download": False, "val_size": 60, "val_batch_size": 32}


def random_pipelines(n: int, seed: int = 0) -> list[Pipeline]:
    rng = np.random.default_rng(seed)
    return [
        Pipeline.of({name: space.decode(rng.integers(0, space.nvec)) for name, space in TASK.modules.items()})
        for _ in range(n)
    ]


def test_temporary_step_leaves_shared_weights_and_momentum_unchanged() -> None:
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=3, in_channels=1, cells=1, channels=2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    torch.nn.functional.cross_entropy(net(x, CELL), y).backward()
    optimizer.step()  # a shared step, so that momentum buffers exist
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    buffers = {id(p): s["momentum_buffer"].clone() for p, s in optimizer.state.items()}
    score = temporary_score(net, optimizer, ops=CELL, train=(x, y), val=(x, y), lr=0.5, weight_decay=1e-3)
    assert all(torch.equal(v, weights[k]) for k, v in net.state_dict().items())
    assert all(torch.equal(s["momentum_buffer"], buffers[id(p)]) for p, s in optimizer.state.items())
    # The temporary weights did move: their loss on the training batch differs from the shared weights'.
    with torch.no_grad():
        shared_loss = float(torch.nn.functional.cross_entropy(net(x, CELL), y))
    assert 0.0 <= score.accuracy <= 1.0 and score.val_loss != pytest.approx(shared_loss, abs=1e-6)


def test_evaluations_train_the_shared_weights_and_the_env_takes_the_backend(root: Path) -> None:
    backend = make_backend("weight-sharing", TASK, **backend_options(root))
    before = None
    results = backend.evaluate(random_pipelines(2))
    before = {k: v.clone() for k, v in backend._built()["model"].state_dict().items()}
    results += backend.evaluate(random_pipelines(2, seed=1))
    after = backend._built()["model"].state_dict()
    assert any(not torch.equal(after[k], before[k]) for k in before)
    assert all(r.ok and 0.0 <= r.accuracy <= 1.0 and r.backend == "weight-sharing" for r in results)
    assert [r.metrics["step"] for r in results] == [0.0, 1.0, 2.0, 3.0]
    copy = pickle.loads(pickle.dumps(backend))  # a pool worker gets the supernet as it is, not a fresh one
    assert all(torch.equal(v, after[k]) for k, v in copy._built()["model"].state_dict().items())
    env = automl_env.parallel_env(TASK.name, backend="weight-sharing", backend_options=backend_options(root))
    env.reset(seed=0)
    _, rewards, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
    assert all(0.0 <= r <= 1.0 for r in rewards.values())


def test_same_seed_same_rewards_and_bad_settings_are_named(root: Path) -> None:
    pipelines = random_pipelines(3)
    first = [r.accuracy for r in make_backend("weight-sharing", TASK, **backend_options(root)).evaluate(pipelines)]
    again = [r.accuracy for r in make_backend("weight-sharing", TASK, **backend_options(root)).evaluate(pipelines)]
    assert first == again
    with pytest.raises(ValueError, match="train_policy"):
        make_backend("weight-sharing", TASK, train_policy="sometimes")
    with pytest.raises(ValueError, match="NAS-Bench-201"):
        make_backend("weight-sharing", get_task("fashion-mnist"))
