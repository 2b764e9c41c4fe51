"""Batched on-device AutoAugment: the AUG module's policies applied to a whole batch at once.

Every image draws its own sub-policy; each of the sub-policy's two operations is applied with its
probability and a magnitude given by ``MAGNITUDES`` (AutoAugment's ranges as torchvision
implements them, plus the paper's Cutout). Signed operations flip the sign with probability 1/2.
No host synchronisation: each operation a slot can apply is computed for the whole batch with
per-image magnitudes and selected per image with ``torch.where``; the geometric operations of one
slot share one affine map and a single ``grid_sample``. Images are float32 in [0, 255] throughout;
empty pixels are filled with grey (128), as in AutoAugment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from automl_env.backends.training.deps import torch
from automl_env.modules.augment import NUM_MAGNITUDES, OPERATIONS, AugmentPolicy

F = torch.nn.functional
Tensor = torch.Tensor
FILL = 128.0


@dataclass(frozen=True)
class Magnitude:
    """Magnitude level 0 maps to ``low`` and level 9 to ``high``, linearly; ``signed``: random sign."""

    low: float
    high: float
    signed: bool

    def value(self, level: int) -> float:
        return self.low + (self.high - self.low) * level / (NUM_MAGNITUDES - 1)


MAGNITUDES: dict[str, Magnitude] = {
    "ShearX": Magnitude(0.0, 0.3, True),  # shear factor tan(angle)
    "ShearY": Magnitude(0.0, 0.3, True),
    "TranslateX": Magnitude(0.0, 150 / 331, True),  # fraction of the width (AutoAugment: 150 px of 331)
    "TranslateY": Magnitude(0.0, 150 / 331, True),
    "Rotate": Magnitude(0.0, 30.0, True),  # degrees, counter-clockwise
    "AutoContrast": Magnitude(0.0, 0.0, False),
    "Invert": Magnitude(0.0, 0.0, False),
    "Equalize": Magnitude(0.0, 0.0, False),
    "Solarize": Magnitude(255.0, 0.0, False),  # threshold
    "Posterize": Magnitude(8.0, 4.0, False),  # bits kept, rounded
    "Contrast": Magnitude(0.0, 0.9, True),  # enhancement factor 1 + value
    "Color": Magnitude(0.0, 0.9, True),
    "Brightness": Magnitude(0.0, 0.9, True),
    "Sharpness": Magnitude(0.0, 0.9, True),
    "Cutout": Magnitude(0.0, 20 / 32, False),  # square side as a fraction of the image (paper: 20 px of 32)
}
assert set(MAGNITUDES) == set(OPERATIONS)

GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


def _blend(x: Tensor, degenerate: Tensor, factor: Tensor) -> Tensor:
    return (degenerate + factor.view(-1, 1, 1, 1) * (x - degenerate)).clamp(0.0, 255.0)


def grayscale(x: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    return (0.2989 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).floor()


def auto_contrast(x: Tensor, m: Tensor) -> Tensor:
    low, high = x.amin(dim=(-2, -1), keepdim=True), x.amax(dim=(-2, -1), keepdim=True)
    flat = high <= low
    scale = torch.where(flat, torch.ones_like(high), 255.0 / (high - low).clamp_min(1e-6))
    return torch.where(flat, x, ((x - low) * scale).clamp(0.0, 255.0))


def invert(x: Tensor, m: Tensor) -> Tensor:
    return 255.0 - x


def equalize(x: Tensor, m: Tensor) -> Tensor:
    from torchvision.transforms.v2 import functional as TF

    return TF.equalize(x.round().clamp(0, 255).to(torch.uint8)).to(x.dtype)


def solarize(x: Tensor, m: Tensor) -> Tensor:
    return torch.where(x >= m.view(-1, 1, 1, 1), 255.0 - x, x)


def posterize(x: Tensor, m: Tensor) -> Tensor:
    step = torch.exp2(8.0 - m.round()).view(-1, 1, 1, 1)
    return torch.floor(x.round() / step) * step


def contrast(x: Tensor, m: Tensor) -> Tensor:
    mean = grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(x, mean.expand_as(x), 1.0 + m)


def color(x: Tensor, m: Tensor) -> Tensor:
    return _blend(x, grayscale(x).expand_as(x), 1.0 + m)


def brightness(x: Tensor, m: Tensor) -> Tensor:
    return _blend(x, torch.zeros_like(x), 1.0 + m)


def sharpness(x: Tensor, m: Tensor) -> Tensor:
    # PIL's smoothing kernel (1 around a centre of 5, over 13), summed shift by shift in a fixed order rather than by
    # conv2d, whose reduction order depends on the batch size and the thread count: an image is smoothed bit for bit
    # alike alone or in any batch, on any number of threads.
    h, w = x.shape[-2:]
    total = 4.0 * x[..., 1:-1, 1:-1]
    for dy in range(3):
        for dx in range(3):
            total = total + x[..., dy : h - 2 + dy, dx : w - 2 + dx]
    smooth = (total / 13.0).round()
    degenerate = x.clone()
    degenerate[..., 1:-1, 1:-1] = smooth  # the 1-pixel border keeps its original values (PIL's rule)
    return _blend(x, degenerate, 1.0 + m)


def cutout(x: Tensor, side: Tensor, cy: Tensor, cx: Tensor) -> Tensor:
    """Grey square of ``side`` pixels centred at (cy, cx) per image, clipped at the borders."""
    h, w = x.shape[-2:]
    half = (side / 2).view(-1, 1, 1)
    rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, -1, 1)
    cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, -1)
    y0, x0 = cy.view(-1, 1, 1) - half.floor(), cx.view(-1, 1, 1) - half.floor()
    inside = (rows >= y0) & (rows < y0 + side.view(-1, 1, 1)) & (cols >= x0) & (cols < x0 + side.view(-1, 1, 1))
    return torch.where(inside.unsqueeze(1), torch.full_like(x, FILL), x)


PIXEL_OPS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "AutoContrast": auto_contrast,
    "Invert": invert,
    "Equalize": equalize,
    "Solarize": solarize,
    "Posterize": posterize,
    "Contrast": contrast,
    "Color": color,
    "Brightness": brightness,
    "Sharpness": sharpness,
}


def inverse_affine(op: str, m: Tensor, h: int, w: int) -> Tensor:
    """(B, 2, 3) maps from output to input pixel, in pixel coordinates centred on the image.

    Conventions of torchvision's AutoAugment: shears about the top-left corner, translations by a
    whole number of pixels, rotations counter-clockwise about the centre.
    """
    one, zero = torch.ones_like(m), torch.zeros_like(m)
    if op == "ShearX":
        rows = [[one, m, m * h / 2], [zero, one, zero]]
    elif op == "ShearY":
        rows = [[one, zero, zero], [m, one, m * w / 2]]
    elif op == "TranslateX":
        rows = [[one, zero, -torch.trunc(m * w)], [zero, one, zero]]
    elif op == "TranslateY":
        rows = [[one, zero, zero], [zero, one, -torch.trunc(m * h)]]
    elif op == "Rotate":
        cos, sin = torch.cos(torch.deg2rad(m)), torch.sin(torch.deg2rad(m))
        rows = [[cos, -sin, zero], [sin, cos, zero]]
    else:
        raise ValueError(f"{op} is not a geometric operation")
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=1)


def warp(x: Tensor, matrix: Tensor) -> Tensor:
    """Nearest-neighbour resampling by per-image inverse maps in centred pixel coordinates."""
    h, w = x.shape[-2:]
    theta = matrix.clone()
    # centred pixels -> grid_sample's [-1, 1] coordinates (align_corners=False)
    theta[:, 0, 1] *= h / w
    theta[:, 1, 0] *= w / h
    theta[:, 0, 2] *= 2 / w
    theta[:, 1, 2] *= 2 / h
    return resample(x, theta)


def resample(x: Tensor, theta: Tensor) -> Tensor:
    """Nearest-neighbour resampling by per-image inverse maps in grid_sample's [-1, 1] coordinates, grey outside."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - FILL, grid, mode="nearest", padding_mode="zeros", align_corners=False) + FILL


