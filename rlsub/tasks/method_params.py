"""Typed method hyper-parameters: ``--param NAME=VALUE`` (and TOML values) parsed against the type
of the method's config field, so ``double=False`` is the boolean False and not the truthy string."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Union

from rlsub.errors import ConfigError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null"}


def field_types(cls: type) -> dict[str, Any]:
    """Resolved type annotations of the dataclass ``cls``'s fields."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def parse_params(cls: type, raw: dict[str, Any], method: str) -> dict[str, Any]:
    """``raw`` (strings from the command line, or TOML values) as typed values for ``cls``'s fields.

    Raises ConfigError naming the parameter for an unknown name or a value of the wrong type.
    """
    types_ = field_types(cls)
    out: dict[str, Any] = {}
    for name, value in raw.items():
        key = str(name).strip().replace("-", "_")
        if key not in types_:
            known = ", ".join(sorted(types_)) or "none"
            close = difflib.get_close_matches(key, list(types_), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{method}: unknown hyper-parameter {key!r}{hint}; known: {known} "
                              f"('rlsub methods {method}' lists them with defaults)")
        try:
            out[key] = coerce(value, types_[key])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{method}: hyper-parameter {key}={value!r}: {e}") from None
    return out


def coerce(value: Any, tp: Any) -> Any:
    """``value`` converted to type ``tp`` (bool, int, float, str, tuples, ``X | None``, Literal)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if type(None) in options and _is_none(value):
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return coerce(value, option)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        text = value.strip() if isinstance(value, str) else value
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(map(str, choices))}")
        return text
    if origin is tuple:
        return _tuple(value, typing.get_args(tp))
    if tp is bool:
        return _bool(value)
    if tp is int:
        return _int(value)
    if tp is float:
        return _float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return _unquote(value.strip())
    if tp is Any:
        return value
    raise ValueError(f"parameters of type {tp} cannot be set from the command line")


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError("expected a boolean (true/false, 1/0, yes/no)")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                raise ValueError("expected an integer") from None
            if f.is_integer() and math.isfinite(f):
                return int(f)
    raise ValueError("expected an integer")


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace("_", ""))
        except ValueError:
            raise ValueError("expected a number") from None
    raise ValueError("expected a number")


def _tuple(value: Any, args: tuple[Any, ...]) -> tuple:
    if isinstance(value, str):
        text = value.strip().strip("[]()")
        items: list[Any] = [s for s in (p.strip() for p in text.split(",")) if s]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError("expected a comma-separated list")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(coerce(v, args[0]) for v in items)
    if args and len(items) != len(args):
        raise ValueError(f"expected {len(args)} values")
    return tuple(coerce(v, a) for v, a in zip(items, args)) if args else tuple(items)


def check_config(cls: type, params: dict[str, Any], method: str, preset: dict[str, Any] | None = None) -> None:
    """Run ``cls``'s own checks (a value out of range, an unknown engine) on ``params`` over a preset's
    values for the method, so a bad ``--param`` is refused before any store exists, not at the first trial.
    ConfigError when they fail; a config that cannot be built from these fields alone is left to the trial."""
    try:
        cls(**{**parse_params(cls, preset or {}, method), **params})
    except TypeError:
        pass


__all__ = ["check_config", "coerce", "field_types", "parse_params"]
