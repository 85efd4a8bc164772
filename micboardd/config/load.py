"""Loading configuration files: JSON in (with the environment's overrides,
:mod:`.env`), a validated :class:`Config` out, or an error that names the file, the
JSON path (or the variable) and what was expected."""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import typing_extensions
from pydantic import BaseModel, ValidationError

from micboardd.config.env import EnvError, Override, apply, overrides
from micboardd.config.models import Config

EX_CONFIG = 78  # sysexits.h: configuration error


class ConfigError(Exception):
    """A configuration file that cannot be used; ``str()`` names file, path and reason."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: {where}: {what}" for where, what in problems]
        super().__init__("\n".join(lines))


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


def _fields_at(loc: tuple[int | str, ...], root: type[BaseModel] = Config) -> list[str]:
    """The keys the model expects at the object holding ``loc[-1]``."""
    tp: Any = root
    for part in loc[:-1]:
        tp = _inner(tp, part)
        if tp is None:
            return []
    tp = _unwrap(tp)
    if typing_extensions.is_typeddict(tp):  # a device's simulate block
        return list(typing.get_type_hints(tp))
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _unwrap(tp: Any) -> Any:
    """A model (or a TypedDict) out of ``X | None`` and ``Annotated[X, ...]``."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(tp)
                  if isinstance(a, type) and (issubclass(a, BaseModel)
                                              or typing_extensions.is_typeddict(a))]
        return models[0] if models else None
    return tp


def _inner(tp: Any, part: int | str) -> Any:
    tp = _unwrap(tp)
    if isinstance(part, int):  # a list item
        args = typing.get_args(tp)
        return args[0] if typing.get_origin(tp) is list and args else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part)
        return field.annotation if field is not None else None
    if typing_extensions.is_typeddict(tp):
        return typing.get_type_hints(tp).get(str(part))
    if typing.get_origin(tp) is dict:  # a mapping's value (alerts.groups.<name>)
        return typing.get_args(tp)[1]
    return None


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    close = difflib.get_close_matches(str(loc[-1]), _fields_at(loc), n=1, cutoff=0.6)
    if close:
        return f'unknown key; did you mean "{close[0]}"?'
    return "unknown key (check the spelling)"


def _expected(err: Any, loc: tuple[int | str, ...] = ()) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return _unknown_key(loc) if loc else "unknown key (check the spelling)"
    if err["type"] == "missing":
        return "required key is missing"
    return msg.removeprefix("Value error, ")


def problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(JSON path, what was expected) for each error pydantic found: the one way every
    configuration file and every request body is reported."""
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
        # pydantic adds the union member name to the location; drop it
        loc = tuple(p for p in loc if p not in ("constrained-int", "int", "str", "MqttConfig"))
        out.append((_json_path(loc), _expected(err, loc)))
    return out


def parse_config(data: bytes, source: Path | str = "<config>",
                 environ: Mapping[str, str] | None = None) -> Config:
    """Parse and validate config JSON, with ``environ``'s overrides when given; raises
    ConfigError naming source and JSON path (and the variable, for an override)."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(source, [(f"line {exc.lineno} column {exc.colno}",
                                    f"not valid JSON: {exc.msg}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, [("$", "expected a JSON object at the top level")])
    found = env_overrides(environ) if environ is not None else []
    try:
        raw = apply(raw, found)
    except EnvError as exc:
        raise ConfigError(source, [(exc.name, exc.problem)]) from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, _name_variables(problems(exc), found)) from None


def env_overrides(environ: Mapping[str, str]) -> list[Override]:
    """The variables of ``environ`` that set configuration values."""
    return overrides(environ, set(Config.model_fields))


def _name_variables(found: list[tuple[str, str]], env: list[Override]
                    ) -> list[tuple[str, str]]:
    """A problem at (or under) a value the environment set names the variable."""
    out = []
    for path, what in found:
        for o in env:
            jp = o.json_path
            if path == jp or path.startswith((jp + ".", jp + "[")):
                path = f"{path} (from {o.name})"
                break
        out.append((path, what))
    return out


def load_config(path: Path | str, environ: Mapping[str, str] | None = os.environ) -> Config:
    """The file at ``path`` with the process environment's overrides (``environ=None``:
    the file alone)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(p, [("$", f"cannot read the file: {exc.strerror}")]) from None
    return parse_config(data, p, environ)
