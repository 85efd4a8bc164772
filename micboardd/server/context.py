"""What the HTTP server needs from the daemon, and nothing more.

The daemon (the composition root) satisfies :class:`DaemonView`; the server never
imports the daemon. Handlers reach it as ``request.app[DAEMON]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from micboardd.config import Config
from micboardd.server.hub import Hub
from micboardd.state import JSON, Store

#: (name, type, help, value) of one Prometheus metric without labels
Metric = tuple[str, str, str, float]


class LayoutNotSaved(Exception):
    """The layout is valid but could not be kept: the configuration file is missing or
    unusable, or the layout file cannot be written. ``str()`` says which and why."""


class LinkView(Protocol):
    """One device link as the server reports it."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def frames(self) -> int: ...
    @property
    def malformed(self) -> int: ...


class DaemonView(Protocol):
    config: Config
    store: Store
    hub: Hub
    started_at: float
    reloads: int
    reload_failures: int
    last_reload_error: str | None
    env_sources: list[str]

    @property
    def links(self) -> Mapping[str, LinkView]: ...

    def audit(self, who: str, action: str, before: Any, after: Any) -> None:
        """Record a change (never raises)."""

    async def run_command(self, who: str, device_id: str, channel: int | None, kind: Any,
                          value: Any, **audit_extra: Any) -> tuple[int, JSON]:
        """The one command path: an HTTP-style status and the body to answer."""

    def save_layout(self, slots: list[JSON], groups: list[JSON]) -> Config:
        """Validate, persist and apply slots and groups; ConfigError when invalid,
        LayoutNotSaved when they cannot be kept."""

    def part_metrics(self) -> list[Metric]:
        """Metrics of the optional parts (history, alerts, MQTT)."""

    def problems(self) -> list[str]:
        """What is degraded right now (the history disk is full ...); empty when all is
        well."""


DAEMON: web.AppKey[DaemonView] = web.AppKey("daemon", DaemonView)


def daemon_of(request: web.Request) -> DaemonView:
    return request.app[DAEMON]
