"""Dataclasses to and from TOML, every key checked: a (partial) dict read from a TOML file becomes a frozen dataclass,
with an unknown key or a value of the wrong type a UserError naming it; a dataclass becomes TOML that tomllib reads
back to the same values. The run, build, executor and sweep configs are all read and written through it."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from .errors import UserError


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


# --- dict <-> dataclass, with the checks a hand-written config deserves -------------------------------------


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        _check(isinstance(value, bool), f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        _check(
            isinstance(value, int) and not isinstance(value, bool),
            f"{where} must be an integer, got {value!r}",
        )
        return value
    if tp is float:
        _check(
            isinstance(value, (int, float)) and not isinstance(value, bool),
            f"{where} must be a number, got {value!r}",
        )
        _check(math.isfinite(value), f"{where} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        _check(isinstance(value, str), f"{where} must be a string, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        _check(isinstance(value, (list, tuple)), f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        _check(len(value) == len(args), f"{where} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if dataclasses.is_dataclass(tp):
        _check(isinstance(value, dict), f"{where} must be a table, got {value!r}")
        return from_dict(tp, value, where)
    raise TypeError(f"unsupported config type {tp!r}")  # a programming error, not a user error


def from_dict(cls: Any, d: dict[str, Any], where: str = "", base: Any = None) -> Any:
    """Build dataclass `cls` from a (partial) dict; missing keys come from `base` (or the defaults)."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in d:
        _check(key in known, f"unknown config key {where + '.' if where else ''}{key!r}")
    base = base if base is not None else cls()
    kwargs = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        sub = f"{where}.{f.name}" if where else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            _check(isinstance(d[f.name], dict), f"{sub} must be a table, got {d[f.name]!r}")
            kwargs[f.name] = from_dict(tp, d[f.name], sub, getattr(base, f.name))
        else:
            kwargs[f.name] = _coerce(d[f.name], tp, sub)
    return replace(base, **kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"config path is a folder, not a file: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: invalid TOML: {e}") from None


# --- TOML writing (tomllib only reads; the config needs nothing beyond scalars, lists and tables) -----------


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_TOML_CONTROL = re.compile(r"[\x00-\x1f\x7f]").match
_TOML_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+").fullmatch


def _toml_string(v: str) -> str:
    """A TOML basic string: backslash, quote and every control character escaped."""
    return '"' + "".join(_TOML_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if _TOML_CONTROL(c) else c) for c in v) + '"'


def _toml_key(k: str) -> str:
    return k if _TOML_BARE_KEY(k) else _toml_string(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps_toml(d: dict[str, Any], prefix: str = "") -> str:
    """TOML for a dict of scalars, lists and tables; keys that are not bare words ("train.lr", "") are quoted."""
    scalars = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    out = "\n".join(scalars) + ("\n" if scalars else "")
    for k, v in d.items():
        if isinstance(v, dict):
            out += f"\n[{prefix}{_toml_key(k)}]\n" + dumps_toml(v, f"{prefix}{_toml_key(k)}.")
    return out


__all__ = ["from_dict", "to_dict", "read_toml", "dumps_toml"]
