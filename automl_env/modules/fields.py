"""Strict readers for the fields of module configs, shared by every config's constructor and from_dict.

Each reader takes one value, checks its exact type and range, and returns it in the one canonical
form that the config stores and serialises: an ``int`` field takes Python or NumPy integers, never
``1.0`` or ``True``; a ``float`` field takes integers too but stores a finite ``float`` (``1`` and
``-0.0`` become ``1.0`` and ``0.0``), so equal configs have equal JSON and equal digests; booleans
are never numbers. A bad value raises ``ConfigTypeError`` (wrong type) or ``ConfigValueError``
(wrong value), both ``ConfigError``s that carry the field's path, so a message reads
``pipeline module 'hpo' (hparams): field 'lr' must be a number > 0, got 'x'``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

FieldPath = tuple[str | int, ...]
Field = str | int | None
"""A field's name, an item's index in a list, or None for the value itself."""
T = TypeVar("T")


class ConfigError(Exception):
    """A config field with the wrong type or value: what is wrong, which field, and where it was read."""

    def __init__(self, problem: str, field: FieldPath = (), where: str = "") -> None:
        super().__init__(problem, field, where)
        self.problem, self.field, self.where = problem, field, where

    def __str__(self) -> str:
        text = f"field {field_name(self.field)!r} {self.problem}" if self.field else self.problem
        return f"{self.where}: {text}" if self.where else text

    def within(self, *prefix: str | int) -> ConfigError:
        """The same error, for a field nested inside ``prefix``."""
        return type(self)(self.problem, (*prefix, *self.field), self.where)

    def located(self, where: str) -> ConfigError:
        """The same error, saying where the config was read."""
        return type(self)(self.problem, self.field, where)


class ConfigValueError(ConfigError, ValueError):
    """A field that is missing, unknown, or outside its range."""


class ConfigTypeError(ConfigError, TypeError):
    """A field of the wrong JSON type."""


def field_name(path: FieldPath) -> str:
    """``("sub_policies", 0, 1, "magnitude")`` -> ``sub_policies[0][1].magnitude``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@contextmanager
def located(where: str) -> Iterator[None]:
    """Errors raised inside the block say they come from ``where`` (e.g. ``pipeline module 'hpo' (hparams)``).

    The outermost caller names the place (a pipeline's module name beats a bare ``hparams config``);
    a plain ValueError or TypeError, from a custom config's own checks, gets the place too.
    """
    try:
        yield
    except ConfigError as error:
        raise error.located(where) from None
    except TypeError as error:
        raise ConfigTypeError(str(error), where=where) from error
    except ValueError as error:
        raise ConfigValueError(str(error), where=where) from error


def shown(value: Any, limit: int = 60) -> str:
    """A value's repr for an error message, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        text = f"<int of {value.bit_length()} bits>"
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def store_field(config: object, name: str, value: Any) -> None:
    """Keep a field's canonical form (from a reader) on a frozen dataclass, from its ``__post_init__``."""
    if getattr(config, name) is not value:
        object.__setattr__(config, name, value)


def _refuse(error: type[ConfigError], what: str, value: Any, field: Field) -> ConfigError:
    return error(f"must be {what}, got {shown(value)}", () if field is None else (field,))


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_bound(low)}"
    return f" {'<' if high_open else '<='} {_bound(high)}" if high is not None else ""


def _bound(limit: float) -> str:
    """An int exactly (a seed's 2**63 as 9223372036854775808), a float in short form."""
    return str(limit) if isinstance(limit, int) else f"{limit:g}"


def int_field(
    value: Any, field: Field, *, low: int | None = None, high: int | None = None, choices: Sequence[int] = ()
) -> int:
    """An integer in ``[low, high)``, or one of ``choices``; never a bool or a float."""
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        number = value
    elif isinstance(value, np.integer):
        number = int(value)
    else:
        number = None
    if (
        number is None
        or (low is not None and number < low)
        or (high is not None and number >= high)
        or (choices and number not in choices)
    ):
        top = None if high is None else high - 1  # shown closed: "in [1, 1024]"
        what = f"an integer, one of {list(choices)}" if choices else "an integer" + _bounds(low, top, False, False)
        raise _refuse(ConfigValueError if number is not None else ConfigTypeError, what, value, field)
    return number


