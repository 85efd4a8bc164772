"""Replay devices: tiny real servers on 127.0.0.1 that answer a driver with frames given as
data (other people's frames, in ``frames_shure.py``), and a reader of the daemon's public
``/api/state`` to check what became of them.

A replay device is no simulator: it knows no protocol. It cuts what a client sends into
commands (``< GET 1 ALL >`` -> ``"GET 1 ALL"``; ``* GET 1 TX_BAT *`` over UDP), answers a
command found in ``answers`` with its frames, stays silent otherwise, and once the client
has spoken sends the ``stream`` frames over and over (meters, or garbage). Both may be
changed while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import aiohttp
from daemonkit import wait_for

from micboardd.drivers.base import Driver, Event

_ANGLE = re.compile(rb"<([^<>]*)>")


def command_key(body: bytes) -> str:
    """A command as the answers table names it: its tokens joined by single spaces."""
    return " ".join(body.decode("ascii", "replace").split())


class ReplayDevice:
    """A TCP (``< >`` framing) or UDP (``* *`` framing) device that replays frames."""

    def __init__(self, answers: Mapping[str, Sequence[bytes]], *,
                 stream: Sequence[bytes] = (), every: float = 0.1, udp: bool = False) -> None:
        self.answers: dict[str, list[bytes]] = {k: list(v) for k, v in answers.items()}
        self.stream: list[bytes] = list(stream)
        self.every = every
        self.udp = udp
        self.port = 0
        self.received: list[str] = []  # every command a client sent, in order
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> ReplayDevice:
        loop = asyncio.get_running_loop()
        if self.udp:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=("127.0.0.1", 0))
            self._udp = transport
            self.port = transport.get_extra_info("sockname")[1]
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def __aenter__(self) -> ReplayDevice:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def count(self, key: str) -> int:
        return self.received.count(key)

    # -- TCP ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        streaming: asyncio.Task[None] | None = None
        buf = b""
        try:
            while data := await reader.read(4096):
                buf += data
                for m in _ANGLE.finditer(buf):
                    self._answer(m.group(1), writer.write)
                buf = buf[buf.rfind(b">") + 1:] if b">" in buf else buf
                if streaming is None:
                    streaming = asyncio.create_task(self._stream(writer.write))
                    self._tasks.add(streaming)
        except (ConnectionError, OSError):
            pass
        finally:
            if streaming is not None:
                streaming.cancel()
            writer.transport.abort()
            self._tasks.discard(task)

    # -- both -----------------------------------------------------------------------------

    def _answer(self, body: bytes, send: Any) -> None:
        key = command_key(body)
        self.received.append(key)
        for frame in self.answers.get(key, ()):
            send(frame)

    async def _stream(self, send: Any) -> None:
        while True:
            for frame in list(self.stream):
                send(frame)
            await asyncio.sleep(self.every)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, device: ReplayDevice) -> None:
        self.device = device
        self.transport: Any = None  # (asyncio's UDP transport is no DatagramTransport)
        self.streaming: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        t = self.transport
        assert t is not None
        for piece in data.split(b"*"):
            if piece.strip():
                self.device._answer(piece, lambda frame: t.sendto(frame, addr))
        if self.streaming is None:
            self.device.connections += 1
            self.streaming = asyncio.create_task(
                self.device._stream(lambda frame: t.sendto(frame, addr)))
            self.device._tasks.add(self.streaming)


# ---------------------------------------------------------------------- /api/state


class StateReader:
    """Polls the daemon's ``/api/state`` in the background; ``state`` is the latest."""

    def __init__(self, port: int, every: float = 0.05) -> None:
        self.url = f"http://127.0.0.1:{port}/api/state"
        self.every = every
        self.state: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                async with session.get(self.url) as r:
                    self.state = await r.json()
                await asyncio.sleep(self.every)

    def value(self, device: str, path: str) -> Any:
        """``"dev:link"`` reads the device, ``"2:rf.rssi_dbm"`` channel 2 of ``device``;
        a missing node reads as the string ``"<absent>"``."""
        where, _, dotted = path.partition(":")
        node: Any = (self.state.get("devices", {}).get(device) if where == "dev"
                     else self.state.get("channels", {}).get(f"{device}/{where}"))
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return "<absent>"
            node = node[part]
        return node

    def mismatches(self, device: str, expect: Mapping[str, Any]) -> dict[str, Any]:
        return {p: self.value(device, p) for p, v in expect.items() if self.value(device, p) != v}

    async def until(self, device: str, expect: Mapping[str, Any], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every expected value holds; on timeout say which did not."""
        try:
            await wait_for(lambda: not self.mismatches(device, expect), timeout=timeout)
        except AssertionError:
            wrong = self.mismatches(device, expect)
            raise AssertionError(
                "not as expected (path: got / want): " + "; ".join(
                    f"{p}: {wrong[p]!r} / {expect[p]!r}" for p in wrong)) from None


@contextlib.asynccontextmanager
async def reading(port: int) -> AsyncIterator[StateReader]:
    reader = StateReader(port)
    reader._task = asyncio.create_task(reader._poll())
    try:
        yield reader
    finally:
        reader._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader._task


# ---------------------------------------------------------------- a driver, with time


async def drive(driver: Driver, port: int, done: Callable[[list[Event]], bool],
                host: str = "127.0.0.1", timeout: float = 30.0) -> list[Event]:  # noqa: ASYNC109
    """Run a sans-IO driver against a TCP device as a link would: feed it what arrives,
    send what it queues, and tick it with the loop's clock (so timed fallbacks and
    keepalives happen), until ``done(events)``; ``timeout`` only guards against hangs."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(host, port)
    events: list[Event] = []
    try:
        driver.connection_made(loop.time())
        writer.write(driver.data_to_send())
        async with asyncio.timeout(timeout):
            while not done(events):
                with contextlib.suppress(TimeoutError):
                    data = await asyncio.wait_for(reader.read(65536), 0.05)
                    assert data, "the device closed the connection"
                    events.extend(driver.receive_data(data, loop.time()))
                driver.tick(loop.time())
                writer.write(driver.data_to_send())
    finally:
        writer.close()
    return events
