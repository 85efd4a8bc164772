"""Websocket fan-out: snapshot, then merge patches, to every browser.

Each patch from the store is serialized once, framed once as a websocket message (a
server's frames are not masked, so the bytes are the same for everyone), and written
straight to the socket of every client that is keeping up: no per-client copy, task
switch or queue. A client whose socket is backed up (more than ``WRITE_LIMIT`` unsent)
gets its messages through its own sender task and a bounded queue:

- a meter-only patch that finds the client's previous meter patch still unsent is
  merged into it (latest value wins), so a slow client gets fewer, fresher frames;
- a client whose queue is full anyway is dropped to a single "resync": its queue is
  cleared and it gets a fresh snapshot when it can take one. Memory stays bounded and
  nobody else waits.

Snapshots are encoded once per ``seq`` and shared by every client that asks for one at
that point (a hundred tablets reconnecting after a network blip cost one encoding), and
written to the socket without a copy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from aiohttp import WSMsgType, web

from micboardd.server.wire import (
    PACED_FIELDS,
    encode_meters,
    encode_patch,
    encode_snapshot,
    frame_header,
    text_frame,
)
from micboardd.state import JSON, Store

log = structlog.get_logger("micboardd.hub")

MAX_QUEUE = 64
MAX_CLIENT_MESSAGE = 64 * 1024
#: a client with more than this written but not yet taken by its socket is behind: its
#: messages wait in its queue (where meters coalesce) until the socket drains
WRITE_LIMIT = 256 * 1024
DRAIN_POLL_S = 0.02


@dataclass(slots=True)
class _Item:
    """One message owed to a client: shared bytes (the common case), a client-filtered
    patch, or, for meters it fell behind on, the channels whose current meters it needs."""

    base: int
    seq: int
    data: bytes | None = None  # shared, encoded once for every client
    patch: JSON | None = None  # this client's own (filtered) patch
    meter: bool = False
    keys: AbstractSet[str] = frozenset()  # meter items: channels touched
    devices: AbstractSet[str] = frozenset()  # meter items: devices whose last_seen moved
    coalesced: bool = False  # sent as current meters of ``keys`` (built at send time)


@dataclass(eq=False, slots=True)
class Client:
    ws: web.WebSocketResponse
    peer: str
    #: the connection's transport once the websocket is open (None: everything goes
    #: through the queue and ``ws``)
    transport: asyncio.Transport | None = None
    queue: deque[_Item] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resync: bool = True  # next thing to send is a snapshot
    channels: frozenset[str] | None = None  # subscribe filter
    sent_bytes: int = 0
    sent_messages: int = 0
    resyncs: int = 0
    coalesced: int = 0
    busy: bool = False  # the sender task is writing, or waiting for the socket to drain
    task: asyncio.Task[None] | None = None

    def writable(self) -> bool:
        """Whether a message can go straight to the socket now (in order: nothing
        queued, the sender idle, the socket keeping up)."""
        t = self.transport
        return (t is not None and not self.queue and not self.busy and not self.resync
                and not t.is_closing() and t.get_write_buffer_size() < WRITE_LIMIT)


@dataclass(slots=True)
class HubStats:
    clients_total: int = 0
    queue_drops: int = 0
    coalesced: int = 0
    bytes_sent: int = 0
    messages_sent: int = 0


def _filter(patch: JSON, channels: frozenset[str]) -> JSON:
    chans = patch.get("channels")
    if chans is None:
        return patch
    out = dict(patch)
    kept = {k: v for k, v in chans.items() if k in channels}
    if kept:
        out["channels"] = kept
    else:
        del out["channels"]
    return out


class Hub:
    def __init__(self, store: Store, *, max_queue: int = MAX_QUEUE) -> None:
        self.store = store
        self.clients: set[Client] = set()
        self.stats = HubStats()
        self.max_queue = max_queue
        self._unsub = store.subscribe(self.on_patch)
        self._commands: Callable[[Client, JSON], Any] | None = None
        self._snapshot: tuple[int, bytes] | None = None  # (seq, bytes): shared

    def close(self) -> None:
        self._unsub()

    # -- store -> clients -------------------------------------------------------------

    def on_patch(self, seq: int, patch: JSON, meter_only: bool) -> None:
        """Queue one store patch for every client. Each patch is encoded once and the
        same bytes go to every client that is keeping up; nothing here is per-client
        work in proportion to the patch size."""
        if not self.clients:
            return
        shared: bytes | None = None
        framed = b""
        base = seq - 1
        keys: frozenset[str] = frozenset()
        devices: frozenset[str] = frozenset()
        if meter_only:
            keys = frozenset(patch.get("channels") or ())
            devices = frozenset(patch.get("devices") or ())
        for c in self.clients:
            if c.resync:
                continue  # a snapshot is coming; it will include this
            q = c.queue
            if meter_only and q and q[-1].meter:
                # still owes the previous meters: latest value wins. Remember which
                # channels changed; their current values are read when it is sent.
                last = q[-1]
                if not isinstance(last.keys, set):  # shared until now: take a copy
                    last.keys = set(last.keys)
                if not isinstance(last.devices, set):
                    last.devices = set(last.devices)
                last.keys.update(keys)
                last.devices.update(devices)
                last.coalesced = True
                last.seq = seq
                last.data = last.patch = None
                c.coalesced += 1
                self.stats.coalesced += 1
                continue
            if len(q) >= self.max_queue:
                q.clear()
                c.resync = True
                c.resyncs += 1
                self.stats.queue_drops += 1
                c.wake.set()
                continue
            if c.channels is None:
                if shared is None:
                    shared = _encode(seq, base, patch, meter_only, self.store)
                    framed = text_frame(shared)
                if not q and c.writable():
                    self._write(c, framed, len(shared))
                    continue
                q.append(_Item(base, seq, data=shared, meter=meter_only, keys=keys,
                               devices=devices))
            elif meter_only:
                q.append(_Item(base, seq, meter=True, keys=keys & c.channels,
                               devices=devices, coalesced=True))
            else:
                q.append(_Item(base, seq, patch=_filter(patch, c.channels)))
            c.wake.set()

    def _current_meters(self, item: _Item, channels: frozenset[str] | None) -> JSON:
        """Every paced field of ``item.keys`` (and last_seen of its devices) as it is
        now: what the meter patches the client fell behind on add up to."""
        st = self.store
        chans: JSON = {}
        for key in item.keys:
            ch = st.channels.get(key)
            if ch is None or (channels is not None and key not in channels):
                continue
            node: JSON = {}
            for section, name in PACED_FIELDS:
                if section:
                    node.setdefault(section, {})[name] = ch[section][name]
                else:
                    node[name] = ch[name]
            chans[key] = node
        patch: JSON = {"channels": chans} if chans else {}
        devs = {d: {"last_seen": st.devices[d]["last_seen"]} for d in item.devices
                if d in st.devices}
        if devs:
            patch["devices"] = devs
        return patch

    def snapshot_bytes(self) -> bytes:
        """The snapshot as of the store's ``seq``, encoded once per ``seq``. (A change
        made after it was encoded, at the same ``seq``, is in the patch that follows.)"""
        seq = self.store.seq
        snap = self._snapshot
        if snap is None or snap[0] != seq:
            snap = self._snapshot = (seq, encode_snapshot(seq, self.store.state()))
        return snap[1]

    def state_bytes(self) -> bytes:
        """``GET /api/state``: the snapshot's state with its seq."""
        return orjson.dumps(self.store.snapshot())

    # -- one client -------------------------------------------------------------------

    async def serve(self, ws: web.WebSocketResponse, peer: str,
                    on_message: Callable[[Client, JSON], Any] | None = None,
                    transport: asyncio.Transport | None = None) -> None:
        """Serve one open websocket until it closes. ``transport``: the connection's
        (``request.transport``), for writing the shared messages straight to it."""
        c = Client(ws, peer, transport)
        self.clients.add(c)
        self.stats.clients_total += 1
        c.task = asyncio.create_task(self._sender(c), name=f"ws-send:{peer}")
        c.wake.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await ws.close(code=1003, message=b"text frames only")
                    break
                if len(msg.data) > MAX_CLIENT_MESSAGE:
                    await ws.close(code=1009, message=b"message too big")
                    break
                try:
                    data = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    await self.send_direct(c, {"type": "error", "error": "invalid JSON"})
                    continue
                if not isinstance(data, dict):
                    await self.send_direct(c, {"type": "error", "error": "expected an object"})
                    continue
                await self._client_message(c, data, on_message)
        finally:
            self.clients.discard(c)
            if c.task is not None:
                c.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await c.task

    async def _client_message(self, c: Client, data: JSON,
                              on_message: Callable[[Client, JSON], Any] | None) -> None:
        kind = data.get("type")
        if kind == "ping":
            await self.send_direct(c, {"type": "pong", "seq": self.store.seq})
        elif kind == "resync":
            c.queue.clear()
            c.resync = True
            c.wake.set()
        elif kind == "subscribe":
            chans = data.get("channels")
            if chans is None:
                c.channels = None
            elif isinstance(chans, list) and all(isinstance(x, str) for x in chans):
                c.channels = frozenset(chans)
            else:
                await self.send_direct(c, {"type": "error",
                                           "error": "channels must be a list of keys"})
                return
            c.queue.clear()
            c.resync = True
            c.wake.set()
        elif on_message is not None:
            reply = on_message(c, data)
            if asyncio.iscoroutine(reply):
                reply = await reply
            if reply is not None:
                await self.send_direct(c, reply)
        else:
            await self.send_direct(c, {"type": "error", "error": f"unknown type {kind!r}"})

    async def send_direct(self, c: Client, message: JSON) -> None:
        """A reply to this client alone (pong, command results); not part of the patch
        stream, so it carries no seq of its own."""
        data = orjson.dumps(message)
        c.sent_bytes += len(data)
        self.stats.bytes_sent += len(data)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await c.ws.send_frame(data, WSMsgType.TEXT)

    async def broadcast_direct(self, message: JSON) -> None:
        data = orjson.dumps(message)
        for c in list(self.clients):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await c.ws.send_frame(data, WSMsgType.TEXT)

    def _write(self, c: Client, data: bytes, size: int) -> None:
        """Write one framed message (``size``: its payload) straight to the socket."""
        assert c.transport is not None
        c.transport.write(data)
        c.sent_bytes += size
        c.sent_messages += 1
        self.stats.bytes_sent += size
        self.stats.messages_sent += 1

    async def _drained(self, c: Client) -> None:
        """Wait until the client's socket has taken all but ``WRITE_LIMIT`` of what was
        written to it (its meters coalesce in the queue meanwhile)."""
        t = c.transport
        # aiohttp owns the connection's protocol, so nothing tells us when the socket
        # drains: a client this far behind is looked at every DRAIN_POLL_S
        while t is not None and not t.is_closing() and t.get_write_buffer_size() >= WRITE_LIMIT:  # noqa: ASYNC110
            await asyncio.sleep(DRAIN_POLL_S)

    async def _sender(self, c: Client) -> None:
        """What the client's socket could not take at once: snapshots, queued messages."""
        ws = c.ws
        try:
            while not ws.closed:
                await c.wake.wait()
                c.wake.clear()
                c.busy = True
                try:
                    await self._send_pending(c)
                finally:
                    c.busy = False
        except (ConnectionError, RuntimeError) as exc:
            log.info("ws_send_failed", peer=c.peer, error=str(exc))

    async def _send_pending(self, c: Client) -> None:
        ws = c.ws
        while not ws.closed:
            await self._drained(c)
            if c.resync:
                c.resync = False
                c.queue.clear()
                data = self._snapshot_for(c)
            elif c.queue:
                item = c.queue.popleft()
                if item.data is not None:
                    data = item.data
                else:
                    patch = item.patch
                    if item.coalesced:
                        patch = self._current_meters(item, c.channels)
                    data = _encode(item.seq, item.base, patch or {}, item.meter,
                                   self.store)
            else:
                return
            if c.transport is None:
                await ws.send_frame(data, WSMsgType.TEXT)
                c.sent_bytes += len(data)
                c.sent_messages += 1
                self.stats.bytes_sent += len(data)
                self.stats.messages_sent += 1
            elif not c.transport.is_closing():
                # header and payload as two writes: a snapshot is not copied per client
                c.transport.write(frame_header(len(data)))
                self._write(c, data, len(data))

    def _snapshot_for(self, c: Client) -> bytes:
        if c.channels is None:
            return self.snapshot_bytes()
        st = self.store
        state = st.state()
        state["channels"] = {k: v for k, v in st.channels.items() if k in c.channels}
        return encode_snapshot(st.seq, state)


def _encode(seq: int, base: int, patch: JSON, meter_only: bool, store: Store) -> bytes:
    if not meter_only:
        return encode_patch(seq, base, patch)
    channels, devices = store.channels, store.devices
    return encode_meters(seq, base, patch, lambda key: (channels.get(key) or {}).get("idx"),
                         lambda dev: (devices.get(dev) or {}).get("idx"))