def float_field(
    value: Any,
    field: Field,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: Sequence[float] = (),
) -> float:
    """A finite number within the bounds, or one of ``choices``, stored as a float; never a bool.

    Integers are taken and stored as floats, and ``-0.0`` as ``0.0``: one JSON form per value.
    """
    number: float | None = None
    if type(value) is float:
        number = value or 0.0  # -0.0 becomes 0.0; any other float is kept as the same object
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        try:
            number = float(value) + 0.0
        except OverflowError:  # an int past the float range
            number = math.inf
    if (
        number is None
        or not math.isfinite(number)
        or (low is not None and (number <= low if low_open else number < low))
        or (high is not None and (number >= high if high_open else number > high))
        or (choices and number not in choices)
    ):
        what = f"a number, one of {list(choices)}" if choices else "a number" + _bounds(low, high, low_open, high_open)
        raise _refuse(ConfigValueError if number is not None else ConfigTypeError, what, value, field)
    return number


def bool_field(value: Any, field: Field) -> bool:
    """``true`` or ``false``; never 0 or 1."""
    if not isinstance(value, (bool, np.bool_)):
        raise _refuse(ConfigTypeError, "a boolean (true or false)", value, field)
    return bool(value)


def str_field(value: Any, field: Field, *, choices: Collection[str]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        error = ConfigValueError if isinstance(value, str) else ConfigTypeError
        raise _refuse(error, f"one of {list(choices)}", value, field)
    return value


def list_field(value: Any, field: Field, *, length: int | None = None, min_length: int = 0, of: str = "items") -> tuple:
    """A JSON array (a list or tuple) of exactly ``length``, or at least ``min_length``, ``of``."""
    if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length) or len(value) < min_length:
        what = f"a list of {length} {of}" if length is not None else f"a list of at least {min_length} {of}"
        error = ConfigValueError if isinstance(value, (list, tuple)) else ConfigTypeError
        raise _refuse(error, what, value, field)
    return tuple(value)


def list_of(
    value: Any,
    field: Field,
    item: Callable[[Any], T],
    *,
    length: int | None = None,
    min_length: int = 0,
    of: str = "items",
) -> tuple[T, ...]:
    """A JSON array whose items ``item`` reads; an item's errors name its index."""
    items = list_field(value, field, length=length, min_length=min_length, of=of)
    out: list[T] = []
    try:
        for raw in items:
            out.append(item(raw))
    except ConfigError as error:  # the item at index len(out) failed
        raise error.within(*((len(out),) if field is None else (field, len(out)))) from None
    return tuple(out)


def instances(
    value: Any, field: Field, cls: type[T], *, length: int | None = None, min_length: int = 0, of: str = "items"
) -> tuple[T, ...]:
    """A list or tuple of ``cls`` objects (the typed parts of a config, e.g. the ``Block``s of a cell)."""
    items = list_field(value, field, length=length, min_length=min_length, of=of)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise _refuse(ConfigTypeError, f"a {cls.__name__}", item, i).within(*(() if field is None else (field,)))
    return items


@contextmanager
def config_fields(data: Any, kind: str, names: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Read a config's JSON object: it must hold ``kind`` and exactly the fields ``names``.

    Yields those fields (without ``kind``); errors raised in the block are located at ``<kind>
    config`` unless a caller names the place better (``Pipeline.from_dict`` names the module).
    """
    with located(f"{kind} config"):
        if not isinstance(data, Mapping):
            raise ConfigTypeError(f"must be a JSON object with the fields {['kind', *names]}, got {shown(data)}")
        expected = ("kind", *names)
        missing = [name for name in expected if name not in data]
        if missing:
            raise ConfigValueError("is missing", (missing[0],))
        unknown = sorted(str(key) for key in data if key not in expected)
        if unknown:
            raise ConfigValueError(f"is unknown; {kind} has the fields {list(expected)}", (unknown[0],))
        if not (isinstance(data["kind"], str) and data["kind"] == kind):
            raise _refuse(ConfigValueError, repr(kind), data["kind"], "kind")
        yield {name: data[name] for name in names}
