"""Quality and units tables of the synthetic backend for the AUG and NAS search spaces.

Each builder turns a module space into an ``AdditiveModel`` (see ``additive``). The numbers
are hand-set preferences in the spirit of the literature (separable convolutions and pools in
reduction cells as in NASNet/DARTS, Cutout and translations as AutoAugment's strongest CIFAR ops,
Invert harmful), not measurements; their overall weight is fitted in ``synthetic``.

Units: AUG operations have integer "strength" units (probability level x type weight x magnitude
bucket); NAS choices have integer "capacity" units (parametric operations high, pools and identity
zero). The accuracy surface couples modules only through these two totals.
"""

from __future__ import annotations

import numpy as np

from automl_env.backends.synthetic.additive import AdditiveModel, TokenGroup
from automl_env.modules.augment import NUM_MAGNITUDES, NUM_PROBABILITIES, AugmentSpace
from automl_env.modules.augment import OPERATIONS as AUG_OPS
from automl_env.modules.mobilenet import DEPTHS, EXPANSIONS, KERNELS, RESOLUTIONS, STAGES, WIDTHS, MobileNetSpace
from automl_env.modules.nasnet import COMBINERS, NUM_BLOCKS, TOKENS_PER_BLOCK, NASNetSpace
from automl_env.modules.nasnet import OPERATIONS as NAS_OPS

# AUG, per operation type: (usefulness at its best magnitude, best magnitude as a fraction of the
# range, curvature of the magnitude preference, strength weight). Curvature 0 marks the types
# without a magnitude (AutoContrast, Invert, Equalize).
AUG_TYPES: dict[str, tuple[float, float, float, int]] = {
    "ShearX": (0.55, 0.5, 2.0, 2),
    "ShearY": (0.55, 0.5, 2.0, 2),
    "TranslateX": (0.65, 0.45, 2.0, 2),
    "TranslateY": (0.65, 0.45, 2.0, 2),
    "Rotate": (0.5, 0.4, 2.4, 2),
    "AutoContrast": (0.45, 0.0, 0.0, 1),
    "Invert": (-0.4, 0.0, 0.0, 3),
    "Equalize": (0.5, 0.0, 0.0, 1),
    "Solarize": (0.3, 0.6, 2.0, 1),
    "Posterize": (0.3, 0.5, 2.0, 1),
    "Contrast": (0.4, 0.6, 1.6, 1),
    "Color": (0.45, 0.7, 1.6, 1),
    "Brightness": (0.4, 0.6, 1.6, 1),
    "Sharpness": (0.4, 0.7, 1.6, 1),
    "Cutout": (0.9, 0.6, 2.4, 2),
}
NO_MAGNITUDE_BUCKET = 3  # strength bucket of the types without a magnitude (mid-range)
STRENGTH_PER_OP = 50  # strength units of a "typical" operation; mean strength 1.0 = one per sub-policy


GEOMETRIC = frozenset({"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Cutout"})
SAME_TYPE_PAIR, MIXED_PAIR = -0.3, 0.1  # a sub-policy's two ops: same type is redundant, geometric + colour helps


def augment_model(space: AugmentSpace) -> AdditiveModel:
    """One group per sub-policy (2 ops); quality = mean per image of what the applied ops contribute.

    An op contributes probability x usefulness(magnitude); the pair adds a term times both
    probabilities (it only acts when both ops fire). Every sub-policy shares one table.
    """
    op_quality = np.zeros((len(AUG_OPS), NUM_PROBABILITIES, NUM_MAGNITUDES))
    op_units = np.zeros(op_quality.shape, dtype=np.int64)
    prob = np.arange(NUM_PROBABILITIES)[:, None] / (NUM_PROBABILITIES - 1)
    mag = np.arange(NUM_MAGNITUDES)[None, :]
    for t, name in enumerate(AUG_OPS):
        useful, best_mag, curvature, weight = AUG_TYPES[name]
        usefulness = useful - curvature * (mag / (NUM_MAGNITUDES - 1) - best_mag) ** 2
        bucket = np.full_like(mag, NO_MAGNITUDE_BUCKET) if curvature == 0 else 2 + mag // 3
        op_quality[t] = prob * (2.0 - prob) * usefulness  # always applying an op costs the clean images
        op_units[t] = np.arange(NUM_PROBABILITIES)[:, None] * weight * bucket
    geometric = np.array([name in GEOMETRIC for name in AUG_OPS])
    pair = np.where(geometric[:, None] != geometric[None, :], MIXED_PAIR, 0.0)
    pair[np.diag_indices(len(AUG_OPS))] = SAME_TYPE_PAIR
    first, second = (slice(None),) * 3 + (None,) * 3, (None,) * 3 + (slice(None),) * 3
    p_both = prob[:, 0][None, :, None, None, None, None] * prob[:, 0][None, None, None, None, :, None]
    quality = op_quality[first] + op_quality[second] + pair[:, None, None, :, None, None] * p_both
    units = op_units[first] + op_units[second]
    quality = quality / space.num_sub_policies
    groups = [TokenGroup(tuple(range(6 * k, 6 * k + 6)), quality, units) for k in range(space.num_sub_policies)]
    return AdditiveModel(groups, space.num_tokens)


