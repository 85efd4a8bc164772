"""JSON, error and CSV answers, the same everywhere in the API."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import orjson
from aiohttp import web


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json")


def error(status: int, message: str, **extra: Any) -> web.Response:
    return json_response({"error": message, **extra}, status)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def csv_cell(v: Any) -> Any:
    """A cell a spreadsheet will not run: text starting like a formula (``=1+2``,
    ``+cmd``, ``@SUM``, ``-2+3``) gets a leading apostrophe (OWASP's advice); numbers,
    also as text, stay as they are."""
    if v is None:
        return ""
    if isinstance(v, str) and v.startswith(_FORMULA_START) and not _NUMBER.match(v):
        return "'" + v
    return v


def csv_response(header: list[str], rows: list[list[Any]], filename: str) -> web.Response:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([csv_cell(h) for h in header])
    w.writerows([csv_cell(v) for v in r] for r in rows)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)  # it goes into a header
    return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{safe}"'})
