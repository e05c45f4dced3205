"""Argument checks shared by the constructors: a bad size or rate fails at construction, by name."""

import numbers
from collections.abc import Sequence
from typing import Any


def _is_int(value: Any) -> bool:
    # bool is an int subclass in Python, but `width=True` is a mistake, not a width of 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(owner: str, name: str, value: Any, minimum: int = 1) -> None:
    """Raises a `ValueError` unless `value` is an integer (not a bool) of at least `minimum`.

    **Arguments:**

    - `owner`: the model's name, for the message.
    - `name`: the argument's name.
    - `value`: the value given.
    - `minimum`: the smallest accepted value.
    """
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{owner} {name} must be an integer >= {minimum}, got {value!r}")


def check_size(owner: str, name: str, value: Any) -> None:
    """Raises a `ValueError` unless `value` is a positive integer or `"scalar"`."""
    if value != "scalar" and (not _is_int(value) or value < 1):
        raise ValueError(f"{owner} {name} must be a positive integer or 'scalar', got {value!r}")


def check_ints(owner: str, name: str, values: Any, minimum: int = 1) -> None:
    """Raises a `ValueError` unless `values` is a non-empty sequence of integers >= `minimum`."""
    ok = isinstance(values, Sequence) and not isinstance(values, str) and len(values) > 0
    if not ok or not all(_is_int(v) and v >= minimum for v in values):
        raise ValueError(f"{owner} {name} must be a non-empty list of integers >= {minimum}, got {values!r}")


def check_rate(owner: str, name: str, value: Any) -> None:
    """Raises a `ValueError` unless `value` is a number in `[0, 1)` (a dropout rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{owner} needs a {name} rate in [0, 1), got {value!r}")


def check_number(owner: str, name: str, value: Any, *, positive: bool = False) -> None:
    """Raises a `ValueError` unless `value` is a real number (not a bool), positive if asked."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (positive and not value > 0):
        raise ValueError(f"{owner} {name} must be a {'positive ' if positive else ''}number, got {value!r}")
