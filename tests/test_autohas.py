"""AutoHAS's controller: warm-up, learning from rewards, and the derivation of its answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import automl_env
from automl_env.modules.hparams import AveragedSGDSpace, HParams
from automl_env.modules.nb201 import NB201CellSpace
from baselines import make_search
from baselines.autohas import AutoHAS, AutoHASConfig, derive_module


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny Fashion-MNIST files: the backend checks they are there when it is built, and no test here reads them."""
    pytest.importorskip("torchvision")
    from test_training_data import write_fashion_mnist

    return write_fashion_mnist(tmp_path_factory.mktemp("fashion"), n_train=50, n_test=10)


def env(root: Path):
    options = {"data_root": root, "download": False}
    return automl_env.parallel_env("fashion-mnist-nb201", backend="weight-sharing", backend_options=options)


def test_no_controller_update_during_warm_up_then_it_learns_the_rewarded_choice(fashion_root: Path) -> None:
    search = make_search("autohas", env(fashion_root), seed=0, batches=100, config=AutoHASConfig(meta_lr=0.1))
    assert isinstance(search, AutoHAS)
    column = search.space.slice_of(search.space.agents.index("nas")).start  # NB201 edge 1<-0: 5 operations
    start = search.logits.copy()
    for batch in range(100):
        tokens = search.propose(1)
        search.observe(tokens, np.array([1.0 if tokens[0, column] == 3 else 0.0]))
        if batch == 29:  # 30% of 100 batches: the baseline moved, the logits did not
            assert np.array_equal(search.logits, start) and search.baseline is not None
    probabilities = search.probabilities()["nas"][0]
    assert int(np.argmax(probabilities)) == 3 and probabilities[3] > 0.5


def test_derivation_takes_the_argmax_of_operations_and_the_expectation_of_hyper_parameters() -> None:
    cell = derive_module(NB201CellSpace(), [[0.1, 0.1, 0.2, 0.5, 0.1]] * 6)
    assert cell.ops == ("nor_conv_3x3",) * 6
    space = AveragedSGDSpace(steps=10)
    # Every lr token: P = 0.5 on 0.16 and 0.5 on 0.02 -> expected lr 0.09 (not a basis value, as the paper's
    # mixture); every wd token certain of 2e-4.
    hparams = derive_module(space, [[0.5, 0, 0, 0.5]] * 10 + [[0, 0, 1.0, 0]] * 10)
    assert hparams == HParams(lr=0.09, weight_decay=2e-4)
    assert np.array_equal(space.encode(hparams), space.encode(space.decode(space.encode(hparams))))


def test_checkpoint_restores_the_controller(fashion_root: Path) -> None:
    first = make_search("autohas", env(fashion_root), seed=1, batches=4)
    for _ in range(4):
        first.update(first.act(2), np.array([0.3, 0.7]))
    second = make_search("autohas", env(fashion_root), seed=1, batches=4)
    second.load_state_dict(first.state_dict())
    assert np.array_equal(second.logits, first.logits)
    assert all(np.array_equal(a, b) for a, b in zip(first.act(3).values(), second.act(3).values(), strict=True))
