"""Helpers for the Sennheiser driver tests: a driver talking to its simulator over real
UDP on 127.0.0.1 (free ports only), steering by SIMCTL, event predicates.

A :class:`Session` is what the daemon's UDP link does, in the test's event loop: one
socket "connected" to the simulator, every datagram fed to the driver with the loop's
time, the driver ticked (keepalive, subscription renewal) and its outbox sent one
datagram per item. :class:`SharedSocket` is the daemon side the G3/G4 family needs: ONE
socket for several devices, replies told apart by their source address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from micboardd.drivers.base import ChannelUpdate, Command, Driver, Event, ProtocolError

HOST = "127.0.0.1"
#: generous: a slow machine must never fail a test by being slow
SAFETY_TIMEOUT_S = 30.0
Pred = Callable[[list[Event]], bool]


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not an isinstance check: selector and uvloop UDP transports do not subclass it
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        pass


async def open_endpoint(**kw: Any) -> _Endpoint:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(_Endpoint, **kw)
    return proto


class Session:
    """A driver and its simulator over a real UDP socket, pumped until a condition."""

    def __init__(self, driver: Driver, ep: _Endpoint) -> None:
        self.driver = driver
        self.ep = ep
        self.events: list[Event] = []
        self.sent: list[bytes] = []

    @classmethod
    async def open(cls, driver: Driver, port: int, host: str = HOST) -> Session:
        s = cls(driver, await open_endpoint(remote_addr=(host, port)))
        driver.connection_made(s.now())
        s.flush()
        return s

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def flush(self) -> None:
        assert self.ep.transport is not None
        for d in self.driver.datagrams_to_send():
            self.sent.append(d)
            self.ep.transport.sendto(d)

    def command(self, cmd: Command) -> int:
        cmd_id = self.driver.command(cmd)
        self.flush()
        return cmd_id

    async def until(self, done: Pred, *, since: int = 0) -> list[Event]:
        """Pump until ``done(events[since:])``; the timeout is only a safety net."""
        async with asyncio.timeout(SAFETY_TIMEOUT_S):
            while not done(self.events[since:]):
                await self.pump_once()
        return self.events[since:]

    async def pump_once(self, wait: float = 0.05) -> None:
        try:
            data, _ = await asyncio.wait_for(self.ep.queue.get(), wait)
        except TimeoutError:
            data = b""
        now = self.now()
        if data:
            self.events.extend(self.driver.receive_data(data, now))
        self.driver.tick(now)
        self.flush()

    def mark(self) -> int:
        return len(self.events)

    def close(self) -> None:
        if self.ep.transport is not None:
            self.ep.transport.close()


class SharedSocket:
    """One local UDP socket for several devices (the daemon's G3/G4 port): datagrams are
    routed to the driver of their source address, each driver sends to its device."""

    def __init__(self, ep: _Endpoint) -> None:
        self.ep = ep
        self.drivers: dict[tuple[str, int], Driver] = {}
        self.events: dict[tuple[str, int], list[Event]] = {}
        self.strays = 0

    @classmethod
    async def open(cls, host: str = HOST) -> SharedSocket:
        return cls(await open_endpoint(local_addr=(host, 0)))

    @property
    def port(self) -> int:
        assert self.ep.transport is not None
        return int(self.ep.transport.get_extra_info("sockname")[1])

    def add(self, driver: Driver, host: str, port: int) -> None:
        self.drivers[(host, port)] = driver
        self.events[(host, port)] = []
        driver.connection_made(Session.now())
        self.flush()

    def flush(self) -> None:
        assert self.ep.transport is not None
        for addr, driver in self.drivers.items():
            for d in driver.datagrams_to_send():
                self.ep.transport.sendto(d, addr)

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(SAFETY_TIMEOUT_S):
            while not done():
                try:
                    data, addr = await asyncio.wait_for(self.ep.queue.get(), 0.05)
                except TimeoutError:
                    data, addr = b"", None
                now = Session.now()
                key = (addr[0], addr[1]) if addr else None
                if key in self.drivers:
                    self.events[key].extend(self.drivers[key].receive_data(data, now))
                elif data:
                    self.strays += 1
                for driver in self.drivers.values():
                    driver.tick(now)
                self.flush()

    def close(self) -> None:
        if self.ep.transport is not None:
            self.ep.transport.close()


async def simctl(port: int, *commands: str, host: str = HOST) -> None:
    """Steer a Sennheiser simulator by ``SIMCTL`` datagrams from a socket of its own."""
    ep = await open_endpoint(remote_addr=(host, port))
    assert ep.transport is not None
    try:
        for c in commands:
            ep.transport.sendto(f"SIMCTL {c}".encode())
            async with asyncio.timeout(SAFETY_TIMEOUT_S):
                while True:  # (this socket may also get junk when a fault is on)
                    data, _ = await ep.queue.get()
                    if data.startswith(b"SIMCTL"):
                        break
            assert data == b"SIMCTL OK", (c, data)
    finally:
        ep.transport.close()


# ------------------------------------------------------------------- predicates


def merged(events: list[Event], *, meters: bool = True) -> dict[int, dict[str, Any]]:
    """Every channel's values, later events winning (meters optional)."""
    out: dict[int, dict[str, Any]] = {}
    for e in events:
        if isinstance(e, ChannelUpdate) and (meters or not e.meter):
            out.setdefault(e.channel, {}).update(e.values)
    return out


def has(ch: int, **values: Any) -> Pred:
    """done-predicate: channel ``ch`` has (at last report) all of ``values``; keys use
    ``__`` for the dot (``tx__battery_percent``)."""
    want = {k.replace("__", "."): v for k, v in values.items()}

    def done(events: list[Event]) -> bool:
        got = merged(events).get(ch, {})
        return all(k in got and got[k] == v for k, v in want.items())
    return done


def errors(events: list[Event]) -> list[ProtocolError]:
    return [e for e in events if isinstance(e, ProtocolError)]


def of_type(events: list[Event], t: type[Event]) -> list[Any]:
    return [e for e in events if isinstance(e, t)]
