"""Loading configuration files: JSON in, a validated :class:`Config` out, or an error that
names the file, the JSON path and what was expected."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

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


def _expected(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling)"
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
        out.append((_json_path(loc), _expected(err)))
    return out


def parse_config(data: bytes, source: Path | str = "<config>") -> Config:
    """Parse and validate config JSON; raises ConfigError naming source and JSON path."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(source, [(f"line {exc.lineno} column {exc.colno}",
                                    f"not valid JSON: {exc.msg}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, [("$", "expected a JSON object at the top level")])
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, problems(exc)) from None


def load_config(path: Path | str) -> Config:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(p, [("$", f"cannot read the file: {exc.strerror}")]) from None
    return parse_config(data, p)


