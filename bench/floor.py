"""The floor of the venue benchmark: the least any program can do with the fleet.

    python bench/floor.py --config GENERATED.json --stats FILE [--ready FILE]

Connects to every receiver in the configuration (TCP, or UDP for UHF-R), sends exactly
the bytes the daemon's driver would send (its handshake from ``connection_made`` +
``data_to_send``: the initial GETs and the meter-rate requests; then its keepalives from
``tick``), and reads. Incoming bytes are only split into frames (on ``>``, or ``*`` for
UHF-R) and counted: no parsing, no state, no clients. Same event loop as the daemon
(uvloop when installed). bench/venue.py measures its CPU exactly like the daemon's and
reports the daemon as a multiple of it. Runs until SIGTERM, then stops metering (so the
UDP receivers do not keep sending to a closed port) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from _vkit import CounterFile, use_uvloop

from micboardd.config import load_config
from micboardd.drivers import Driver, driver_class

CHECK_EVERY = 0.25  # the daemon's links tick their drivers this often


class FloorConn(asyncio.Protocol, asyncio.DatagramProtocol):
    def __init__(self, driver: Driver, udp: bool, totals: list[int]) -> None:
        self.driver = driver
        self.udp = udp
        self.totals = totals
        self.transport: Any = None
        self.buf = b""
        self.frames = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.driver.connection_made(asyncio.get_running_loop().time())
        self.flush()

    def flush(self) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        if self.udp:
            for d in self.driver.datagrams_to_send():
                t.sendto(d)
        else:
            data = self.driver.data_to_send()
            if data:
                t.write(data)

    def data_received(self, data: bytes) -> None:
        parts = (self.buf + data).split(b">")
        self.buf = parts.pop()
        self.frames += len(parts)
        self.totals[0] += len(parts)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # one frame per datagram: "* body *" splits into ["", body, ""]
        n = len(data.split(b"*")) // 2
        self.frames += n
        self.totals[0] += n

    def error_received(self, exc: Exception) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def main(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    loop = asyncio.get_running_loop()
    totals = [0]
    conns: list[FloorConn] = []
    for d in config.devices:
        cls = driver_class(d.driver)
        drv = cls(meter_rate_ms=d.meter_rate_ms, channels=d.channel_count())
        udp = cls.transport == "udp"
        conn = FloorConn(drv, udp, totals)
        port = d.port or cls.default_port
        if udp:
            await loop.create_datagram_endpoint(lambda c=conn: c, remote_addr=(d.host, port))
        else:
            await loop.create_connection(lambda c=conn: c, d.host, port)
        conns.append(conn)
    stats = CounterFile(args.stats)
    stop = asyncio.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set)
    ready = False
    while not stop.is_set():
        now = loop.time()
        for c in conns:
            c.driver.tick(now)
            c.flush()
        stats.publish(totals[0], sum(1 for c in conns if c.frames))
        if not ready and args.ready and all(c.frames for c in conns):
            ready = True
            Path(args.ready).write_text(f"{len(conns)}\n")  # noqa: ASYNC240
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECK_EVERY)
    for c in conns:  # stop metering, as the daemon does when it closes a link
        c.driver.close()
        c.flush()
        if c.transport is not None:
            c.transport.close()
    await asyncio.sleep(0.1)
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="the benchmark's generated config")
    p.add_argument("--stats", required=True, help="counter file: time, frames, live conns")
    p.add_argument("--ready", help="written once every receiver has sent a frame")
    use_uvloop()
    sys.exit(asyncio.run(main(p.parse_args())))
