"""Module search spaces: tokens <-> typed configs."""

from automl_env.modules.augment import AugmentOp, AugmentPolicy, AugmentSpace
from automl_env.modules.base import CONFIG_TYPES, ModuleConfig, ModuleSpace, config_from_dict, register_config
from automl_env.modules.hparams import AveragedSGDSpace, HParams, RecipeSpace
from automl_env.modules.mobilenet import MobileNetConfig, MobileNetSpace, StageConfig
from automl_env.modules.nasnet import Block, CellGenotype, NASNetSpace

__all__ = [
    "CONFIG_TYPES",
    "AugmentOp",
    "AugmentPolicy",
    "AugmentSpace",
    "AveragedSGDSpace",
    "Block",
    "CellGenotype",
    "HParams",
    "MobileNetConfig",
    "MobileNetSpace",
    "ModuleConfig",
    "ModuleSpace",
    "NASNetSpace",
    "RecipeSpace",
    "StageConfig",
    "config_from_dict",
    "register_config",
]
