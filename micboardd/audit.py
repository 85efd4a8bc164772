"""The audit trail: who changed what. Every change (a command, a layout edit, an alert
acknowledged, a configuration applied) goes to the structured log and to every sink
(the history part's ``audit`` table when it runs).

A sink that can fail to keep what it is given (the history database on a full disk)
says so through ``checks`` (why it cannot write now) and ``syncs`` (wait until what it
was given is written): the command path refuses commands while a check fails and
waits for the syncs before it answers (:mod:`micboardd.control`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger("micboardd.audit")

#: (who, action, before, after)
AuditSink = Callable[[str, str, Any, Any], None]
#: why the trail cannot be written now, or None
AuditCheck = Callable[[], str | None]
#: wait until every record given so far is written
AuditSync = Callable[[], Awaitable[None]]


class AuditTrail:
    def __init__(self) -> None:
        self.sinks: list[AuditSink] = []
        self.checks: list[AuditCheck] = []
        self.syncs: list[AuditSync] = []

    def record(self, who: str, action: str, before: Any, after: Any) -> None:
        """Never raises: the action already happened."""
        try:
            log.info("audit", who=who, action=action, before=before, after=after)
            for sink in self.sinks:
                sink(who, action, before, after)
        except Exception:
            log.exception("audit_failed", who=who, action=action)

    def blocked(self) -> str | None:
        """Why a record made now would not be kept (None: it would)."""
        for check in self.checks:
            try:
                reason = check()
            except Exception as exc:
                reason = f"audit check failed: {exc}"
            if reason:
                return reason
        return None

    async def settled(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait (at most ``timeout`` s) until every record so far is written; False when
        that did not happen in time (the records stay queued)."""
        try:
            async with asyncio.timeout(timeout):
                for sync in list(self.syncs):
                    await sync()
        except TimeoutError:
            return False
        return True
