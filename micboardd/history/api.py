"""HTTP endpoints for history, events, the show report and the audit trail. Reads are
open like the rest of the API; every query runs in a worker thread on its own read
connection, so a slow disk slows the answer, never the event loop. JSON by default;
``?format=csv`` or ``Accept: text/csv`` gives CSV."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from micboardd.history.queries import (
    METRIC_ALIASES,
    METRICS,
    Reader,
    choose_step,
    query_audit,
    query_events,
    query_history,
    resolve_metrics,
)
from micboardd.history.report import query_report
from micboardd.server.endpoints import Endpoint
from micboardd.server.params import (
    ISSPACE,
    MAX_LIMIT,
    BadQuery,
    FormatParam,
    LimitParam,
    OrderParam,
    RangeParam,
    TextParam,
    TimeParam,
    int_param,
    iso,
    order_param,
    parse_time,
    time_range,
    wants_csv,
)
from micboardd.server.responses import csv_response, error, json_response
from micboardd.state import JSON, Store

_METRIC = "|".join([*METRIC_ALIASES, *METRICS])
# as resolve_metrics reads it: each comma-separated part stripped, empty parts skipped
_PART = rf"[{ISSPACE}]*(({_METRIC})[{ISSPACE}]*)?"
MetricParam = Annotated[str | None, WithJsonSchema({
    "type": "string", "pattern": f"^{_PART}(,{_PART})*$",
    "description": "battery, rf, audio, on_air or column names, comma separated "
                   "(default, or empty: all)"})]
StepParam = Annotated[str | None, WithJsonSchema({
    "type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?s?)?$",
    "description": "seconds per point (default, or 0: about 1000 points)"})]


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class HistoryQuery(_Query):
    metric: MetricParam = Field(None)
    from_: RangeParam = Field(None, alias="from")
    to: RangeParam = Field(None)
    step: StepParam = Field(None)
    format: FormatParam = None


class EventsQuery(_Query):
    since: TimeParam = Field(None)
    until: TimeParam = Field(None)
    channel: TextParam = Field(None, description="channel key (device/n) or device id")
    kind: TextParam = Field(None, description="comma separated kinds: status, tx_on, "
                             "tx_off, battery, rx_up, rx_down, name, alert_open ...")
    limit: LimitParam = None
    order: OrderParam = None
    format: FormatParam = None


class AuditQuery(_Query):
    since: TimeParam = Field(None)
    until: TimeParam = Field(None)
    who: TextParam = Field(None, description="token name")
    action: TextParam = Field(None, description="action or its prefix (command)")
    target: TextParam = Field(None, description="channel key or device id")
    limit: LimitParam = None
    order: OrderParam = None
    format: FormatParam = None


class ReportQuery(_Query):
    from_: RangeParam = Field(None, alias="from")
    to: RangeParam = Field(None)
    format: FormatParam = None


class ChannelPath(BaseModel):
    device: str
    number: str


class HistoryApi:
    """The endpoints, bound to a history reader (None: history is not enabled)."""

    def __init__(self, reader: Reader | None, store: Store,
                 interval: Callable[[], float]) -> None:
        self.reader = reader
        self.store = store
        self.interval = interval

    async def _query(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.reader is None:
            raise web.HTTPServiceUnavailable(reason="history is not enabled")
        try:
            return await self.reader.query(fn, *args, **kwargs)
        except FileNotFoundError:
            raise web.HTTPServiceUnavailable(reason="the history database does not exist "
                                                    "yet") from None
        except sqlite3.Error as exc:
            raise web.HTTPServiceUnavailable(reason=f"history database: {exc}") from None

    def channel_info(self, key: str) -> JSON:
        ch = self.store.channels.get(key)
        slot = next((s for s in self.store.slots if s.get("channel") == key), None)
        return {"name": ch["name"] if ch else None,
                "slot": slot.get("slot") if slot else None,
                "label": (slot.get("label_name") or slot.get("label_id")) if slot else None,
                "group": slot.get("group") if slot else None}

    async def get_history(self, request: web.Request) -> web.StreamResponse:
        """Columnar: ``t[]`` and ``series{metric: []}``."""
        q = request.query
        key = f"{request.match_info['device']}/{request.match_info['number']}"
        try:
            metrics = resolve_metrics(q.get("metric") or q.get("metrics"))
            t0, t1 = time_range(q, time.time())
            step_in = _step(q.get("step"))
            csv_out = wants_csv(request)
        except (BadQuery, ValueError) as exc:
            return error(400, str(exc))
        interval = self.interval()
        step = choose_step(t0, t1, interval, step_in)
        data: JSON = await self._query(query_history, key, metrics, t0, t1, step, interval)
        if csv_out:
            cols = data["metrics"]
            rows = [[t, iso(t), *(data["series"][c][i] for c in cols)]
                    for i, t in enumerate(data["t"])]
            return csv_response(["ts", "time", *cols], rows,
                                f"history-{key.replace('/', '-')}.csv")
        data.update(self.channel_info(key))
        return json_response(data)

    async def get_events(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        try:
            now = time.time()
            kinds = [k for k in (q.get("kind") or "").split(",") if k]
            f: JSON = {"since": parse_time(q.get("since") or q.get("from"), now),
                 "until": parse_time(q.get("until") or q.get("to"), now),
                 "kinds": kinds or None, "channel": q.get("channel") or None,
                 "limit": int_param(q, "limit", 1000, 1, MAX_LIMIT), "order": order_param(q)}
            csv_out = wants_csv(request)
        except BadQuery as exc:
            return error(400, str(exc))
        events: list[JSON] = await self._query(query_events, **f)
        if csv_out:
            rows = [[e["id"], e["ts"], iso(e["ts"]), e["channel"], e["device"], e["kind"],
                     orjson.dumps(e["detail"]).decode()] for e in events]
            return csv_response(["id", "ts", "time", "channel", "device", "kind", "detail"],
                                rows, "events.csv")
        return json_response({"events": events, "count": len(events),
                              "truncated": len(events) >= f["limit"]})

    async def get_audit(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        try:
            now = time.time()
            f: JSON = {"since": parse_time(q.get("since") or q.get("from"), now),
                       "until": parse_time(q.get("until") or q.get("to"), now),
                       "who": q.get("who") or None, "action": q.get("action") or None,
                       "target": q.get("target") or None,
                       "limit": int_param(q, "limit", 1000, 1, MAX_LIMIT),
                       "order": order_param(q)}
            csv_out = wants_csv(request)
        except BadQuery as exc:
            return error(400, str(exc))
        entries: list[JSON] = await self._query(query_audit, **f)
        if csv_out:
            rows = [[a["id"], a["ts"], iso(a["ts"]), a["who"], a["action"], a["target"],
                     orjson.dumps(a["before"]).decode(), orjson.dumps(a["after"]).decode()]
                    for a in entries]
            return csv_response(["id", "ts", "time", "who", "action", "target", "before",
                                 "after"], rows, "audit.csv")
        return json_response({"audit": entries, "count": len(entries),
                              "truncated": len(entries) >= f["limit"]})

    async def get_report(self, request: web.Request) -> web.StreamResponse:
        try:
            t0, t1 = time_range(request.query, time.time(), span=12 * 3600.0)
            csv_out = wants_csv(request)
        except BadQuery as exc:
            return error(400, str(exc))
        rep: JSON = await self._query(query_report, t0, t1)
        for c in rep["channels"]:
            c.update(self.channel_info(c["channel"]))
        if csv_out:
            return csv_response(REPORT_COLUMNS, [_report_row(c) for c in rep["channels"]],
                                "report.csv")
        return json_response(rep)

    def endpoints(self) -> list[Endpoint]:
        errors = (400, 503)
        return [
            Endpoint("GET", "/api/history/{device}/{number}", self.get_history,
                     "Downsampled history of one channel", query=HistoryQuery,
                     path_params=ChannelPath, errors=errors, csv=True, tag="history"),
            Endpoint("GET", "/api/events", self.get_events,
                     "Events: status, tx_on/off, battery, rx_up/down, name, alert_* ...",
                     query=EventsQuery, errors=errors, csv=True, tag="history"),
            Endpoint("GET", "/api/audit", self.get_audit,
                     "Audit trail: configuration changes and control commands, who and what",
                     query=AuditQuery, errors=errors, csv=True, tag="history"),
            Endpoint("GET", "/api/report", self.get_report,
                     "Show report per channel: battery used, time on air, worst RF, alerts",
                     query=ReportQuery, errors=errors, csv=True, tag="history"),
        ]


def _step(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        step = float(raw.rstrip("s"))
    except ValueError:
        raise BadQuery("step must be seconds") from None
    if not math.isfinite(step) or step < 0:
        raise BadQuery("step must be a positive number of seconds")
    return step or None  # 0: choose one


REPORT_COLUMNS = [
    "channel", "name", "slot", "label", "group", "on_air_s", "battery_start_bars",
    "battery_end_bars", "battery_used_bars", "battery_start_minutes", "battery_end_minutes",
    "battery_used_minutes", "battery_swaps", "rf_worst_pct", "rf_worst_at",
    "rf_worst_rssi_dbm", "rf_avg_pct", "audio_max_pct", "alerts", "alerts_by_rule",
    "status_worst", "status_worst_label", "status_worst_at",
]


def _report_row(c: JSON) -> list[Any]:
    b, rf = c["battery"], c["rf"]
    return [c["channel"], c["name"], c["slot"], c["label"], c["group"], c["on_air_s"],
            b["start_bars"], b["end_bars"], b["used_bars"], b["start_minutes"],
            b["end_minutes"], b["used_minutes"], b["swaps"], rf["worst_pct"],
            iso(rf["worst_at"]), rf["worst_rssi_dbm"], rf["avg_pct"], c["audio"]["max_pct"],
            c["alerts"]["total"],
            " ".join(f"{k}={v}" for k, v in sorted(c["alerts"]["by_rule"].items())),
            c["status"]["worst"], c["status"]["worst_label"], iso(c["status"]["worst_at"])]
