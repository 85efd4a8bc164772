"""The daemon: the composition root. It builds the store, the hub, the links, the command
path, the audit trail, the HTTP server and each optional part, hands each the narrow
things it needs, and runs them: start in order, reload, stop in reverse.

The flow of one frame and of one command through what is built here is described in
docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web

from micboardd.alerts import AlertsPart
from micboardd.audit import AuditTrail
from micboardd.config import (
    Config,
    ConfigError,
    DeviceConfig,
    env_overrides,
    load_config,
    parse_config,
    state_dir_of,
)
from micboardd.config.secrets import exposure_warning, secret_values
from micboardd.control import Commander
from micboardd.files import write_atomic
from micboardd.history import HistoryPart
from micboardd.links import Link, LinkTicker, SharedPorts
from micboardd.logs import register_secrets
from micboardd.mqtt import MqttPart
from micboardd.parts import Part
from micboardd.photos import PhotosPart
from micboardd.server import (
    LIMITS,
    Hub,
    LayoutNotSaved,
    LimitedSite,
    Metric,
    make_app,
    raise_fd_limit,
    reconfigure,
)
from micboardd.state import JSON, Store

log = structlog.get_logger("micboardd.daemon")

CONFIG_POLL_S = 1.0
#: the system alert raised while the history (and the audit trail) cannot be written
STORAGE_ALERT = "history_storage"
#: slots and groups saved from the page, in the state dir: they override the
#: configuration file's, which the daemon never writes (under systemd it cannot)
LAYOUT_FILE = "layout.json"


class Daemon:
    def __init__(self, config: Config, config_path: Path | None = None) -> None:
        self.layout_path = state_dir_of(config)[0] / LAYOUT_FILE
        config = self.with_layout(config)
        self.config = config
        self.config_path = config_path
        self.started_at = time.time()
        self.store = Store(config)
        self.hub = Hub(self.store)
        self._links: dict[str, Link] = {}
        self._ticker = LinkTicker(self._links)
        self._shared_ports = SharedPorts()  # the EW G3/G4 port 53212, while one is used
        self.audit_trail = AuditTrail()
        self.commander = Commander(self._links, self.store, self.audit_trail,
                                   lambda: self.config)
        # the optional parts, in start order (alerts keep their episodes in the history)
        self.history = HistoryPart(self.store, config, self.state_dir, self.audit_trail)
        self.alerts = AlertsPart(self.store, config, self.history.alert_journal(),
                                 self.audit_trail)
        self.mqtt = MqttPart(self.store, config, self.run_command)
        self.photos = PhotosPart(self.store, self.state_dir, self.audit_trail)
        self.parts: list[Part] = [self.history, self.alerts, self.mqtt, self.photos]
        #: the variables that set configuration values (a file read with load_config)
        self.env_sources = ([o.name for o in env_overrides(os.environ)]
                            if config_path is not None else [])
        self.reloads = 0
        self.reload_failures = 0
        self.last_reload_error: str | None = None
        self._config_mtime = self._mtime()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[None]] = set()
        self._started: list[Part] = []
        self.runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self.stopped = asyncio.Event()

    @property
    def state_dir(self) -> Path:
        return state_dir_of(self.config)[0]

    @property
    def links(self) -> Mapping[str, Link]:
        return self._links

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the port, start the parts, then connect to the receivers: a daemon that
        cannot serve should not connect. OSError when the port cannot be bound."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._check_secrets(self.config)
        app = make_app(self, [ep for part in self.parts for ep in part.endpoints()],
                       fd_limit=raise_fd_limit())
        # the idle keep-alive timeout is aiohttp's (it takes effect at a restart)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                    keepalive_timeout=self.config.http.idle_timeout_s)
        await self.runner.setup()
        site = LimitedSite(self.runner, self.config.http.host, self.config.http.port,
                           app[LIMITS], reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self.runner.cleanup()
            self.runner = None
            raise
        for sock in getattr(site._server, "sockets", None) or ():
            self.http_port = int(sock.getsockname()[1])
            break
        for part in self.parts:
            await part.start()
            self._started.append(part)
        for d in self.config.devices:
            if d.enabled:
                self._start_link(d)
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self._ticker.start()
        log.info("started", http=f"http://{self.config.http.host}:{self.http_port}",
                 devices=len(self._links))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        self._ticker.stop()
        for part in reversed(self._started):
            try:
                await part.stop()
            except Exception:
                log.exception("part_stop_failed", part=part.name)
        self._started.clear()
        await asyncio.gather(*(link.stop() for link in self._links.values()),
                             return_exceptions=True)
        self._links.clear()
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

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        log.info("signal", signal=sig.name)
        self._spawn(self.stop())

    async def _housekeeping(self) -> None:
        last_mtime_check = 0.0
        while True:
            await asyncio.sleep(1.0)
            self.store.sweep()
            self._storage_alert()
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

    # -- configuration ----------------------------------------------------------------

    def _start_link(self, d: DeviceConfig) -> None:
        link = Link(d, self.store, self.config.status, shared=self._shared_ports)
        self._links[d.id] = link
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
        self._check_secrets(new)
        self.apply_config(self.with_layout(new))
        return True

    def apply_config(self, new: Config) -> None:
        """Connect, close or reconnect only the devices that changed, then tell the
        server and every part."""
        old = {d.id: d for d in self.config.devices if d.enabled}
        wanted = {d.id: d for d in new.devices if d.enabled}
        self.config = new
        removed = [i for i in old if i not in wanted]
        changed = [i for i in wanted if i in old and old[i] != wanted[i]]
        added = [i for i in wanted if i not in old]
        for i in removed + changed:
            link = self._links.pop(i, None)
            if link is not None:
                self._spawn(link.stop())
        for i in changed:
            self.store.remove_device(i)  # its channels may differ now
        self.store.reconfigure(new)
        for i in changed + added:
            self._start_link(wanted[i])
        for link in self._links.values():
            link.status = new.status
        self.reloads += 1
        self.last_reload_error = None
        if self.runner is not None:
            reconfigure(self.runner.app, new)
        for part in self.parts:
            part.reconfigure(new)
        log.info("config_applied", added=added, removed=removed, changed=changed,
                 unchanged=len(wanted) - len(added) - len(changed))

    def with_layout(self, config: Config) -> Config:
        """``config`` with the slots and groups saved from the page (the layout file),
        when there is one that fits it; otherwise ``config`` as it is, and the log says
        why the layout file was left aside."""
        try:
            data = self.layout_path.read_bytes()
        except FileNotFoundError:
            return config
        except OSError as exc:
            log.error("layout_ignored", path=str(self.layout_path),
                      error=exc.strerror or str(exc))
            return config
        try:
            layout = orjson.loads(data)
            raw = config.model_dump(mode="json", exclude_none=True)
            raw["slots"] = layout["slots"]
            raw["groups"] = layout["groups"]
            return parse_config(orjson.dumps(raw), self.layout_path)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.error("layout_ignored", path=str(self.layout_path),
                      error=f"not a layout ({{\"slots\": [...], \"groups\": [...]}}): {exc}")
        except ConfigError as exc:
            log.error("layout_ignored", path=str(self.layout_path), error=str(exc))
        return config

    def save_layout(self, slots: list[JSON], groups: list[JSON]) -> Config:
        """Check slots and groups against the configuration file (what a restart would
        load), save them to the layout file in the state dir, then apply them. The
        configuration file is only read. ConfigError: the layout is invalid;
        LayoutNotSaved: the configuration file is unusable or the layout file cannot be
        written (nothing is applied then)."""
        base = self.config
        if self.config_path is not None:
            try:
                base = load_config(self.config_path)
            except ConfigError as exc:
                raise LayoutNotSaved(f"the layout was not saved: the configuration file "
                                     f"cannot be used: {exc}") from exc
        raw = base.model_dump(mode="json", exclude_none=True)
        raw["slots"] = slots
        raw["groups"] = groups
        new = parse_config(orjson.dumps(raw), self.layout_path)
        self._write_layout({"slots": slots, "groups": groups})
        self.apply_config(new)
        return new

    def _write_layout(self, layout: JSON) -> None:
        path = self.layout_path
        try:
            write_atomic(path, orjson.dumps(layout, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            raise LayoutNotSaved(f"the layout was not saved: {path}: "
                                 f"{exc.strerror or exc}") from exc
        log.info("layout_saved", path=str(path))

    # -- what the server and the parts call ---------------------------------------------

    async def run_command(self, who: str, device_id: str, channel: int | None, kind: Any,
                          value: Any, **audit_extra: Any) -> tuple[int, JSON]:
        return await self.commander.run(who, device_id, channel, kind, value, **audit_extra)

    def audit(self, who: str, action: str, before: Any, after: Any) -> None:
        self.audit_trail.record(who, action, before, after)

    def problems(self) -> list[str]:
        problem = self.history.problem()
        return [problem] if problem else []

    def _storage_alert(self) -> None:
        """A dashboard alert while the history database cannot be written."""
        problem = self.history.problem()
        if problem:
            self.alerts.system.raise_alert(
                STORAGE_ALERT, f"{problem}: history and the audit trail are not being "
                               "written, so commands are refused; live monitoring goes on")
        else:
            self.alerts.system.clear(STORAGE_ALERT)

    def _check_secrets(self, config: Config) -> None:
        """Keep the configuration's secrets out of the log; warn of weak spots."""
        register_secrets(secret_values(config))
        old = [t.name for t in config.http.tokens if t.sha256 is not None]
        if old:
            log.warning("token_hash_deprecated", tokens=old,
                        fix="unsalted sha256 entries still work; replace each with the "
                            "'hash' `micboardd hash-token` prints")
        if self.config_path is not None:
            warning = exposure_warning(self.config_path, config)
            if warning:
                log.warning("config_readable_by_others", path=str(self.config_path),
                            problem=warning)

    def part_metrics(self) -> list[Metric]:
        out: list[Metric] = []
        for part in self.parts:
            out.extend(part.metrics())
        return out
