"""Optional parts of the daemon (history, alerts, MQTT) plug in here.

Each part is a module with ``async def start(daemon) -> stop | None`` and, optionally,
``add_routes(daemon, app)`` (called before the HTTP server starts, so the part can add
its endpoints) and ``add_subcommands(subparsers)``. The core (links, store, hub, HTTP)
knows none of them.
"""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from micboardd.daemon import Daemon

#: module names, started in this order
PARTS: tuple[str, ...] = ("micboardd.history", "micboardd.alerts", "micboardd.mqtt")


async def start_parts(daemon: Daemon) -> None:
    for name in PARTS:
        mod = importlib.import_module(name)
        stop = await mod.start(daemon)
        if stop is not None:
            daemon.add_stopper(stop)


def add_routes(daemon: Daemon, app: Any) -> None:
    for name in PARTS:
        fn = getattr(importlib.import_module(name), "add_routes", None)
        if fn is not None:
            fn(daemon, app)


def add_subcommands(sub: Any) -> None:
    for name in PARTS:
        mod = importlib.import_module(name)
        fn = getattr(mod, "add_subcommands", None)
        if fn is not None:
            fn(sub)


__all__ = ["PARTS", "add_subcommands", "argparse", "start_parts"]
