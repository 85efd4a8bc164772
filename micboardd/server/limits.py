"""Connection limits: one host cannot lock every dashboard out.

* at most ``http.max_connections_per_peer`` open connections from one address (an IPv6
  /64 counts as one) and ``http.max_connections`` in all (never more than the process's
  descriptors allow); a connection over a cap is answered ``503`` at once and closed,
  counted, and logged at most once per 10 s per address;
* a new connection must send a request's headers within ``http.header_timeout_s``;
* an idle keep-alive connection is closed after ``http.idle_timeout_s`` (aiohttp's
  keep-alive timer, which also bounds the headers of every later request);
* a request body must arrive within :data:`BODY_TIMEOUT_S` (:mod:`.endpoints`).

The caps sit in front of aiohttp: :class:`LimitedSite` listens with a small protocol
(:class:`_Gate`) that admits or refuses each connection before aiohttp sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from aiohttp import web

from micboardd.config import HttpConfig
from micboardd.server.endpoints import Handler
from micboardd.server.peers import Sometimes, peer_key

log = structlog.get_logger("micboardd.http")

#: descriptors kept for everything else (receivers, SQLite, MQTT, logs)
FD_RESERVE = 128
WANTED_FDS = 8192
_REFUSAL_BODY = b'{"error": "too many connections"}'
_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Retry-After: 10\r\nConnection: close\r\nContent-Length: "
            + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY)


def raise_fd_limit(wanted: int = WANTED_FDS) -> int:
    """Raise the soft descriptor limit towards ``wanted`` (within the hard one); returns
    the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return int(soft) if soft != resource.RLIM_INFINITY else wanted


@dataclass(slots=True)
class LimitStats:
    refused_peer: int = 0
    refused_total: int = 0
    header_timeouts: int = 0


class ConnectionLimits:
    """The open connections by peer, and the caps; ``request.app[LIMITS]``."""

    def __init__(self, cfg: HttpConfig, fd_limit: int | None = None) -> None:
        self.stats = LimitStats()
        self.fd_limit = fd_limit
        self.by_peer: dict[str, int] = {}
        self.open = 0
        self._gates: dict[Any, _Gate] = {}
        self._log = Sometimes(10.0)
        self.configure(cfg)

    def configure(self, cfg: HttpConfig) -> None:
        self.per_peer = cfg.max_connections_per_peer
        self.total = cfg.max_connections
        if self.fd_limit is not None and self.total > self.fd_limit - FD_RESERVE:
            self.total = max(16, self.fd_limit - FD_RESERVE)
            log.warning("http_max_connections_lowered", configured=cfg.max_connections,
                        used=self.total, descriptors=self.fd_limit)
        self.header_timeout = cfg.header_timeout_s

    def admit(self, key: str) -> str | None:
        """Count a new connection from ``key``; the reason when it is refused."""
        if self.by_peer.get(key, 0) >= self.per_peer:
            self.stats.refused_peer += 1
            return "per_peer"
        if self.open >= self.total:
            self.stats.refused_total += 1
            return "total"
        self.by_peer[key] = self.by_peer.get(key, 0) + 1
        self.open += 1
        return None

    def release(self, key: str) -> None:
        n = self.by_peer.get(key, 0) - 1
        if n > 0:
            self.by_peer[key] = n
        else:
            self.by_peer.pop(key, None)
        self.open -= 1

    def refused(self, key: str, reason: str) -> None:
        skipped = self._log.due(f"{reason}:{key}")
        if skipped is not None:
            log.warning("http_connection_refused", peer=key, reason=reason,
                        open_from_peer=self.by_peer.get(key, 0), open=self.open,
                        max_per_peer=self.per_peer, max_connections=self.total,
                        refused_since_last_line=skipped)

    def request_started(self, transport: Any) -> None:
        gate = self._gates.get(transport)
        if gate is not None:
            gate.started()


LIMITS: web.AppKey[ConnectionLimits] = web.AppKey("limits", ConnectionLimits)


class _Gate(asyncio.Protocol):
    """Admits a connection (then hands everything to aiohttp's protocol) or refuses it."""

    def __init__(self, limits: ConnectionLimits, factory: Callable[[], asyncio.Protocol]
                 ) -> None:
        self.limits = limits
        self.factory = factory
        self.inner: asyncio.Protocol | None = None
        self.key = ""
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.key = peer_key(peer[0] if isinstance(peer, tuple) and peer else None)
        reason = self.limits.admit(self.key)
        if reason is not None:
            self.limits.refused(self.key, reason)
            transport.write(_REFUSAL)
            transport.close()
            return
        self.transport = transport
        self.limits._gates[transport] = self
        self._timer = asyncio.get_running_loop().call_later(
            self.limits.header_timeout, self._header_timeout)
        self.inner = self.factory()
        self.inner.connection_made(transport)

    def started(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _header_timeout(self) -> None:
        self._timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.limits.stats.header_timeouts += 1
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is None:
            return
        self.started()
        self.limits._gates.pop(self.transport, None)
        self.limits.release(self.key)
        inner, self.inner = self.inner, None
        inner.connection_lost(exc)


class LimitedSite(web.TCPSite):
    """``web.TCPSite`` whose connections pass :class:`ConnectionLimits` first."""

    def __init__(self, runner: web.AppRunner, host: str, port: int,
                 limits: ConnectionLimits, **kw: Any) -> None:
        super().__init__(runner, host, port, **kw)
        self.limits = limits

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        limits = self.limits
        self._server = await loop.create_server(
            lambda: _Gate(limits, server), self._host, self._port,
            backlog=self._backlog, reuse_address=self._reuse_address,
            reuse_port=self._reuse_port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


@web.middleware
async def mark_started(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request's headers have arrived: its connection's header timer stops."""
    limits = request.app.get(LIMITS)
    if limits is not None and request.transport is not None:
        limits.request_started(request.transport)
    return await handler(request)
