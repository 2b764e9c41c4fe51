"""FBNetV3-like inverted-residual space (the NAS module of ImageNet-200).

A MobileNetV2 skeleton of 7 stages; the search picks the input resolution and, per stage, the
depthwise kernel size, expansion ratio, width multiplier and depth. 8 * (2*6*4*4)^7 = 10^16.9
configurations (the paper's 10^17).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_env.modules.base import ModuleConfig, ModuleSpace, TokenArray, register_config
from automl_env.modules.fields import (
    config_fields,
    float_field,
    instances,
    int_field,
    list_field,
    list_of,
    store_field,
)

RESOLUTIONS: tuple[int, ...] = (160, 176, 192, 208, 224, 240, 256, 272)
KERNELS: tuple[int, ...] = (3, 5)
EXPANSIONS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
WIDTHS: tuple[float, ...] = (0.75, 1.0, 1.25, 1.5)
DEPTHS: tuple[int, ...] = (1, 2, 3, 4)

# MobileNetV2's stages: (base output channels, stride of the first block).
STAGES: tuple[tuple[int, int], ...] = ((16, 1), (24, 2), (32, 2), (64, 2), (96, 1), (160, 2), (320, 1))
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8, never more than 10% down (MobileNetV2's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class StageConfig:
    """One stage: depthwise kernel size, expansion ratio, width multiplier and number of blocks."""

    kernel: int
    expansion: int
    width: float
    depth: int

    def __post_init__(self) -> None:
        store_field(self, "kernel", int_field(self.kernel, "kernel", choices=KERNELS))
        store_field(self, "expansion", int_field(self.expansion, "expansion", choices=EXPANSIONS))
        store_field(self, "width", float_field(self.width, "width", choices=WIDTHS))
        store_field(self, "depth", int_field(self.depth, "depth", choices=DEPTHS))

    @classmethod
    def from_list(cls, item: Any) -> StageConfig:
        """Read ``[kernel, expansion, width, depth]`` (the JSON form)."""
        return cls(*list_field(item, None, length=4, of="items [kernel, expansion, width, depth]"))

    def channels(self, stage: int) -> int:
        return make_divisible(STAGES[stage][0] * self.width)


@register_config
@dataclass(frozen=True)
class MobileNetConfig(ModuleConfig):
    """Input resolution and the 7 stages of an inverted-residual network."""

    kind = "mobilenet"
    resolution: int
    stages: tuple[StageConfig, ...]

    def __post_init__(self) -> None:
        store_field(self, "resolution", int_field(self.resolution, "resolution", choices=RESOLUTIONS))
        store_field(self, "stages", instances(self.stages, "stages", StageConfig, length=len(STAGES), of="stages"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resolution": self.resolution,
            "stages": [[s.kernel, s.expansion, s.width, s.depth] for s in self.stages],
        }

    @classmethod
    def from_dict(cls, data: Any) -> MobileNetConfig:
        with config_fields(data, cls.kind, ("resolution", "stages")) as fields:
            stages = list_of(fields["stages"], "stages", StageConfig.from_list, length=len(STAGES), of="stages")
            return cls(resolution=fields["resolution"], stages=stages)

    def describe(self) -> str:
        stages = " ".join(
            f"[k{s.kernel} e{s.expansion} c{s.channels(i)} d{s.depth}]" for i, s in enumerate(self.stages)
        )
        return f"res {self.resolution} {stages}"


class MobileNetSpace(ModuleSpace[MobileNetConfig]):
    """Tokens: resolution, then (kernel, expansion, width, depth) for each of the 7 stages."""

    one_to_one = True  # every token vector is its own config (a test checks it on random vectors)

    def __init__(self) -> None:
        stage = (len(KERNELS), len(EXPANSIONS), len(WIDTHS), len(DEPTHS))
        self.nvec = (len(RESOLUTIONS), *stage * len(STAGES))
        self.position_names = (
            "resolution",
            *(f"stage[{i}].{f}" for i in range(len(STAGES)) for f in ("kernel", "expansion", "width", "depth")),
        )

    def decode(self, tokens: Sequence[int] | TokenArray) -> MobileNetConfig:
        t = np.asarray(tokens, dtype=np.int64)
        stages = tuple(
            StageConfig(KERNELS[int(k)], EXPANSIONS[int(e)], WIDTHS[int(w)], DEPTHS[int(d)])
            for k, e, w, d in t[1:].reshape(len(STAGES), 4)
        )
        return MobileNetConfig(resolution=RESOLUTIONS[int(t[0])], stages=stages)

    def encode(self, config: MobileNetConfig) -> TokenArray:
        tokens = [RESOLUTIONS.index(config.resolution)]
        for s in config.stages:
            tokens += [
                KERNELS.index(s.kernel),
                EXPANSIONS.index(s.expansion),
                WIDTHS.index(s.width),
                DEPTHS.index(s.depth),
            ]
        return np.array(tokens, dtype=np.int64)

    def default(self) -> MobileNetConfig:
        """MobileNetV2 1.0 at 224 (its own depths clipped to this space's 1..4)."""
        depths = (1, 2, 3, 4, 3, 3, 1)
        return MobileNetConfig(
            resolution=224,
            stages=tuple(StageConfig(3, 1 if i == 0 else 6, 1.0, d) for i, d in enumerate(depths)),
        )
