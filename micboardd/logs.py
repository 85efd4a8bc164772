"""Structured JSON logs: one event per line on stderr (journald keeps them).

No secret reaches a line: values under secret-sounding keys are replaced, passwords in
URLs are masked wherever they appear (also inside tracebacks), and the configuration's
own secrets (:func:`register_secrets`, the daemon calls it on every load) are cut out
of any text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import orjson
import structlog

_SECRET_KEYS = frozenset({"token", "password", "authorization", "secret", "sha256", "hash",
                          "cookie"})
_URL_PASSWORD = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]*:)[^/\s@'\"]+@")
_secrets: tuple[str, ...] = ()


def register_secrets(values: Iterable[str]) -> None:
    """The strings no log line may contain (the configuration's passwords and hashes)."""
    global _secrets
    _secrets = tuple(sorted({v for v in values if v}, key=len, reverse=True))


def scrub(text: str) -> str:
    """``text`` with URL passwords and registered secrets masked."""
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\g<pre>***@", text)
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {k: ("<redacted>" if isinstance(k, str) and k.lower() in _SECRET_KEYS
                    else _clean(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    return value


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k in list(event):
        if k.lower() in _SECRET_KEYS:
            event[k] = "<redacted>"
        else:
            event[k] = _clean(event[k])
    return event


def _dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


class _ScrubbingFormatter(logging.Formatter):
    """Lines of the standard library's loggers (aiohttp, paho) are scrubbed too."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup_logging(level: str = "info") -> None:
    lvl = getattr(logging, level.upper(), logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("%(message)s"))
    logging.basicConfig(level=lvl, handlers=[handler])
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,  # after the traceback is text: it is scrubbed too
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
