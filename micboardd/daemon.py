"""The daemon: configuration, links, store, websocket hub and the HTTP server together."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web

from micboardd.config import Config, ConfigError, DeviceConfig, load_config
from micboardd.drivers import Command, CommandInvalid, CommandUnsupported
from micboardd.hub import Hub
from micboardd.link import Link, LinkError, LinkTicker
from micboardd.store import JSON, Store

log = structlog.get_logger("micboardd.daemon")

CONFIG_POLL_S = 1.0

#: hooks that optional parts (history, alerts, MQTT) register: called on start and stop
Part = Callable[["Daemon"], Awaitable[Callable[[], Awaitable[None]] | None]]


class Daemon:
    def __init__(self, config: Config, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.started_at = time.time()
        self.store = Store(config)
        self.hub = Hub(self.store)
        self.links: dict[str, Link] = {}
        self._ticker = LinkTicker(self.links)
        self.reloads = 0
        self.reload_failures = 0
        self.last_reload_error: str | None = None
        self._config_mtime = self._mtime()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[None]] = set()
        self._stoppers: list[Callable[[], Awaitable[None]]] = []
        self.runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self.stopped = asyncio.Event()
        self.on_reload: list[Callable[[Config], None]] = []
        self.metric_sources: list[Callable[[], list[tuple[str, str, str, float]]]] = []
        self.audit_sinks: list[Callable[[str, str, Any, Any], None]] = []

    @property
    def state_dir(self) -> Path:
        d = self.config.state_dir or os.environ.get("STATE_DIRECTORY") or "state"
        return Path(d.split(":")[0])

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        from micboardd.http import make_app

        self.state_dir.mkdir(parents=True, exist_ok=True)
        app = make_app(self)
        from micboardd.parts import add_routes

        add_routes(self, app)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.http.host, self.config.http.port,
                           reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self.runner.cleanup()
            self.runner = None
            raise
        # links only once the port is ours: a daemon that cannot serve should not connect
        for d in self.config.devices:
            if d.enabled:
                self._start_link(d)
        for sock in getattr(site._server, "sockets", None) or ():
            self.http_port = int(sock.getsockname()[1])
            break
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self._ticker.start()
        log.info("started", http=f"http://{self.config.http.host}:{self.http_port}",
                 devices=len(self.links))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        self._ticker.stop()
        for stop in reversed(self._stoppers):
            with contextlib.suppress(Exception):
                await stop()
        await asyncio.gather(*(link.stop() for link in self.links.values()),
                             return_exceptions=True)
        self.links.clear()
        for c in list(self.hub.clients):
            with contextlib.suppress(Exception):
                await c.ws.close()
        if self.runner is not None:
            await self.runner.cleanup()
        self.hub.close()
        self.stopped.set()
        log.info("stopped")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def add_stopper(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._stoppers.append(fn)

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        self._spawn(self._signal(sig))

    async def _signal(self, sig: signal.Signals) -> None:
        log.info("signal", signal=sig.name)
        await self.stop()

    async def _housekeeping(self) -> None:
        last_mtime_check = 0.0
        while True:
            await asyncio.sleep(1.0)
            self.store.sweep()
            now = time.monotonic()
            if self.config_path is not None and now - last_mtime_check >= CONFIG_POLL_S:
                last_mtime_check = now
                m = self._mtime()
                if m != self._config_mtime:
                    self._config_mtime = m
                    log.info("config_changed_on_disk", path=str(self.config_path))
                    self.reload()

    def _mtime(self) -> float | None:
        if self.config_path is None:
            return None
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return None

    # -- links ------------------------------------------------------------------------

    def _start_link(self, d: DeviceConfig) -> None:
        link = Link(d, self.store, self.config.status)
        self.links[d.id] = link
        link.start()

    def reload(self) -> bool:
        """Re-read the configuration file; a bad file keeps the running configuration."""
        if self.config_path is None:
            return False
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            self.reload_failures += 1
            self.last_reload_error = str(exc)
            log.error("config_reload_failed", path=str(self.config_path),
                      error=str(exc), kept="running configuration")
            return False
        self.apply_config(new)
        return True

    def apply_config(self, new: Config) -> None:
        old = {d.id: d for d in self.config.devices if d.enabled}
        wanted = {d.id: d for d in new.devices if d.enabled}
        self.config = new
        removed = [i for i in old if i not in wanted]
        changed = [i for i in wanted if i in old and old[i] != wanted[i]]
        added = [i for i in wanted if i not in old]
        for i in removed + changed:
            link = self.links.pop(i, None)
            if link is not None:
                self._spawn(link.stop())
        for i in changed:
            self.store.remove_device(i)  # its channels may differ now
        self.store.reconfigure(new)
        for i in changed + added:
            self._start_link(wanted[i])
        for link in self.links.values():
            link.status = new.status
        self.reloads += 1
        self.last_reload_error = None
        for fn in self.on_reload:
            fn(new)
        log.info("config_applied", added=added, removed=removed, changed=changed,
                 unchanged=len(wanted) - len(added) - len(changed))

    # -- control ----------------------------------------------------------------------

    async def run_command(self, who: str, device_id: str, channel: int | None, kind: Any,
                          value: Any, **audit_extra: Any) -> tuple[int, JSON]:
        """Validate, send, wait for the device's report, audit: the one command path
        behind REST, the websocket and MQTT. Returns an HTTP-style status and a body
        (``{"ok": True, "state": ...}`` or ``{"error": ...}``)."""
        from micboardd.drivers import COMMAND_KINDS
        from micboardd.link import CommandRefused, CommandTimeout, LinkDown

        if kind not in COMMAND_KINDS:
            return 400, {"error": f"kind must be one of {', '.join(COMMAND_KINDS)}"}
        if self.config.http.monitor_only:
            return 403, {"error": "this daemon is in monitor (read-only) mode"}
        if device_id not in self.links:
            return 404, {"error": f"no device {device_id!r}"}
        key = device_id if channel is None else f"{device_id}/{channel}"
        before = self.store.channels.get(key) if channel is not None else \
            self.store.devices.get(key)
        before = copy.deepcopy(before) if before else None  # nested: tx/rf/audio change
        status = 200
        body: JSON = {}
        try:
            state = await self.command(device_id, Command(kind, channel, value))
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
        self.audit(who, f"command.{kind}", before,
                   {"target": key, "value": value, "outcome": outcome, **audit_extra})
        return status, body

    async def command(self, device_id: str, cmd: Command) -> JSON:
        """Run a control command; returns the state the device reported back."""
        link = self.links.get(device_id)
        if link is None:
            raise KeyError(device_id)
        await link.command(cmd)
        if cmd.channel is None:
            return dict(self.store.devices[device_id])
        return dict(self.store.channels[f"{device_id}/{cmd.channel}"])

    def extra_metrics(self) -> list[tuple[str, str, str, float]]:
        """(name, type, help, value) from optional parts (history, MQTT)."""
        out: list[tuple[str, str, str, float]] = []
        for fn in self.metric_sources:
            out.extend(fn())
        return out

    # -- audit -----------------------------------------------------------------------

    def audit(self, who: str, action: str, before: Any, after: Any) -> None:
        """Record a change. The history part replaces this with a database write; the
        structured log always gets it. Never raises: the action already happened."""
        try:
            log.info("audit", who=who, action=action, before=before, after=after)
            for sink in self.audit_sinks:
                sink(who, action, before, after)
        except Exception:
            log.exception("audit_failed", who=who, action=action)

    # -- layout editing -----------------------------------------------------------------

    def save_layout(self, slots: list[JSON], groups: list[JSON]) -> Config:
        """Validate and persist slots and groups (into the config file when there is one),
        then apply them. Raises ConfigError on invalid input."""
        from micboardd.config import parse_config

        raw: JSON
        if self.config_path is not None:
            raw = orjson.loads(self.config_path.read_bytes())
        else:
            raw = self.config.model_dump(exclude_none=True)
        raw["slots"] = slots
        raw["groups"] = groups
        data = orjson.dumps(raw, option=orjson.OPT_INDENT_2)
        new = parse_config(data, self.config_path or "<layout>")
        if self.config_path is not None:
            tmp = self.config_path.with_suffix(self.config_path.suffix + ".tmp")
            tmp.write_bytes(data + b"\n")
            os.replace(tmp, self.config_path)
            self._config_mtime = self._mtime()
        self.apply_config(new)
        return new


__all__ = ["CommandInvalid", "CommandUnsupported", "Daemon", "LinkError", "Part"]
