"""The MQTT part: runs a bridge while ``mqtt`` is configured; a reload that changes the
section restarts it, one that removes it stops it."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

import structlog

from micboardd.config import Config, MqttConfig
from micboardd.mqtt.commands import RunCommand
from micboardd.server import Endpoint, Metric
from micboardd.state import Store

if TYPE_CHECKING:
    from micboardd.mqtt.bridge import MqttBridge

log = structlog.get_logger("micboardd.mqtt")


def bridge_class() -> type[MqttBridge]:
    """The bridge, imported when a broker is configured: aiomqtt and paho cost start-up
    time and memory a daemon without MQTT (the default) does not need
    (tests/test_architecture.py, DEFERRED_IMPORTS)."""
    cls: type[MqttBridge] = importlib.import_module("micboardd.mqtt.bridge").MqttBridge
    return cls


class MqttPart:
    """The normalized state on an MQTT broker, Home Assistant discovery, commands and
    other sites' channels (docs/mqtt.md)."""

    name = "mqtt"

    def __init__(self, store: Store, config: Config, run_command: RunCommand) -> None:
        self.store = store
        self.config = config
        self.run_command = run_command
        self.bridge: MqttBridge | None = None
        self._switching: asyncio.Task[None] | None = None

    def endpoints(self) -> list[Endpoint]:
        return []

    async def start(self) -> None:
        await self._apply(self.config.mqtt)

    async def _apply(self, cfg: MqttConfig | None) -> None:
        if self.bridge is not None and self.bridge.cfg == cfg:
            return
        if self.bridge is not None:
            await self.bridge.stop()
            self.bridge = None
        if cfg is not None:
            self.bridge = bridge_class()(self.store, cfg, self.run_command)
            self.bridge.start()
            log.info("mqtt_bridge_started", broker=cfg.safe_url, site=cfg.site,
                     discovery=cfg.discovery, commands=cfg.commands,
                     remote_sites=cfg.remote_sites)

    def reconfigure(self, new: Config) -> None:
        self.config = new
        bridge = self.bridge
        if bridge is not None and bridge.cfg == new.mqtt:
            return  # Store.reconfigure leaves remote (site:device) devices alone
        if bridge is None and new.mqtt is None:
            return
        prev = self._switching

        async def switch() -> None:
            if prev is not None:
                await asyncio.gather(prev, return_exceptions=True)
            await self._apply(self.config.mqtt)

        self._switching = asyncio.ensure_future(switch())

    def metrics(self) -> list[Metric]:
        return self.bridge.metrics() if self.bridge is not None else []

    async def stop(self) -> None:
        if self._switching is not None:
            await asyncio.gather(self._switching, return_exceptions=True)
        await self._apply(None)
