"""MQTT bridge: the normalized state on a broker, Home Assistant discovery, commands,
and other sites' channels (``micboardd.remote``). Off unless ``mqtt`` is configured.

Topic tree (``P`` = ``topic_prefix/site``; docs/mqtt.md has the full description)::

    P/status                                  online | offline   retained, last will
    P/events                                  JSON event         not retained
    P/device/<device>/state                   device object      retained
    P/device/<device>/availability            online | offline   retained
    P/device/<device>/set/identify            command            (mqtt.commands)
    P/channel/<device>/<n>/state              channel object     retained
    P/channel/<device>/<n>/set/<kind>         command: name | mute | identify
    <command topic>/result                    JSON result        not retained
    <discovery_prefix>/<component>/<object_id>/config   Home Assistant discovery

Never in the way: the store calls :meth:`MqttBridge._on_patch` synchronously and it only
marks keys dirty in sets bounded by the number of channels; one flush task serializes
what is dirty (latest value wins) and publishes it. Meters (and ``last_seen``) go out
at most every ``meter_interval_s``; anything else at once. While the broker is away the
dirty sets just stay dirty; on (re)connect everything is republished. Events wait in a
bounded deque; what falls off is counted in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import orjson
import structlog
from aiomqtt import Client, MqttError, TLSParameters, Will

from micboardd.config import Config, MqttConfig
from micboardd.remote import SITES, RemoteSites
from micboardd.store import JSON, STATUSES

if TYPE_CHECKING:
    from micboardd.daemon import Daemon

log = structlog.get_logger("micboardd.mqtt")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
PUBLISH_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0
PUBLISH_BATCH = 256
MAX_EVENTS = 512
MAX_COMMANDS_IN_FLIGHT = 16
MAX_COMMAND_PAYLOAD = 4096
COMMAND_KINDS = ("name", "mute", "identify")

_CORE_SECTIONS = frozenset({"devices", "channels", "slots", "groups", "seq", SITES})
_METER_FIELDS = {
    "rf": frozenset({"antennas", "level_pct", "rssi_dbm", "quality"}),
    "audio": frozenset({"level_pct", "dbfs", "peak_dbfs", "peak"}),
}
_TRUE = frozenset({"on", "true", "1", "yes", "mute", "muted"})
_FALSE = frozenset({"off", "false", "0", "no", "unmute", "unmuted"})

Message = tuple[str, bytes, bool, int]  # topic, payload, retain, qos


def _meters_only(ch: JSON) -> bool:
    """Whether a channel's patch touches nothing but meters (and ``updated``)."""
    for k, v in ch.items():
        if k == "updated":
            continue
        allowed = _METER_FIELDS.get(k)
        if allowed is None or not isinstance(v, dict) or not allowed.issuperset(v):
            return False
    return True


def _object_id(*parts: str | int) -> str:
    """An MQTT-discovery object id: [a-zA-Z0-9_-] only."""
    raw = "_".join(str(p) for p in parts)
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)


def _manufacturer(driver: str | None) -> str:
    if driver and driver.startswith("shure-"):
        return "Shure"
    if driver and driver.startswith("sennheiser-"):
        return "Sennheiser"
    return driver or "unknown"


def _has_mute(driver: str | None) -> bool:
    try:
        from micboardd.drivers import driver_class

        return bool(getattr(driver_class(driver or ""), "HAS_MUTE", True))
    except Exception:
        return True


def _tristate(expr: str, on: str = "ON", off: str = "OFF") -> str:
    """Jinja for a nullable bool: ``None`` is how MQTT entities in HA say unknown."""
    return (f"{{% if {expr} is none %}}None{{% elif {expr} %}}{on}"
            f"{{% else %}}{off}{{% endif %}}")