@dataclass(frozen=True)
class SlotDraws:
    """One slot's per-image draws: operation (index into ``OPERATIONS``), whether it applies, signed magnitude, and
    the Cutout square's centre (uniform, (2, B); None where the policy has no Cutout)."""

    op: Tensor
    apply: Tensor
    m: Tensor
    centre: Tensor | None = None

    def applied(self) -> Tensor:
        """(B,) the operation each image applies, -1 where its operation does not apply."""
        return torch.where(self.apply, self.op, -1)


def slot_theta(applied: Tensor, m: Tensor, names: Sequence[str], h: int, w: int) -> Tensor:
    """(B, 2, 3) inverse maps of one slot in ``resample``'s coordinates: each image's operation
    (``SlotDraws.applied``) among the geometric ``names`` with its magnitude m, as ``warp`` applies
    ``inverse_affine``; the identity where none applies.

    One formula for all five (a rotation with the shears and translations added), exact because at most one of
    them is non-zero per image: one set of element-wise kernels a slot, not one per geometric operation.
    """
    zero = torch.zeros_like(m)
    own = {name: torch.where(applied == OPERATIONS.index(name), m, zero) for name in names}
    shear_x, shear_y, move_x, move_y, degrees = (own.get(name, zero) for name in GEOMETRIC)
    radians = torch.deg2rad(degrees)
    cos, sin = torch.cos(radians), torch.sin(radians)
    # inverse_affine's entries, scaled as warp scales them (h / 2 is exact: x * h / 2 == x * (h / 2))
    entries = [
        cos,
        (shear_x - sin) * (h / w),
        (shear_x * (h / 2) - torch.trunc(move_x * w)) * (2 / w),
        (shear_y + sin) * (w / h),
        cos,
        (shear_y * (w / 2) - torch.trunc(move_y * h)) * (2 / h),
    ]
    return torch.stack(entries, dim=-1).view(-1, 2, 3)


