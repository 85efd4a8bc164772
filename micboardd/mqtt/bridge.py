"""The MQTT bridge: the normalized state on a broker (retained, per device and channel),
Home Assistant discovery, commands, and other sites' channels. Off unless ``mqtt`` is
configured.

Never in the way: the store calls the publisher synchronously and it only marks keys
dirty (:mod:`.publish`); one flush task serializes what is dirty (latest value wins)
and publishes it. While the broker is away the dirty sets just stay dirty; on
(re)connect everything is republished. Events wait in a bounded deque; what falls off is
counted in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiomqtt import Client, MqttError, Will

from micboardd.config import MqttConfig
from micboardd.mqtt.broker import broker_params
from micboardd.mqtt.commands import Commands, RunCommand
from micboardd.mqtt.publish import Message, Publisher
from micboardd.mqtt.remote import RemoteSites
from micboardd.mqtt.topics import Topics
from micboardd.server import Metric
from micboardd.state import Store

log = structlog.get_logger("micboardd.mqtt")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
PUBLISH_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0
PUBLISH_BATCH = 256
#: the longest pause between two batches of meters (_trickle)
TRICKLE_MAX_GAP_S = 0.05


@dataclass(slots=True)
class BridgeStats:
    connects: int = 0
    connect_failures: int = 0
    published: int = 0
    publish_failures: int = 0
    stale_cleared: int = 0


class MqttBridge:
    def __init__(self, store: Store, cfg: MqttConfig, run_command: RunCommand) -> None:
        self.store = store
        self.cfg = cfg
        self.topics = Topics(cfg.topic_prefix, cfg.site, cfg.discovery_prefix)
        self.identifier = cfg.client_id or f"micboardd-{cfg.site}-{secrets.token_hex(4)}"
        self.stats = BridgeStats()
        self.publisher = Publisher(store, cfg, self.topics)
        self.commands = Commands(run_command, self._publish_soon)
        self.remote = (RemoteSites(store, cfg.topic_prefix, list(cfg.remote_sites))
                       if cfg.remote_sites else None)
        self._wake = asyncio.Event()
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._next_meter = 0.0

    @property
    def connected(self) -> bool:
        return self.publisher.connected

    @connected.setter
    def connected(self, value: bool) -> None:
        self.publisher.connected = value

    def discovery_payloads(self, dev: dict[str, Any]) -> dict[str, bytes]:
        return self.publisher.discovery.payloads(dev)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self._on_patch)
        self._task = asyncio.create_task(self._run(), name="mqtt")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        client = self._client
        if client is not None and self.connected:
            # a clean disconnect does not fire the last will: say it ourselves
            with contextlib.suppress(Exception):
                await client.publish(self.topics.status, b"offline", qos=1, retain=True,
                                     timeout=STOP_TIMEOUT_S)
        self.commands.cancel()
        for t in list(self._tasks):
            t.cancel()
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S * 2)
            if not done:
                log.warning("mqtt_stop_slow", broker=self.cfg.safe_url)
            self._task = None
        if self.remote is not None:
            self.remote.close()
        self.connected = False

    def metrics(self) -> list[Metric]:
        s = self.stats
        out: list[Metric] = [
            ("mqtt_connected", "gauge", "1 while connected to the MQTT broker.",
             1 if self.connected else 0),
            ("mqtt_connects_total", "counter", "Successful connections to the MQTT broker.",
             s.connects),
            ("mqtt_connect_failures_total", "counter",
             "Connections to the MQTT broker that failed or were lost.", s.connect_failures),
            ("mqtt_published_total", "counter", "MQTT messages published.", s.published),
            ("mqtt_publish_failures_total", "counter",
             "MQTT publishes that failed or timed out (state is republished on reconnect).",
             s.publish_failures),
            ("mqtt_events_dropped_total", "counter",
             "Events dropped: the queue for the broker was full or a publish failed.",
             self.publisher.events_dropped),
            ("mqtt_updates_while_disconnected_total", "counter",
             "State changes not sent one by one because the broker was away (the latest "
             "state is republished on reconnect).", self.publisher.updates_while_disconnected),
            ("mqtt_commands_total", "counter", "Commands received over MQTT.",
             self.commands.received),
            ("mqtt_commands_rejected_total", "counter",
             "Commands over MQTT that were refused before reaching a device.",
             self.commands.rejected),
            ("mqtt_stale_cleared_total", "counter",
             "Retained devices of this site left by an earlier run and cleared.",
             s.stale_cleared),
        ]
        if self.remote is not None:
            out += [
                ("mqtt_remote_messages_total", "counter", "Messages from remote sites.",
                 self.remote.stats.messages),
                ("mqtt_remote_rejected_total", "counter",
                 "Messages from remote sites that were not valid state.",
                 self.remote.stats.rejected),
            ]
        return out

    def _on_patch(self, seq: int, patch: dict[str, Any], meter_only: bool) -> None:
        if self.publisher.on_patch(seq, patch, meter_only):
            self._wake.set()

    def _mark_all(self) -> None:
        """After a (re)connect: everything goes out again (a restarted broker without
        persistence has forgotten every retained message)."""
        self.publisher.mark_all()
        self._wake.set()

    # -- connection ---------------------------------------------------------------------

    def _make_client(self) -> Client:
        client = Client(
            **broker_params(self.cfg),
            identifier=self.identifier,
            will=Will(self.topics.status, b"offline", qos=1, retain=True),
            keepalive=self.cfg.keepalive_s,
            timeout=PUBLISH_TIMEOUT_S,
            max_queued_incoming_messages=10_000,
        )
        client.pending_calls_threshold = PUBLISH_BATCH * 2
        return client

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            try:
                client = self._make_client()
                async with client:
                    self._client = client
                    self.connected = True
                    self.stats.connects += 1
                    backoff = BACKOFF_MIN_S
                    log.info("mqtt_connected", broker=self.cfg.safe_url, client_id=self.identifier)
                    await self._session(client)
            except MqttError as exc:
                self.stats.connect_failures += 1
                log.warning("mqtt_disconnected" if self.connected else "mqtt_connect_failed",
                            broker=self.cfg.safe_url, error=str(exc), retry_in_s=round(backoff, 2))
            except Exception:
                self.stats.connect_failures += 1
                log.exception("mqtt_bridge_failed", broker=self.cfg.safe_url)
            finally:
                self._client = None
                if self.connected:
                    self.connected = False
                    if self.remote is not None:
                        self.remote.broker_lost()
            await asyncio.sleep(backoff * random.uniform(0.75, 1.25))
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _session(self, client: Client) -> None:
        await client.publish(self.topics.status, b"online", qos=1, retain=True)
        subs = []
        if self.remote is not None:
            self.remote.broker_connected()
            subs += self.remote.subscriptions()
        if self.cfg.commands:
            subs += [self.topics.channel_set("+", "+", "+"), self.topics.device_set("+", "+")]
        # our own retained devices: any this run does not have are stale and cleared
        subs += [self.topics.device_state("+"), self.topics.bridge]
        self._mark_all()
        receiver = asyncio.create_task(self._receive(client), name="mqtt-receive")
        flusher = asyncio.create_task(self._flusher(client), name="mqtt-flush")
        try:
            for topic in subs:
                await client.subscribe(topic, qos=1)
            done, _ = await asyncio.wait({receiver, flusher},
                                         return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # re-raise what ended the session
        finally:
            for t in (receiver, flusher):
                t.cancel()
            await asyncio.gather(receiver, flusher, return_exceptions=True)

    # -- publishing ---------------------------------------------------------------------

    async def _flusher(self, client: Client) -> None:
        loop = asyncio.get_running_loop()
        interval = self.cfg.meter_interval_s
        while True:
            if self.publisher.has_meters:
                wait = self._next_meter - loop.time()
                if wait > 0:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose
                    # a cancel that comes as the wake-up does (CPython gh-86296), and
                    # this loop would outlive the bridge's stop
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._wake.wait()
            else:
                await self._wake.wait()
            self._wake.clear()
            now = loop.time()
            meters = now >= self._next_meter
            if meters:
                self._next_meter = now + interval
            urgent, metered = self.publisher.collect_split(meters)
            await self._send(client, urgent)
            await self._trickle(client, metered, interval)

    async def _trickle(self, client: Client, items: list[tuple[bool, str]],
                       interval: float) -> None:
        """Meters in batches spread over up to half the interval, with any change that
        comes meanwhile sent first: a site reading them handles messages in order, and
        a second's worth at once would hold a rename up behind thousands of meters."""
        if not items:
            return
        n = (len(items) + PUBLISH_BATCH - 1) // PUBLISH_BATCH
        gap = min(TRICKLE_MAX_GAP_S, interval / 2 / n)
        for i in range(0, len(items), PUBLISH_BATCH):
            if i:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(gap):  # (not wait_for: see _flusher)
                        await self._wake.wait()
                if self._wake.is_set():
                    self._wake.clear()
                    await self._send(client, self.publisher.collect_split(False)[0])
            await self._send(client, self.publisher.states(items[i:i + PUBLISH_BATCH]))

    async def _send(self, client: Client, msgs: list[Message]) -> None:
        # QoS 0 (states, meters, events: most messages) has nothing to confirm: it goes
        # to aiomqtt's paho client directly, without a task and a wait per message (at
        # thousands of channels that was a fifth of the daemon's work, docs/benchmarks.md)
        paho = getattr(client, "_client", None)
        for i in range(0, len(msgs), PUBLISH_BATCH):
            batch = msgs[i:i + PUBLISH_BATCH]
            if paho is not None:
                for topic, payload, retain, qos in batch:
                    if qos == 0:
                        info = paho.publish(topic, payload, 0, retain)
                        if info.rc != 0:
                            self.stats.publish_failures += len(msgs) - i
                            raise MqttError(f"publish failed (paho rc {info.rc})")
                self.stats.published += sum(1 for m in batch if m[3] == 0)
                batch = [m for m in batch if m[3] != 0]
            results = await asyncio.gather(
                *(client.publish(t, p, qos=q, retain=r, timeout=PUBLISH_TIMEOUT_S)
                  for t, p, r, q in batch),
                return_exceptions=True)
            await asyncio.sleep(0)  # the socket takes what was queued
            failed = [(m, r) for m, r in zip(batch, results, strict=True)
                      if isinstance(r, BaseException)]
            self.stats.published += len(batch) - len(failed)
            if failed:
                self.stats.publish_failures += len(failed) + len(msgs) - i - len(batch)
                self.publisher.events_dropped += sum(
                    1 for (t, *_), _ in failed if t == self.topics.events)
                for r in results:
                    if isinstance(r, asyncio.CancelledError):
                        raise r
                err = failed[0][1]
                # a publish that failed or timed out means the connection is broken or
                # the broker cannot keep up: reconnect (bounds paho's queue) and republish
                raise err if isinstance(err, MqttError) else MqttError(repr(err))

    # -- incoming -----------------------------------------------------------------------

    async def _receive(self, client: Client) -> None:
        own = self.topics.base + "/"
        async for msg in client.messages:
            topic = msg.topic.value
            p = msg.payload
            payload = bytes(p) if isinstance(p, bytes | bytearray) else (
                b"" if p is None else str(p).encode())
            if self.remote is not None and self.remote.handle(topic, payload):
                continue
            if not topic.startswith(own):
                continue
            parts = topic[len(own):].split("/")
            if parts == ["bridge"]:
                if payload.strip() == b"1" and not msg.retain:
                    # the broker bridge to the central broker is back: what it missed
                    # is not retained there, so send everything again
                    log.info("mqtt_bridge_link_up", topic=topic)
                    self._mark_all()
            elif len(parts) == 3 and parts[0] == "device" and parts[2] == "state":
                if msg.retain and payload:
                    self._maybe_stale(parts[1], payload)
            elif self.cfg.commands and len(parts) >= 3 and parts[-2] == "set":
                self.commands.handle(topic, parts, payload)

    def _maybe_stale(self, dev_id: str, payload: bytes) -> None:
        """A retained device this run does not have: a leftover of an earlier run (the
        device was removed from the configuration while the daemon was down)."""
        if self.publisher.knows(dev_id):
            return
        numbers: list[int] = []
        with contextlib.suppress(Exception):
            for k in orjson.loads(payload).get("channels") or []:
                numbers.append(int(str(k).rpartition("/")[2]))
        log.info("mqtt_stale_device_cleared", device=dev_id, channels=numbers)
        self.stats.stale_cleared += 1
        self._events_free_clear(dev_id, numbers)

    def _events_free_clear(self, dev_id: str, numbers: list[int]) -> None:
        msgs = self.publisher.clear_device(dev_id, numbers)
        client = self._client
        if client is not None:
            self._spawn(self._send_quietly(client, msgs))

    async def _send_quietly(self, client: Client, msgs: list[Message]) -> None:
        with contextlib.suppress(MqttError):
            await self._send(client, msgs)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _publish_soon(self, topic: str, payload: bytes) -> bool:
        """Publish one message (qos 1, not retained) without waiting; False without a
        broker connection."""
        client = self._client
        if client is None:
            return False
        self._spawn(self._send_quietly(client, [(topic, payload, False, 1)]))
        return True
