"""The audit trail: who changed what. Every change (a command, a layout edit, an alert
acknowledged, a configuration applied) goes to the structured log and to every sink
(the history part's ``audit`` table when it runs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("micboardd.audit")

#: (who, action, before, after)
AuditSink = Callable[[str, str, Any, Any], None]


class AuditTrail:
    def __init__(self) -> None:
        self.sinks: list[AuditSink] = []

    def record(self, who: str, action: str, before: Any, after: Any) -> None:
        """Never raises: the action already happened."""
        try:
            log.info("audit", who=who, action=action, before=before, after=after)
            for sink in self.sinks:
                sink(who, action, before, after)
        except Exception:
            log.exception("audit_failed", who=who, action=action)