#: (suffix, component, fields) of the Home Assistant entities of one channel
SENSORS: tuple[tuple[str, str, JSON], ...] = (
    ("battery", "sensor", {
        "name": "Battery", "device_class": "battery", "unit_of_measurement": "%",
        "state_class": "measurement",
        "value_template": (
            "{% set t = value_json.tx %}{% if t.battery_percent is not none %}"
            "{{ t.battery_percent }}{% elif t.battery_bars is not none %}"
            "{{ t.battery_bars * 20 }}{% else %}None{% endif %}"),
    }),
    ("battery_time", "sensor", {
        "name": "Battery time left", "device_class": "duration",
        "unit_of_measurement": "min", "value_template": "{{ value_json.tx.battery_minutes }}",
    }),
    ("rf_level", "sensor", {
        "name": "RF level", "unit_of_measurement": "%", "state_class": "measurement",
        "icon": "mdi:antenna", "value_template": "{{ value_json.rf.level_pct }}",
    }),
    ("audio_level", "sensor", {
        "name": "Audio level", "unit_of_measurement": "%", "state_class": "measurement",
        "icon": "mdi:microphone", "value_template": "{{ value_json.audio.level_pct }}",
    }),
    ("status", "sensor", {
        "name": "Status", "device_class": "enum", "options": list(STATUSES),
        "value_template": "{{ value_json.status }}",
    }),
    ("name", "sensor", {
        "name": "Name", "icon": "mdi:label-outline", "value_template": "{{ value_json.name }}",
    }),
    ("transmitter", "binary_sensor", {
        "name": "Transmitter", "device_class": "power", "payload_on": "ON",
        "payload_off": "OFF", "value_template": _tristate("value_json.tx.present"),
    }),
)


class Topics:
    def __init__(self, prefix: str, site: str, discovery_prefix: str) -> None:
        self.base = f"{prefix}/{site}"
        self.discovery_prefix = discovery_prefix
        self.status = f"{self.base}/status"
        self.events = f"{self.base}/events"
        self.bridge = f"{self.base}/bridge"

    def device_state(self, dev: str) -> str:
        return f"{self.base}/device/{dev}/state"

    def availability(self, dev: str) -> str:
        return f"{self.base}/device/{dev}/availability"

    def channel_state(self, dev: str, n: int | str) -> str:
        return f"{self.base}/channel/{dev}/{n}/state"

    def channel_set(self, dev: str, n: int | str, kind: str) -> str:
        return f"{self.base}/channel/{dev}/{n}/set/{kind}"

    def device_set(self, dev: str, kind: str) -> str:
        return f"{self.base}/device/{dev}/set/{kind}"

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{object_id}/config"


def broker_params(cfg: MqttConfig) -> dict[str, Any]:
    """Client keyword arguments from the URL (user info there is overridden by the
    explicit ``username``/``password`` fields)."""
    u = urlsplit(cfg.url)
    tls = cfg.tls or u.scheme == "mqtts"
    username = cfg.username if cfg.username is not None else (
        unquote(u.username) if u.username else None)
    password = cfg.password if cfg.password is not None else (
        unquote(u.password) if u.password else None)
    return {
        "hostname": u.hostname or "localhost",
        "port": u.port or (8883 if tls else 1883),
        "username": username,
        "password": password,
        "tls_params": TLSParameters(ca_certs=cfg.ca_file) if tls else None,
    }


@dataclass(slots=True)
class BridgeStats:
    connects: int = 0
    connect_failures: int = 0
    published: int = 0
    publish_failures: int = 0
    events_dropped: int = 0
    updates_while_disconnected: int = 0
    commands: int = 0
    commands_rejected: int = 0
    stale_cleared: int = 0


