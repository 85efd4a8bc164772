"""The alert engine's memory in the history: every transition of an episode as an
``alerts`` row (upserted) and an ``alert_*`` event, and the episodes still open when the
daemon starts again (taken up under the same id instead of raised twice).

The row keeps an episode's first acknowledgement (``acked``, ``acked_by``); each
acknowledgement is also an ``alert_ack`` event (``by``: the token's name, ``note``), and
an episode that got worse after one is an ``alert_reopen`` event (``after_ack_by``). The
last of these two decides whether an episode taken up after a restart is acknowledged,
and what the history view and the show report say of it.

The alerts part knows this only by its shape (``record``, ``open_episodes``,
``episodes``); the daemon hands it over.
"""

from __future__ import annotations

import time

from micboardd.history.queries import Reader, load_open_alerts, query_alerts
from micboardd.history.recorder import Recorder
from micboardd.state import JSON

_TS = {"open": "opened", "ack": "acked", "reopen": "reopened", "resolve": "resolved"}


class AlertJournal:
    def __init__(self, recorder: Recorder, reader: Reader) -> None:
        self.recorder = recorder
        self.reader = reader

    def record(self, transition: str, alert: JSON) -> None:
        """One transition: ``open``, ``update``, ``ack`` or ``resolve``."""
        rec = self.recorder
        rec.alert(alert)
        if transition == "update":
            return
        ts = alert.get(_TS[transition])
        detail = {"id": alert["id"], "rule": alert["rule"], "severity": alert["severity"],
                  "message": alert["message"],
                  "by": alert["acked_by"] if transition == "ack" else None}
        if transition == "ack":
            detail["note"] = alert.get("ack_note")
        elif transition == "reopen":
            detail["after_ack_by"] = (alert.get("previous_ack") or {}).get("acked_by")
        rec.event(ts if ts is not None else time.time(), f"alert_{transition}", detail,
                  alert["channel"], alert["device"])

    async def open_episodes(self) -> list[JSON]:
        episodes: list[JSON] = await self.reader.query(load_open_alerts)
        return episodes

    async def episodes(self, t0: float, t1: float, channel: str | None) -> list[JSON]:
        """Episodes that were open at some time in [t0, t1)."""
        found: list[JSON] = await self.reader.query(query_alerts, t0, t1, channel=channel)
        return found
