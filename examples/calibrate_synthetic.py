"""Fit the synthetic backends' weights to the MA2ML paper's numbers and print what to hard-code.

CIFAR family: w_hpo, w_aug, w_nas are fitted on cifar100, one after the other by bisection, so that
the exact restricted optima reproduce the paper's ablation (default 73.50, HPO only 74.39,
AUG+HPO 77.37, NAS+AUG+HPO 85.08). cifar10 and fashion-mnist then get the ``gain_scale`` that puts
their optimum at the target; ImageNet-200 keeps hand-set weights and gets its ``gain_scale``.
Also prints the cost throughput that makes each default pipeline cost the paper's GPU-seconds.

``--backend synthetic-rugged`` fits the same numbers for the rugged landscape (v1), after setting
the MobileNet field amplitude so that the field's share of the variance of random pipelines is
cifar100's (the NASNet amplitude and pooling penalty are set from the landscape statistics: see the
``automl_env.backends.synthetic.rugged`` docstring).

    python examples/calibrate_synthetic.py
    python examples/calibrate_synthetic.py --backend synthetic-rugged
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import numpy as np

from automl_env.backends.synthetic.backend import (
    CALIBRATIONS,
    MOBILENET_SHAPE,
    NASNET_SHAPE,
    Calibration,
    Shape,
    SyntheticBackend,
)
from automl_env.backends.synthetic.rugged import (
    MOBILENET_RUGGEDNESS,
    NASNET_RUGGED_SHAPE,
    NASNET_RUGGEDNESS,
    RUGGED_CALIBRATIONS,
    Ruggedness,
    RuggedSyntheticBackend,
)
from automl_env.tasks import get_task

ABLATION = {("hpo",): 0.009, ("aug", "hpo"): 0.039, ("aug", "hpo", "nas"): 0.116}  # gains over 73.50
OPTIMA = {"cifar10": 0.978, "fashion-mnist": 0.955, "imagenet200": 0.80}
GPU_SECONDS_PER_PIPELINE = {"cifar100": 300 * 86400 / 4008, "imagenet200": 2000 * 86400 / 1992}


def make(
    task: str, shape: Shape, *, rugged: Ruggedness | None, scale: float | None = None
) -> SyntheticBackend | RuggedSyntheticBackend:
    """The backend (v0 when ``rugged`` is None) with these constants, noise-free."""
    cal: Calibration = (RUGGED_CALIBRATIONS if rugged else CALIBRATIONS)[task]
    cal = cal if scale is None else replace(cal, gain_scale=scale)
    if rugged is None:
        return SyntheticBackend(get_task(task), shape=shape, calibration=cal)
    return RuggedSyntheticBackend(get_task(task), noise=0.0, shape=shape, calibration=cal, ruggedness=rugged)


def gain(task: str, shape: Shape, modules: tuple[str, ...], *, rugged: Ruggedness | None, scale: float = 1.0) -> float:
    """Exact best accuracy over ``modules`` minus the default's, with these constants."""
    backend = make(task, shape, rugged=rugged, scale=scale)
    return backend.restricted_optimum(modules).accuracy - backend.calibration.default_accuracy


def bisect(f: Callable[[float], float], target: float, lo: float, hi: float, steps: int = 60) -> float:
    """x in [lo, hi] with f(x) = target, for f increasing there."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi) / 2


def fit_cifar(shape: Shape, rugged: Ruggedness | None) -> Shape:
    for field, modules in (("w_hpo", ("hpo",)), ("w_aug", ("aug", "hpo")), ("w_nas", ("aug", "hpo", "nas"))):
        fitted = bisect(partial(_gain_with, shape, field, modules, rugged), ABLATION[modules], 0.0, 1.0)
        shape = replace(shape, **{field: fitted})
    return shape


def _gain_with(shape: Shape, field: str, modules: tuple[str, ...], rugged: Ruggedness | None, weight: float) -> float:
    return gain("cifar100", replace(shape, **{field: weight}), modules, rugged=rugged)


def field_share(backend: RuggedSyntheticBackend, rows: int = 20_000) -> tuple[float, float]:
    """(variance of G without the field, the field's share of G's variance) over uniform random pipelines."""
    rng = np.random.default_rng(0)
    tokens = {m: rng.integers(0, s.nvec, size=(rows, s.num_tokens)) for m, s in backend.task.modules.items()}
    smooth, field = backend.gain_parts(tokens)
    return float(np.var(smooth)), float(np.var(field) / np.var(smooth + field))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["synthetic", "synthetic-rugged"], default="synthetic")
    args = parser.parse_args()
    rugged = args.backend == "synthetic-rugged"
    cifar_rugged = NASNET_RUGGEDNESS if rugged else None
    shape = fit_cifar(NASNET_RUGGED_SHAPE if rugged else NASNET_SHAPE, cifar_rugged)
    print(f"NASNet weights: w_nas={shape.w_nas:.6g}, w_aug={shape.w_aug:.6g}, w_hpo={shape.w_hpo:.6g}")
    for modules, target in ABLATION.items():
        fitted = gain("cifar100", shape, modules, rugged=cifar_rugged)
        print(f"  cifar100 best over {modules}: gain {fitted:.5f} (target {target})")
    mobile_rugged = None
    if rugged:
        share = field_share(make("cifar100", shape, rugged=cifar_rugged))[1]  # type: ignore[arg-type]
        smooth = field_share(make("imagenet200", MOBILENET_SHAPE, rugged=MOBILENET_RUGGEDNESS))[0]  # type: ignore[arg-type]
        amplitude = float(np.sqrt(12.0 * smooth * share / (1.0 - share)))  # var(a U) = a^2 / 12
        mobile_rugged = replace(MOBILENET_RUGGEDNESS, field_amplitude=amplitude)
        print(f"field share on cifar100 {share:.3f}; MobileNet field_amplitude={amplitude:.4g}")
    for task, target in OPTIMA.items():
        task_shape, task_rugged = (shape, cifar_rugged) if task != "imagenet200" else (MOBILENET_SHAPE, mobile_rugged)
        # Gain per unit of scale, taken at a small scale so that clipping at 1.0 cannot bend it.
        unit = gain(task, task_shape, ("aug", "hpo", "nas"), rugged=task_rugged, scale=1e-3) / 1e-3
        scale = (target - CALIBRATIONS[task].default_accuracy) / unit
        print(f"{task}: gain_scale={scale:.6g}")
    for task, seconds in GPU_SECONDS_PER_PIPELINE.items():
        backend = SyntheticBackend(get_task(task), calibration=replace(CALIBRATIONS[task], macs_per_second=1.0))
        [result] = backend.evaluate([backend.task.default_pipeline()])
        print(f"{task}: macs_per_second={result.cost_seconds / seconds:.4g} for {seconds:.0f} s per default pipeline")


if __name__ == "__main__":
    main()
