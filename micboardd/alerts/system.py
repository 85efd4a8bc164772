"""Alerts about the daemon itself (the history database's disk is full): raised and
cleared by the daemon, pushed like every other episode (``alerts`` in the state, so the
dashboard's list and TV banner show them) and acknowledged through the same endpoint.
They have no channel and no device; ``subject`` is ``"micboardd"``. They are not kept in
the history (it is usually what is broken)."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from micboardd.alerts.engine import SECTION
from micboardd.alerts.episodes import UNACKED, acknowledge
from micboardd.state import JSON, Store

log = structlog.get_logger("micboardd.alerts")

SUBJECT = "micboardd"


class SystemAlerts:
    def __init__(self, store: Store, keep_resolved_s: Callable[[], float]) -> None:
        self.store = store
        self.keep_resolved_s = keep_resolved_s
        self._open: dict[str, JSON] = {}  # rule -> episode
        self._resolved: dict[str, tuple[JSON, float]] = {}  # id -> (episode, remove at)

    def raise_alert(self, rule: str, message: str, severity: str = "critical") -> None:
        """Open (or update the message of) the episode of ``rule``."""
        a = self._open.get(rule)
        if a is not None:
            if a["message"] != message:
                self._put(rule, {**a, "message": message})
            return
        now = round(self.store.clock(), 3)
        a = {"id": f"{SUBJECT}~{rule}~{int(now * 1000)}", "rule": rule, "subject": SUBJECT,
             "channel": None, "device": None, "name": None, "slot": None, "label": None,
             "group": None, "severity": severity, "state": "open", "message": message,
             "value": None, "worst": None, "opened": now, **UNACKED, "resolved": None}
        log.warning("alert_open", id=a["id"], rule=rule, subject=SUBJECT, message=message)
        self._put(rule, a)

    def clear(self, rule: str) -> None:
        a = self._open.pop(rule, None)
        if a is None:
            return
        now = self.store.clock()
        a = {**a, "state": "resolved", "resolved": round(now, 3)}
        log.info("alert_resolved", id=a["id"], rule=rule, subject=SUBJECT, reason="cleared")
        self._resolved[a["id"]] = (a, now + self.keep_resolved_s())
        self.store.put(SECTION, a["id"], a)

    def _put(self, rule: str, a: JSON) -> None:
        self._open[rule] = a
        self.store.put(SECTION, a["id"], a)

    def ack(self, aid: str, who: str, note: str | None) -> tuple[JSON | None, JSON]:
        """As :meth:`AlertEngine.ack`: KeyError when unknown, ValueError when resolved."""
        if aid in self._resolved:
            raise ValueError("the alert is already resolved")
        rule = next((r for r, a in self._open.items() if a["id"] == aid), None)
        if rule is None:
            raise KeyError(aid)
        before = self._open[rule]
        after = acknowledge(before, who, note, self.store.clock())
        if after is None:
            return None, before
        self._put(rule, after)
        return before, after

    def tick(self) -> None:
        now = self.store.clock()
        for aid, (_, until) in list(self._resolved.items()):
            if now >= until:
                del self._resolved[aid]
                self.store.put(SECTION, aid, None)

    def current(self) -> list[JSON]:
        return [*self._open.values(), *(a for a, _ in self._resolved.values())]
