"""HTTP endpoints for alerts: the current episodes (or, with a time range, the stored
ones) and acknowledging one (operator; audited)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from micboardd.alerts.engine import MAX_NOTE, AlertEngine
from micboardd.alerts.system import SystemAlerts
from micboardd.audit import AuditTrail
from micboardd.server.auth import authorize
from micboardd.server.endpoints import Endpoint, parse_body
from micboardd.server.params import BadQuery, TextParam, TimeParam, time_range
from micboardd.server.responses import error, json_response
from micboardd.state import JSON


class StoredEpisodes(Protocol):
    def episodes(self, t0: float, t1: float, channel: str | None
                 ) -> Awaitable[list[JSON]]: ...


class AlertsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: TimeParam = Field(None, alias="from")
    to: TimeParam = Field(None)
    channel: TextParam = Field(None, description="channel key or device id")


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=MAX_NOTE)


class AlertPath(BaseModel):
    id: str


class AlertsApi:
    def __init__(self, engine: AlertEngine, stored: StoredEpisodes | None,
                 audit: AuditTrail, system: SystemAlerts | None = None) -> None:
        self.engine = engine
        self.stored = stored
        self.audit = audit
        self.system = system

    async def get_alerts(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if not (q.get("from") or q.get("to")):
            system = self.system.current() if self.system is not None else []
            return json_response({"alerts": [*system, *self.engine.current()]})
        if self.stored is None:
            return error(503, "history is not enabled")
        try:
            t0, t1 = time_range(q, time.time())
        except BadQuery as exc:
            return error(400, str(exc))
        episodes = await self.stored.episodes(t0, t1, q.get("channel") or None)
        return json_response({"alerts": episodes, "from": t0, "to": t1})

    async def post_alert_ack(self, request: web.Request) -> web.StreamResponse:
        who = await authorize(request)
        body = await parse_body(request, AckBody, required=False)
        note = body.note if body is not None else None
        aid = request.match_info["id"]
        try:
            try:
                before, after = self.engine.ack(aid, who.name, note)
            except KeyError:
                if self.system is None:
                    raise
                before, after = self.system.ack(aid, who.name, note)
        except KeyError:
            return error(404, f"no open alert {aid!r}")
        except ValueError as exc:
            return error(409, str(exc))
        if before is not None:
            self.audit.record(who.name, "alert.ack", before, {**after, "target": aid})
        return json_response({"ok": True, "alert": after})

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("GET", "/api/alerts", self.get_alerts,
                     "Current alert episodes; with from/to: stored episodes in that range",
                     query=AlertsQuery, errors=(400, 503), tag="alerts"),
            Endpoint("POST", "/api/alerts/{id}/ack", self.post_alert_ack,
                     "Acknowledge an alert episode (operator)", body=AckBody,
                     body_required=False, path_params=AlertPath, errors=(404, 409, 413),
                     write=True, tag="alerts"),
        ]
