"""``WeightSharingBackend``: each evaluation is AutoHAS's temporary step on one shared supernet.

See the package docstring for what a reward means here and how it is biased.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from automl_env.backends.base import EvalResult, Fidelity, SettingTypeError, check_seed
from automl_env.backends.training.data import DeviceData, load_device_data
from automl_env.backends.training.data_check import check_dataset
from automl_env.backends.training.datasets import CROP_PADDING, DataConfig
from automl_env.backends.training.deps import torch
from automl_env.backends.training.views import InputView
from automl_env.backends.weight_sharing.supernet import NB201Supernet
from automl_env.backends.weight_sharing.temporary import MOMENTUM, TemporaryScore, temporary_score
from automl_env.cost import arch_cost
from automl_env.modules.augment import AugmentPolicy
from automl_env.modules.hparams import HParams
from automl_env.modules.nb201 import NB201Cell
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task

TrainPolicy = Literal["queried", "uniform"]


class WeightSharingBackend:
    """One NB201 supernet per instance, trained by the evaluations themselves (package docstring).

    ``train_policy``: "queried" (AutoHAS) trains the shared weights with each evaluated pipeline; "uniform"
    with a uniformly drawn one, so that what a searcher queries does not shape the weights it is scored on.
    ``op_warmup_steps``: during the first that many evaluations the shared step trains every operation at once
    with probability 1 - t / op_warmup_steps (TuNAS's op warm-up). ``schedule_steps``: the sampled learning
    rate is multiplied by a cosine factor over that many evaluations (None: constant). ``seed`` seeds the
    supernet and every batch draw; the ``seed`` of ``evaluate`` is checked but the state is sequential.
    """

    name = "weight-sharing"

    def __init__(
        self,
        task: TaskSpec | str,
        *,
        data_root: str | Path | None = None,
        device: str = "cpu",
        download: bool = True,
        val_size: int | None = None,
        num_threads: int | None = 1,
        seed: int = 0,
        val_batch_size: int = 256,
        train_policy: TrainPolicy = "queried",
        op_warmup_steps: int = 0,
        schedule_steps: int | None = None,
    ) -> None:
        self.task = get_task(task)
        if not isinstance(self.task.architecture(self.task.default_pipeline()), NB201Cell):
            raise ValueError(f"the weight-sharing supernet is a NAS-Bench-201 cell; task {self.task.name!r} is not")
        if train_policy not in ("queried", "uniform"):
            raise ValueError(f"train_policy must be 'queried' or 'uniform', got {train_policy!r}")
        self.data_config = DataConfig(
            root=Path(data_root) if data_root is not None else None, download=download, val_size=val_size
        )
        self.device_name, self.num_threads, self.seed = device, num_threads, check_seed(seed)
        self.val_batch_size, self.train_policy = val_batch_size, train_policy
        self.op_warmup_steps, self.schedule_steps = op_warmup_steps, schedule_steps
        check_dataset(self.task.dataset, self.data_config)  # at build (may download), not at the first evaluation
        self.steps = 0
        self.progress: Callable[[int, int], None] | None = None
        self._state: dict[str, Any] | None = None  # built at the first evaluation: pickles cheaply before

    def optimum(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        """What the rewards depend on besides the pipelines and the order of the calls (run folders record it)."""
        return {
            "seed": self.seed,
            "val_batch_size": self.val_batch_size,
            "train_policy": self.train_policy,
            "op_warmup_steps": self.op_warmup_steps,
            "schedule_steps": self.schedule_steps,
            "data": self.data_config.result_settings(),
        }

    # -- state --------------------------------------------------------------------------------------------

    def _built(self) -> dict[str, Any]:
        if self._state is None:
            device = torch.device(self.device_name)
            data = load_device_data(self.task.dataset, self.data_config, device)
            fidelity = self.task.search_fidelity
            with torch.random.fork_rng():
                torch.manual_seed(self.seed)
                model = NB201Supernet(
                    num_classes=data.num_classes,
                    in_channels=data.in_channels,
                    cells=fidelity.cells,
                    channels=fidelity.channels,
                ).to(device)
            self._state = {
                "model": model,
                "optimizer": torch.optim.SGD(model.parameters(), lr=0.0, momentum=MOMENTUM),
                "generator": torch.Generator(device=device).manual_seed(self.seed),
                "rng": np.random.default_rng(self.seed),
                "data": data,
            }
        return self._state

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["progress"] = None
        if state["_state"] is not None:  # the dataset is re-read where the backend lands, not pickled
            state["_state"] = {k: v for k, v in state["_state"].items() if k != "data"}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._state is not None and "data" not in self._state:
            device = torch.device(self.device_name)
            self._state["data"] = load_device_data(self.task.dataset, self.data_config, device)

    @property
    def data(self) -> DeviceData:
        data: DeviceData = self._built()["data"]
        return data

    # -- evaluation ---------------------------------------------------------------------------------------

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        """One temporary-step reward per pipeline, each followed by one shared training step (in order)."""
        check_seed(seed)
        fidelity = self._checked(fidelity)
        results = []
        for pipeline in pipelines:
            results.append(self._evaluate_one(pipeline, fidelity))
            if self.progress is not None:
                self.progress(len(results), len(pipelines))
        return results

    def _checked(self, fidelity: Fidelity | None) -> Fidelity:
        search = self.task.search_fidelity
        if fidelity is None:
            return search
        if not isinstance(fidelity, Fidelity):
            raise SettingTypeError(f"fidelity must be a Fidelity or None, got {type(fidelity).__name__}")
        if (fidelity.cells, fidelity.channels) != (search.cells, search.channels):
            raise ValueError(
                f"the supernet is built at the task's search fidelity ({search.cells} cells, {search.channels} "
                f"channels); a fidelity of another network shape ({fidelity}) needs another backend instance"
            )
        return fidelity

    def score(self, pipeline: Pipeline, *, val_batches: int = 1) -> TemporaryScore:
        """The temporary-step reward averaged over ``val_batches`` draws, with no shared training (rescoring)."""
        with self._threads():
            scores = [self._temporary(pipeline, self.task.search_fidelity) for _ in range(val_batches)]
        return TemporaryScore(
            *(float(np.mean([getattr(s, f) for s in scores])) for f in TemporaryScore.__annotations__)
        )

    def _evaluate_one(self, pipeline: Pipeline, fidelity: Fidelity) -> EvalResult:
        start = time.perf_counter()
        with self._threads():
            score = self._temporary(pipeline, fidelity)
            self._shared_step(pipeline, fidelity)
        cost = arch_cost(
            self.task.architecture(pipeline),  # type: ignore[arg-type]
            num_classes=self.task.num_classes,
            image_size=self.task.image_size,
            in_channels=self.task.in_channels,
            cells=fidelity.cells,
            channels=fidelity.channels,
        )
        metrics = {"step": float(self.steps), "val_loss": score.val_loss, "tmp_train_loss": score.train_loss}
        seconds = time.perf_counter() - start
        self.steps += 1
        return EvalResult(score.accuracy, cost.macs, cost.params, seconds, self.name, metrics=metrics)

    def _threads(self) -> Any:
        return _Threads(self.num_threads)

    def _parts(self, pipeline: Pipeline) -> tuple[tuple[str, ...], HParams, InputView]:
        arch = self.task.architecture(pipeline)
        assert isinstance(arch, NB201Cell)
        hparams = next((c for _, c in pipeline.modules if isinstance(c, HParams)), self.task.recipe)
        if hparams is None:
            raise ValueError(f"pipeline {pipeline.digest} has no hyper-parameters and task has no recipe")
        policy = next((c for _, c in pipeline.modules if isinstance(c, AugmentPolicy)), None)
        data = self.data
        view = InputView(
            policy, mean=data.mean, std=data.std, stored_size=data.image_size, input_size=data.image_size,
            padding=CROP_PADDING.get(self.task.dataset, data.image_size // 8), device=data.train.images.device,
        )  # fmt: skip
        return arch.ops, hparams, view

    def _lr(self, hparams: HParams) -> float:
        if self.schedule_steps is None:
            return hparams.lr
        return hparams.lr * 0.5 * (1 + math.cos(math.pi * min(self.steps, self.schedule_steps) / self.schedule_steps))

    def _train_batch(self, view: InputView, fidelity: Fidelity) -> tuple[torch.Tensor, torch.Tensor]:
        state, data = self._built(), self.data
        train = data.train.head(fidelity.train_subset)
        index = torch.randint(0, len(train), (fidelity.batch_size,), generator=state["generator"])
        return view.train(train.images[index], state["generator"]), train.labels[index]

    def _temporary(self, pipeline: Pipeline, fidelity: Fidelity) -> TemporaryScore:
        state, data = self._built(), self.data
        ops, hparams, view = self._parts(pipeline)
        train = self._train_batch(view, fidelity)
        index = torch.randint(
            0, len(data.val), (min(self.val_batch_size, len(data.val)),), generator=state["generator"]
        )
        val = (view.eval(data.val.images[index]), data.val.labels[index])
        return temporary_score(
            state["model"], state["optimizer"], ops=ops, train=train, val=val,
            lr=self._lr(hparams), weight_decay=hparams.weight_decay,
        )  # fmt: skip

    def _shared_step(self, pipeline: Pipeline, fidelity: Fidelity) -> None:
        """W_alpha <- one SGD step with the pipeline's (or a uniform draw's) hyper-parameters, on a fresh batch."""
        state = self._built()
        if self.train_policy == "uniform":
            rng = state["rng"]
            pipeline = Pipeline.of(
                {name: space.decode(rng.integers(0, space.nvec)) for name, space in self.task.modules.items()}
            )
        ops, hparams, view = self._parts(pipeline)
        warm = self.steps < self.op_warmup_steps and state["rng"].random() < 1 - self.steps / self.op_warmup_steps
        model, optimizer = state["model"], state["optimizer"]
        for group in optimizer.param_groups:
            group["lr"], group["weight_decay"] = self._lr(hparams), hparams.weight_decay
        x, y = self._train_batch(view, fidelity)
        loss = torch.nn.functional.cross_entropy(model(x, None if warm else ops), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


class _Threads:
    """Sets torch's CPU threads for the duration of a block (None: leave them)."""

    def __init__(self, threads: int | None) -> None:
        self.threads, self.before = threads, 0

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)