class MqttBridge:
    def __init__(self, daemon: Daemon, cfg: MqttConfig) -> None:
        self.daemon = daemon
        self.store = daemon.store
        self.cfg = cfg
        self.topics = Topics(cfg.topic_prefix, cfg.site, cfg.discovery_prefix)
        self.identifier = cfg.client_id or f"micboardd-{cfg.site}-{secrets.token_hex(4)}"
        self.stats = BridgeStats()
        self.connected = False
        self.remote = (RemoteSites(self.store, cfg.topic_prefix, list(cfg.remote_sites))
                       if cfg.remote_sites else None)
        # dirty bookkeeping, bounded by the number of devices and channels
        self._dirty_channels: set[str] = set()
        self._meter_channels: set[str] = set()
        self._gone_channels: set[str] = set()
        self._dirty_devices: set[str] = set()
        self._meter_devices: set[str] = set()
        self._gone_devices: set[str] = set()
        self._events: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._resend_all = False
        # what we believe is retained on the broker (to clear on removal)
        self._availability: dict[str, str] = {}
        self._discovery: dict[str, dict[str, bytes]] = {}  # device -> topic -> payload
        self._published_channels: dict[str, set[int]] = {}
        self._last_status: dict[str, str] = {
            k: ch["status"] for k, ch in self.store.channels.items() if ":" not in ch["device"]}
        self._last_link: dict[str, str] = {
            i: d["link"] for i, d in self.store.devices.items() if ":" not in i}
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._commands: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._next_meter = 0.0

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
        for t in list(self._commands):
            t.cancel()
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S * 2)
            if not done:
                log.warning("mqtt_stop_slow", broker=self.cfg.url)
            self._task = None
        if self.remote is not None:
            self.remote.close()
        self.connected = False

    def metrics(self) -> list[tuple[str, str, str, float]]:
        s = self.stats
        out: list[tuple[str, str, str, float]] = [
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
             s.events_dropped),
            ("mqtt_updates_while_disconnected_total", "counter",
             "State changes not sent one by one because the broker was away (the latest "
             "state is republished on reconnect).", s.updates_while_disconnected),
            ("mqtt_commands_total", "counter", "Commands received over MQTT.", s.commands),
            ("mqtt_commands_rejected_total", "counter",
             "Commands over MQTT that were refused before reaching a device.",
             s.commands_rejected),
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

    # -- from the store (synchronous, on the loop: mark and return) ----------------------

    def _on_patch(self, seq: int, patch: JSON, meter_only: bool) -> None:
        urgent = False
        touched = 0
        had_meters = bool(self._meter_channels or self._meter_devices)
        chans = patch.get("channels")
        if chans:
            for key, ch in chans.items():
                dev_id = key.rpartition("/")[0]
                if ":" in dev_id:
                    continue  # a remote site's channel: that site publishes it
                touched += 1
                if ch is None:
                    self._gone_channels.add(key)
                    self._dirty_channels.discard(key)
                    self._meter_channels.discard(key)
                    self._last_status.pop(key, None)
                    urgent = True
                elif meter_only or _meters_only(ch):
                    if key not in self._dirty_channels:
                        self._meter_channels.add(key)
                else:
                    self._dirty_channels.add(key)
                    self._meter_channels.discard(key)
                    urgent = True
                    status = ch.get("status")
                    if status is not None:
                        self._status_changed(key, status)
        devs = patch.get("devices")
        if devs:
            for dev_id, dev in devs.items():
                if ":" in dev_id:
                    continue
                touched += 1
                if dev is None:
                    self._gone_devices.add(dev_id)
                    self._dirty_devices.discard(dev_id)
                    self._meter_devices.discard(dev_id)
                    self._last_link.pop(dev_id, None)
                    urgent = True
                elif meter_only or set(dev) <= {"last_seen"}:
                    if dev_id not in self._dirty_devices:
                        self._meter_devices.add(dev_id)
                else:
                    self._gone_devices.discard(dev_id)
                    self._dirty_devices.add(dev_id)
                    self._meter_devices.discard(dev_id)
                    urgent = True
                    link = dev.get("link")
                    if link is not None:
                        self._link_changed(dev_id, link)
        for section, value in patch.items():
            if section in _CORE_SECTIONS or not isinstance(value, dict):
                continue
            current = self.store.sections.get(section, {})
            for k in value:
                self._event({"type": section, "key": k, "value": current.get(k)})
                urgent = True
        if not self.connected:
            self.stats.updates_while_disconnected += touched
        elif urgent or (not had_meters and (self._meter_channels or self._meter_devices)):
            # meters: wake the flusher so that it starts its interval timer
            self._wake.set()

    def _status_changed(self, key: str, status: str) -> None:
        before = self._last_status.get(key)
        self._last_status[key] = status
        if before is not None and before != status:
            self._event({"type": "status", "channel": key, "status": status,
                         "previous": before})

    def _link_changed(self, dev_id: str, link: str) -> None:
        before = self._last_link.get(dev_id)
        self._last_link[dev_id] = link
        if before is not None and before != link:
            hint = self.store.devices.get(dev_id, {}).get("link_hint")
            self._event({"type": "link", "device": dev_id, "link": link, "previous": before,
                         "hint": hint})

    def _event(self, ev: JSON) -> None:
        ev["site"] = self.cfg.site
        ev["ts"] = round(time.time(), 3)
        if len(self._events) >= MAX_EVENTS:
            self._events.popleft()
            self.stats.events_dropped += 1
        self._events.append(orjson.dumps(ev))
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
                    log.info("mqtt_connected", broker=self.cfg.url, client_id=self.identifier)
                    await self._session(client)
            except MqttError as exc:
                self.stats.connect_failures += 1
                log.warning("mqtt_disconnected" if self.connected else "mqtt_connect_failed",
                            broker=self.cfg.url, error=str(exc), retry_in_s=round(backoff, 2))
            except Exception:
                self.stats.connect_failures += 1
                log.exception("mqtt_bridge_failed", broker=self.cfg.url)
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

    def _mark_all(self) -> None:
        """After a (re)connect: everything goes out again (a restarted broker without
        persistence has forgotten every retained message)."""
        for dev_id, dev in self.store.devices.items():
            if ":" in dev_id:
                continue
            self._dirty_devices.add(dev_id)
            self._dirty_channels.update(dev["channels"])
        self._meter_devices.clear()
        self._meter_channels.clear()
        self._resend_all = True
        self._wake.set()

    # -- publishing -----------------------------------------------------------------------

    async def _flusher(self, client: Client) -> None:
        loop = asyncio.get_running_loop()
        interval = self.cfg.meter_interval_s
        while True:
            if self._meter_channels or self._meter_devices:
                wait = self._next_meter - loop.time()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
            else:
                await self._wake.wait()
            self._wake.clear()
            now = loop.time()
            meters = now >= self._next_meter
            if meters:
                self._next_meter = now + interval
            await self._send(client, self._collect(meters))

    def _collect(self, meters: bool) -> list[Message]:
        out: list[Message] = []
        store = self.store
        force = self._resend_all
        self._resend_all = False
        cleared: set[str] = set()
        for dev_id in self._gone_devices:
            if dev_id not in store.devices:
                out += self._clear_device(dev_id, None)
                cleared.add(dev_id)
        self._gone_devices.clear()
        devices = self._dirty_devices
        if meters:
            devices |= self._meter_devices
            self._meter_devices = set()
        self._dirty_devices = set()
        for dev_id in devices:
            dev = store.devices.get(dev_id)
            if dev is not None:
                out += self._device_messages(dev, force)
        for key in self._gone_channels:
            if key not in store.channels:
                dev_id, _, n = key.rpartition("/")
                if dev_id not in cleared:  # else done with its device
                    out += self._clear_channel(dev_id, int(n))
            else:
                self._dirty_channels.add(key)
        self._gone_channels.clear()
        channels = self._dirty_channels
        if meters:
            channels |= self._meter_channels
            self._meter_channels = set()
        self._dirty_channels = set()
        for key in channels:
            ch = store.channels.get(key)
            if ch is None:
                continue
            out.append((self.topics.channel_state(ch["device"], ch["number"]),
                        orjson.dumps(ch), True, 0))
            self._published_channels.setdefault(ch["device"], set()).add(ch["number"])
        while self._events:
            out.append((self.topics.events, self._events.popleft(), False, 0))
        return out

    def _device_messages(self, dev: JSON, force: bool) -> list[Message]:
        dev_id = dev["id"]
        out: list[Message] = [(self.topics.device_state(dev_id), orjson.dumps(dev), True, 0)]
        avail = "online" if dev["link"] == "online" else "offline"
        if force or self._availability.get(dev_id) != avail:
            self._availability[dev_id] = avail
            out.append((self.topics.availability(dev_id), avail.encode(), True, 1))
        if self.cfg.discovery:
            wanted = self.discovery_payloads(dev)
            sent = self._discovery.setdefault(dev_id, {})
            for topic in [t for t in sent if t not in wanted]:
                del sent[topic]
                out.append((topic, b"", True, 1))
            for topic, payload in wanted.items():
                if force or sent.get(topic) != payload:
                    sent[topic] = payload
                    out.append((topic, payload, True, 1))
        return out

    def _clear_device(self, dev_id: str, numbers: list[int] | None) -> list[Message]:
        """Empty retained payloads for everything of a removed device (HA drops the
        entities when their config topic is emptied)."""
        out: list[Message] = [(self.topics.device_state(dev_id), b"", True, 1),
                              (self.topics.availability(dev_id), b"", True, 1)]
        self._availability.pop(dev_id, None)
        nums = set(numbers or ()) | self._published_channels.pop(dev_id, set())
        for n in sorted(nums):
            out.append((self.topics.channel_state(dev_id, n), b"", True, 1))
        topics = set(self._discovery.pop(dev_id, {}))
        if self.cfg.discovery:
            topics |= {self.topics.discovery(comp, self._entity_id(dev_id, n, suffix))
                       for n in nums for suffix, comp, _ in self._entities(None)}
        out += [(t, b"", True, 1) for t in sorted(topics)]
        return out

    def _clear_channel(self, dev_id: str, n: int) -> list[Message]:
        out: list[Message] = [(self.topics.channel_state(dev_id, n), b"", True, 1)]
        self._published_channels.get(dev_id, set()).discard(n)
        sent = self._discovery.get(dev_id, {})
        for suffix, comp, _ in self._entities(None):
            topic = self.topics.discovery(comp, self._entity_id(dev_id, n, suffix))
            if sent.pop(topic, None) is not None:
                out.append((topic, b"", True, 1))
        return out

    async def _send(self, client: Client, msgs: list[Message]) -> None:
        for i in range(0, len(msgs), PUBLISH_BATCH):
            batch = msgs[i:i + PUBLISH_BATCH]
            results = await asyncio.gather(
                *(client.publish(t, p, qos=q, retain=r, timeout=PUBLISH_TIMEOUT_S)
                  for t, p, r, q in batch),
                return_exceptions=True)
            failed = [(m, r) for m, r in zip(batch, results, strict=True)
                      if isinstance(r, BaseException)]
            self.stats.published += len(batch) - len(failed)
            if failed:
                self.stats.publish_failures += len(failed) + len(msgs) - i - len(batch)
                self.stats.events_dropped += sum(
                    1 for (t, *_), _ in failed if t == self.topics.events)
                for r in results:
                    if isinstance(r, asyncio.CancelledError):
                        raise r
                err = failed[0][1]
                # a publish that failed or timed out means the connection is broken or
                # the broker cannot keep up: reconnect (bounds paho's queue) and republish
                raise err if isinstance(err, MqttError) else MqttError(repr(err))

    # -- Home Assistant discovery ---------------------------------------------------------

    def _entity_id(self, dev_id: str, n: int, suffix: str) -> str:
        return _object_id("micboardd", self.cfg.site, dev_id, n, suffix)

    def _entities(self, dev: JSON | None) -> list[tuple[str, str, JSON]]:
        out = list(SENSORS)
        if self.cfg.commands:
            out.append(("rename", "text", {"name": "Rename", "icon": "mdi:rename",
                                            "value_template": "{{ value_json.name or '' }}"}))
            if dev is None or _has_mute(dev.get("driver")):
                out.append(("mute", "switch", {
                    "name": "Mute", "icon": "mdi:microphone-off", "payload_on": "ON",
                    "payload_off": "OFF", "value_template": _tristate("value_json.audio.muted"),
                }))
            out.append(("identify", "button", {"name": "Identify", "payload_press": "ON",
                                                "entity_category": "config"}))
        return out

    def discovery_payloads(self, dev: JSON) -> dict[str, bytes]:
        """Topic -> retained config payload for every entity of a device's channels."""
        dev_id = dev["id"]
        t = self.topics
        device = {
            "identifiers": [_object_id("micboardd", self.cfg.site, dev_id)],
            "name": dev_id,  # configured, unique and stable (device_name may repeat)
            "model": dev.get("model") or dev.get("driver"),
            "manufacturer": _manufacturer(dev.get("driver")),
            "sw_version": dev.get("firmware"),
        }
        device = {k: v for k, v in device.items() if v is not None}
        availability = [{"topic": t.availability(dev_id)}, {"topic": t.status}]
        kinds = {"rename": "name", "mute": "mute", "identify": "identify"}
        out: dict[str, bytes] = {}
        for key in dev["channels"]:
            n = int(key.rpartition("/")[2])
            state = t.channel_state(dev_id, n)
            for suffix, component, fields in self._entities(dev):
                oid = self._entity_id(dev_id, n, suffix)
                cfg: JSON = {
                    **copy.deepcopy(fields),
                    "name": f"Ch {n} {fields['name']}",
                    "unique_id": oid,
                    "device": device,
                    "availability": availability,
                    "availability_mode": "all",
                    "payload_available": "online",
                    "payload_not_available": "offline",
                    "origin": {"name": "micboardd"},
                }
                if component != "button":
                    cfg["state_topic"] = state
                if suffix == "status":
                    cfg["json_attributes_topic"] = state
                if suffix in kinds:
                    cfg["command_topic"] = t.channel_set(dev_id, n, kinds[suffix])
                out[t.discovery(component, oid)] = orjson.dumps(cfg)
        return out

    # -- incoming ---------------------------------------------------------------------------

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
                self._command_message(topic, parts, payload)

    def _maybe_stale(self, dev_id: str, payload: bytes) -> None:
        """A retained device this run does not have: a leftover of an earlier run (the
        device was removed from the configuration while the daemon was down)."""
        if dev_id in self.store.devices or dev_id in self._discovery:
            return
        numbers: list[int] = []
        with contextlib.suppress(Exception):
            for k in orjson.loads(payload).get("channels") or []:
                numbers.append(int(str(k).rpartition("/")[2]))
        log.info("mqtt_stale_device_cleared", device=dev_id, channels=numbers)
        self.stats.stale_cleared += 1
        self._events_free_clear(dev_id, numbers)

    def _events_free_clear(self, dev_id: str, numbers: list[int]) -> None:
        msgs = self._clear_device(dev_id, numbers)
        client = self._client
        if client is not None:
            self._spawn(self._send_quietly(client, msgs))

    async def _send_quietly(self, client: Client, msgs: list[Message]) -> None:
        with contextlib.suppress(MqttError):
            await self._send(client, msgs)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    # -- commands -----------------------------------------------------------------------------

    def _command_message(self, topic: str, parts: list[str], payload: bytes) -> None:
        # channel/<device>/<n>/set/<kind>  or  device/<device>/set/<kind>
        kind = parts[-1]
        if parts[0] == "channel" and len(parts) == 5:
            dev_id, n_raw = parts[1], parts[2]
            channel: int | None = int(n_raw) if n_raw.isdigit() else -1
        elif parts[0] == "device" and len(parts) == 4:
            dev_id, channel = parts[1], None
        else:
            return
        self.stats.commands += 1
        if len(self._commands) >= MAX_COMMANDS_IN_FLIGHT:
            self.stats.commands_rejected += 1
            self._reply(topic, None, 503, "too many commands in flight")
            return
        self._spawn(self._command(topic, dev_id, channel, kind, payload))

    async def _command(self, topic: str, dev_id: str, channel: int | None, kind: str,
                       payload: bytes) -> None:
        req_id, value, problem = _parse_command(kind, payload)
        if problem is None and kind not in COMMAND_KINDS:
            problem = f"kind must be one of {', '.join(COMMAND_KINDS)}"
        if problem is None and channel == -1:
            problem = "channel number must be an integer"
        if problem is not None:
            self.stats.commands_rejected += 1
            self._reply(topic, req_id, 400, problem)
            return
        status, body = await self.daemon.run_command("mqtt", dev_id, channel, kind, value,
                                                     via="mqtt", topic=topic)
        if status != 200:
            self.stats.commands_rejected += 1
        self._reply(topic, req_id, status, body.get("error"), body.get("state"))

    def _reply(self, topic: str, req_id: Any, status: int, error: str | None,
               state: JSON | None = None) -> None:
        body: JSON = {"id": req_id, "ok": status == 200, "status": status}
        if error is not None:
            body["error"] = error
        if state is not None:
            body["state"] = state
        client = self._client
        if client is None:
            log.warning("mqtt_command_result_dropped", topic=topic, status=status)
            return
        self._spawn(self._send_quietly(client, [(topic + "/result", orjson.dumps(body),
                                                 False, 1)]))


