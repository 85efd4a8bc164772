"""The shape every optional part has (history, alerts, MQTT), the way every Home
Assistant integration has the same two doors.

The daemon (the composition root) builds each part with the narrow things it needs
(the store, the configuration, the audit trail, another part's journal) and then:

1. registers ``endpoints()`` with the HTTP app before the server starts;
2. awaits ``start()`` once the port is bound, before the links connect;
3. calls ``reconfigure(config)`` after each applied reload;
4. adds ``metrics()`` to ``/metrics`` at every scrape;
5. awaits ``stop()`` on shutdown, in reverse order.

A part never imports another part or the daemon.
"""

from __future__ import annotations

from typing import Protocol

from micboardd.config import Config
from micboardd.server import Endpoint, Metric


class Part(Protocol):
    name: str

    def endpoints(self) -> list[Endpoint]: ...
    async def start(self) -> None: ...
    def reconfigure(self, config: Config) -> None: ...
    def metrics(self) -> list[Metric]: ...
    async def stop(self) -> None: ...
