"""What makes a setting unusable: the errors a backend raises before any evaluation, and the integer checks
every layer shares (fidelities, seeds, backend options).

They live below the backends and the tasks, which both use them, so neither imports the other for them.
"""

from __future__ import annotations

import numbers


class BackendSetupError(RuntimeError):
    """The backend can evaluate nothing (data missing, dependency absent): raised to the caller.

    Unlike a pipeline that fails to train, this is never turned into a failed result, so a search
    stops at once with the message instead of recording thousands of failures.
    """


class SettingTypeError(BackendSetupError, TypeError):
    """A setting of the wrong type (a float seed, a bool epoch count): no evaluation could use it."""


class SettingValueError(BackendSetupError, ValueError):
    """A setting outside its range (0 threads, an empty validation split): no evaluation could use it."""


SETTING_ERRORS = (SettingValueError, SettingTypeError)
"""The errors of a backend's options (``automl_env.options.option``'s ``errors``): setup errors, so a search stops."""


def check_int(value: object, name: str, *, expected: str = "an int") -> int:
    """``value`` as a plain int; bools, floats and strings raise SettingTypeError naming ``name``.

    numpy integers are accepted (and converted: stores and keys need plain ints).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SettingTypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    return int(value)


def check_seed(seed: object) -> int:
    """A backend's ``seed`` argument as a plain int (where a backend's ``evaluate`` takes it in)."""
    return check_int(seed, "seed")
