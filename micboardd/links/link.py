"""Device links: one task per receiver owns its socket.

A link connects (:mod:`.transport`), runs the driver's handshake, keeps the connection
alive, decides the link's health from what it hears (:mod:`.health`), and reconnects a
dead TCP connection with capped exponential backoff and jitter. Bytes go straight from
the socket callback into the driver and the store (no task switch per read): the hot
path is ``data_received -> driver.receive_data -> store.apply``; meter values wait in
the driver (:meth:`Driver.collect_meters`) until the store takes them.

Links never touch browsers or the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog

from micboardd.config import DeviceConfig, StatusConfig
from micboardd.drivers import (
    Command,
    CommandDone,
    CommandFailed,
    Driver,
    Event,
    ProtocolError,
    driver_class,
)
from micboardd.links.health import GARBLED_HINT, UNREACHABLE_HINT, Hearing, verdict
from micboardd.links.transport import (
    LinkProtocol,
    Outlet,
    PortInUse,
    SharedPorts,
    open_tcp,
    open_udp,
)
from micboardd.state import Store

log = structlog.get_logger("micboardd.link")

BACKOFF_START = 0.25
#: a receiver that comes back is reconnected within this (plus jitter); see Link.run
BACKOFF_CAP = 2.0
CHECK_EVERY = 0.25
_JITTER = random.Random()
#: how often a read of meters alone tells the store the device was heard
SEEN_EVERY = 0.5
#: how often the garbled hint's count of malformed frames is brought up to date
HINT_REFRESH_S = 5.0


class LinkError(Exception):
    """A command could not be carried out on this link."""


class LinkDown(LinkError):
    pass


class CommandRefused(LinkError):
    pass


class CommandTimeout(LinkError):
    pass


class Link:
    def __init__(self, cfg: DeviceConfig, store: Store, status: StatusConfig, *,
                 shared: SharedPorts | None = None, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.store = store
        self.status = status
        cls = driver_class(cfg.driver)
        self.driver: Driver = cls(meter_rate_ms=cfg.meter_rate_ms, channels=cfg.channel_count())
        self.driver.collect_meters()  # the store takes them once per meter interval
        store.add_meter_source(self.id, self.driver)
        self._seen_due = 0.0  # loop time when a read of meters alone goes to last_seen
        self.port = cfg.port or cls.default_port
        local = cfg.local_port if cfg.local_port is not None else cls.shared_local_port
        self.local_port = local
        self.shared = shared if local is not None else None
        self.rng = rng or _JITTER  # (a Random is 2.5 kB: one for every link)
        self.reconnects = 0
        self.connects = 0
        self.state = "connecting"
        self._hint: str | None = None
        self._hint_at = 0.0
        self._outlet: Outlet | None = None
        self._loop = asyncio.get_event_loop()
        self._hearing = Hearing(since=0.0)
        self._proto: LinkProtocol | None = None
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._session_end: asyncio.Future[None] | None = None
        self._stopping = False
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

    @property
    def stale_s(self) -> float:
        """Silence after which a device that answered is no longer online: the family's
        own (UDP families poll every second) or ``status.stale_s``."""
        return type(self.driver).stale_after_s or self.status.stale_s

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"link:{self.id}")

    async def stop(self) -> None:
        """Stop metering and close cleanly (QLX-D locks up if dropped while metering)."""
        self._stopping = True
        out = self._outlet
        if out is not None and not out.is_closing():
            self.driver.close()
            self._flush()
            out.close()  # a TCP transport flushes its buffer before closing
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._fail_waiters(LinkDown("link stopped"))
        self.store.remove_meter_source(self.id, self.driver)

    async def run(self) -> None:
        backoff = BACKOFF_START
        failures = 0
        while not self._stopping:
            was_online = False
            try:
                proto = await self._connect()
                if self.stopping:
                    # stop() came while connecting and its cancel was lost on the way
                    # (Python 3.11's wait_for, CPython gh-86296): nobody would end a
                    # session now; the finally below closes the new connection
                    break
                failures = 0
                was_online = await self._session(proto)
            except (OSError, TimeoutError) as exc:
                failures += 1
                hint = str(exc) if isinstance(exc, PortInUse) else None
                self._set_state("offline", hint)
                # log the first failure and then at doubling intervals, not every retry
                if failures & (failures - 1) == 0:
                    self._log.warning("connect_failed", error=str(exc) or type(exc).__name__,
                                      attempts=failures)
            except Exception:  # a bug must not end this receiver's link for good
                failures += 1
                self._set_state("offline", None)
                self._log.exception("link_failed", attempts=failures)
            finally:
                self._close_outlet()
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

    async def _connect(self) -> LinkProtocol:
        proto = LinkProtocol(self._on_data)
        self.connects += 1
        host, port = self.cfg.host, self.port
        if self.shared is not None and self.local_port is not None:
            self._outlet = await self.shared.attach(self.local_port, host, port, proto)
        elif self.driver.transport == "udp":
            self._outlet = await open_udp(host, port, proto)
        else:
            self._outlet = await open_tcp(host, port, proto)
        self._proto = proto
        return proto

    async def _session(self, proto: LinkProtocol) -> bool:
        """Run one connection until it dies; returns whether it was ever online."""
        now = self._loop.time()
        self._hearing = Hearing(since=now)
        self.driver.connection_made(now)
        self._flush()
        self._session_end = proto.lost
        try:
            # keepalives and health are checked by the shared LinkTicker (one timer for
            # every link, not one wake-up per link)
            await proto.lost
        finally:
            self._session_end = None
        online = self._hearing.last_valid is not None
        if self.state != "offline":
            self._set_state("offline", None)
            if online:
                self._log.warning("link_lost")
        return online

    def check(self, now: float) -> None:
        """Keepalive and health; the LinkTicker calls this four times a second."""
        end = self._session_end
        if end is None or end.done():
            return
        self.driver.tick(now)
        if self.driver._out:
            self._flush()
        h = self._hearing
        if self._proto is not None and self._proto.unreachable:
            h.unreachable, self._proto.unreachable = True, False
        elif (self.state == "online" and h.last_valid is not None
              and now - h.last_valid <= self.stale_s):
            return  # health.RULES' first rule: online, nothing to decide
        rule = verdict(h, now, self.stale_s, self.driver.transport)
        if not rule.state or rule.state == "online":
            return
        if rule.state != self.state:
            quiet = now - (h.last_valid if h.last_valid is not None else h.since)
            self._log.warning("link_" + rule.state, quiet_s=round(quiet, 1),
                              malformed=h.malformed_since_valid, why=rule.why)
        self._set_state(rule.state, self._hint_for(rule.state, now))
        if rule.action == "reconnect":
            end.set_result(None)

    def _hint_for(self, state: str, now: float) -> str | None:
        if state == "garbled":
            if self.state == "garbled" and now - self._hint_at < HINT_REFRESH_S:
                return self._hint  # the count moves on; the page need not every tick
            self._hint_at = now
            return GARBLED_HINT.format(n=self.driver.stats.malformed)
        if self._hearing.unreachable:
            return UNREACHABLE_HINT.format(port=self.port, host=self.cfg.host)
        if state == "silent" or (state == "offline" and self._hearing.last_valid is None):
            return type(self.driver).silent_hint
        return None

    def _close_outlet(self) -> None:
        out, self._outlet = self._outlet, None
        if out is None:
            return
        if out.datagrams and not out.is_closing():
            # a UDP receiver keeps metering to a socket we drop unless told to stop
            self.driver.close()
            for d in self.driver.datagrams_to_send():
                out.send(d)
        abort = getattr(out, "abort", None)
        abort() if abort is not None else out.close()

    # -- data path --------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        now = self._loop.time()
        driver = self.driver
        stats = driver.stats
        frames, malformed = stats.frames, stats.malformed
        events = driver.receive_data(data, now)
        if driver._out:  # skip the call on the hot path when nothing is queued
            self._flush()
        h = self._hearing
        if stats.frames != frames and self.state == "online" and not events:
            # the common case, a read of meters alone from an online device: heard
            # (Hearing.heard, inlined), and last_seen at most every SEEN_EVERY
            h.last_bytes = h.last_valid = now
            h.malformed_since_valid = 0
            h.unreachable = False
            if now >= self._seen_due:
                self._seen_due = now + SEEN_EVERY
                self.store.seen(self.id)
            return
        answered_before = h.last_valid is not None
        alive = h.heard(now, stats.frames - frames, stats.malformed - malformed)
        if alive and self.state != "online":
            if self.state in ("silent", "garbled") or (self.state == "offline"
                                                       and answered_before):
                # it ignored the handshake (silent), spoke nonsense (garbled) or was
                # away while the socket stayed (UDP): names, subscriptions and meters
                # need it again
                driver.resend_handshake()
                self._flush()
            self._set_state("online", None)
        if not events:
            # meters alone (most reads): they wait in the driver for the store; the
            # device was heard, which last_seen says (the store: at most once a second)
            if alive and now >= self._seen_due:
                self._seen_due = now + SEEN_EVERY
                self.store.seen(self.id)
            return
        if alive:
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
        out = self._outlet
        if out is None or out.is_closing():
            self.driver.data_to_send()  # discard: the next connection re-handshakes
            return
        if out.datagrams:
            for d in self.driver.datagrams_to_send():
                out.send(d)
        else:
            data = self.driver.data_to_send()
            if data:
                out.send(data)

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
        if state != "online":
            self.driver.forget_meters()  # the store clears them; the next ones are news
        if state != self.state:
            self._log.info("link_state", state=state, previous=self.state)
            self.state = state
        self._hint = hint
        self.store.set_link(self.id, state, hint)

    # -- commands ---------------------------------------------------------------------

    async def command(self, cmd: Command, timeout: float = 3.0) -> None:  # noqa: ASYNC109
        """Send a control command and wait until the device reports the new value.

        Raises CommandInvalid/CommandUnsupported (nothing sent), LinkDown,
        CommandRefused (REP ERR) or CommandTimeout.
        """
        if self.state != "online" or self._outlet is None:
            raise LinkDown(f"{self.id} is {self.state}")
        cmd_id = self.driver.command(cmd)
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters[cmd_id] = fut
        self._flush()
        try:
            async with asyncio.timeout(timeout):  # (not wait_for: CPython gh-86296)
                await fut
        except TimeoutError:
            raise CommandTimeout(f"{self.id} did not confirm within {timeout:g} s") from None
        finally:
            self._waiters.pop(cmd_id, None)


__all__ = ["CommandRefused", "CommandTimeout", "Event", "Link", "LinkDown", "LinkError"]
