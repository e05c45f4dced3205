"""Typed `--set key=value` overrides for a frozen `Config` dataclass (problems' and `sciml fit`'s)."""

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any


class ConfigError(ValueError):
    """A configuration override that names an unknown key or carries a bad value.

    A subclass of `ValueError` so that callers may catch either; the CLI catches this
    one to answer with a one-line message and exit code 2 instead of a traceback.
    """


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_NONE = frozenset({"none", "null"})


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _fields(config_type: type) -> dict[str, Any]:
    if not (isinstance(config_type, type) and dataclasses.is_dataclass(config_type)):
        raise TypeError(f"expected a dataclass type, got {config_type!r}")
    # get_type_hints resolves string annotations from `from __future__ import annotations`.
    hints = typing.get_type_hints(config_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_type) if f.init}


def accepted_keys(config_type: type) -> str:
    """One line naming every overridable key with its type, e.g. `steps (int), lr (float)`."""
    return ", ".join(f"{name} ({_type_name(tp)})" for name, tp in _fields(config_type).items())


def _parse_scalar(tp: type, text: str) -> Any:
    if tp is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected true/false")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            pass
        # Accept `1e4` for a step count, but never silently truncate `2.5`.
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not value.is_integer():
            raise ValueError("expected an integer")
        return int(value)
    if tp is float:
        return float(text)
    if tp is str:
        return text
    raise ValueError(f"unsupported field type {_type_name(tp)}")


def _coerce_element(tp: type, value: Any) -> Any:
    """Checks one element of a JSON-parsed list against the element type."""
    if isinstance(value, str):
        return _parse_scalar(tp, value)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"expected {_type_name(tp)}, got {value!r}")


def _split_sequence(text: str) -> list[Any]:
    stripped = text.strip()
    if stripped.startswith("["):
        items = json.loads(stripped)
        if not isinstance(items, list):
            raise ValueError("expected a list")
        return items
    if stripped.startswith("(") and stripped.endswith(")"):
        stripped = stripped[1:-1]
    if stripped == "":
        return []
    return [item.strip() for item in stripped.split(",")]


def _parse_value(tp: Any, text: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        # Optional[X]: `none` selects None, anything else is parsed as X.
        members = [a for a in args if a is not type(None)]
        if type(None) in args and text.strip().lower() in _NONE:
            return None
        if len(members) != 1:
            raise ValueError(f"unsupported field type {_type_name(tp)}")
        return _parse_value(members[0], text)
    if origin is typing.Literal:
        for choice in args:
            try:
                if _parse_scalar(type(choice), text) == choice:
                    return choice
            except ValueError:
                continue
        raise ValueError(f"expected one of {', '.join(map(repr, args))}")
    if origin is tuple:
        items = _split_sequence(text)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce_element(args[0], item) for item in items)
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values")
        return tuple(_coerce_element(a, item) for a, item in zip(args, items))
    return _parse_scalar(tp, text)


def parse_overrides(config_type: type, pairs: Sequence[str]) -> dict[str, Any]:
    """Parses `key=value` strings against the field types of a `Config` dataclass.

    Values are converted with `int()`, `float()`, a fixed set of boolean words and
    `json.loads` for bracketed lists; nothing is evaluated as code. Supported field
    types: `int`, `float`, `bool`, `str`, `Literal[...]`, `X | None` (written `none`),
    `tuple[X, ...]` and fixed-length tuples, written `32,64` or `[32, 64]`.

    **Arguments:**

    - `config_type`: the frozen dataclass whose fields may be overridden.
    - `pairs`: strings of the form `key=value`; a later key wins over an earlier one.

    **Returns:**

    A dict from field name to parsed value.

    **Raises:**

    `ConfigError` naming the offending pair and listing the accepted keys and types.
    """
    fields = _fields(config_type)
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {pair!r}; accepted keys: {accepted_keys(config_type)}")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config key {key!r}{hint} (accepted keys: {accepted_keys(config_type)})")
        try:
            overrides[key] = _parse_value(fields[key], text)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"bad value {text!r} for {key} ({_type_name(fields[key])}): {e}") from None
    return overrides


def build_config(config_type: type, *updates: Mapping[str, Any]) -> Any:
    """Builds `config_type()` with each mapping of updates applied in turn.

    **Raises:**

    `ConfigError` for unknown keys, or when the dataclass itself rejects the values
    (a `ValueError`/`TypeError` raised by its `__post_init__`).
    """
    fields = _fields(config_type)
    merged: dict[str, Any] = {}
    for update in updates:
        unknown = sorted(set(update) - set(fields))
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(unknown)}; accepted keys: {accepted_keys(config_type)}"
            )
        merged.update(update)
    try:
        return config_type(**merged)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"invalid configuration: {e}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def positive_int(text: str) -> int:
    """An argparse type: a positive integer (its name is what argparse's error shows)."""
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


positive_int.__name__ = "positive integer"