def _parse_command(kind: str, payload: bytes) -> tuple[Any, Any, str | None]:
    """(request id, value, problem). A payload that starts with ``{`` is a JSON object
    ``{"value": ..., "id": ...}``; anything else is plain text: the new name, or
    ON/OFF (true/false, 1/0) for mute; identify ignores it."""
    if len(payload) > MAX_COMMAND_PAYLOAD:
        return None, None, "payload too large"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None, None, "payload is not UTF-8"
    if text.lstrip().startswith("{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None, None, "payload starts with { but is not a JSON object"
        if not isinstance(obj, dict):
            return None, None, "payload starts with { but is not a JSON object"
        return obj.get("id"), obj.get("value"), None
    if kind == "mute":
        word = text.strip().lower()
        if word in _TRUE:
            return None, True, None
        if word in _FALSE:
            return None, False, None
        return None, None, "mute takes ON or OFF"
    if kind == "identify":
        return None, None, None
    return None, text, None


# -- the part -------------------------------------------------------------------------------


class _Part:
    """Runs a bridge while ``mqtt`` is configured; a reload that changes it restarts it."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.bridge: MqttBridge | None = None
        self._switching: asyncio.Task[None] | None = None

    async def apply(self, cfg: MqttConfig | None) -> None:
        if self.bridge is not None and self.bridge.cfg == cfg:
            return
        if self.bridge is not None:
            await self.bridge.stop()
            self.bridge = None
        if cfg is not None:
            self.bridge = MqttBridge(self.daemon, cfg)
            self.bridge.start()
            log.info("mqtt_bridge_started", broker=cfg.url, site=cfg.site,
                     discovery=cfg.discovery, commands=cfg.commands,
                     remote_sites=cfg.remote_sites)

    def on_reload(self, new: Config) -> None:
        bridge = self.bridge
        if bridge is not None and bridge.cfg == new.mqtt:
            return  # Store.reconfigure leaves remote (site:device) devices alone
        if bridge is None and new.mqtt is None:
            return
        prev = self._switching

        async def switch() -> None:
            if prev is not None:
                await asyncio.gather(prev, return_exceptions=True)
            await self.apply(self.daemon.config.mqtt)

        self._switching = asyncio.ensure_future(switch())

    def metrics(self) -> list[tuple[str, str, str, float]]:
        return self.bridge.metrics() if self.bridge is not None else []

    async def stop(self) -> None:
        if self._switching is not None:
            await asyncio.gather(self._switching, return_exceptions=True)
        await self.apply(None)


async def start(daemon: Daemon) -> Callable[[], Awaitable[None]]:
    part = _Part(daemon)
    daemon.on_reload.append(part.on_reload)
    daemon.metric_sources.append(part.metrics)
    await part.apply(daemon.config.mqtt)
    return part.stop


__all__ = ["MqttBridge", "Topics", "broker_params", "start"]
