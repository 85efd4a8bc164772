"""The one command path behind REST, the websocket and MQTT: validate, send, wait for the
device to report the new value, audit. Answers with an HTTP-style status and a body
(``{"ok": True, "state": ...}`` or ``{"error": ...}``).

The audit row of a command is written before the command is answered, and while the
trail cannot be written (the history database's disk is full) commands are refused
with 503 before they reach a device: a venue must be able to tell who muted a mic.
Monitoring goes on. If the disk fills between the check and the write, the row stays
queued (it is kept and written when space returns) and the answer says
``"audit": "pending"``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from micboardd.audit import AuditTrail
from micboardd.config import Config
from micboardd.drivers import COMMAND_KINDS, Command, CommandInvalid, CommandUnsupported
from micboardd.links import CommandRefused, CommandTimeout, Link, LinkDown
from micboardd.state import JSON, Store

log = structlog.get_logger("micboardd.control")

#: how long a command's answer waits for its audit row to be written
AUDIT_WAIT_S = 5.0


class Commander:
    def __init__(self, links: Mapping[str, Link], store: Store, audit: AuditTrail,
                 config: Callable[[], Config]) -> None:
        self.links = links
        self.store = store
        self.audit = audit
        self._config = config

    async def run(self, who: str, device_id: str, channel: int | None, kind: Any,
                  value: Any, **audit_extra: Any) -> tuple[int, JSON]:
        if kind not in COMMAND_KINDS:
            return 400, {"error": f"kind must be one of {', '.join(COMMAND_KINDS)}"}
        if self._config().http.monitor_only:
            return 403, {"error": "this daemon is in monitor (read-only) mode"}
        if device_id not in self.links:
            return 404, {"error": f"no device {device_id!r}"}
        key = device_id if channel is None else f"{device_id}/{channel}"
        reason = self.audit.blocked()
        if reason is not None:
            log.warning("command_refused", who=who, target=key, kind=kind, reason=reason)
            return 503, {"error": "commands are refused while the audit trail cannot be "
                                  f"written: {reason}"}
        before = self.store.channels.get(key) if channel is not None else \
            self.store.devices.get(key)
        before = copy.deepcopy(before) if before else None  # nested: tx/rf/audio change
        status = 200
        body: JSON = {}
        try:
            state = await self.send(device_id, Command(kind, channel, value))
        except CommandInvalid as exc:
            outcome, status, body = "invalid", 422, {"error": str(exc)}
        except CommandUnsupported as exc:
            outcome, status, body = "unsupported", 422, {"error": str(exc)}
        except LinkDown as exc:
            outcome, status, body = "offline", 503, {"error": str(exc)}
        except CommandRefused as exc:
            outcome, status = "refused", 502
            body = {"error": f"the device refused the command: {exc}"}
        except CommandTimeout as exc:
            outcome, status, body = "timeout", 504, {"error": str(exc)}
        else:
            outcome, body = "ok", {"ok": True, "state": state}
        self.audit.record(who, f"command.{kind}", before,
                          {"target": key, "value": value, "outcome": outcome, **audit_extra})
        if not await self.audit.settled(AUDIT_WAIT_S):
            log.warning("audit_pending", who=who, target=key, kind=kind)
            body = {**body, "audit": "pending"}
        return status, body

    async def send(self, device_id: str, cmd: Command) -> JSON:
        """Run a control command; returns the state the device reported back."""
        link = self.links.get(device_id)
        if link is None:
            raise KeyError(device_id)
        await link.command(cmd)
        if cmd.channel is None:
            return dict(self.store.devices[device_id])
        return dict(self.store.channels[f"{device_id}/{cmd.channel}"])
