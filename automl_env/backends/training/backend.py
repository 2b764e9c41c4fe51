"""``TrainingBackend``: evaluates pipelines by training them on the task's real dataset.

Constructing it reads no data but checks the device, the store, and then that the dataset's files are
there (``data_check``: downloading them first where missing and ``download=True``; else a short
``DatasetNotFoundError`` naming the folder, ``data_root`` and the alternatives that need no data); the
first evaluation reads the dataset once per process and keeps it on the device. With a store, every
finished evaluation is committed at once and any evaluation already in the store is read back instead of
retrained (and a pipeline that occurs twice in a batch is trained once). Stored results are keyed by
``context``: this code's ``TRAINING_VERSION``, a fingerprint of the dataset files and the split
settings, so a store reused with other data or older training code retrains instead of serving what no
longer applies.

Two kinds of failure. A pipeline that diverges, runs out of memory or raises ends as
``status="failed"`` with a reason; only divergence is stored (it would diverge again), the others are
retried by a later run. What would fail every evaluation (a device that does not exist, a read-only
store, unreadable or truncated data files, labels outside the task's classes, images of another size
or channel count than the task's, a seed that is not an int) raises ``BackendSetupError`` naming the
file, setting or device, in the constructor or at the first evaluation.

Progress: one evaluation takes seconds to minutes, so a batch of 24 can take half an hour. A caller that
wants to show progress sets the optional ``progress`` attribute to a callable; ``evaluate`` calls
``progress(done, total)`` after each of its pipelines is finished (trained, read back or failed), with
``done`` counting 1..total. ``run_search`` sets it for the duration of a search on any backend that has
the attribute; backends that answer a batch at once (synthetic, table) do not have it. The callable is
plain Python (no display library here) and is not part of the backend's state: leave it None where the
backend is pickled (a process pool).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from automl_env.backends.base import (
    SETTING_ERRORS,
    BackendSetupError,
    EvalResult,
    Fidelity,
    SettingTypeError,
    check_seed,
)
from automl_env.backends.training.data import DeviceData, Split, load_device_data
from automl_env.backends.training.data_check import check_dataset
from automl_env.backends.training.datasets import CROP_PADDING, DataConfig
from automl_env.backends.training.deps import torch
from automl_env.backends.training.fingerprint import data_context
from automl_env.backends.training.loop import Budget, Outcome, Trainer
from automl_env.backends.training.networks import NetworkShape, build_network, input_size, resizes_input
from automl_env.backends.training.views import InputView
from automl_env.cost import ArchCost, arch_cost
from automl_env.modules.augment import AugmentPolicy
from automl_env.modules.base import ModuleConfig
from automl_env.modules.hparams import AveragedSGDSpace, HParams
from automl_env.options import flag, optional_integer
from automl_env.pipeline import Pipeline
from automl_env.store import EvalStore
from automl_env.tasks import TaskSpec, get_task

log = logging.getLogger(__name__)

MAX_THREADS = 1024
"""The most torch CPU threads an evaluation may ask for (``num_threads``)."""
TRAINING_VERSION = 1
"""Bump when a change here changes results (loop, networks, augmentation, splits, readers): stores then
retrain instead of serving results of the earlier code (it is part of every stored result's context)."""


def _first(pipeline: Pipeline, kind: type[ModuleConfig]) -> ModuleConfig | None:
    return next((config for _, config in pipeline.modules if isinstance(config, kind)), None)


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in str(error)


def resolve_device(device: str | None) -> torch.device:
    """The device to train on (None: CUDA where available, else CPU); BackendSetupError where it does not exist.

    Asks torch's device counts only: no tensor is made, so no CUDA context exists before the first evaluation.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise BackendSetupError(f"device={device!r} is not a device torch knows: {error}") from None
    if resolved.type == "cpu":
        return resolved
    backend = getattr(torch, resolved.type, None)  # torch.cuda, torch.mps, torch.xpu, ...
    if backend is None or not hasattr(backend, "is_available"):
        raise BackendSetupError(f"device={device!r}: training runs on cpu, cuda, mps or xpu, not {resolved.type}")
    if not backend.is_available():
        raise BackendSetupError(f"device={device!r}: this machine has no {resolved.type} device (torch sees none)")
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if resolved.index is not None and resolved.index >= count:
        raise BackendSetupError(
            f"device={device!r}: this machine has {count} {resolved.type} device(s), numbered 0..{count - 1}"
        )
    return resolved


class TrainingBackend:
    """Real training with PyTorch; see the package docstring for the pieces.

    ``num_threads`` sets torch's CPU threads during training (1 is fastest on a busy shared CPU);
    ``profile`` times the data, augmentation and step phases (adds synchronisations: benchmarks only);
    ``progress`` is called as ``progress(done, total)`` after each finished evaluation (module docstring).
    """

    name = "train"

    def __init__(
        self,
        task: TaskSpec | str,
        *,
        data_root: str | Path | None = None,
        device: str | None = None,
        store: str | Path | EvalStore | None = None,
        download: bool = True,
        val_size: int | None = None,
        num_threads: int | None = None,
        profile: bool = False,
    ) -> None:
        self.task = get_task(task)
        where = f"{self.name} backend"
        val_size = optional_integer(val_size, "val_size", where=where, low=1, high=10**9, errors=SETTING_ERRORS)
        num_threads = optional_integer(
            num_threads, "num_threads", where=where, low=1, high=MAX_THREADS + 1, errors=SETTING_ERRORS
        )
        download = flag(download, "download", where=where, errors=SETTING_ERRORS)
        profile = flag(profile, "profile", where=where, errors=SETTING_ERRORS)
        if data_root is not None and not isinstance(data_root, (str, os.PathLike)):
            raise SettingTypeError(f"{where}: option 'data_root' must be a folder's path or None, got {data_root!r}")
        self.data_config = DataConfig(
            root=Path(data_root) if data_root is not None else None, download=download, val_size=val_size
        )
        self.device = resolve_device(device)
        self.store = EvalStore(store) if isinstance(store, (str, Path)) else store
        if self.store is not None and self.store.read_only:
            raise BackendSetupError(
                f"evaluation store {self.store.path} is read-only, and the backend records every evaluation in it: "
                "pass a writable copy (a read-only store can still be read with EvalStore)"
            )
        check_dataset(self.task.dataset, self.data_config)  # last: it may download, once the settings are known good
        self.num_threads = num_threads
        self.profile = profile
        self.stats = {"trained": 0, "reused": 0, "failed": 0}
        self.progress: Callable[[int, int], None] | None = None

    @property
    def data(self) -> DeviceData:
        """The task's splits on the device (read on first use, then shared by the whole process)."""
        data = load_device_data(self.task.dataset, self.data_config, self.device)
        self._check_data(data)
        return data

    @property
    def context(self) -> str:
        """What stored results depend on besides pipeline, fidelity and seed (see the module docstring)."""
        return f"train-v{TRAINING_VERSION} " + data_context(self.task.dataset, self.data_config)

    def _check_data(self, data: DeviceData) -> None:
        """The dataset as read must be the one the task describes (classes, channels, image size)."""
        task, where = self.task, f"dataset {self.task.dataset!r} in {self.data_config.resolved_root()}"
        if data.num_classes != task.num_classes:
            raise BackendSetupError(
                f"{where} has {data.num_classes} classes, task {task.name!r} num_classes={task.num_classes}"
            )
        if data.in_channels != task.in_channels:
            raise BackendSetupError(
                f"{where} has {data.in_channels}-channel images, task {task.name!r} in_channels={task.in_channels}"
            )
        arch = task.architecture(task.default_pipeline())
        if data.image_size != task.image_size and not (arch is not None and resizes_input(arch)):
            size = data.image_size
            raise BackendSetupError(
                f"{where} has {size}x{size} images, task {task.name!r} image_size={task.image_size}"
            )

    def optimum(self) -> None:
        return None

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        """Validation accuracy of each pipeline after training at ``fidelity`` (default: the task's search fidelity)."""
        fidelity, seed = self._checked(fidelity, seed, self.task.search_fidelity)
        context = self.context if self.store is not None else ""
        stored = (
            self.store.get_many(self.task, pipelines, fidelity, seed, context=context)
            if self.store is not None
            else [None] * len(pipelines)
        )
        done: dict[str, EvalResult] = {}  # this call's results: a duplicate in the batch is trained once
        results = []
        for pipeline, known in zip(pipelines, stored, strict=True):
            known = known if known is not None else done.get(pipeline.digest)
            if known is not None:
                self.stats["reused"] += 1
                result = known
            else:
                result = self._evaluate_one(pipeline, fidelity, seed, context)
                done[pipeline.digest] = result
            results.append(result)
            if self.progress is not None:
                self.progress(len(results), len(pipelines))
        return results

    @staticmethod
    def _checked(fidelity: Fidelity | None, seed: object, default: Fidelity) -> tuple[Fidelity, int]:
        if fidelity is not None and not isinstance(fidelity, Fidelity):
            raise SettingTypeError(f"fidelity must be a Fidelity or None, got {type(fidelity).__name__}")
        return (fidelity if fidelity is not None else default), check_seed(seed)

    def _evaluate_one(self, pipeline: Pipeline, fidelity: Fidelity, seed: int, context: str) -> EvalResult:
        """Train one pipeline and commit its result to the store (if it is worth keeping) at once."""
        started = time.time()
        result, keep = self._run(pipeline, fidelity, seed, final=False)
        if self.store is not None and keep:
            self.store.put(self.task, pipeline, fidelity, seed, result, started_at=started, context=context)
        return result

    def retrain(
        self, pipeline: Pipeline, *, fidelity: Fidelity | None = None, seed: int = 0, lr_scale: float = 1.0
    ) -> EvalResult:
        """Final training on the whole training set (train + validation); ``accuracy`` is test accuracy.

        ``lr_scale`` multiplies the pipeline's learning rate (the paper retrains with lr x4); the
        result is stored under the task name suffixed ``/retrain`` so it never mixes with search results.
        """
        fidelity, seed = self._checked(fidelity, seed, self.task.final_fidelity)
        hparams = _first(pipeline, HParams)
        if lr_scale != 1.0 and isinstance(hparams, HParams):
            name = next(n for n, c in pipeline.modules if c is hparams)
            scaled = dataclasses.replace(hparams, lr=hparams.lr * lr_scale)
            pipeline = Pipeline.of({**dict(pipeline.modules), name: scaled})
        key, context = f"{self.task.name}/retrain", self.context if self.store is not None else ""
        known = self.store.get(key, pipeline, fidelity, seed, context=context) if self.store is not None else None
        if known is not None:
            return known
        started = time.time()
        result, keep = self._run(pipeline, fidelity, seed, final=True)
        if self.store is not None and keep:
            self.store.put(key, pipeline, fidelity, seed, result, started_at=started, context=context)
        return result

    def cost(self, pipeline: Pipeline, fidelity: Fidelity) -> ArchCost:
        """Analytic MACs and parameters of the network this pipeline trains at ``fidelity``."""
        arch = self.task.architecture(pipeline)
        if arch is None:
            raise ValueError(f"task {self.task.name!r} has no architecture module to train")
        return arch_cost(
            arch,
            num_classes=self.task.num_classes,
            image_size=self.task.image_size,
            in_channels=self.task.in_channels,
            cells=fidelity.cells,
            channels=fidelity.channels,
        )

    def _run(self, pipeline: Pipeline, fidelity: Fidelity, seed: int, *, final: bool) -> tuple[EvalResult, bool]:
        """(result, worth storing). Data errors raise (a setup problem); a pipeline's failure never does."""
        data = self.data
        cost = self.cost(pipeline, fidelity)
        start = time.perf_counter()
        threads = torch.get_num_threads()
        try:
            if self.num_threads is not None:
                torch.set_num_threads(self.num_threads)
            outcome = self._train(pipeline, fidelity, seed, data, final=final)
        except Exception as error:
            self.stats["failed"] += 1
            oom = _is_out_of_memory(error)
            if oom and self.device.type == "cuda":
                torch.cuda.empty_cache()
            reason = f"out of memory: {error}" if oom else f"{type(error).__name__}: {error}"
            log.warning("pipeline %s failed: %s", pipeline.digest, reason, exc_info=not oom)
            failed = EvalResult.failed(reason=reason, backend=self.name, flops=cost.macs, params=cost.params)
            return failed, False
        finally:
            torch.set_num_threads(threads)
        seconds = time.perf_counter() - start
        metrics = self._metrics(outcome, fidelity)
        if outcome.diverged or outcome.accuracy is None:
            self.stats["failed"] += 1
            hp = _first(pipeline, HParams)
            reason = f"diverged: non-finite training loss after {outcome.steps} steps ({hp.describe() if hp else ''})"
            result = EvalResult(0.0, cost.macs, cost.params, seconds, self.name, "failed", reason, metrics)
            return result, True
        self.stats["trained"] += 1
        return EvalResult(outcome.accuracy, cost.macs, cost.params, seconds, self.name, "ok", "", metrics), True

    def _train(self, pipeline: Pipeline, fidelity: Fidelity, seed: int, data: DeviceData, *, final: bool) -> Outcome:
        arch = self.task.architecture(pipeline)
        assert arch is not None
        hparams = _first(pipeline, HParams)
        if not isinstance(hparams, HParams):
            hparams = self.task.recipe or AveragedSGDSpace().default()
        policy = _first(pipeline, AugmentPolicy)
        size = input_size(arch, data.image_size)
        shape = NetworkShape(
            data.num_classes, data.in_channels, size, fidelity.cells, fidelity.channels, dropout=hparams.dropout
        )
        view = InputView(
            policy if isinstance(policy, AugmentPolicy) else None,
            mean=data.mean, std=data.std, stored_size=data.image_size, input_size=size, device=self.device,
            padding=CROP_PADDING.get(self.task.dataset, data.image_size // 8),
        )  # fmt: skip
        train: Split = data.train_and_val() if final else data.train
        train = train.head(fidelity.train_subset)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            torch.manual_seed(seed)  # initialisation, dropout and drop path; restored on exit
            model = build_network(arch, shape).to(self.device).to(memory_format=view.memory_format)
            trainer = Trainer(model, view, hparams, device=self.device, seed=seed)
            trainer.profile = self.profile
            outcome = trainer.fit(train, Budget(fidelity.epochs, fidelity.batch_size, fidelity.warmup_epochs))
            if not outcome.diverged:
                start = time.perf_counter()
                outcome.accuracy = trainer.accuracy(data.test if final else data.val)
                outcome.eval_seconds = time.perf_counter() - start
        return outcome

    def _metrics(self, outcome: Outcome, fidelity: Fidelity) -> dict[str, float]:
        metrics = {
            "train_seconds": outcome.train_seconds,
            "eval_seconds": outcome.eval_seconds,
            "steps": float(outcome.steps),
            "train_images": float(outcome.images),
            "images_per_second": outcome.images / outcome.train_seconds if outcome.train_seconds > 0 else 0.0,
            "epochs": float(fidelity.epochs),
            "final_loss": outcome.final_loss,
            **{f"{phase}_seconds": s for phase, s in outcome.phase_seconds.items() if self.profile},
        }
        return {k: v for k, v in metrics.items() if math.isfinite(v)}  # stores and exports stay strict JSON
