"""Device links: one task per receiver owns its socket.

A link connects, runs the driver's handshake, keeps the connection alive, notices a dead
or half-open peer from the silence that follows a keepalive, and reconnects with capped
exponential backoff and jitter. Bytes go straight from the socket callback into the
driver and the store (no task switch per read): the hot path is
``data_received -> driver.receive_data -> store.apply``.

Links never touch browsers or the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import structlog

from micboardd.config import DeviceConfig, StatusConfig
from micboardd.drivers import (
    Command,
    CommandDone,
    CommandFailed,
    Driver,
    ProtocolError,
    driver_class,
)
from micboardd.state import Store

log = structlog.get_logger("micboardd.link")

BACKOFF_START = 0.25
#: a receiver that comes back is reconnected within this (plus jitter); see Link.run
BACKOFF_CAP = 2.0
CONNECT_TIMEOUT = 3.0
CHECK_EVERY = 0.25


class LinkError(Exception):
    """A command could not be carried out on this link."""


class LinkDown(LinkError):
    pass


class CommandRefused(LinkError):
    pass


class CommandTimeout(LinkError):
    pass


class _Proto(asyncio.Protocol, asyncio.DatagramProtocol):
    def __init__(self, link: Link) -> None:
        self.link = link
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.link._on_data(data)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.link._on_data(data)

    def error_received(self, exc: Exception) -> None:  # UDP: ICMP unreachable
        if not self.lost.done():
            self.lost.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class Link:
    def __init__(
        self,
        cfg: DeviceConfig,
        store: Store,
        status: StatusConfig,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.store = store
        self.status = status
        cls = driver_class(cfg.driver)
        self.driver: Driver = cls(meter_rate_ms=cfg.meter_rate_ms, channels=cfg.channel_count())
        self.port = cfg.port or cls.default_port
        self.rng = rng or random.Random()
        self.reconnects = 0
        self.connects = 0
        self.state = "connecting"
        self._transport: asyncio.BaseTransport | None = None
        self._loop = asyncio.get_event_loop()
        self._last_rx = 0.0
        self._rx_since_connect = False
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._session_end: asyncio.Future[None] | None = None
        self._stopping = False
        self._malformed_logged = 0
        self._log = log.bind(device=cfg.id, driver=cfg.driver, peer=f"{cfg.host}:{self.port}")

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def frames(self) -> int:
        return self.driver.stats.frames

    @property
    def malformed(self) -> int:
        return self.driver.stats.malformed

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"link:{self.id}")

    async def stop(self) -> None:
        """Stop metering and close cleanly (QLX-D locks up if dropped while metering)."""
        self._stopping = True
        t = self._transport
        if t is not None and not t.is_closing():
            self.driver.close()
            self._flush()
            t.close()  # a TCP transport flushes its buffer before closing
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._fail_waiters(LinkDown("link stopped"))

    async def run(self) -> None:
        backoff = BACKOFF_START
        failures = 0
        while not self._stopping:
            was_online = False
            try:
                proto = await self._connect()
                failures = 0
                was_online = await self._session(proto)
            except (OSError, TimeoutError) as exc:
                failures += 1
                self._set_state("offline", None)
                # log the first failure and then at doubling intervals, not every retry
                if failures & (failures - 1) == 0:
                    self._log.warning("connect_failed", error=str(exc) or type(exc).__name__,
                                      attempts=failures)
            finally:
                self._close_transport()
                self._fail_waiters(LinkDown("connection lost"))
            if self.stopping:
                break
            if was_online:
                backoff = BACKOFF_START
                self.reconnects += 1
            # full jitter in [backoff/2, backoff]: a hundred dead receivers spread out
            delay = backoff * (0.5 + self.rng.random() / 2)
            backoff = min(BACKOFF_CAP, backoff * 2)
            await asyncio.sleep(delay)

    async def _connect(self) -> _Proto:
        loop = self._loop
        proto = _Proto(self)
        self.connects += 1
        transport: asyncio.BaseTransport
        if self.driver.transport == "udp":
            transport, _ = await loop.create_datagram_endpoint(
                lambda: proto, remote_addr=(self.cfg.host, self.port)
            )
        else:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: proto, self.cfg.host, self.port),
                CONNECT_TIMEOUT,
            )
        self._transport = transport
        return proto

    async def _session(self, proto: _Proto) -> bool:
        """Run one connection until it dies; returns whether it was ever online."""
        loop = self._loop
        now = loop.time()
        self._last_rx = now
        self._rx_since_connect = False
        self.driver.connection_made(now)
        self._flush()
        self._session_end = proto.lost
        try:
            # keepalives and staleness are checked by the shared LinkTicker (one timer
            # for every link, not one wake-up per link)
            await proto.lost
        finally:
            self._session_end = None
        online = self._rx_since_connect
        if self.state != "offline":
            self._set_state("offline", None)
            if online:
                self._log.warning("link_lost")
        return online

    def check(self, now: float) -> None:
        """Keepalive and stale detection; the LinkTicker calls this four times a second."""
        end = self._session_end
        if end is None or end.done():
            return
        self.driver.tick(now)
        self._flush()
        silent_for = now - self._last_rx
        if silent_for <= self.status.stale_s:
            return
        if self._rx_since_connect:
            self._log.warning("link_stale", silent_s=round(silent_for, 1))
            self._set_state("offline", None)
            end.set_result(None)
        elif self.driver.transport == "udp":
            self._set_state("offline", None)
            end.set_result(None)
        else:
            # accepted the connection, never answered: keep trying on this socket
            self._set_state("silent", type(self.driver).silent_hint)

    def _close_transport(self) -> None:
        if self.driver.transport == "udp" and self._transport is not None:
            # a UDP receiver keeps metering to a socket we drop unless told to stop
            self.driver.close()
            self._flush()
        t, self._transport = self._transport, None
        if t is not None:
            t.abort() if isinstance(t, asyncio.Transport) else t.close()

    # -- data path --------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        now = self._loop.time()
        driver = self.driver
        events = driver.receive_data(data, now)
        if driver._out:  # skip the call on the hot path when nothing is queued
            self._flush()
        if not events:
            return
        self._last_rx = now
        if not self._rx_since_connect:
            self._rx_since_connect = True
            if self.state == "silent":
                # it ignored the handshake while silent: names and meters need it again
                self.driver.resend_handshake()
                self._flush()
            self._set_state("online", None)
        self.store.apply(self.id, events)
        for ev in events:
            t = type(ev)
            if t is ProtocolError:
                self._on_malformed(ev)  # type: ignore[arg-type]
            elif t is CommandDone or t is CommandFailed:
                self._on_command_event(ev)  # type: ignore[arg-type]

    def _flush(self) -> None:
        """Send what the driver queued: a byte stream over TCP, one datagram per frame
        over UDP."""
        t = self._transport
        if t is None or t.is_closing():
            self.driver.data_to_send()  # discard: the next connection re-handshakes
            return
        if self.driver.transport == "udp":
            # (neither asyncio's nor uvloop's UDP transport is a DatagramTransport subclass)
            for d in self.driver.datagrams_to_send():
                t.sendto(d)  # type: ignore[attr-defined]
        else:
            data = self.driver.data_to_send()
            if data:
                t.write(data)  # type: ignore[attr-defined]

    def _on_malformed(self, ev: ProtocolError) -> None:
        n = self.driver.stats.malformed
        # every malformed frame is counted (metrics); the log gets the first ones and
        # then one line per power of two, so garbage cannot flood the journal
        if n <= 3 or n & (n - 1) == 0:
            self._log.warning("malformed_frame", reason=ev.reason, frame=ev.frame[:80],
                              malformed_total=n)

    def _on_command_event(self, ev: CommandDone | CommandFailed) -> None:
        fut = self._waiters.pop(ev.cmd_id, None)
        if fut is None or fut.done():
            return
        if isinstance(ev, CommandDone):
            fut.set_result(None)
        else:
            fut.set_exception(CommandRefused(ev.reason))

    def _fail_waiters(self, exc: Exception) -> None:
        waiters, self._waiters = self._waiters, {}
        for fut in waiters.values():
            if not fut.done():
                fut.set_exception(exc)

    def _set_state(self, state: str, hint: str | None) -> None:
        if state != self.state:
            self._log.info("link_state", state=state, previous=self.state)
            self.state = state
        self.store.set_link(self.id, state, hint)

    # -- commands ---------------------------------------------------------------------

    async def command(self, cmd: Command, timeout: float = 3.0) -> None:  # noqa: ASYNC109
        """Send a control command and wait until the device reports the new value.

        Raises CommandInvalid/CommandUnsupported (nothing sent), LinkDown,
        CommandRefused (REP ERR) or CommandTimeout.
        """
        if self.state != "online" or self._transport is None:
            raise LinkDown(f"{self.id} is {self.state}")
        cmd_id = self.driver.command(cmd)
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters[cmd_id] = fut
        self._flush()
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise CommandTimeout(f"{self.id} did not confirm within {timeout:g} s") from None
        finally:
            self._waiters.pop(cmd_id, None)
