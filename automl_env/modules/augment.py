"""AutoAugment-style augmentation policy space (the AUG module).

A policy is K sub-policies of 2 operations; an operation is (type: 15, probability: 11 levels
0.0..1.0, magnitude: 10 levels). Tokens per operation: type, probability, magnitude, so a policy is
``K * 2 * 3`` tokens. K = 5 gives the paper's 10^32 (CIFAR), K = 25 its 10^160 (ImageNet-200).
During training each image draws one sub-policy uniformly and applies each of its two operations
with that operation's probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl_env.modules.base import ModuleConfig, ModuleSpace, TokenArray, register_config
from automl_env.modules.fields import (
    config_fields,
    instances,
    int_field,
    list_field,
    list_of,
    store_field,
    str_field,
)

OPERATIONS: tuple[str, ...] = (
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "AutoContrast",
    "Invert",
    "Equalize",
    "Solarize",
    "Posterize",
    "Contrast",
    "Color",
    "Brightness",
    "Sharpness",
    "Cutout",
)
NUM_PROBABILITIES = 11  # 0.0, 0.1, ..., 1.0
NUM_MAGNITUDES = 10  # levels 0..9, mapped to each operation's range by the augmenter


@dataclass(frozen=True)
class AugmentOp:
    """One operation: its type, probability level (0..10 -> 0.0..1.0) and magnitude level (0..9)."""

    name: str
    probability_level: int
    magnitude: int

    def __post_init__(self) -> None:
        store_field(self, "name", str_field(self.name, "name", choices=OPERATIONS))
        store_field(
            self,
            "probability_level",
            int_field(self.probability_level, "probability_level", low=0, high=NUM_PROBABILITIES),
        )
        store_field(self, "magnitude", int_field(self.magnitude, "magnitude", low=0, high=NUM_MAGNITUDES))

    @classmethod
    def from_list(cls, item: Any) -> AugmentOp:
        """Read ``[name, probability_level, magnitude]`` (the JSON form)."""
        return cls(*list_field(item, None, length=3, of="items [name, probability_level, magnitude]"))

    @property
    def probability(self) -> float:
        return self.probability_level / (NUM_PROBABILITIES - 1)


SubPolicy = tuple[AugmentOp, AugmentOp]


def _sub_policy(value: Any) -> SubPolicy:
    first, second = instances(value, None, AugmentOp, length=2, of="operations")
    return (first, second)


def _sub_policy_of_json(value: Any) -> SubPolicy:
    first, second = list_of(value, None, AugmentOp.from_list, length=2, of="operations")
    return (first, second)


@register_config
@dataclass(frozen=True)
class AugmentPolicy(ModuleConfig):
    """K sub-policies of two operations each."""

    kind = "augment_policy"
    sub_policies: tuple[SubPolicy, ...]

    def __post_init__(self) -> None:
        store_field(
            self,
            "sub_policies",
            list_of(self.sub_policies, "sub_policies", _sub_policy, min_length=1, of="sub-policies"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sub_policies": [
                [[op.name, op.probability_level, op.magnitude] for op in sub] for sub in self.sub_policies
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> AugmentPolicy:
        with config_fields(data, cls.kind, ("sub_policies",)) as fields:
            subs = list_of(fields["sub_policies"], "sub_policies", _sub_policy_of_json, min_length=1, of="sub-policies")
            return cls(sub_policies=subs)

    def describe(self) -> str:
        parts = [
            " + ".join(f"{op.name}(p={op.probability:.1f}, m={op.magnitude})" for op in sub)
            for sub in self.sub_policies
        ]
        return "; ".join(parts)


class AugmentSpace(ModuleSpace[AugmentPolicy]):
    """Tokens: for each sub-policy, for each of its 2 operations: (type, probability, magnitude)."""

    one_to_one = True  # every token vector is its own config (a test checks it on random vectors)

    def __init__(self, num_sub_policies: int = 5) -> None:
        if num_sub_policies < 1:
            raise ValueError(f"num_sub_policies must be >= 1, got {num_sub_policies}")
        self.num_sub_policies = num_sub_policies
        self.nvec = (len(OPERATIONS), NUM_PROBABILITIES, NUM_MAGNITUDES) * (2 * num_sub_policies)
        self.position_names = tuple(
            f"sub_policy[{k}].op[{j}].{field}"
            for k in range(num_sub_policies)
            for j in range(2)
            for field in ("type", "probability", "magnitude")
        )

    def decode(self, tokens: Sequence[int] | TokenArray) -> AugmentPolicy:
        t = np.asarray(tokens, dtype=np.int64).reshape(self.num_sub_policies, 2, 3)
        subs = tuple(
            (
                AugmentOp(OPERATIONS[int(a[0])], int(a[1]), int(a[2])),
                AugmentOp(OPERATIONS[int(b[0])], int(b[1]), int(b[2])),
            )
            for a, b in t
        )
        return AugmentPolicy(sub_policies=subs)

    def encode(self, config: AugmentPolicy) -> TokenArray:
        if len(config.sub_policies) != self.num_sub_policies:
            raise ValueError(
                f"policy has {len(config.sub_policies)} sub-policies, this space has {self.num_sub_policies}"
            )
        return np.array(
            [
                v
                for sub in config.sub_policies
                for op in sub
                for v in (OPERATIONS.index(op.name), op.probability_level, op.magnitude)
            ],
            dtype=np.int64,
        )

    def default(self) -> AugmentPolicy:
        """No learned augmentation: every operation has probability 0 (crop and flip still apply)."""
        off = AugmentOp("ShearX", 0, 0)
        return AugmentPolicy(sub_policies=((off, off),) * self.num_sub_policies)
