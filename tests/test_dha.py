"""DHA's pieces on tiny problems: sparse-code recovery, the one-step hypergradient, the policy's gradient."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from test_training_data import write_fashion_mnist  # noqa: E402

from baselines.dha import DHAConfig, run_dha  # noqa: E402
from baselines.dha.coding import ArchitectureCode, ista, node_support, step_weights  # noqa: E402
from baselines.dha.hypergrad import hypergradient, sgd_step  # noqa: E402
from baselines.dha.policy import K, PairAugmenter, pair_policy_loss, sample_pairs  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_ista_recovers_a_known_sparse_code() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(12, 15, generator=g, dtype=torch.float64)
    alpha = torch.zeros(15, dtype=torch.float64)
    alpha[[3, 11]] = torch.tensor([1.5, -0.8], dtype=torch.float64)
    recovered = ista(a, a @ alpha, lam=0.05, iters=2000)  # 12 measurements of a 2-sparse code in R^15
    assert torch.allclose(recovered, alpha, atol=0.02)  # the LASSO shrinks the entries by about lam
    assert set(recovered.abs().topk(2).indices.tolist()) == {3, 11}
    # The support keeps each edge's best operation: node 3's edges are entries 0-4, 5-9 and 10-14.
    assert node_support(alpha, 3) == [3, 5, 10] and node_support(-alpha, 3) == [0, 5, 11]


def test_eq7_weights_pass_the_loss_to_the_code() -> None:
    code = ArchitectureCode(torch.Generator().manual_seed(0))
    code.recover()
    scales = code.edge_scales()
    assert scales.shape == (6,) and len(code.cell()) == 6
    scales.sum().backward()
    assert all(b.grad is not None and b.grad.abs().sum() > 0 for b in code.b)
    k = 2
    support = node_support(code.alpha[k], k + 1)
    expected = code.alpha[k][support] + (code.a[k].T @ (code.b[k] - code.a[k] @ code.alpha[k]))[support]
    assert torch.allclose(step_weights(code.a[k], code.b[k], code.alpha[k], support), expected)


def _next_loss(lr: float, wd: float) -> tuple[float, tuple[float, float]]:
    """Loss on a second batch after one momentum-SGD step with (lr, wd), and DHA's hypergradient there."""
    g = torch.Generator().manual_seed(1)
    w = torch.nn.Parameter(torch.randn(4, 3, generator=g, dtype=torch.float64))
    x, x2 = torch.randn(16, 4, generator=g, dtype=torch.float64), torch.randn(16, 4, generator=g, dtype=torch.float64)
    y, y2 = torch.randint(0, 3, (16,), generator=g), torch.randint(0, 3, (16,), generator=g)
    buffers = {id(w): torch.randn(4, 3, generator=g, dtype=torch.float64)}  # a momentum history
    torch.nn.functional.cross_entropy(x @ w, y).backward()
    step = sgd_step([w], buffers, lr=lr, weight_decay=wd)
    loss = torch.nn.functional.cross_entropy(x2 @ w, y2)
    (grad,) = torch.autograd.grad(loss, [w])
    return float(loss.detach()), hypergradient([grad], step, lr=lr)


def test_hypergradients_match_finite_differences() -> None:
    lr, wd, eps = 0.3, 0.05, 1e-6
    _, (d_lr, d_wd) = _next_loss(lr, wd)
    fd_lr = (_next_loss(lr + eps, wd)[0] - _next_loss(lr - eps, wd)[0]) / (2 * eps)
    fd_wd = (_next_loss(lr, wd + eps)[0] - _next_loss(lr, wd - eps)[0]) / (2 * eps)
    assert d_lr == pytest.approx(fd_lr, rel=1e-5) and d_wd == pytest.approx(fd_wd, rel=1e-5)
    assert abs(d_wd) > 1e-6  # not a vacuous comparison


def test_policy_gradient_favours_the_pair_with_the_higher_loss() -> None:
    tau = torch.nn.Parameter(torch.zeros(K, K))
    pairs = torch.tensor([5, 5, 40, 40])
    pair_policy_loss(tau, pairs, torch.tensor([2.0, 2.2, 0.5, 0.4])).backward()
    p = torch.softmax((tau - 100.0 * tau.grad).flatten(), dim=0)
    # Sampled pairs grow in proportion to their images' loss; unsampled ones shrink.
    assert p[5] > p[40] > 1 / K**2 > p[0]


def test_pairs_augment_and_identity_leaves_images_alone() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, 1, 8, 8), generator=g).float()
    augmenter = PairAugmenter(torch.device("cpu"))
    identity = (K - 1) * K + (K - 1)
    assert torch.equal(augmenter.apply_pairs(x, torch.full((4,), identity), g), x)
    rotate_then_shear = 2 * K + 9
    assert not torch.equal(augmenter.apply_pairs(x, torch.full((4,), rotate_then_shear), g), x)
    assert int(sample_pairs(torch.zeros(K, K), 50, g).max()) < K * K


def test_run_dha_returns_a_trained_model_and_writes_its_result(tmp_path: Path) -> None:
    root = write_fashion_mnist(tmp_path / "data", n_train=300, n_test=50)
    config = DHAConfig(steps=4, batch_size=16, resolve_every=2)
    result = run_dha(
        "fashion-mnist-nb201", seed=0, config=config, data_root=root, out_dir=tmp_path / "run", download=False
    )
    assert 0.0 <= result.test_accuracy <= 1.0 and len(result.cell) == 6
    assert 0.02 <= result.lr <= 0.16 and 1e-4 <= result.weight_decay <= 8e-4
    assert (tmp_path / "run" / "result.json").exists()
    with pytest.raises(ValueError, match="NAS-Bench-201"):
        run_dha("fashion-mnist", seed=0, config=config, data_root=root, download=False)
