"""The check, when a backend is built, that its dataset is there to read, and what to do when it is not.

A real-training env built without its data used to fail at its first step, after the data had been looked
for, with a long chained traceback. ``check_dataset`` runs the dataset's cheap presence check
(``datasets.DATA_CHECKS``: file names only, nothing read; downloading first where missing and allowed) when the
backend is built, and turns a missing dataset into one short message: what was looked for and where, the
``data_root`` option, and the alternatives that need no data.
"""

from __future__ import annotations

from automl_env.backends.base import BackendSetupError
from automl_env.backends.training.datasets import (
    DATA_CHECKS,
    DEBIAN_FASHION_MNIST,
    READERS,
    DataConfig,
    DatasetNotFoundError,
)


def check_dataset(dataset: str, config: DataConfig) -> None:
    """Check at build that ``dataset`` is there to read (``DATA_CHECKS``), with a message that says what to do.

    The error's message is a few lines: what was missing and where it was looked for, then the ``data_root``
    option and the alternatives that need no data (the fast backends; Fashion-MNIST's Debian package).
    """
    if dataset not in READERS:
        raise BackendSetupError(f"no reader for dataset {dataset!r}; known: {sorted(READERS)} (add one to READERS)")
    if dataset not in DATA_CHECKS:
        return
    try:
        DATA_CHECKS[dataset](config)
    except DatasetNotFoundError as error:
        raise DatasetNotFoundError(f"{error}\n{_what_to_do(dataset, config)}") from None
    except OSError as error:  # a folder that cannot be looked in: name too long, no permission, ...
        where = f"{config.resolved_root()}: {error.strerror or error}"
        raise DatasetNotFoundError(f"cannot look for {dataset} in {where}\n{_what_to_do(dataset, config)}") from None


def _what_to_do(dataset: str, config: DataConfig) -> str:
    now = f"data_root={str(config.root)!r}" if config.root is not None else f"data_root unset: {config.resolved_root()}"
    online = "" if config.download or dataset == "imagenet200" else ", or download=True where the machine is online"
    lines = [
        f"Point the backend option data_root at the folder that holds it ({now}; in an env: "
        f'backend_options={{"data_root": FOLDER}}; in automl-env train: --data-root FOLDER){online}.',
        'Offline, the fast backends need no data: automl_env.parallel_env("cifar100", backend="synthetic-rugged") '
        '(synthetic, not real accuracies), or recorded real results: automl_env.parallel_env("nb201-cifar100").',
    ]
    if dataset == "fashion-mnist":
        lines.append(
            "Fashion-MNIST also comes as a Debian/Ubuntu package: apt-get install dataset-fashion-mnist puts it in "
            f"{DEBIAN_FASHION_MNIST}, which is searched too."
        )
    return "\n".join(lines)
