"""Module search spaces: tokens <-> typed configs."""

from automl_env.modules.augment import AugmentOp, AugmentPolicy, AugmentSpace
from automl_env.modules.base import CONFIG_TYPES, ModuleConfig, ModuleSpace, config_from_dict, register_config
from automl_env.modules.fcnet import FCLayer, FCLayerSpace, FCTraining, FCTrainingSpace
from automl_env.modules.fields import ConfigError, ConfigTypeError, ConfigValueError
from automl_env.modules.hparams import AveragedSGDSpace, HParams, RecipeSpace
from automl_env.modules.mobilenet import MobileNetConfig, MobileNetSpace, StageConfig
from automl_env.modules.nasnet import Block, CellGenotype, NASNetSpace
from automl_env.modules.nb201 import NB201Cell, NB201CellSpace, NB201Node, NB201NodeSpace, cell_of_nodes

__all__ = [
    "CONFIG_TYPES",
    "AugmentOp",
    "AugmentPolicy",
    "AugmentSpace",
    "AveragedSGDSpace",
    "Block",
    "CellGenotype",
    "ConfigError",
    "ConfigTypeError",
    "ConfigValueError",
    "FCLayer",
    "FCLayerSpace",
    "FCTraining",
    "FCTrainingSpace",
    "HParams",
    "MobileNetConfig",
    "MobileNetSpace",
    "ModuleConfig",
    "ModuleSpace",
    "NASNetSpace",
    "NB201Cell",
    "NB201CellSpace",
    "NB201Node",
    "NB201NodeSpace",
    "RecipeSpace",
    "StageConfig",
    "cell_of_nodes",
    "config_from_dict",
    "register_config",
]
