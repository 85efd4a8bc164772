"""HTTP endpoints for history, events, the show report, the audit trail and alerts.

Reads are open like the rest of the API; acknowledging an alert needs an operator token.
Every query runs in a worker thread on its own read connection, so a slow disk slows the
answer, never the event loop. JSON by default; ``?format=csv`` or ``Accept: text/csv``
gives CSV for history, events, audit and the report.

Times (``from``, ``to``, ``since``, ``until``) accept unix seconds, ISO 8601
(``2026-11-22T20:00:00Z``; without an offset: the server's local time), ``now``, or an
age such as ``6h`` / ``-6h`` / ``90m`` / ``2d`` meaning that long before now.
"""

from __future__ import annotations

import csv
import io
import math
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from micboardd.history import (
    History,
    choose_step,
    history_for,
    query_alerts,
    query_audit,
    query_events,
    query_history,
    query_report,
    resolve_metrics,
)
from micboardd.http import DAEMON, authorize, error, json_response

if TYPE_CHECKING:
    from micboardd.daemon import Daemon

JSON = dict[str, Any]
DEFAULT_SPAN = 6 * 3600.0
MAX_TIME = 4102444800.0  # 2100-01-01
MAX_LIMIT = 10_000
_AGE = re.compile(r"^-?(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class BadQuery(ValueError):
    pass


def parse_time(text: str | None, now: float, default: float | None = None) -> float | None:
    """Unix seconds from a query value (see the module doc); BadQuery when unreadable
    or outside 1970..2100."""
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


def _int(q: Any, name: str, default: int, lo: int, hi: int) -> int:
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


def _range(q: Any, now: float, span: float = DEFAULT_SPAN) -> tuple[float, float]:
    t1 = parse_time(q.get("to"), now, now)
    assert t1 is not None
    t0 = parse_time(q.get("from"), now, t1 - span)
    assert t0 is not None
    if t0 >= t1:
        raise BadQuery("from must be before to")
    return t0, t1


def wants_csv(request: web.Request) -> bool:
    fmt = request.query.get("format")
    if fmt:
        if fmt not in ("csv", "json"):
            raise BadQuery("format must be json or csv")
        return fmt == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def csv_response(header: list[str], rows: list[list[Any]], filename: str) -> web.Response:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(["" if v is None else v for v in r] for r in rows)
    return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _history(request: web.Request) -> History:
    h = history_for(request.app[DAEMON])
    if h is None:
        raise web.HTTPServiceUnavailable(reason="history is not enabled")
    return h


async def _query(h: History, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await h.query(fn, *args, **kwargs)
    except FileNotFoundError:
        raise web.HTTPServiceUnavailable(reason="the history database does not exist "
                                                "yet") from None
    except Exception as exc:
        import sqlite3

        if isinstance(exc, sqlite3.Error):
            raise web.HTTPServiceUnavailable(reason=f"history database: {exc}") from None
        raise


def _channel_info(d: Daemon, key: str) -> JSON:
    ch = d.store.channels.get(key)
    slot = next((s for s in d.store.slots if s.get("channel") == key), None)
    return {"name": ch["name"] if ch else None,
            "slot": slot.get("slot") if slot else None,
            "label": (slot.get("label_name") or slot.get("label_id")) if slot else None,
            "group": slot.get("group") if slot else None}


# ------------------------------------------------------------------------- handlers


async def get_history(request: web.Request) -> web.StreamResponse:
    h = _history(request)
    q = request.query
    key = f"{request.match_info['device']}/{request.match_info['number']}"
    try:
        metrics = resolve_metrics(q.get("metric") or q.get("metrics"))
        t0, t1 = _range(q, time.time())
        step_raw = q.get("step")
        step_in = None
        if step_raw:
            try:
                step_in = float(step_raw.rstrip("s"))
            except ValueError:
                raise BadQuery("step must be seconds") from None
            if not math.isfinite(step_in) or step_in <= 0:
                raise BadQuery("step must be a positive number of seconds")
        csv_out = wants_csv(request)
    except (BadQuery, ValueError) as exc:
        return error(400, str(exc))
    interval = h.recorder.interval
    step = choose_step(t0, t1, interval, step_in)
    data: JSON = await _query(h, query_history, key, metrics, t0, t1, step, interval)
    if csv_out:
        cols = data["metrics"]
        rows = [[t, _iso(t), *(data["series"][c][i] for c in cols)]
                for i, t in enumerate(data["t"])]
        return csv_response(["ts", "time", *cols], rows,
                            f"history-{key.replace('/', '-')}.csv")
    data.update(_channel_info(request.app[DAEMON], key))
    return json_response(data)


def _event_filters(request: web.Request) -> JSON:
    q = request.query
    now = time.time()
    kinds = [k for k in (q.get("kind") or "").split(",") if k]
    order = q.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadQuery("order must be asc or desc")
    return {"since": parse_time(q.get("since") or q.get("from"), now),
            "until": parse_time(q.get("until") or q.get("to"), now),
            "kinds": kinds or None, "channel": q.get("channel") or None,
            "limit": _int(q, "limit", 1000, 1, MAX_LIMIT), "order": order}


async def get_events(request: web.Request) -> web.StreamResponse:
    h = _history(request)
    try:
        f = _event_filters(request)
        csv_out = wants_csv(request)
    except BadQuery as exc:
        return error(400, str(exc))
    events: list[JSON] = await _query(h, query_events, **f)
    if csv_out:
        rows = [[e["id"], e["ts"], _iso(e["ts"]), e["channel"], e["device"], e["kind"],
                 orjson.dumps(e["detail"]).decode()] for e in events]
        return csv_response(["id", "ts", "time", "channel", "device", "kind", "detail"],
                            rows, "events.csv")
    return json_response({"events": events, "count": len(events),
                          "truncated": len(events) >= f["limit"]})


async def get_audit(request: web.Request) -> web.StreamResponse:
    h = _history(request)
    q = request.query
    try:
        now = time.time()
        order = q.get("order", "asc")
        if order not in ("asc", "desc"):
            raise BadQuery("order must be asc or desc")
        f: JSON = {"since": parse_time(q.get("since") or q.get("from"), now),
                   "until": parse_time(q.get("until") or q.get("to"), now),
                   "who": q.get("who") or None, "action": q.get("action") or None,
                   "target": q.get("target") or None,
                   "limit": _int(q, "limit", 1000, 1, MAX_LIMIT), "order": order}
        csv_out = wants_csv(request)
    except BadQuery as exc:
        return error(400, str(exc))
    entries: list[JSON] = await _query(h, query_audit, **f)
    if csv_out:
        rows = [[a["id"], a["ts"], _iso(a["ts"]), a["who"], a["action"], a["target"],
                 orjson.dumps(a["before"]).decode(), orjson.dumps(a["after"]).decode()]
                for a in entries]
        return csv_response(["id", "ts", "time", "who", "action", "target", "before",
                             "after"], rows, "audit.csv")
    return json_response({"audit": entries, "count": len(entries),
                          "truncated": len(entries) >= f["limit"]})


async def get_report(request: web.Request) -> web.StreamResponse:
    h = _history(request)
    try:
        t0, t1 = _range(request.query, time.time(), span=12 * 3600.0)
        csv_out = wants_csv(request)
    except BadQuery as exc:
        return error(400, str(exc))
    rep: JSON = await _query(h, query_report, t0, t1)
    d = request.app[DAEMON]
    for c in rep["channels"]:
        c.update(_channel_info(d, c["channel"]))
    if csv_out:
        header = ["channel", "name", "slot", "label", "group", "on_air_s",
                  "battery_start_bars", "battery_end_bars", "battery_used_bars",
                  "battery_start_minutes", "battery_end_minutes", "battery_used_minutes",
                  "battery_swaps", "rf_worst_pct", "rf_worst_at", "rf_worst_rssi_dbm",
                  "rf_avg_pct", "audio_max_pct", "alerts", "alerts_by_rule"]
        rows = []
        for c in rep["channels"]:
            b, rf = c["battery"], c["rf"]
            rows.append([c["channel"], c["name"], c["slot"], c["label"], c["group"],
                         c["on_air_s"], b["start_bars"], b["end_bars"], b["used_bars"],
                         b["start_minutes"], b["end_minutes"], b["used_minutes"], b["swaps"],
                         rf["worst_pct"], _iso(rf["worst_at"]), rf["worst_rssi_dbm"],
                         rf["avg_pct"], c["audio"]["max_pct"], c["alerts"]["total"],
                         " ".join(f"{k}={v}" for k, v in sorted(c["alerts"]["by_rule"].items()))])
        return csv_response(header, rows, "report.csv")
    return json_response(rep)


# -------------------------------------------------------------------------- alerts


def _engine(request: web.Request) -> Any:
    from micboardd.alerts import engine_for

    e = engine_for(request.app[DAEMON])
    if e is None:
        raise web.HTTPServiceUnavailable(reason="alerts are not running")
    return e


async def get_alerts(request: web.Request) -> web.StreamResponse:
    q = request.query
    if q.get("from") or q.get("to"):
        h = _history(request)
        try:
            t0, t1 = _range(q, time.time())
        except BadQuery as exc:
            return error(400, str(exc))
        episodes = await _query(h, query_alerts, t0, t1, channel=q.get("channel") or None)
        return json_response({"alerts": episodes, "from": t0, "to": t1})
    return json_response({"alerts": _engine(request).current()})


async def post_alert_ack(request: web.Request) -> web.StreamResponse:
    who = authorize(request)
    engine = _engine(request)
    note = None
    if request.can_read_body:
        body = await request.read()
        if body.strip():
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return error(400, f"body is not valid JSON: {exc.msg}")
            if not isinstance(data, dict):
                return error(400, "body must be a JSON object")
            note = data.get("note")
            if note is not None and not isinstance(note, str):
                return error(400, "note must be a string")
    aid = request.match_info["id"]
    try:
        before, after = engine.ack(aid, who.name, note)
    except KeyError:
        return error(404, f"no open alert {aid!r}")
    except ValueError as exc:
        return error(409, str(exc))
    if before is not None:
        request.app[DAEMON].audit(who.name, "alert.ack", before, {**after, "target": aid})
    return json_response({"ok": True, "alert": after})


def add_routes(daemon: Daemon, app: web.Application) -> None:
    r = app.router
    r.add_get("/api/history/{device}/{number}", get_history)
    r.add_get("/api/events", get_events)
    r.add_get("/api/audit", get_audit)
    r.add_get("/api/report", get_report)


def add_alert_routes(daemon: Daemon, app: web.Application) -> None:
    r = app.router
    r.add_get("/api/alerts", get_alerts)
    r.add_post("/api/alerts/{id}/ack", post_alert_ack)


__all__ = ["add_alert_routes", "add_routes", "parse_time"]
