"""A row as the writer takes it: its table tag and parameters, with JSON payloads capped
and a digest that makes every insert idempotent (INSERT OR IGNORE on a UNIQUE index)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# row tags: a row handed to the writer is (tag, params)
T_SAMPLE, T_EVENT, T_AUDIT, T_ALERT = 0, 1, 2, 3
TABLES = ("samples", "events", "audit", "alerts")
Row = tuple[int, tuple[Any, ...]]

#: payload caps (bytes of JSON): a huge before/after never reaches the disk whole
MAX_DETAIL_BYTES = 2048
MAX_AUDIT_BYTES = 16 * 1024
MAX_TEXT = 128

#: the parameters of a row, per table, in this order
SAMPLE_COLUMNS = (
    "ts", "channel", "interval_s", "battery_bars", "battery_minutes",
    "battery_percent", "rf_min", "rf_avg", "rssi_min", "quality_min", "audio_max",
    "peak_dbfs_max", "on_air_s",
)
EVENT_COLUMNS = ("ts", "channel", "device", "kind", "detail", "hash")
AUDIT_COLUMNS = ("ts", "who", "action", "target", "before", "after", "hash")
ALERT_COLUMNS = ("id", "channel", "device", "rule", "severity", "message", "opened", "acked",
                 "acked_by", "resolved", "worst")
COLUMNS = (SAMPLE_COLUMNS, EVENT_COLUMNS, AUDIT_COLUMNS, ALERT_COLUMNS)


def jdump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                        default=str)


def capped_json(value: Any, limit: int) -> str:
    """JSON text of ``value``, or a small stand-in saying how big it was."""
    try:
        data = jdump(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        data = jdump({"unserializable": str(exc)[:200]})
    if len(data) > limit:
        data = jdump({"truncated": True, "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})
    return data.decode()


def digest(*parts: str | None) -> str:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update((p or "").encode())
        h.update(b"\x00")
    return h.hexdigest()


def clip(v: Any, limit: int = MAX_TEXT) -> str:
    s = v if isinstance(v, str) else str(v)
    return s[:limit]


