"""Connection limits (issue #16): one address holding hundreds of idle sockets locks no one
else out, slow headers and idle keep-alive connections are closed, the caps are counted
and logged. Real sockets from several loopback addresses (127.0.0.0/8 is all local)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from daemonkit import make_config, running_daemon, wait_for
from structlog.testing import capture_logs

from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.server import LIMITS

ATTACKER = "127.0.0.3"
FRIEND = "127.0.0.2"


@pytest.fixture
async def sim():
    s = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", frozen=True).start()
    yield s
    await s.stop()


def config(sim: ULXDSimulator, **http: Any) -> Any:
    return make_config([{"id": "rx", "driver": "shure-ulxd", "host": sim.host,
                         "port": sim.port}], http=http)


async def connect_from(addr: str, port: int) -> socket.socket:
    s = socket.socket()
    s.setblocking(False)
    s.bind((addr, 0))
    await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port))
    return s


def closed_or_answered(s: socket.socket) -> bytes | None:
    """What the server sent and whether it closed: None while the socket is just open."""
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data or b"<closed>"
            data += chunk
    except BlockingIOError:
        return data or None
    except ConnectionError:
        return data or b"<reset>"


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"micboardd_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def test_hundreds_of_idle_sockets_from_one_address_lock_no_one_out(sim, tmp_path) -> None:
    # a header timeout longer than the test: the attacker's sockets stay held throughout
    cfg = config(sim, max_connections_per_peer=40, header_timeout_s=60)
    async with running_daemon(cfg, tmp_path) as d:
        await wait_for(lambda: d.links["rx"].state == "online")
        limits = d.runner.app[LIMITS]
        port = d.http_port
        held: list[socket.socket] = []
        with capture_logs() as logs:
            for _ in range(400):
                held.append(await connect_from(ATTACKER, port))
            await wait_for(lambda: limits.stats.refused_peer >= 360)
        assert limits.by_peer[ATTACKER] == 40
        refused = [log for log in logs if log["event"] == "http_connection_refused"]
        assert len(refused) == 1 and refused[0]["peer"] == ATTACKER  # once per window
        answers = [closed_or_answered(s) for s in held]
        over = [a for a in answers if a is not None]
        assert len(over) == 360
        assert all(a.startswith(b"HTTP/1.1 503 Service Unavailable") for a in over)

        # while the attacker holds its maximum: a fresh API client, /healthz and a
        # dashboard are served
        conn = aiohttp.TCPConnector(local_addr=(FRIEND, 0))
        async with aiohttp.ClientSession(connector=conn) as s:
            async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"
            async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
        assert metric(text, "http_connections_refused_peer_total") >= 360
        assert metric(text, "http_connections") >= 40
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            assert orjson.loads(await ws.recv())["type"] == "snapshot"

        assert limits.by_peer[ATTACKER] == 40  # still held
        for s in held:
            s.close()
        await wait_for(lambda: ATTACKER not in limits.by_peer)


async def test_slow_headers_and_idle_keepalive_are_closed(sim, tmp_path) -> None:
    cfg = config(sim, header_timeout_s=1, idle_timeout_s=1)
    async with running_daemon(cfg, tmp_path) as d:
        port = d.http_port
        slow = await connect_from(ATTACKER, port)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(slow, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sent = 0

        def trickled_until_closed() -> bool:
            nonlocal sent
            with contextlib.suppress(OSError):
                slow.send(b"X-Slow: %d\r\n" % sent)  # never the blank line
                sent += 1
            return closed_or_answered(slow) is not None

        await wait_for(trickled_until_closed, timeout=10, step=0.2)
        assert sent >= 2  # it kept sending, and was closed all the same
        assert d.runner.app[LIMITS].stats.header_timeouts == 1

        # a keep-alive connection is answered, then closed once idle
        idle = await connect_from(FRIEND, port)
        await loop.sock_sendall(idle, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = bytearray()

        def read_until_closed() -> bool:
            try:
                while chunk := idle.recv(65536):
                    got.extend(chunk)
            except BlockingIOError:
                return False
            return True

        await wait_for(read_until_closed, timeout=10)
        assert got.startswith(b"HTTP/1.1 200") and b'"status"' in got
        slow.close()
        idle.close()


async def test_the_overall_cap_is_kept(sim, tmp_path) -> None:
    cfg = config(sim, max_connections=16, max_connections_per_peer=64)
    async with running_daemon(cfg, tmp_path) as d:
        limits = d.runner.app[LIMITS]
        held = [await connect_from(ATTACKER, d.http_port) for _ in range(16)]
        await wait_for(lambda: limits.open == 16)
        other = await connect_from(FRIEND, d.http_port)
        await wait_for(lambda: closed_or_answered(other) is not None)
        assert limits.stats.refused_total == 1
        for s in [*held, other]:
            s.close()
