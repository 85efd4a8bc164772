"""A real mosquitto per test, and small MQTT clients to look at what is on it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiomqtt import Client

from micboardd.config import Config, parse_config
from micboardd.daemon import Daemon

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """mosquitto on a free loopback port, no persistence: a restart forgets everything."""

    def __init__(self, tmp: Path, port: int | None = None, extra: str = "") -> None:
        self.port = port or free_port()
        self.conf = tmp / f"mosquitto-{self.port}.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
            + extra
        )
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> Broker:
        self.proc = await asyncio.create_subprocess_exec(
            MOSQUITTO, "-c", str(self.conf),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while True:
            if _accepts(self.port):
                return self
            if self.proc.returncode is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start listening")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for _ in range(int(TIMEOUT / 0.05)):
            if not _accepts(self.port):
                break
            await asyncio.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: the broker still accepts TCP (the kernel does) but answers nothing."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)


class CuttableLink:
    """A TCP proxy standing for the network between two sites: ``cut()`` drops every
    connection and refuses new ones (no FIN-and-goodbye at the MQTT level), ``restore()``
    lets them through again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> CuttableLink:
        self._server = await asyncio.start_server(self._conn, "127.0.0.1", self.port,
                                                  reuse_address=True)
        return self

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        w.close()

    async def _conn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            w.close()
            return
        self._writers |= {w, uw}
        try:
            await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))
        finally:
            self._writers -= {w, uw}

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()


def bridge_conf(site: str, central_port: int, prefix: str = "micboardd") -> str:
    """The mosquitto bridge a site broker runs towards the central one (docs/multi-venue.md)."""
    return (
        f"connection {site}-to-central\n"
        f"address 127.0.0.1:{central_port}\n"
        "cleansession true\n"
        "try_private true\n"
        "notifications true\n"
        f"notification_topic {prefix}/{site}/bridge\n"
        "keepalive_interval 5\n"
        "restart_timeout 1\n"
        f"topic {prefix}/{site}/# out 1\n"
        f"topic {prefix}/{site}/channel/+/+/set/+ in 1\n"
        f"topic {prefix}/{site}/device/+/set/+ in 1\n"
    )


@contextlib.asynccontextmanager
async def running_broker(tmp_path: Path) -> AsyncIterator[Broker]:
    b = await Broker(tmp_path).start()
    try:
        yield b
    finally:
        await b.stop()


async def wait_for(pred: Callable[[], Any], within: float = TIMEOUT, step: float = 0.02) -> Any:
    """Wait until pred() is truthy (a generous limit, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(step)


async def wait_async(pred: Callable[[], Any], within: float = TIMEOUT,
                     step: float = 0.1) -> Any:
    """Like wait_for, for a predicate that is a coroutine function."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            last = await pred()
        except AssertionError:
            last = None
            if time.monotonic() > deadline:
                raise
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(step)


class Watcher:
    """A subscriber that keeps the latest payload of every topic it sees."""

    def __init__(self, broker: Broker, *filters: str) -> None:
        self.broker = broker
        self.filters = filters or ("#",)
        self.latest: dict[str, bytes] = {}
        self.retained: dict[str, bytes] = {}
        self.log: list[tuple[str, bytes, bool]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def _run(self) -> None:
        async with Client("127.0.0.1", self.broker.port) as c:
            for f in self.filters:
                await c.subscribe(f, qos=1)
            self._ready.set()
            async for m in c.messages:
                p = m.payload if isinstance(m.payload, bytes) else str(m.payload or "").encode()
                t = m.topic.value
                self.latest[t] = p
                if m.retain:
                    self.retained[t] = p
                self.log.append((t, p, bool(m.retain)))

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        done, _ = await asyncio.wait({self._task, asyncio.ensure_future(self._ready.wait())},
                                     timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            self._task.result()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def json(self, topic: str) -> Any:
        p = self.latest.get(topic)
        return None if not p else orjson.loads(p)

    def live(self) -> dict[str, bytes]:
        """Topics whose latest payload is not empty (an empty one deletes a retained)."""
        return {t: p for t, p in self.latest.items() if p}


async def retained_snapshot(broker: Broker, filt: str, settle: float = 0.5) -> dict[str, bytes]:
    """What a fresh subscriber gets for ``filt``: the retained messages. Stops when no
    message arrived for ``settle`` seconds (retained messages come in one burst)."""
    out: dict[str, bytes] = {}
    async with Client("127.0.0.1", broker.port) as c:
        await c.subscribe(filt, qos=1)
        it = c.messages.__aiter__()
        while True:
            try:
                m = await asyncio.wait_for(it.__anext__(), settle)
            except TimeoutError:
                break
            if m.retain:
                p = m.payload if isinstance(m.payload, bytes) else str(m.payload or "").encode()
                out[m.topic.value] = p
    return {t: p for t, p in out.items() if p}


async def publish(broker: Broker, topic: str, payload: bytes | str, retain: bool = False) -> None:
    async with Client("127.0.0.1", broker.port) as c:
        await c.publish(topic, payload, qos=1, retain=retain)


def make_config(devices: list[dict[str, Any]], **extra: Any) -> Config:
    raw: dict[str, Any] = {"devices": devices, "http": {"host": "127.0.0.1", "port": 0}}
    raw.update(extra)
    return parse_config(orjson.dumps(raw))


def sim_device(id_: str, sim: Any, **kw: Any) -> dict[str, Any]:
    return {"id": id_, "driver": "shure-ulxd", "host": sim.host, "port": sim.port, **kw}


@contextlib.asynccontextmanager
async def running_daemon(config: Config, state_dir: Path) -> AsyncIterator[Daemon]:
    config = config.model_copy(update={"state_dir": str(state_dir)})
    d = Daemon(config)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def get_json(d: Daemon, path: str) -> Any:
    async with aiohttp.ClientSession() as s, \
            s.get(f"http://127.0.0.1:{d.http_port}{path}") as r:
        assert r.status == 200, (path, r.status)
        return await r.json(content_type=None)


async def get_text(d: Daemon, path: str) -> str:
    async with aiohttp.ClientSession() as s, \
            s.get(f"http://127.0.0.1:{d.http_port}{path}") as r:
        assert r.status == 200, (path, r.status)
        return await r.text()


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"micboardd_{name} "):
            return float(line.split()[1])
    return None
