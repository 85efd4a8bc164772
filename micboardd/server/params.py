"""Query-string values the API shares: times (unix seconds, ISO 8601, ``now`` or an age
such as ``6h``), ranges, bounded integers and the answer format (JSON or CSV)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, WithJsonSchema

DEFAULT_SPAN = 6 * 3600.0
MAX_TIME = 4102444800.0  # 2100-01-01
MAX_LIMIT = 10_000
TIME_HELP = ("unix seconds, ISO 8601 (without an offset: the server's local time), now, "
             "or an age such as 6h, 90m, 2d (that long before now)")
#: what str.split() and str.strip() take for white space (str.isspace), spelled out for
#: a pattern class that JSON Schema (ECMA-262) and pydantic read alike (``\s`` differs)
ISSPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_AGE = re.compile(r"^-?(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


#: how a time is documented: the forms parse_time reads, within 1970..2100 (the server
#: reads a little more, such as other offsets and years; it never reads less)
TIME_SCHEMA: dict[str, Any] = {
    "description": TIME_HELP,
    "anyOf": [
        {"const": "now"},
        {"const": "", "title": "empty: as if absent"},
        {"type": "string", "title": "ISO 8601 date-time",
         "pattern": r"^(19[7-9][0-9]|20[0-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                    r"(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,3})?)?Z?)?$",
         "examples": ["2026-11-22T20:00:00Z"]},
        {"type": "string", "title": "unix seconds (or milliseconds)",
         "pattern": r"^([0-9]{1,9}|[1-3][0-9]{9}|40[0-9]{8}|1[0-9]{11,12})(\.[0-9]+)?$",
         "examples": ["1796200000"]},
        {"type": "string", "title": "an age: that long before now",
         "pattern": r"^-?([0-9]{1,4}(\.[0-9]{1,3})?[smhd]|[0-9]{1,3}(\.[0-9]{1,3})?w)$",
         "examples": ["6h", "90m"]},
    ],
}
# Query parameters as pydantic fields: optional, and documented without "null" (a query
# string has no null, only an absent parameter)
TimeParam = Annotated[str | None, WithJsonSchema(TIME_SCHEMA)]
#: ``from`` and ``to`` of a range (time_range): each a time, and from not after to; a
#: JSON Schema cannot compare two parameters, so that rule is said in words (400)
RANGE_HELP = "; from must not be after to (else 400)"
RangeParam = Annotated[str | None, WithJsonSchema(
    {**TIME_SCHEMA, "description": TIME_HELP + RANGE_HELP})]
TextParam = Annotated[str | None, WithJsonSchema({"type": "string"})]
LimitParam = Annotated[int | None, Field(ge=1, le=MAX_LIMIT), WithJsonSchema(
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "at most this many"})]
OrderParam = Annotated[Literal["asc", "desc"] | None, WithJsonSchema(
    {"enum": ["asc", "desc"], "description": "oldest (asc, the default) or newest first"})]
FormatParam = Annotated[Literal["json", "csv"] | None, WithJsonSchema(
    {"enum": ["json", "csv"], "description": "json (the default) or csv; or Accept: text/csv"})]


class BadQuery(ValueError):
    """A query value that cannot be used; answered as 400 with this message."""


def parse_time(text: str | None, now: float, default: float | None = None) -> float | None:
    """Unix seconds from a query value; BadQuery when unreadable or outside 1970..2100."""
    if text is None or text == "":
        return default
    s = text.strip()
    v: float
    if s == "now":
        v = now
    elif m := _AGE.match(s):
        v = now - float(m.group(1)) * _UNITS[m.group(2)]
    else:
        try:
            v = float(s)
            if v > 1e11:
                v /= 1000  # milliseconds, as JavaScript counts
        except ValueError:
            try:
                v = datetime.fromisoformat(s).timestamp()
            except (ValueError, OverflowError, OSError):
                raise BadQuery(f"not a time: {text!r} (unix seconds, ISO 8601, 'now' or an "
                               f"age like 6h)") from None
    if not (math.isfinite(v) and 0 <= v <= MAX_TIME):
        raise BadQuery(f"time out of range: {text!r}")
    return v


def int_param(q: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be an integer") from None
    if not lo <= v <= hi:
        raise BadQuery(f"{name} must be between {lo} and {hi}")
    return v


def time_range(q: Mapping[str, str], now: float, span: float = DEFAULT_SPAN
               ) -> tuple[float, float]:
    """``from`` and ``to`` (default: the ``span`` before now; ``to`` alone defaults to now,
    or to ``from`` when that is later: an empty range, not an error)."""
    t0 = parse_time(q.get("from"), now)
    t1 = parse_time(q.get("to"), now, now if t0 is None else max(now, t0))
    assert t1 is not None
    if t0 is None:
        t0 = t1 - span
    if t0 > t1:
        raise BadQuery("from must not be after to")
    return t0, t1


def order_param(q: Mapping[str, str]) -> str:
    order = q.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadQuery("order must be asc or desc")
    return order


def wants_csv(request: web.Request) -> bool:
    fmt = request.query.get("format")
    if fmt:
        if fmt not in ("csv", "json"):
            raise BadQuery("format must be json or csv")
        return fmt == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


def iso(ts: float | None) -> str:
    """A time for a CSV cell (UTC, milliseconds)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