# NAS (NASNet), per operation: (quality in a normal cell, capacity units there, quality in a
# reduction cell, capacity units there), in NAS_OPS order.
NASNET_OPS: dict[str, tuple[float, int, float, int]] = {
    "identity": (0.3, 0, 0.2, 0),
    "conv_1x3_3x1": (0.45, 2, 0.4, 1),
    "conv_1x7_7x1": (0.4, 3, 0.45, 2),
    "dil_conv_3x3": (0.6, 2, 0.5, 1),
    "avg_pool_3x3": (0.2, 0, 0.45, 0),
    "max_pool_3x3": (0.15, 0, 0.6, 0),
    "max_pool_5x5": (0.05, 0, 0.5, 0),
    "max_pool_7x7": (-0.05, 0, 0.4, 0),
    "conv_1x1": (0.3, 1, 0.1, 1),
    "conv_3x3": (0.5, 3, 0.4, 2),
    "sep_conv_3x3": (0.85, 2, 0.55, 1),
    "sep_conv_5x5": (0.8, 3, 0.6, 2),
    "sep_conv_7x7": (0.65, 4, 0.6, 2),
}
DEEP_INPUT_BONUS = (0.08, 0.0)  # per operand taken from an earlier block (normal, reduction cell)
SAME_INPUT_PENALTY = 0.1  # both operands read the same tensor: less diverse features
DUPLICATE_PENALTY = 0.3  # ... with the same operation: computes the same thing twice
PARAMETER_FREE_PENALTY = 0.2  # neither operation has weights
CONCAT_QUALITY, CONCAT_UNITS = 0.05, 1  # concat is followed by a 1x1 conv: a little better, bigger


def _nasnet_block(block: int, cell: int) -> TokenGroup:
    """Quality/units over (input_a, op_a, input_b, op_b, combiner) of one block of one cell."""
    n_in, n_op = 2 + block, len(NAS_OPS)
    op_q = np.array([NASNET_OPS[o][2 * cell] for o in NAS_OPS])
    op_u = np.array([NASNET_OPS[o][2 * cell + 1] for o in NAS_OPS], dtype=np.int64)
    in_a, op_a, in_b, op_b, comb = np.ix_(*(np.arange(n) for n in (n_in, n_op, n_in, n_op, len(COMBINERS))))
    free = op_u == 0
    same = in_a == in_b
    quality = (
        op_q[op_a]
        + op_q[op_b]
        + DEEP_INPUT_BONUS[cell] * ((in_a >= 2).astype(float) + (in_b >= 2))
        - SAME_INPUT_PENALTY * same
        - DUPLICATE_PENALTY * (same & (op_a == op_b))
        - PARAMETER_FREE_PENALTY * (free[op_a] & free[op_b])
        + CONCAT_QUALITY * (comb == COMBINERS.index("concat"))
    )
    units = op_u[op_a] + op_u[op_b] + CONCAT_UNITS * (comb == COMBINERS.index("concat"))
    shape = (n_in, n_op, n_in, n_op, len(COMBINERS))
    start = (cell * NUM_BLOCKS + block) * TOKENS_PER_BLOCK
    positions = tuple(range(start, start + TOKENS_PER_BLOCK))
    return TokenGroup(positions, np.broadcast_to(quality, shape).copy(), np.broadcast_to(units, shape).copy())


def nasnet_model(space: NASNetSpace) -> AdditiveModel:
    """One group per block (normal cell then reduction cell), brute-forced over its 5 tokens."""
    return AdditiveModel([_nasnet_block(b, cell) for cell in (0, 1) for b in range(NUM_BLOCKS)], space.num_tokens)


# NAS (MobileNet): quality and capacity units of the input resolution, and per-stage terms.
RESOLUTION_QUALITY = (0.0, 0.35, 0.65, 0.9, 1.1, 1.25, 1.35, 1.4)  # diminishing returns, in RESOLUTIONS order
STAGE_WEIGHT = (0.6, 0.8, 1.0, 1.0, 1.0, 1.0, 0.8)  # early and last stages matter less
KERNEL_QUALITY = ((0.0, 0.03), (0.0, 0.15))  # (early stages, stages >= 3): 5x5 pays off at low resolution
EXPANSION_QUALITY = (-0.4, -0.05, 0.1, 0.2, 0.25, 0.3)
WIDTH_QUALITY = (-0.1, 0.0, 0.08, 0.12)
DEPTH_QUALITY = (-0.2, 0.0, 0.1, 0.15)
KERNEL_UNITS, EXPANSION_UNITS, WIDTH_UNITS, DEPTH_UNITS = (0, 1), (0, 1, 1, 2, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3)


def mobilenet_model(space: MobileNetSpace) -> AdditiveModel:
    """Groups: the resolution token, then one per stage over (kernel, expansion, width, depth)."""
    groups = [TokenGroup((0,), np.asarray(RESOLUTION_QUALITY), np.arange(len(RESOLUTIONS), dtype=np.int64))]
    k, e, w, d = np.ix_(range(len(KERNELS)), range(len(EXPANSIONS)), range(len(WIDTHS)), range(len(DEPTHS)))
    units = np.take(KERNEL_UNITS, k) + np.take(EXPANSION_UNITS, e) + np.take(WIDTH_UNITS, w) + np.take(DEPTH_UNITS, d)
    for i in range(len(STAGES)):
        kernel_q = np.take(KERNEL_QUALITY[int(i >= 3)], k)
        quality = STAGE_WEIGHT[i] * (
            kernel_q + np.take(EXPANSION_QUALITY, e) + np.take(WIDTH_QUALITY, w) + np.take(DEPTH_QUALITY, d)
        )
        groups.append(TokenGroup(tuple(range(1 + 4 * i, 5 + 4 * i)), quality, units.astype(np.int64)))
    return AdditiveModel(groups, space.num_tokens)
