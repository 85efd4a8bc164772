"""Reading the history back: one channel's samples, events, the audit trail and alert
episodes. Each function takes a read connection; :func:`read` runs one in a worker
thread on a fresh read-only connection (WAL readers never block the writer)."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from micboardd.history.schema import connect
from micboardd.state import JSON

#: metric -> how a step of several samples aggregates it
METRICS: dict[str, str] = {
    "battery_bars": "min", "battery_minutes": "min", "battery_percent": "min",
    "rf_min": "min", "rf_avg": "avg", "rssi_min": "min", "quality_min": "min",
    "audio_max": "max", "peak_dbfs_max": "max", "on_air_s": "sum",
}
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "battery": ("battery_bars", "battery_minutes", "battery_percent"),
    "rf": ("rf_min", "rf_avg", "rssi_min", "quality_min"),
    "audio": ("audio_max", "peak_dbfs_max"),
    "on_air": ("on_air_s",),
}
MAX_POINTS = 20_000


def resolve_metrics(spec: str | None) -> list[str]:
    """``"battery,rf_min"`` -> column names; ValueError names an unknown metric."""
    if not spec:
        return list(METRICS)
    out: list[str] = []
    for part in spec.split(","):
        name = part.strip()
        if not name:
            continue
        names = METRIC_ALIASES.get(name) or ((name,) if name in METRICS else None)
        if names is None:
            known = ", ".join([*METRIC_ALIASES, *METRICS])
            raise ValueError(f"unknown metric {name!r}; known: {known}")
        out.extend(n for n in names if n not in out)
    return out or list(METRICS)  # only empty parts (","): as if none was given


def choose_step(t0: float, t1: float, interval: float, step: float | None) -> int:
    """Seconds per point: at least the sample interval, at most MAX_POINTS points, and
    never more than the whole range (one point)."""
    span = max(0.0, t1 - t0)
    base = max(1, math.ceil(interval))
    if step is None:
        step = span / 1000  # about a thousand points for a chart
    least = span / MAX_POINTS
    s = min(max(float(step), least, float(base)), max(span, float(base)))
    return int(math.ceil(s / base) * base)


def query_history(conn: sqlite3.Connection, channel: str, metrics: list[str], t0: float,
                  t1: float, step: int, interval: float) -> JSON:
    cols = [m for m in metrics if m in METRICS]
    if step <= math.ceil(interval):
        sql = (f"SELECT ts, {', '.join(cols)} FROM samples WHERE channel = ? AND ts >= ? "
               f"AND ts < ? ORDER BY ts")
        params: tuple[Any, ...] = (channel, math.floor(t0), math.ceil(t1))
    else:
        aggs = ", ".join(f"{METRICS[c]}({c})" for c in cols)
        sql = (f"SELECT (ts / ?) * ? AS b, {aggs} FROM samples WHERE channel = ? AND ts >= ? "
               f"AND ts < ? GROUP BY b ORDER BY b")
        params = (step, step, channel, math.floor(t0), math.ceil(t1))
    t: list[int] = []
    series: dict[str, list[Any]] = {c: [] for c in cols}
    lists = [series[c] for c in cols]
    for row in conn.execute(sql, params):
        t.append(row[0])
        for i, lst in enumerate(lists, 1):
            v = row[i]
            lst.append(round(v, 1) if isinstance(v, float) else v)
    return {"channel": channel, "from": t0, "to": t1, "step": step, "interval": interval,
            "metrics": cols, "t": t, "series": series}


def _rows(cur: sqlite3.Cursor) -> list[JSON]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur]


def query_events(conn: sqlite3.Connection, *, since: float | None = None,
                 until: float | None = None, channel: str | None = None,
                 kinds: list[str] | None = None, limit: int = 1000,
                 order: str = "asc") -> list[JSON]:
    where: list[str] = ["1"]
    params: list[Any] = []
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts < ?")
        params.append(until)
    if channel:
        where.append("channel = ?" if "/" in channel else "device = ?")
        params.append(channel)
    if kinds:
        where.append(f"kind IN ({', '.join('?' * len(kinds))})")
        params.extend(kinds)
    direction = "DESC" if order == "desc" else "ASC"
    cur = conn.execute(
        f"SELECT id, ts, channel, device, kind, detail FROM events WHERE {' AND '.join(where)}"
        f" ORDER BY ts {direction}, id {direction} LIMIT ?", (*params, limit))
    out = _rows(cur)
    for e in out:
        e["detail"] = orjson.loads(e["detail"])
        e["channel"] = e["channel"] or None
    return out


def query_audit(conn: sqlite3.Connection, *, since: float | None = None,
                until: float | None = None, who: str | None = None,
                action: str | None = None, target: str | None = None, limit: int = 1000,
                order: str = "asc") -> list[JSON]:
    where: list[str] = ["1"]
    params: list[Any] = []
    for cond, value in (("ts >= ?", since), ("ts < ?", until), ("who = ?", who),
                        ("target = ?", target)):
        if value is not None:
            where.append(cond)
            params.append(value)
    if action:
        where.append("(action = ? OR action LIKE ?)")
        params.extend((action, action + ".%"))
    direction = "DESC" if order == "desc" else "ASC"
    cur = conn.execute(
        f"SELECT id, ts, who, action, target, before, after FROM audit "
        f"WHERE {' AND '.join(where)} ORDER BY ts {direction}, id {direction} LIMIT ?",
        (*params, limit))
    out = _rows(cur)
    for a in out:
        a["before"] = orjson.loads(a["before"]) if a["before"] else None
        a["after"] = orjson.loads(a["after"]) if a["after"] else None
    return out


def query_alerts(conn: sqlite3.Connection, t0: float, t1: float, *,
                 channel: str | None = None, limit: int = 10_000) -> list[JSON]:
    """Alert episodes that were open at some time in [t0, t1), each with its
    acknowledgement as it stood last (who, when, the note; or re-opened since), the
    way the live list showed it, not only the first one the row keeps."""
    sql = ("SELECT id, channel, device, rule, severity, message, opened, acked, acked_by, "
           "resolved, worst FROM alerts WHERE opened < ? AND (resolved IS NULL OR "
           "resolved >= ?)")
    params: list[Any] = [t1, t0]
    if channel:
        sql += " AND channel = ?" if "/" in channel else " AND device = ?"
        params.append(channel)
    rows = _rows(conn.execute(sql + " ORDER BY opened LIMIT ?", (*params, limit)))
    for a in rows:
        if a["acked"] is not None:
            _last_ack(conn, a)
    return rows


def load_open_alerts(conn: sqlite3.Connection) -> list[JSON]:
    """The episodes still open, each with its acknowledgement as it stands: the last
    ``alert_ack`` or ``alert_reopen`` event decides (the row keeps the first ack)."""
    rows = _rows(conn.execute(
        "SELECT id, channel, device, rule, severity, message, opened, acked, acked_by, "
        "resolved, worst FROM alerts WHERE resolved IS NULL ORDER BY opened"))
    for a in rows:
        if a["acked"] is not None:
            _last_ack(conn, a)
    return rows


def _last_ack(conn: sqlite3.Connection, a: JSON) -> None:
    cur = conn.execute(
        "SELECT ts, kind, detail FROM events WHERE device = ? AND ts >= ? AND kind IN "
        "('alert_ack', 'alert_reopen') ORDER BY ts DESC, id DESC",
        (a["device"] or "", a["opened"]))
    for ts, kind, text in cur:
        detail = orjson.loads(text)
        if not isinstance(detail, dict) or detail.get("id") != a["id"]:
            continue
        if kind == "alert_ack":
            a.update(acked=ts, acked_by=detail.get("by") or a["acked_by"],
                     ack_note=detail.get("note"))
        else:
            a.update(acked=None, acked_by=None, reopened=ts, previous_ack={
                "acked_by": detail.get("after_ack_by")})
        return



def read(path: Path, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a query function on a fresh read-only connection (call in a worker thread)."""
    if not path.exists():
        raise FileNotFoundError(str(path))
    conn = connect(path, readonly=True)
    try:
        return fn(conn, *args, **kwargs)
    finally:
        conn.close()


class Reader:
    """Runs query functions in a worker thread, each on a fresh read-only connection."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def query(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(read, self.path, fn, *args, **kwargs)
