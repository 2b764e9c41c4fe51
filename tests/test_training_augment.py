"""Every AutoAugment operation of the batched augmenter against torchvision's functional ops or PIL."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from PIL import Image, ImageOps  # noqa: E402
from torchvision.transforms import InterpolationMode  # noqa: E402
from torchvision.transforms.v2 import functional as TF  # noqa: E402

from automl_env.backends.training import augment as A  # noqa: E402
from automl_env.modules.augment import NUM_MAGNITUDES, OPERATIONS, AugmentOp, AugmentPolicy  # noqa: E402

NEAREST = InterpolationMode.NEAREST


def image(channels: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    """A smooth image with structure (gradients + blobs) and the full value range, uint8 (C, H, W)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    chans = [
        np.sin(6 * xx + rng.uniform(0, 6)) * np.cos(4 * yy + rng.uniform(0, 6)) * 90 + 120 + rng.normal(0, 12, xx.shape)
        for _ in range(channels)
    ]
    return torch.from_numpy(np.clip(np.stack(chans), 0, 255).astype(np.uint8))


def ours(name: str, img: torch.Tensor, m: float) -> torch.Tensor:
    x = img.float().unsqueeze(0)
    mag = torch.tensor([m])
    if name in A.GEOMETRIC:
        return A.warp(x, A.inverse_affine(name, mag, *img.shape[-2:]))[0]
    return A.PIXEL_OPS[name](x, mag)[0]


def reference(name: str, img: torch.Tensor, m: float) -> torch.Tensor:
    """torchvision v2's AutoAugment calls (transforms/v2/_auto_augment.py), or PIL where noted."""
    size = img.shape[-1]
    if name == "ShearX":
        return TF.affine(img, 0.0, [0, 0], 1.0, [math.degrees(math.atan(m)), 0.0], NEAREST, fill=128, center=[0, 0])
    if name == "ShearY":
        return TF.affine(img, 0.0, [0, 0], 1.0, [0.0, math.degrees(math.atan(m))], NEAREST, fill=128, center=[0, 0])
    if name == "TranslateX":
        return TF.affine(img, 0.0, [int(m * size), 0], 1.0, [0.0, 0.0], NEAREST, fill=128)
    if name == "TranslateY":
        return TF.affine(img, 0.0, [0, int(m * size)], 1.0, [0.0, 0.0], NEAREST, fill=128)
    if name == "Rotate":
        return TF.rotate(img, m, NEAREST, fill=128)
    if name == "Equalize":  # PIL, to check torchvision's batched version we call against an independent one
        pil = Image.fromarray(img.permute(1, 2, 0).squeeze(-1).numpy())
        return (
            torch.from_numpy(np.array(ImageOps.equalize(pil))).reshape(img.shape[1], img.shape[2], -1).permute(2, 0, 1)
        )
    if name == "AutoContrast":
        return TF.autocontrast(img)
    if name == "Invert":
        return TF.invert(img)
    if name == "Solarize":
        return TF.solarize(img, m)
    if name == "Posterize":
        return TF.posterize(img, round(m))
    factor = 1.0 + m
    fn = {"Contrast": TF.adjust_contrast, "Color": TF.adjust_saturation, "Brightness": TF.adjust_brightness}.get(name)
    if fn is not None:
        return fn(img, factor)
    assert name == "Sharpness"
    return TF.adjust_sharpness(img, factor)


def magnitudes(name: str) -> list[float]:
    spec = A.MAGNITUDES[name]
    values = [spec.value(level) for level in range(NUM_MAGNITUDES)]
    return values + [-v for v in values if v] if spec.signed else values


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", [n for n in OPERATIONS if n != "Cutout"])
def test_operation_matches_reference_at_every_level(name: str, channels: int) -> None:
    if name == "Rotate" and channels == 1:
        pytest.skip("rotation is channel-independent; covered with 3 channels")
    img = image(channels)
    for m in magnitudes(name):
        got, want = ours(name, img, m), reference(name, img, m).float()
        diff = (got - want).abs()
        # Nearest-neighbour sampling may pick the neighbouring pixel where a sample point lands on a
        # pixel boundary, and uint8 references truncate where we keep floats: compare the mean error
        # and the share of pixels that differ by more than rounding.
        assert diff.mean() < 1.0, f"{name} m={m}: mean abs error {diff.mean():.2f}"
        assert (diff > 2).float().mean() < 0.03, f"{name} m={m}: {(diff > 2).float().mean():.1%} pixels differ"


def test_cutout_greys_a_clipped_square_only() -> None:
    img = image(3).float().unsqueeze(0).repeat(2, 1, 1, 1)
    out = A.cutout(img, torch.tensor([10.0, 10.0]), torch.tensor([16.0, 0.0]), torch.tensor([16.0, 31.0]))
    grey = (out == A.FILL).all(dim=1)
    assert grey[0, 11:21, 11:21].all() and grey[0].sum() == 100
    assert grey[1, 0:5, 26:32].all() and grey[1].sum() == 5 * 6  # clipped at the top-right corner
    assert torch.equal(out[~grey.unsqueeze(1).expand_as(out)], img[~grey.unsqueeze(1).expand_as(img)])


