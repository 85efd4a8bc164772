"""Venue benchmark child: ``--count`` websocket clients in one asyncio process.

    python bench/_wsclients.py --url ws://127.0.0.1:PORT/ws --count 25 --first 0 \\
        --ready FILE --results FILE [--full N]

Each client speaks the /ws protocol as the dashboard does: it takes the snapshot, then
applies every patch whose ``base`` is its ``seq`` (plain merge patches and the compact
"meters" form), asks for a snapshot (``{"type": "resync"}``) when it sees a gap, and
records the receive time (``time.time()``, taken as soon as the message is in) of every
change of a channel's ``name`` or ``tx.battery_bars``: the benchmark's markers. It also
counts bytes per 100 ms so the parent can cut out exactly its measuring window.

The first ``--full`` clients keep a complete copy of the state (every message parsed,
meters expanded, everything merged, like tests/daemonkit.py Mirror). The others are
light: they follow the seq chain of every message and the names and battery bars the
same way, but parse a message in full only when it can hold one of those (the bytes
``"name"`` or ``"battery_bars"`` occur in it); otherwise they read seq and base from the
message head. A full mirror costs about 4 ms of Python per 1,000-channel message, so 100
of them at 20 messages a second would need more than the benchmark machine's two cores
and the latencies would measure the clients, not the daemon. Runs until SIGTERM, then
writes its results as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import websockets
from _vkit import use_uvloop

try:  # the compact meter message (micboardd.wire); expanded the daemon's own way
    from micboardd.server.wire import expand_meters
except ImportError:  # an older daemon has no such message
    expand_meters = None

JSON = dict[str, Any]
MISSING = object()
#: how the daemon's orjson writes a patch's head (anything else is parsed in full)
_HEAD = re.compile(rb'\{"type":"(patch|meters)","seq":(\d+),"base":(\d+),')
NAME, BARS = 0, 1


def merge_into(target: JSON, patch: JSON) -> None:
    """RFC 7396 merge patch, in place."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif type(v) is dict:
            cur = target.get(k)
            if type(cur) is not dict:
                cur = target[k] = {}
            merge_into(cur, v)
        else:
            target[k] = v