class PolicyAugmenter:
    """Applies one AugmentPolicy to batches on one device.

    Each slot computes only the operations some sub-policy can apply at that slot (``slot_ops``): the others are
    selected for no image, so leaving them out changes nothing but the number of kernels launched, which is what
    a small batch's augmentation costs on a GPU (docs/performance.md).
    """

    def __init__(self, policy: AugmentPolicy, device: torch.device) -> None:
        names = [[op.name for op in sub] for sub in policy.sub_policies]
        self.ops_used = sorted({n for sub in names for n in sub}, key=OPERATIONS.index)
        self.slot_ops = tuple(
            sorted(
                {sub[slot].name for sub in policy.sub_policies if sub[slot].probability_level > 0}, key=OPERATIONS.index
            )
            for slot in range(2)
        )
        # One row per (sub-policy, slot): probability, magnitude, signed (0/1), operation index; a batch's draws
        # read it with one gather.
        self.table = torch.tensor(
            [
                [
                    [
                        op.probability,
                        MAGNITUDES[op.name].value(op.magnitude),
                        MAGNITUDES[op.name].signed,
                        OPERATIONS.index(op.name),
                    ]
                    for op in sub
                ]
                for sub in policy.sub_policies
            ],
            device=device,
        )
        self.active = any(op.probability_level > 0 for sub in policy.sub_policies for op in sub)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """x: float (B, C, H, W) in [0, 255]; returns the augmented batch."""
        if not self.active:
            return x
        for names, draws in zip(self.slot_ops, self.draw(x.shape[0], generator), strict=True):
            x = self.apply_slot(x, draws, names)
        return x

    def draw(self, b: int, generator: torch.Generator) -> list[SlotDraws]:
        """Both slots' draws for b images: a sub-policy per image, then per slot whether its operation applies,
        the magnitude's sign, and Cutout's centre whenever the policy holds a Cutout (at either slot: a policy's
        draws do not depend on where its operations sit, so they stay those its recorded evaluations used)."""
        dev = self.table.device
        rows = self.table[torch.randint(0, self.table.shape[0], (b,), device=dev, generator=generator)]
        draws = []
        for slot in rows.unbind(1):
            probability, magnitude, signed, op = slot.unbind(-1)
            apply = torch.rand(b, device=dev, generator=generator) < probability
            flip = (signed > 0) & (torch.rand(b, device=dev, generator=generator) < 0.5)
            m = torch.where(flip, -magnitude, magnitude)
            centre = torch.rand(2, b, device=dev, generator=generator) if "Cutout" in self.ops_used else None
            draws.append(SlotDraws(op.long(), apply, m, centre))
        return draws

    def apply_slot(self, x: Tensor, draws: SlotDraws, names: Sequence[str]) -> Tensor:
        """One slot: every image's drawn operation among ``names``, where it applies."""
        h, w = x.shape[-2:]
        applied = draws.applied()
        # A policy with a geometric operation warps in both slots, by the identity where none applies: resampling
        # x - 128 by the identity rounds fractional values below 64, so skipping it would change recorded results.
        if any(name in GEOMETRIC for name in self.ops_used):
            x = resample(x, slot_theta(applied, draws.m, [n for n in names if n in GEOMETRIC], h, w))
        applied = applied.view(-1, 1, 1, 1)
        for name in names:
            if name in GEOMETRIC:
                continue
            chosen = applied == OPERATIONS.index(name)
            if name == "Cutout":
                if draws.centre is None:
                    raise ValueError("Cutout needs the square's centres: draw them with the policy's draw()")
                y = cutout(
                    x, (draws.m * min(h, w)).round(), (draws.centre[0] * h).floor(), (draws.centre[1] * w).floor()
                )
            else:
                y = PIXEL_OPS[name](x, draws.m)
            x = torch.where(chosen, y, x)
        return x