def test_magnitude_table_follows_autoaugment() -> None:
    assert A.MAGNITUDES["Rotate"].value(9) == 30.0 and A.MAGNITUDES["ShearX"].value(9) == pytest.approx(0.3)
    assert [round(A.MAGNITUDES["Posterize"].value(level)) for level in range(10)] == [8, 8, 7, 7, 6, 6, 5, 5, 4, 4]
    assert A.MAGNITUDES["Solarize"].value(0) == 255.0 and A.MAGNITUDES["Solarize"].value(9) == 0.0


def test_policy_applies_a_different_sub_policy_per_image() -> None:
    """Sub-policy 0 always inverts, sub-policy 1 never changes anything: both kinds of image appear."""
    invert, off = AugmentOp("Invert", 10, 0), AugmentOp("Invert", 0, 0)
    policy = AugmentPolicy(sub_policies=((invert, off), (off, off)))
    augmenter = A.PolicyAugmenter(policy, torch.device("cpu"))
    x = image(3).float().unsqueeze(0).repeat(400, 1, 1, 1)
    out = augmenter(x, torch.Generator().manual_seed(0))
    inverted = (out == 255 - x).flatten(1).all(1)
    unchanged = (out == x).flatten(1).all(1)
    assert bool((inverted | unchanged).all())
    assert 150 < int(inverted.sum()) < 250  # ~ half, drawn per image


def test_probability_is_respected_per_operation() -> None:
    op = AugmentOp("Invert", 3, 0)  # p = 0.3
    augmenter = A.PolicyAugmenter(AugmentPolicy(sub_policies=((op, AugmentOp("Invert", 0, 0)),)), torch.device("cpu"))
    x = image(1).float().unsqueeze(0).repeat(2000, 1, 1, 1)
    changed = (augmenter(x, torch.Generator().manual_seed(1)) != x).flatten(1).any(1).float().mean()
    assert 0.26 < float(changed) < 0.34


def test_every_operation_runs_batched_with_mixed_magnitudes() -> None:
    subs = tuple(
        (AugmentOp(n, 10, 9), AugmentOp(OPERATIONS[(i + 7) % 15], 5, i % 10)) for i, n in enumerate(OPERATIONS)
    )
    augmenter = A.PolicyAugmenter(AugmentPolicy(sub_policies=subs), torch.device("cpu"))
    x = image(3).float().unsqueeze(0).repeat(64, 1, 1, 1)
    out = augmenter(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and bool(torch.isfinite(out).all())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 255.0
    assert (out != x).flatten(1).any(1).float().mean() > 0.5


def test_random_crop_flip_shifts_within_padding() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(50, 1, 1, 1)
    out = A.random_crop_flip(x, 1, torch.Generator().manual_seed(0), flip=False)
    for img in out[:, 0]:
        nonzero = img[img > 0]
        assert len(nonzero) >= 8  # at most one row and one column padded in
    assert len({tuple(img.flatten().tolist()) for img in out}) > 3


def one_at_a_time(augmenter: A.PolicyAugmenter, x: torch.Tensor, draws: list[A.SlotDraws]) -> torch.Tensor:
    """What the batched augmenter must give, computed image by image with each image's own operation alone."""
    h, w = x.shape[-2:]
    warps = any(name in A.GEOMETRIC for name in augmenter.ops_used)
    images = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        for d in draws:
            name = OPERATIONS[int(d.op[i])] if bool(d.apply[i]) else None
            m = d.m[i : i + 1]
            if warps:  # a policy with a geometric operation resamples every image, by the identity where none applies
                xi = A.warp(xi, A.inverse_affine(name, m, h, w) if name in A.GEOMETRIC else torch.eye(2, 3)[None])
            if name == "Cutout":
                assert d.centre is not None
                centre = d.centre[:, i : i + 1]
                xi = A.cutout(xi, (m * min(h, w)).round(), (centre[0] * h).floor(), (centre[1] * w).floor())
            elif name is not None and name not in A.GEOMETRIC:
                xi = A.PIXEL_OPS[name](xi, m)
        images.append(xi)
    return torch.cat(images)


operation = st.builds(AugmentOp, st.sampled_from(OPERATIONS), st.integers(0, 10), st.integers(0, NUM_MAGNITUDES - 1))


@settings(max_examples=30, deadline=None)
@example(  # found on two threads: conv2d smoothed a batch and a lone image apart by a rounding
    subs=[(AugmentOp("Brightness", 1, 1), AugmentOp("Sharpness", 1, 1))], channels=1, size=(28, 28), seed=0
)
@given(
    subs=st.lists(st.tuples(operation, operation), min_size=1, max_size=5),
    channels=st.sampled_from([1, 3]),
    size=st.sampled_from([(28, 28), (32, 32), (24, 40)]),
    seed=st.integers(0, 2**16),
)
def test_batched_policy_is_each_image_augmented_alone(
    subs: list[tuple[AugmentOp, AugmentOp]], channels: int, size: tuple[int, int], seed: int
) -> None:
    """Bit for bit: per-slot operation sets, one affine formula for every geometric operation and shared masks
    change how many kernels a batch launches, never an image."""
    augmenter = A.PolicyAugmenter(AugmentPolicy(sub_policies=tuple(subs)), torch.device("cpu"))
    x = torch.rand(24, channels, *size, generator=torch.Generator().manual_seed(seed)).mul(255).round()
    batched = augmenter(x, torch.Generator().manual_seed(seed))
    if augmenter.active:
        x = one_at_a_time(augmenter, x, augmenter.draw(x.shape[0], torch.Generator().manual_seed(seed)))
    assert torch.equal(batched, x)
