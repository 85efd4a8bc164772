"""Helpers every driver test uses: feed bytes in any split, talk to a simulator."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable

from micboardd.drivers.base import ChannelUpdate, Driver, Event, ProtocolError


def feed(driver: Driver, chunks: Iterable[bytes], now: float = 0.0) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events.extend(driver.receive_data(chunk, now))
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_splits(data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        j = i + rng.randint(1, 12)
        out.append(data[i:j])
        i = j
    return out


def without_errors(events: list[Event]) -> list[Event]:
    return [e for e in events if not isinstance(e, ProtocolError)]


def assert_split_invariant(make: type[Driver], data: bytes, seeds: int = 20) -> list[Event]:
    """Whole, byte by byte and random splits all give the same events."""
    whole = feed(make(), [data])
    assert feed(make(), bytewise(data)) == whole
    for seed in range(seeds):
        assert feed(make(), random_splits(data, random.Random(seed))) == whole
    return whole


async def sim_session(driver: Driver, host: str, port: int,
                      done: Callable[[list[Event]], bool]) -> list[Event]:
    """Connect a driver to a simulator over real TCP, run the handshake and collect
    events until ``done(events)`` (a safety timeout only guards against hangs)."""
    reader, writer = await connect(driver, port, host)
    try:
        return await run_until(driver, reader, writer, done)
    finally:
        writer.close()


def metered(*channels: int, field: str = "audio.peak") -> Callable[[list[Event]], bool]:
    """done-predicate: every one of ``channels`` has sent a meter update with ``field``
    (by default one only SAMPLE frames carry)."""
    want = set(channels)

    def done(events: list[Event]) -> bool:
        return want <= {e.channel for e in events
                        if isinstance(e, ChannelUpdate) and e.meter and field in e.values}
    return done


def named(channel: int, name: str) -> Callable[[list[Event]], bool]:
    """done-predicate: ``channel`` has reported ``name``."""
    def done(events: list[Event]) -> bool:
        return any(isinstance(e, ChannelUpdate) and e.channel == channel
                   and e.values.get("name") == name for e in events)
    return done


async def simctl(host: str, port: int, *commands: str) -> None:
    """Steer a simulator through its SIMCTL verb on a separate connection."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for c in commands:
            writer.write(f"< SIMCTL {c} >".encode())
            await writer.drain()
            while True:  # this connection also gets the device's broadcast reports
                line = await asyncio.wait_for(reader.readuntil(b">"), 5)
                if b"< SIMCTL" in line:  # (a garbage fault may precede it)
                    break
            assert line.endswith(b"< SIMCTL OK >"), (c, line)
    finally:
        writer.close()


#: generous: a slow CI machine must never fail a test by being slow
SAFETY_TIMEOUT_S = 30.0


async def connect(d: Driver, port: int, host: str = "127.0.0.1"
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection to a simulator and send the driver's handshake."""
    reader, writer = await asyncio.open_connection(host, port)
    d.connection_made(0.0)
    writer.write(d.data_to_send())
    return reader, writer


async def run_until(d: Driver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    done: Callable[[list[Event]], bool]) -> list[Event]:
    """Feed the driver from the socket (answering its outbox) until ``done(events)``;
    the timeout is only a safety net, never part of what is tested."""
    events: list[Event] = []
    async with asyncio.timeout(SAFETY_TIMEOUT_S):
        while not done(events):
            data = await reader.read(65536)
            assert data, "the simulator closed the connection"
            events.extend(d.receive_data(data, 0.0))
            writer.write(d.data_to_send())
    return events
