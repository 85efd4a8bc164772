"""The alerts part: the engine over the live state, its timer, and where its episodes are
kept (the history's journal, when history runs)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import structlog

from micboardd.alerts.api import AlertsApi
from micboardd.alerts.engine import AlertEngine
from micboardd.alerts.system import SystemAlerts
from micboardd.audit import AuditTrail
from micboardd.config import Config
from micboardd.server import Endpoint, Metric
from micboardd.state import JSON, Store

log = structlog.get_logger("micboardd.alerts")

TICK_S = 1.0


class Journal(Protocol):
    """Where episodes are kept across restarts (the history part provides one)."""

    def record(self, transition: str, alert: JSON) -> None: ...
    async def open_episodes(self) -> list[JSON]: ...
    async def episodes(self, t0: float, t1: float, channel: str | None) -> list[JSON]: ...


class AlertsPart:
    """Alert episodes (open -> acknowledged -> resolved) raised from the live state."""

    name = "alerts"

    def __init__(self, store: Store, config: Config, journal: Journal | None,
                 audit: AuditTrail) -> None:
        self.engine = AlertEngine(store, config.alerts)
        #: alerts about the daemon itself, raised by the daemon (the disk is full)
        self.system = SystemAlerts(store, lambda: self.engine.cfg.keep_resolved_s)
        self.journal = journal
        self.api = AlertsApi(self.engine, journal, audit, self.system)
        self._task: asyncio.Task[None] | None = None

    def endpoints(self) -> list[Endpoint]:
        return self.api.endpoints()

    async def start(self) -> None:
        engine = self.engine
        if self.journal is not None:
            try:
                episodes = await self.journal.open_episodes()
            except Exception as exc:  # history trouble never stops alerting
                log.warning("alerts_restore_failed", error=str(exc))
            else:
                engine.restore(episodes)
            engine.listeners.append(self.journal.record)
        engine.attach()
        self._task = asyncio.create_task(self._tick(), name="alerts")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self.engine.tick()
                self.system.tick()
            except Exception:
                log.exception("alerts_tick_failed")

    def reconfigure(self, config: Config) -> None:
        self.engine.reconfigure(config.alerts)

    def metrics(self) -> list[Metric]:
        e = self.engine
        return [
            ("alerts_open", "gauge", "Alert episodes open or acknowledged.", e.open_count),
            ("alerts_opened_total", "counter", "Alert episodes opened.", e.opened_total),
            ("alerts_resolved_total", "counter", "Alert episodes resolved.",
             e.resolved_total),
            ("alerts_acknowledged_total", "counter", "Alert episodes acknowledged.",
             e.acked_total),
            ("alerts_reopened_total", "counter",
             "Acknowledged alert episodes that got worse and opened again.", e.reopened_total),
        ]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.engine.detach()