class Client:
    def __init__(self, idx: int, full: bool) -> None:
        self.idx = idx
        self.full = full
        self.state: JSON = {}
        self.seq = -1
        self.want_snapshot = True
        self.key_of: dict[int, str] = {}  # channel idx -> key, for "meters" messages
        self.dev_key_of: dict[int, str] = {}  # device idx -> id
        self.names: dict[str, Any] = {}
        self.bars: dict[str, Any] = {}
        self.obs: list[tuple[int, str, Any, float]] = []  # (kind, channel, value, t)
        self.buckets: dict[int, int] = {}  # int(t * 10) -> bytes received
        self.mbuckets: dict[int, int] = {}  # int(t * 10) -> messages received
        self.messages = 0
        self.snapshots = 0
        self.patches = 0
        self.meters = 0
        self.gaps = 0
        self.unknown = 0
        self.errors: list[str] = []
        self.ws: Any = None
        self.stopping = False
        self.got_snapshot = asyncio.Event()

    # -- protocol ---------------------------------------------------------------------

    def handle(self, raw: bytes, t: float) -> bool:
        """Apply one message; returns True when the client must ask for a snapshot."""
        b = int(t * 10)
        self.buckets[b] = self.buckets.get(b, 0) + len(raw)
        self.mbuckets[b] = self.mbuckets.get(b, 0) + 1
        self.messages += 1
        if not self.full and b'"name"' not in raw and b'"battery_bars"' not in raw:
            head = _HEAD.match(raw)
            if head is not None:
                # nothing a light client follows is in here but the seq chain
                if self.want_snapshot:
                    return False
                if int(head[3]) != self.seq:
                    self.gaps += 1
                    self.want_snapshot = True
                    return True
                self.seq = int(head[2])
                if head[1] == b"patch":
                    self.patches += 1
                else:
                    self.meters += 1
                return False
        msg = orjson.loads(raw)
        kind = msg.get("type")
        if kind == "snapshot":
            self.snapshot(msg, t)
            return False
        if kind != "patch" and kind != "meters":
            self.unknown += 1
            return False
        if self.want_snapshot:
            return False  # a snapshot is on its way; it includes this
        if msg["base"] != self.seq:
            self.gaps += 1
            self.want_snapshot = True
            return True
        if kind == "patch":
            self.patches += 1
            patch = msg["patch"]
        else:
            self.meters += 1
            if self.full and expand_meters is not None:
                patch = expand_meters(msg, self.key_of, self.dev_key_of)
            else:
                patch = msg.get("patch") or {}  # names and batteries are never meters
        self.seq = msg["seq"]
        chans = patch.get("channels")
        if chans:
            self.scan(chans, t)
            if self.full:
                self._index(chans)
        if self.full:
            self._index_devices(patch.get("devices"))
            merge_into(self.state, patch)
        return False

    def _index_devices(self, devs: JSON | None) -> None:
        for dev_id, dev in (devs or {}).items():
            if isinstance(dev, dict) and "idx" in dev:
                self.dev_key_of[dev["idx"]] = dev_id

    def _index(self, chans: JSON) -> None:
        for key, ch in chans.items():
            if ch is not None and "idx" in ch:
                self.key_of[ch["idx"]] = key

    def snapshot(self, msg: JSON, t: float) -> None:
        first = self.snapshots == 0
        self.snapshots += 1
        self.seq = msg["seq"]
        self.want_snapshot = False
        state = msg["state"]
        names, bars = self.names, self.bars
        obs = self.obs
        for key, ch in state.get("channels", {}).items():
            name = ch.get("name")
            b = (ch.get("tx") or {}).get("battery_bars")
            if not first:  # a change that reached us through a resync still counts
                if names.get(key, MISSING) != name:
                    obs.append((NAME, key, name, t))
                if bars.get(key, MISSING) != b:
                    obs.append((BARS, key, b, t))
            names[key] = name
            bars[key] = b
        if self.full:
            self.state = state
            self.key_of = {}
            self.dev_key_of = {k["idx"]: d for d, k in state.get("devices", {}).items()
                               if "idx" in k}
            self._index(state.get("channels", {}))
        self.got_snapshot.set()

    def scan(self, chans: JSON, t: float) -> None:
        names, bars = self.names, self.bars
        for key, cp in chans.items():
            if cp is None:
                names.pop(key, None)
                bars.pop(key, None)
                continue
            name = cp.get("name", MISSING)
            if name is not MISSING and names.get(key, MISSING) != name:
                names[key] = name
                self.obs.append((NAME, key, name, t))
            tx = cp.get("tx")
            if tx:
                b = tx.get("battery_bars", MISSING)
                if b is not MISSING and bars.get(key, MISSING) != b:
                    bars[key] = b
                    self.obs.append((BARS, key, b, t))

    # -- connection -------------------------------------------------------------------

    async def run(self, url: str) -> None:
        try:
            # each client from an address of its own, like the tablets and screens of
            # a venue (the daemon limits connections per address)
            local = (f"127.3.{self.idx // 250}.{1 + self.idx % 250}", 0)
            async with websockets.connect(url, max_size=None, compression=None,
                                          open_timeout=30, ping_interval=None,
                                          local_addr=local) as ws:
                self.ws = ws
                while True:
                    raw = await ws.recv(decode=False)
                    t = time.time()
                    if self.handle(raw, t):
                        await ws.send(b'{"type":"resync"}', text=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # recorded: a dropped client is a benchmark failure
            if not self.stopping:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:300])

    def result(self) -> JSON:
        return {
            "idx": self.idx, "messages": self.messages, "snapshots": self.snapshots,
            "patches": self.patches, "meters": self.meters, "gaps": self.gaps,
            "unknown": self.unknown, "errors": self.errors, "seq": self.seq,
            "obs": self.obs, "buckets": self.buckets, "mbuckets": self.mbuckets,
            "channels": len(self.names), "full": self.full,
        }


async def main(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set)
    clients = [Client(args.first + i, i < args.full) for i in range(args.count)]
    tasks = []
    for c in clients:
        tasks.append(asyncio.create_task(c.run(args.url)))
        await asyncio.sleep(0.01)  # do not hit the daemon with every snapshot at once
    waiter = asyncio.gather(*(c.got_snapshot.wait() for c in clients))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
    if waiter.done():
        Path(args.ready).write_text(f"{len(clients)}\n")  # noqa: ASYNC240
    else:
        waiter.cancel()
    await stopper
    for c in clients:
        c.stopping = True
    for t in tasks:  # stop reading first: a backlog must not delay the results
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    async def close(ws: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 1.0)

    await asyncio.gather(*(close(c.ws) for c in clients if c.ws is not None))
    out = {"pid": __import__("os").getpid(), "clients": [c.result() for c in clients]}
    tmp = Path(args.results + ".tmp")
    tmp.write_bytes(orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS))  # noqa: ASYNC240
    tmp.rename(args.results)  # noqa: ASYNC240
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--ready", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--full", type=int, default=1, help="how many clients keep full mirrors")
    use_uvloop()
    sys.exit(asyncio.run(main(p.parse_args())))
