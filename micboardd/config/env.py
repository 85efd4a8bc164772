"""Configuration from the environment, the twelve-factor way: every value of the file can
be set (or overridden) by a variable named after its JSON path.

``MICBOARDD_`` + the path's keys in upper case, joined by ``__``; list items by their
index::

    MICBOARDD_HTTP__PORT=8060              -> $.http.port = 8060
    MICBOARDD_HISTORY__ENABLED=false       -> $.history.enabled = false
    MICBOARDD_STATE_DIR=/var/lib/mb        -> $.state_dir = "/var/lib/mb"
    MICBOARDD_DEVICES__0__HOST=10.0.0.5    -> $.devices[0].host = "10.0.0.5"
    MICBOARDD_MQTT='{"url": "mqtt://broker"}'  -> $.mqtt = {...}

A value is read as JSON when it is valid JSON (numbers, ``true``/``false``, ``null``,
quoted strings, objects, lists) and as a plain string otherwise. Only variables whose
first key is a top-level section count (``MICBOARDD_LOG_LEVEL`` and the like are the
command line's own). The result is validated exactly like the file, and problems name
the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

PREFIX = "MICBOARDD_"


@dataclass(frozen=True, slots=True)
class Override:
    name: str  # the variable
    path: tuple[str | int, ...]  # where it goes in the configuration
    value: Any  # as read (JSON when it parses)

    @property
    def json_path(self) -> str:
        return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)


class EnvError(ValueError):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


def overrides(environ: Mapping[str, str], sections: set[str]) -> list[Override]:
    """The variables that set configuration values, sorted by name."""
    out: list[Override] = []
    for name in sorted(environ):
        if not name.startswith(PREFIX):
            continue
        keys = name[len(PREFIX):].lower().split("__")
        if keys[0] not in sections or not all(keys):
            continue
        path = tuple(int(k) if k.isdigit() else k for k in keys)
        raw = environ[name]
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        out.append(Override(name, path, value))
    return out


def apply(raw: dict[str, Any], found: list[Override]) -> dict[str, Any]:
    """``raw`` (the file's data, changed in place) with every override set."""
    for o in found:
        node: Any = raw
        for i, key in enumerate(o.path[:-1]):
            nxt = o.path[i + 1]
            if isinstance(key, int):
                if not isinstance(node, list) or not 0 <= key < len(node):
                    raise EnvError(o.name, f"the file has no item {key} there")
                node = node[key]
                continue
            if not isinstance(node, dict):
                raise EnvError(o.name, f"{key!r} is not inside an object")
            if key not in node or node[key] is None:
                if isinstance(nxt, int):
                    raise EnvError(o.name, f"the file has no list {key!r} to index")
                node[key] = {}
            node = node[key]
        last = o.path[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or not 0 <= last < len(node):
                raise EnvError(o.name, f"the file has no item {last} there")
            node[last] = o.value
        elif isinstance(node, dict):
            node[last] = o.value
        else:
            raise EnvError(o.name, f"{last!r} is not inside an object")
    return raw
