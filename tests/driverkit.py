"""Helpers every driver test uses: feed bytes in any split, talk to a simulator."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable

from micboardd.drivers.base import Driver, Event, ProtocolError


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


async def sim_session(
    driver: Driver, host: str, port: int, until: float = 1.0
) -> list[Event]:
    """Connect a driver to a simulator over real TCP, run the handshake and collect
    events for ``until`` seconds."""
    reader, writer = await asyncio.open_connection(host, port)
    loop = asyncio.get_running_loop()
    driver.connection_made(loop.time())
    writer.write(driver.data_to_send())
    events: list[Event] = []
    deadline = loop.time() + until
    try:
        while (left := deadline - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(reader.read(65536), left)
            except TimeoutError:
                break
            if not data:
                break
            events.extend(driver.receive_data(data, loop.time()))
            out = driver.data_to_send()
            if out:
                writer.write(out)
    finally:
        writer.close()
    return events


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