def random_crop_flip(x: Tensor, padding: int, generator: torch.Generator, *, flip: bool = True) -> Tensor:
    """Zero-pad by ``padding`` and crop back at a random offset per image, then flip half the images."""
    b, _, h, w = x.shape
    dev = x.device
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding))
        offset = torch.randint(0, 2 * padding + 1, (2, b), device=dev, generator=generator)
        rows = (offset[0].view(-1, 1) + torch.arange(h, device=dev)).view(b, 1, h, 1)
        cols = (offset[1].view(-1, 1) + torch.arange(w, device=dev)).view(b, 1, 1, w)
        x = padded.gather(2, rows.expand(b, x.shape[1], h, padded.shape[-1])).gather(
            3, cols.expand(b, x.shape[1], h, w)
        )
    if flip:
        mirror = torch.rand(b, device=dev, generator=generator) < 0.5
        x = torch.where(mirror.view(-1, 1, 1, 1), x.flip(-1), x)
    return x


def random_resized_crop(
    x: Tensor, size: int, generator: torch.Generator, *, scale: tuple[float, float] = (0.08, 1.0)
) -> Tensor:
    """Inception-style crop (area fraction in ``scale``, aspect in [3/4, 4/3]) resized to ``size``, with flip."""
    b = x.shape[0]
    dev = x.device
    u = torch.rand(4, b, device=dev, generator=generator)
    area = scale[0] + (scale[1] - scale[0]) * u[0]
    log_ratio = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * u[1]
    ratio = torch.exp(log_ratio)
    sw = torch.sqrt(area * ratio).clamp(max=1.0)
    sh = torch.sqrt(area / ratio).clamp(max=1.0)
    cx, cy = (1 - sw) * (2 * u[2] - 1), (1 - sh) * (2 * u[3] - 1)
    mirror = torch.where(torch.rand(b, device=dev, generator=generator) < 0.5, -1.0, 1.0)
    zero = torch.zeros_like(sw)
    theta = torch.stack([torch.stack([sw * mirror, zero, cx], -1), torch.stack([zero, sh, cy], -1)], 1)
    grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def centre_resize(x: Tensor, size: int, crop_fraction: float = 0.875) -> Tensor:
    """Evaluation view: the central ``crop_fraction`` of the image resized to ``size``."""
    h = x.shape[-1]
    keep = max(1, round(h * crop_fraction))
    start = (h - keep) // 2
    centre = x[..., start : start + keep, start : start + keep]
    return F.interpolate(centre, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
