"""Typed readers for the options of constructors (envs, backends, executors), checked where they enter.

The same strict readers as module configs (``automl_env.modules.fields``: exact types, finite numbers, bools never
numbers), applied to a keyword argument instead of a JSON field, so an option is refused with one message that
names the place, the option, what it must be and what it got:
``synthetic backend: option 'noise' must be a number in [0, 1], got inf``.

Errors are ``OptionValueError`` / ``OptionTypeError`` (a ``ValueError`` / ``TypeError``), or the classes a caller
passes as ``errors`` (a backend passes its ``BackendSetupError`` kinds, so a search stops at once).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from automl_env.modules.fields import ConfigError, float_field, int_field, shown

T = TypeVar("T")


class OptionValueError(ValueError):
    """An option outside its range (or unknown)."""


class OptionTypeError(TypeError):
    """An option of the wrong type."""


Errors = tuple[Callable[[str], Exception], Callable[[str], Exception]]
"""The (value error, type error) classes an option's problems raise."""
OPTION_ERRORS: Errors = (OptionValueError, OptionTypeError)


def option(
    value: Any, name: str, read: Callable[..., T], *, where: str, errors: Errors = OPTION_ERRORS, **limits: Any
) -> T:
    """``read(value, name, **limits)`` (a ``fields`` reader), its ConfigError raised as one of ``errors``."""
    try:
        return read(value, name, **limits)
    except ConfigError as error:
        value_error, type_error = errors
        raise (type_error if isinstance(error, TypeError) else value_error)(
            f"{where}: option {name!r} {error.problem}"
        ) from None


def integer(
    value: Any,
    name: str,
    *,
    where: str,
    low: int | None = None,
    high: int | None = None,
    errors: Errors = OPTION_ERRORS,
) -> int:
    """An int in ``[low, high)`` (numpy integers taken; bools, floats and strings refused)."""
    return option(value, name, int_field, where=where, errors=errors, low=low, high=high)


def optional_integer(
    value: Any,
    name: str,
    *,
    where: str,
    low: int | None = None,
    high: int | None = None,
    errors: Errors = OPTION_ERRORS,
) -> int | None:
    """None, or ``integer``."""
    return None if value is None else integer(value, name, where=where, low=low, high=high, errors=errors)


def number(
    value: Any,
    name: str,
    *,
    where: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    errors: Errors = OPTION_ERRORS,
) -> float:
    """A finite float in ``[low, high]`` (``(low, high]`` with ``low_open``); bools, strings, NaN and inf refused."""
    return option(value, name, float_field, where=where, errors=errors, low=low, high=high, low_open=low_open)


def flag(value: Any, name: str, *, where: str, errors: Errors = OPTION_ERRORS) -> bool:
    """True or False (never 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise errors[1](f"{where}: option {name!r} must be True or False, got {shown(value)}")
    return value


def known_options(options: Mapping[str, Any], known: Collection[str], *, where: str) -> None:
    """OptionValueError naming the unknown keys of ``options`` and the known ones."""
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        raise OptionValueError(f"{where}: unknown option(s) {unknown}; the options are {sorted(known)}")
