"""Run a real daemon against real simulators in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import websockets

from micboardd.config import Config, parse_config
from micboardd.daemon import Daemon
from micboardd.server.wire import expand_meters
from micboardd.state import merge_into


def make_config(devices: list[dict[str, Any]], **extra: Any) -> Config:
    raw: dict[str, Any] = {"devices": devices,
                           "http": {"host": "127.0.0.1", "port": 0, **extra.pop("http", {})}}
    raw.update(extra)
    return parse_config(orjson.dumps(raw))


@contextlib.asynccontextmanager
async def running_daemon(config: Config, tmp_path: Any = None,
                         config_path: Any = None) -> AsyncIterator[Daemon]:
    if tmp_path is not None and config.state_dir is None:
        config = config.model_copy(update={"state_dir": str(tmp_path / "state")})
    d = Daemon(config, config_path)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def wait_for(pred: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> float:  # noqa: ASYNC109
    """Wait until pred() is truthy; returns the seconds it took. Raises on timeout."""
    start = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


class Mirror:
    """A websocket client that keeps a copy of the state from snapshot + patches."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.state: dict[str, Any] = {}
        self.seq = -1
        self.snapshots = 0
        self.patches = 0
        self.gaps = 0
        self.messages: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    def handle(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)
        if msg["type"] == "snapshot":
            self.state = msg["state"]
            self.seq = msg["seq"]
            self.snapshots += 1
        elif msg["type"] in ("patch", "meters"):
            if msg["base"] != self.seq:
                self.gaps += 1
                return
            patch = msg["patch"] if msg["type"] == "patch" else expand_meters(
                msg, {c["idx"]: k for k, c in self.state.get("channels", {}).items()},
                {d["idx"]: k for k, d in self.state.get("devices", {}).items() if "idx" in d})
            merge_into(self.state, patch)
            self.seq = msg["seq"]
            self.patches += 1

    async def run(self) -> None:
        async for raw in self.ws:
            self.handle(orjson.loads(raw))

    def start(self) -> Mirror:
        self._task = asyncio.create_task(self.run())
        return self

    async def close(self) -> None:
        await self.ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def channel(self, key: str) -> dict[str, Any]:
        return self.state.get("channels", {}).get(key, {})


@contextlib.asynccontextmanager
async def mirror(d: Daemon, **kw: Any) -> AsyncIterator[Mirror]:
    ws = await websockets.connect(f"ws://127.0.0.1:{d.http_port}/ws", **kw)
    m = Mirror(ws).start()
    try:
        yield m
    finally:
        await m.close()
