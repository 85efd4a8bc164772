"""HTTP endpoints for alerts: the current episodes (or, with a time range, the stored
ones) and acknowledging one, or several at once: by id, a slot group's or all (operator;
audited; idempotent: an episode already acknowledged is left as it is and not audited
again)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Annotated, Any, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypedDict

from micboardd.alerts.engine import AlertEngine
from micboardd.alerts.episodes import MAX_NOTE, in_group
from micboardd.alerts.system import SystemAlerts
from micboardd.audit import AuditTrail
from micboardd.server.auth import authorize
from micboardd.server.endpoints import Endpoint, parse_body
from micboardd.server.params import BadQuery, RangeParam, TextParam, time_range
from micboardd.server.responses import error, json_response
from micboardd.state import JSON


class StoredEpisodes(Protocol):
    def episodes(self, t0: float, t1: float, channel: str | None
                 ) -> Awaitable[list[JSON]]: ...


class AlertsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: RangeParam = Field(None, alias="from")
    to: RangeParam = Field(None)
    channel: TextParam = Field(None, description="channel key or device id")


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=MAX_NOTE)


class AckManyBody(BaseModel):
    """Which open alerts to acknowledge: exactly one of ``ids``, ``group`` or ``all``."""

    # _one_selection, in the JSON Schema: a null ids or group, or all: false, is as if absent
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["ids"], "properties": {"ids": {"type": "array"}}},
        {"required": ["group"], "properties": {"group": {"type": "string"}}},
        {"required": ["all"], "properties": {"all": {"const": True}}}]})

    ids: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        None, max_length=1000, description="these alerts (what the page shows)")
    group: str | None = Field(None, min_length=1, max_length=64, description=(
        "the open alerts of this slot group's channels and of the receivers they are on"))
    all: bool = Field(False, description="every open alert, micboardd's own included")
    note: str | None = Field(None, max_length=MAX_NOTE,
                             description="kept with each acknowledgement")

    @model_validator(mode="after")
    def _one_selection(self) -> AckManyBody:
        if (self.ids is not None) + (self.group is not None) + self.all != 1:
            raise ValueError("give exactly one of ids, group or all: true")
        return self


class AckManyResult(TypedDict):
    ok: bool
    #: the alerts this request acknowledged (as they are now)
    acknowledged: list[dict[str, Any]]
    #: ids that were acknowledged before (left as they were), resolved, or not known
    already: list[str]
    resolved: list[str]
    unknown: list[str]


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

    def _ack(self, aid: str, who: str, note: str | None) -> tuple[JSON | None, JSON]:
        """Acknowledge one episode (the engine's, else micboardd's own) and audit it
        when it changed. KeyError: unknown; ValueError: resolved."""
        try:
            before, after = self.engine.ack(aid, who, note)
        except KeyError:
            if self.system is None:
                raise
            before, after = self.system.ack(aid, who, note)
        if before is not None:
            self.audit.record(who, "alert.ack", before, {**after, "target": aid})
        return before, after

    async def post_alert_ack(self, request: web.Request) -> web.StreamResponse:
        who = await authorize(request)
        body = await parse_body(request, AckBody, required=False)
        note = body.note if body is not None else None
        aid = request.match_info["id"]
        try:
            _, after = self._ack(aid, who.name, note)
        except KeyError:
            return error(404, f"no open alert {aid!r}")
        except ValueError as exc:
            return error(409, str(exc))
        return json_response({"ok": True, "alert": after})

    def _open_ids(self, group: str | None) -> list[str]:
        found = self.engine.current()
        if group is None and self.system is not None:
            found = [*self.system.current(), *found]
        slots = self.engine.store.slots
        return [a["id"] for a in found if a["state"] == "open"
                and (group is None or in_group(a, group, slots))]

    async def post_alerts_ack(self, request: web.Request) -> web.StreamResponse:
        who = await authorize(request)
        body = await parse_body(request, AckManyBody)
        assert body is not None
        ids = body.ids if body.ids is not None else self._open_ids(body.group)
        out: AckManyResult = {"ok": True, "acknowledged": [], "already": [], "resolved": [],
                              "unknown": []}
        for aid in dict.fromkeys(ids):
            try:
                before, after = self._ack(aid, who.name, body.note)
            except KeyError:
                out["unknown"].append(aid)
            except ValueError:
                out["resolved"].append(aid)
            else:
                if before is None:
                    out["already"].append(aid)
                else:
                    out["acknowledged"].append(after)
        return json_response(out)

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("GET", "/api/alerts", self.get_alerts,
                     "Current alert episodes; with from/to: stored episodes in that range",
                     query=AlertsQuery, errors=(400, 503), tag="alerts"),
            Endpoint("POST", "/api/alerts/{id}/ack", self.post_alert_ack,
                     "Acknowledge an alert episode (operator)", body=AckBody,
                     body_required=False, path_params=AlertPath, errors=(404, 409, 413),
                     write=True, tag="alerts"),
            Endpoint("POST", "/api/alerts/ack", self.post_alerts_ack,
                     "Acknowledge several open alerts at once: by id, a slot group's, or all "
                     "(operator); each is audited once, one already acknowledged is left "
                     "as it is", response=AckManyResult, body=AckManyBody, errors=(400, 413),
                     write=True, tag="alerts"),
        ]
