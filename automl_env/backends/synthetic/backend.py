"""The ``synthetic`` backend: a closed-form benchmark with interacting modules and a known optimum.

Its accuracies are a made-up function of the pipeline, calibrated to the MA2ML paper's numbers; they
are NEVER a real dataset's accuracy. Use it to develop and compare search algorithms in seconds
(regret against ``optimum()`` is exact), not to claim results about CIFAR or ImageNet.

Model. Each module reduces to small summaries (``module_models``, ``hparam_terms``):
  NAS -> quality Qn and integer capacity units C (x = C / cap_norm),
  AUG -> quality Qa (mean over sub-policies of probability x usefulness) and strength units S
         (s = S / (K * 50), the mean distortion per image),
  HPO -> integer variables (SGD: lr and weight-decay unit totals; recipe: one index per setting).
The gain over nothing is
  G = w_nas (Qn + g (2 - x/x_peak) x/x_peak)            capacity pays off up to x_peak
    + w_aug (Qa - k (s - (s0 + s1 x))^2)                the best augmentation grows with capacity
    + w_hpo H(hpo | x, s)                               the best lr / wd / mixup ... move with x, s
and accuracy = clip(a_default + scale (G - G_default) + noise, chance, 1), so the task's default
pipeline scores exactly ``a_default`` (without noise). Because modules couple only through (C, S), the
optimum over any subset of searched modules is exact: a DP per module gives the best quality for
every reachable C (resp. S), then a brute-force max over the (C, S) grid, with each HPO term
maximised independently per cell (``restricted_optimum``). Sums of qualities are exact in float64
(``additive.quantize``), so the optimum's accuracy equals its pipeline's evaluation.
Accuracy does not depend on the fidelity; FLOPs, parameters and cost do. FLOPs (MACs) and
parameters are ``automl_env.cost``'s, priced in bulk by exact tables (``cost``).

Calibration (``examples/calibrate_synthetic.py`` prints every number hard-coded here).
  - Shape constants (preferences, x_peak, s0, s1, k, HPO slopes) are set by hand, with the
    couplings made strong enough that tuning modules one at a time misses the joint optimum.
  - CIFAR family (NASNet): w_hpo, w_aug, w_nas were fitted on cifar100 by bisection, one after the
    other, to the paper's ablation (ResNet-56 default 73.50, HPO only 74.39, AUG+HPO 77.37,
    NAS+AUG+HPO 85.08): best-HPO gain 0.009, best-AUG+HPO gain 0.039, joint gain 0.116.
    cifar10 and fashion-mnist reuse the shape with their own default accuracy and ``gain_scale``
    (0.93 -> 0.978 as MA2ML's 97.77 on CIFAR-10; 0.92 -> 0.955 for Fashion-MNIST).
  - ImageNet-200 (MobileNet space, recipe HPO): weights set by hand, ``gain_scale`` fitted so the
    accuracy-optimal pipeline scores 0.80 from a default of 0.72. Its ``optimum()`` is the optimum
    of accuracy, not of the task's FLOPs-constrained reward.
  - cost_seconds = 3 x MACs x epochs x training images / macs_per_second, with macs_per_second set
    so the default pipeline at the search fidelity costs what the paper's budget implies per
    pipeline: 300 GPU-days / 4008 pipelines = 6467 s (CIFAR), 2000 GPU-days / 1992 = 86747 s
    (ImageNet-200).

Use: ``make_backend("synthetic", task, noise=0.01)`` (or ``SyntheticBackend(task, noise=...)``), then
``evaluate(pipelines, seed=...)``, the vectorised ``evaluate_tokens({"aug": A, "nas": N, "hpo": H})``
on (N, num_tokens) matrices, ``optimum()`` and ``restricted_optimum(("aug", "hpo"))``.

Noise. ``noise`` is the standard deviation of Gaussian noise added to accuracy, drawn from a
splitmix64 hash of the pipeline's canonical tokens and the seed (never global randomness): the same
pipeline and seed give the same accuracy in any batch and any process. ``optimum()`` is noise-free.
A backend pickles as its constructor's arguments and rebuilds its tables, bit for bit, on load.

Versions: this smooth landscape is v0 of the synthetic benchmark and stays as it is under this name;
v1, rugged, coupled and noisy like NAS-Bench-201, is ``synthetic-rugged`` (``rugged``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import EvalResult, Fidelity, Optimum
from automl_env.backends.synthetic.additive import AdditiveModel, FloatArray, Frontier
from automl_env.backends.synthetic.cost import FORWARD_BACKWARD, MobileNetCostTable, NASNetCostTable
from automl_env.backends.synthetic.hparam_terms import HPOModel, IntArray, RecipeModel, SGDModel
from automl_env.backends.synthetic.module_models import STRENGTH_PER_OP, augment_model, mobilenet_model, nasnet_model
from automl_env.batch import BatchResults
from automl_env.hashing import splitmix64
from automl_env.modules.augment import AugmentSpace
from automl_env.modules.base import ModuleSpace, TokenArray
from automl_env.modules.hparams import AveragedSGDSpace, RecipeSpace
from automl_env.modules.mobilenet import MobileNetSpace
from automl_env.modules.nasnet import NASNetSpace
from automl_env.options import number
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec


@dataclass(frozen=True)
class Shape:
    """Constants of the gain G (see the module docstring), one set per architecture family."""

    w_nas: float
    w_aug: float
    w_hpo: float
    cap_norm: float  # capacity units at x = 1
    cap_peak: float  # x at which the capacity gain peaks
    cap_gain: float  # capacity gain at the peak, in NAS quality units
    aug_s0: float  # best mean augmentation strength of a capacity-0 network ...
    aug_s1: float  # ... growing by this per unit of x
    aug_k: float  # weight of the strength mismatch


# w_hpo, w_aug, w_nas: fitted on cifar100 by examples/calibrate_synthetic.py.
NASNET_SHAPE = Shape(
    w_nas=0.0109788,
    w_aug=0.019887,
    w_hpo=0.0240849,
    cap_norm=60.0,
    cap_peak=0.9,
    cap_gain=2.0,
    aug_s0=0.2,
    aug_s1=0.6,
    aug_k=4.0,
)
MOBILENET_SHAPE = Shape(
    w_nas=1.0, w_aug=1.0, w_hpo=0.5, cap_norm=60.0, cap_peak=0.9, cap_gain=3.0, aug_s0=0.15, aug_s1=0.5, aug_k=3.0
)


@dataclass(frozen=True)
class Calibration:
    """Per-task numbers: default accuracy, gain scale, and what a training run costs."""

    default_accuracy: float  # accuracy of task.default_pipeline()
    gain_scale: float  # multiplies G - G_default
    macs_per_second: float  # effective training throughput behind cost_seconds
    train_images: int  # training images when the fidelity sets no train_subset (validation held out)


CIFAR_MACS_PER_SECOND = 2.982e10  # 6467 s for cifar100's default (119.06M MACs, 12 epochs, 45k images)
CALIBRATIONS: dict[str, Calibration] = {
    "cifar100": Calibration(0.735, 1.0, CIFAR_MACS_PER_SECOND, 45_000),
    "cifar10": Calibration(0.93, 0.413793, CIFAR_MACS_PER_SECOND, 45_000),
    "fashion-mnist": Calibration(0.92, 0.301724, CIFAR_MACS_PER_SECOND, 55_000),
    # 86747 s for the default (299.75M MACs, 100 epochs, 246k images: 200 classes x ~1281 - 10k).
    "imagenet200": Calibration(0.72, 0.0144141, 2.55e11, 246_000),
}


def standard_normal(canonical: Sequence[IntArray], seed: int) -> FloatArray:
    """One N(0, 1) draw per row, a pure function of the rows' integer features and the seed."""
    rows = canonical[0].shape[0]
    h = splitmix64(np.full(rows, seed % 2**64, dtype=np.uint64))
    for m, features in enumerate(canonical):
        salt = (np.arange(features.shape[1], dtype=np.uint64) << np.uint64(32)) + np.uint64(m << 56)
        h = splitmix64(h ^ splitmix64(features.astype(np.uint64) + salt).sum(axis=1, dtype=np.uint64))
    h2 = splitmix64(h)
    u1 = ((h >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53  # in (0, 1]: log is finite
    u2 = (h2 >> np.uint64(11)).astype(np.float64) * 2.0**-53
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return np.round(z * 2.0**32) * 2.0**-32  # same bits even if SIMD and scalar log/cos differ by an ulp


MAX_NOISE = 0.5
"""The largest noise (a standard deviation of accuracy): beyond it every result is mostly noise, clipped to [chance,
1]; real seed-to-seed deviations are below 0.02."""


class SyntheticBackend:
    """Closed-form evaluator of a task's pipelines; see the module docstring (not real accuracies)."""

    name = "synthetic"

    def __init__(
        self,
        task: TaskSpec,
        *,
        noise: float = 0.0,
        calibration: Calibration | None = None,
        shape: Shape | None = None,
    ) -> None:
        """``calibration`` and ``shape`` override the task's fitted constants (calibration, experiments)."""
        noise = number(noise, "noise", where=f"{self.name} backend", low=0.0, high=MAX_NOISE)
        if calibration is None and task.name not in CALIBRATIONS:
            raise ValueError(
                f"the synthetic backend has no calibration for task {task.name!r} (calibrated: "
                f"{sorted(CALIBRATIONS)}); pass calibration=Calibration(...)"
            )
        self.task = task
        self.noise = float(noise)
        self.calibration = calibration or CALIBRATIONS[task.name]
        self._aug_name, self._nas_name, self._hpo_name = _roles(task)
        aug, nas, hpo = (task.modules[n] for n in (self._aug_name, self._nas_name, self._hpo_name))
        assert isinstance(aug, AugmentSpace)  # _roles checked every module's type
        self._aug = augment_model(aug)
        if isinstance(nas, NASNetSpace):
            self._nas, default_shape = nasnet_model(nas), NASNET_SHAPE
        else:
            assert isinstance(nas, MobileNetSpace)
            self._nas, default_shape = mobilenet_model(nas), MOBILENET_SHAPE
        self.shape = shape or default_shape
        if isinstance(hpo, AveragedSGDSpace):
            self._hpo: HPOModel = SGDModel(hpo)
        else:
            assert isinstance(hpo, RecipeSpace)
            self._hpo = RecipeModel(hpo)
        self._strength_norm = float(aug.num_sub_policies * STRENGTH_PER_OP)
        self._nvec = {name: np.asarray(space.nvec, dtype=np.int64) for name, space in task.modules.items()}
        self._defaults = {name: space.encode(space.default())[None, :] for name, space in task.modules.items()}
        self._default_gain = float(self._gain(self._defaults)[0])
        self._cost_tables: dict[tuple[int, int], NASNetCostTable | MobileNetCostTable] = {}
        self._optima: dict[frozenset[str], Optimum] = {}

    @property
    def noisy(self) -> bool:
        """Whether one pipeline's accuracy varies with the evaluation seed (``noise`` > 0)."""
        return self.noise > 0.0

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the constructor's arguments (kilobytes, not ~90 MB of tables); rebuilt bit for bit on load."""
        return (_rebuild, (type(self), self.task, self._options()))

    def _options(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this backend."""
        return {"noise": self.noise, "calibration": self.calibration, "shape": self.shape}

    # -- accuracy -------------------------------------------------------------------------------

    def _surface(
        self, nas_q: FloatArray, x: FloatArray, aug_q: FloatArray, s: FloatArray, hpo: FloatArray
    ) -> FloatArray:
        """G from the summaries; used elementwise by evaluation and on the optimum's (C, S) grid."""
        sh = self.shape
        rel = x / sh.cap_peak
        nas = nas_q + sh.cap_gain * (2.0 - rel) * rel
        mismatch = s - (sh.aug_s0 + sh.aug_s1 * x)
        return sh.w_nas * nas + sh.w_aug * (aug_q - sh.aug_k * mismatch * mismatch) + sh.w_hpo * hpo

    def _x_s(self, cap: IntArray, strength: IntArray) -> tuple[FloatArray, FloatArray]:
        return cap / self.shape.cap_norm, strength / self._strength_norm

    def _gain(self, tokens: Mapping[str, TokenArray]) -> FloatArray:
        nas_q, cap = self._nas.summarise(tokens[self._nas_name])
        aug_q, strength = self._aug.summarise(tokens[self._aug_name])
        x, s = self._x_s(cap, strength)
        hpo = self._hpo.score(self._hpo.variables(tokens[self._hpo_name]), x, s)
        return self._surface(nas_q, x, aug_q, s, hpo)

    def _accuracy(self, gain: FloatArray) -> FloatArray:
        cal = self.calibration
        return cal.default_accuracy + cal.gain_scale * (gain - self._default_gain)

    def _clip(self, accuracy: FloatArray) -> FloatArray:
        return np.clip(accuracy, 1.0 / self.task.num_classes, 1.0)

    def _check_tokens(self, tokens: Mapping[str, npt.ArrayLike]) -> dict[str, TokenArray]:
        out: dict[str, TokenArray] = {}
        for name, space in self.task.modules.items():
            if name not in tokens:
                raise ValueError(f"tokens must have every module of task {self.task.name!r}: {list(self.task.modules)}")
            arr = np.asarray(tokens[name], dtype=np.int64)
            if arr.ndim != 2 or arr.shape[1] != space.num_tokens:
                raise ValueError(f"tokens[{name!r}] has shape {arr.shape}, expected (N, {space.num_tokens})")
            if np.any((arr < 0) | (arr >= self._nvec[name])):
                raise ValueError(f"tokens[{name!r}] has values outside MultiDiscrete({list(space.nvec)})")
            out[name] = arr
        if len({a.shape[0] for a in out.values()}) != 1:
            raise ValueError(f"token matrices differ in rows: { {n: a.shape[0] for n, a in out.items()} }")
        return out

    def expected_accuracy_tokens(self, tokens: Mapping[str, npt.ArrayLike]) -> FloatArray:
        """Noise-free accuracy of each row; ``tokens[module]`` is an (N, num_tokens) matrix."""
        return self._clip(self._accuracy(self._gain(self._check_tokens(tokens))))

    def evaluate_tokens(self, tokens: Mapping[str, npt.ArrayLike], *, seed: int = 0) -> FloatArray:
        """Accuracy (with this backend's noise) of each row of the modules' (N, num_tokens) matrices."""
        checked = self._check_tokens(tokens)
        return self._clip(self._with_noise(self._accuracy(self._gain(checked)), checked, seed))

    def _with_noise(self, accuracy: FloatArray, tokens: Mapping[str, TokenArray], seed: int) -> FloatArray:
        if self.noise == 0.0:
            return accuracy
        return accuracy + self.noise * standard_normal(self._canonical(tokens), seed)

    def _canonical(self, tokens: Mapping[str, TokenArray]) -> list[IntArray]:
        """Integer features that identify each row's pipeline (SGD tokens are order-free, so use their totals)."""
        hpo = self._hpo.variables(tokens[self._hpo_name])
        return [
            tokens[self._aug_name],
            tokens[self._nas_name],
            np.stack([hpo[name] for name in sorted(hpo)], axis=1),
        ]

    # -- evaluation -----------------------------------------------------------------------------

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        """One result per pipeline: synthetic accuracy, analytic MACs/params, simulated training time.

        Pipelines are encoded with each module space's ``encode`` and scored on the vectorised path.
        """
        if not pipelines:
            return []
        tokens = {
            name: np.stack([space.encode(p[name]) for p in pipelines]) for name, space in self.task.modules.items()
        }
        return self.evaluate_batch(tokens, fidelity=fidelity, seed=seed).results()

    def evaluate_batch(
        self, tokens: Mapping[str, IntArray], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> BatchResults:
        """``evaluate``'s results as arrays, from canonical (N, num_tokens) matrices (``automl_env.batch``)."""
        fidelity = fidelity or self.task.search_fidelity
        raw = self._accuracy(self._gain(tokens))
        expected, accuracy = self._clip(raw), self._clip(self._with_noise(raw, tokens, seed))
        macs, params = self._cost_table(fidelity).macs_params(tokens[self._nas_name])
        images = fidelity.train_subset or self.calibration.train_images
        cost = FORWARD_BACKWARD * macs * float(fidelity.epochs * images) / self.calibration.macs_per_second
        return BatchResults(
            self.name,
            np.asarray(accuracy, dtype=np.float64),
            np.asarray(macs, dtype=np.float64),
            np.asarray(params, dtype=np.float64),
            np.asarray(cost, dtype=np.float64),
            metrics={"expected_accuracy": np.asarray(expected, dtype=np.float64)},
        )

    def _cost_table(self, fidelity: Fidelity) -> NASNetCostTable | MobileNetCostTable:
        """The cached exact MACs/params table for this network size (MobileNet's size is searched)."""
        nasnet = isinstance(self.task.modules[self._nas_name], NASNetSpace)
        key = (fidelity.cells, fidelity.channels) if nasnet else (0, 0)
        if key not in self._cost_tables:
            self._cost_tables[key] = (
                NASNetCostTable(self.task, cells=fidelity.cells, channels=fidelity.channels)
                if nasnet
                else MobileNetCostTable(self.task)
            )
        return self._cost_tables[key]

    # -- optimum --------------------------------------------------------------------------------

    def optimum(self) -> Optimum:
        """The exact noise-free accuracy optimum over every module (ImageNet-200: accuracy, not reward)."""
        return self.restricted_optimum(self.task.modules)

    def restricted_optimum(self, modules: Collection[str]) -> Optimum:
        """Exact best accuracy when only ``modules`` are searched and the others keep their defaults."""
        key = frozenset(modules)
        unknown = key - set(self.task.modules)
        if unknown:
            raise ValueError(
                f"unknown modules {sorted(unknown)}; task {self.task.name!r} has {list(self.task.modules)}"
            )
        if key not in self._optima:
            self._optima[key] = self._solve(key)
        return self._optima[key]

    def _frontier(self, model: AdditiveModel, name: str, searched: frozenset[str]) -> Frontier:
        return model.frontier() if name in searched else model.fixed_frontier(self._defaults[name][0])

    def _solve(self, searched: frozenset[str]) -> Optimum:
        nas = self._frontier(self._nas, self._nas_name, searched)
        aug = self._frontier(self._aug, self._aug_name, searched)
        if self._hpo_name in searched:
            choices = self._hpo.reachable()
        else:
            choices = self._hpo.variables(self._defaults[self._hpo_name])
        cap = np.arange(nas.best.size)[:, None]
        strength = np.arange(aug.best.size)[None, :]
        x, s = self._x_s(cap, strength)
        hpo, argmaxes = self._hpo.best(x, s, choices)
        grid = self._surface(nas.best[:, None], x, aug.best[None, :], s, hpo)
        c, st = np.unravel_index(int(np.argmax(grid)), grid.shape)
        values: dict[str, int] = {}
        for term, (options, arg) in zip(self._hpo.terms, argmaxes, strict=True):
            option = options[int(np.broadcast_to(arg, grid.shape)[c, st])]
            values.update(zip(term.variables, option, strict=True))
        tokens = {
            self._nas_name: nas.tokens_for(int(c)),
            self._aug_name: aug.tokens_for(int(st)),
            self._hpo_name: self._hpo.tokens_for(values),
        }
        pipeline = Pipeline.of({name: self.task.modules[name].decode(t) for name, t in tokens.items()})
        accuracy = float(self.expected_accuracy_tokens({n: t[None, :] for n, t in tokens.items()})[0])
        if accuracy != float(self._clip(self._accuracy(grid[c, st]))):
            raise AssertionError("synthetic optimum: the rebuilt pipeline does not reach the DP value")
        return Optimum(accuracy=accuracy, pipeline=pipeline, pipeline_accuracy=accuracy, exact=True)


def _rebuild(cls: type[SyntheticBackend], task: TaskSpec, options: dict[str, Any]) -> SyntheticBackend:
    """Unpickle a backend (``SyntheticBackend.__reduce__``)."""
    return cls(task, **options)


def _roles(task: TaskSpec) -> tuple[str, str, str]:
    """Names of the task's augmentation, architecture and hyper-parameter modules."""
    kinds: dict[str, tuple[type[ModuleSpace], ...]] = {
        "aug": (AugmentSpace,),
        "nas": (NASNetSpace, MobileNetSpace),
        "hpo": (AveragedSGDSpace, RecipeSpace),
    }
    found = {
        role: [n for n, space in task.modules.items() if isinstance(space, types)] for role, types in kinds.items()
    }
    if len(task.modules) != 3 or any(len(names) != 1 for names in found.values()):
        raise ValueError(
            f"the synthetic backend needs exactly one AugmentSpace, one NASNetSpace or MobileNetSpace and one "
            f"AveragedSGDSpace or RecipeSpace module; task {task.name!r} has "
            f"{ {n: type(s).__name__ for n, s in task.modules.items()} }"
        )
    return found["aug"][0], found["nas"][0], found["hpo"][0]
