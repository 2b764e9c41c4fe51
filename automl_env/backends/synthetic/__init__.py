"""The synthetic backends: closed-form benchmarks with interacting modules and an exact optimum.

Their accuracies are made-up functions of the pipeline calibrated to the MA2ML paper; they are never a real
dataset's accuracy. Two landscapes, two registered names:

- ``synthetic`` (v0, ``backend``: ``SyntheticBackend``): smooth and nearly separable;
- ``synthetic-rugged`` (v1, ``rugged``: ``RuggedSyntheticBackend``): rugged, coupled and noisy like the
  recorded NAS-Bench-201 table, the default of the scripts.

Files: ``additive`` (token-group models and their exact dynamic programme), ``module_models`` (the AUG, NAS
and MobileNet quality and units tables), ``hparam_terms`` (the HPO terms that move with capacity and
augmentation), ``keys`` (v1's token keys and random field, with their exact optimisation), ``cost``
(FLOPs, parameters and simulated training time, priced in bulk).
"""

from automl_env.backends.synthetic.backend import CALIBRATIONS, MAX_NOISE, Calibration, Shape, SyntheticBackend
from automl_env.backends.synthetic.rugged import RUGGED_CALIBRATIONS, Ruggedness, RuggedSyntheticBackend

__all__ = [
    "CALIBRATIONS",
    "MAX_NOISE",
    "RUGGED_CALIBRATIONS",
    "Calibration",
    "RuggedSyntheticBackend",
    "Ruggedness",
    "Shape",
    "SyntheticBackend",
]
