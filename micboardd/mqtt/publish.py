"""What the bridge owes the broker: the store's patches mark devices and channels dirty
(latest value wins, bounded by the number of channels), and :meth:`Publisher.collect`
turns what is dirty into retained messages. Meters (and ``last_seen``) go out at most
every ``meter_interval_s``; anything else at once. It also remembers what it left
retained on the broker, to clear it when a device or channel goes away."""

from __future__ import annotations

import time
from collections import deque

import orjson

from micboardd.config import MqttConfig
from micboardd.mqtt.discovery import Discovery
from micboardd.mqtt.remote import SITES
from micboardd.mqtt.topics import Topics
from micboardd.state import JSON, Store
from micboardd.state.status import channel_meaning, meaning

MAX_EVENTS = 512

_CORE_SECTIONS = frozenset({"devices", "channels", "slots", "groups", "seq", SITES})
_METER_FIELDS = {
    "rf": frozenset({"antennas", "level_pct", "rssi_dbm", "quality", "antenna_warning"}),
    "audio": frozenset({"level_pct", "dbfs", "peak_dbfs", "peak"}),
}

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


class Publisher:
    def __init__(self, store: Store, cfg: MqttConfig, topics: Topics) -> None:
        self.store = store
        self.cfg = cfg
        self.topics = topics
        self.discovery = Discovery(cfg, topics)
        self.connected = False
        self.events_dropped = 0
        self.updates_while_disconnected = 0
        # dirty bookkeeping, bounded by the number of devices and channels
        self._dirty_channels: set[str] = set()
        self._meter_channels: set[str] = set()
        self._gone_channels: set[str] = set()
        self._dirty_devices: set[str] = set()
        self._meter_devices: set[str] = set()
        self._gone_devices: set[str] = set()
        self._events: deque[bytes] = deque()
        self._resend_all = False
        # what we believe is retained on the broker (to clear on removal)
        self._availability: dict[str, str] = {}
        self._discovery: dict[str, dict[str, bytes]] = {}  # device -> topic -> payload
        self._published_channels: dict[str, set[int]] = {}
        self._last_status: dict[str, str] = {
            k: ch["status"] for k, ch in store.channels.items() if ":" not in ch["device"]}
        self._last_link: dict[str, str] = {
            i: d["link"] for i, d in store.devices.items() if ":" not in i}

    @property
    def has_meters(self) -> bool:
        return bool(self._meter_channels or self._meter_devices)

    def knows(self, dev_id: str) -> bool:
        """Whether this run has (or had) the device: else a retained one is stale."""
        return dev_id in self.store.devices or dev_id in self._discovery

    # -- from the store (synchronous, on the loop: mark and return) ---------------------

    def on_patch(self, seq: int, patch: JSON, meter_only: bool) -> bool:
        """Mark what the patch touched; True when the flusher should wake now."""
        had_meters = self.has_meters
        urgent = False
        touched = 0
        for key, ch in (patch.get("channels") or {}).items():
            if ":" not in key.rpartition("/")[0]:  # a remote site publishes its own
                touched += 1
                urgent |= self._channel(key, ch, meter_only)
        for dev_id, dev in (patch.get("devices") or {}).items():
            if ":" not in dev_id:
                touched += 1
                urgent |= self._device(dev_id, dev, meter_only)
        for section, value in patch.items():
            if section in _CORE_SECTIONS or not isinstance(value, dict):
                continue
            current = self.store.sections.get(section, {})
            for k in value:
                self._event({"type": section, "key": k, "value": current.get(k)})
                urgent = True
        if not self.connected:
            self.updates_while_disconnected += touched
            return False
        # meters: wake the flusher so that it starts its interval timer
        return urgent or (not had_meters and self.has_meters)

    def _channel(self, key: str, ch: JSON | None, meter_only: bool) -> bool:
        """Mark one channel's change; True when it is urgent (not only meters)."""
        if ch is None:
            self._gone_channels.add(key)
            self._dirty_channels.discard(key)
            self._meter_channels.discard(key)
            self._last_status.pop(key, None)
            return True
        if meter_only or _meters_only(ch):
            if key not in self._dirty_channels:
                self._meter_channels.add(key)
            return False
        self._dirty_channels.add(key)
        self._meter_channels.discard(key)
        status = ch.get("status")
        if status is not None:
            self._status_changed(key, status)
        return True

    def _device(self, dev_id: str, dev: JSON | None, meter_only: bool) -> bool:
        if dev is None:
            self._gone_devices.add(dev_id)
            self._dirty_devices.discard(dev_id)
            self._meter_devices.discard(dev_id)
            self._last_link.pop(dev_id, None)
            return True
        if meter_only or set(dev) <= {"last_seen"}:
            if dev_id not in self._dirty_devices:
                self._meter_devices.add(dev_id)
            return False
        self._gone_devices.discard(dev_id)
        self._dirty_devices.add(dev_id)
        self._meter_devices.discard(dev_id)
        link = dev.get("link")
        if link is not None:
            self._link_changed(dev_id, link)
        return True

    def _status_changed(self, key: str, status: str) -> None:
        before = self._last_status.get(key)
        self._last_status[key] = status
        if before is not None and before != status:
            ch = self.store.channels.get(key)
            m = channel_meaning(ch) if ch is not None else meaning(status)
            self._event({"type": "status", "channel": key, "status": status,
                         "previous": before, "severity": m.severity, "label": m.label,
                         "message": m.sentence})

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
            self.events_dropped += 1
        self._events.append(orjson.dumps(ev))

    def mark_all(self) -> None:
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

    # -- to the broker ------------------------------------------------------------------

    def collect(self, meters: bool) -> list[Message]:
        """The messages owed to the broker now (meters only when ``meters``)."""
        urgent, metered = self.collect_split(meters)
        return urgent + self.states(metered)

    def collect_split(self, meters: bool) -> tuple[list[Message], list[tuple[bool, str]]]:
        """What is urgent (a name, a battery, a transmitter gone, events), and apart the
        devices and channels (``(is_device, id)``) whose meters are owed (only when
        ``meters``): a change must never wait behind a second's worth of meters, here or
        at a site that reads them (the bridge spreads them out, :meth:`states` makes
        their messages when they go, so they never carry an older name)."""
        out: list[Message] = []
        store = self.store
        force = self._resend_all
        self._resend_all = False
        cleared: set[str] = set()
        for dev_id in self._gone_devices:
            if dev_id not in store.devices:
                out += self.clear_device(dev_id, None)
                cleared.add(dev_id)
        self._gone_devices.clear()
        for key in self._gone_channels:
            if key not in store.channels:
                dev_id, _, n = key.rpartition("/")
                if dev_id not in cleared:  # else done with its device
                    out += self._clear_channel(dev_id, int(n))
            else:
                self._dirty_channels.add(key)
        self._gone_channels.clear()
        devices, self._dirty_devices = self._dirty_devices, set()
        channels, self._dirty_channels = self._dirty_channels, set()
        out += self._states(devices, channels, force)
        while self._events:
            out.append((self.topics.events, self._events.popleft(), False, 0))
        metered: list[tuple[bool, str]] = []
        if meters:
            metered += [(True, d) for d in self._meter_devices - devices]
            metered += [(False, k) for k in self._meter_channels - channels]
            self._meter_devices, self._meter_channels = set(), set()
        return out, metered

    def states(self, items: list[tuple[bool, str]]) -> list[Message]:
        """The state messages of these devices and channels, as they are now."""
        return self._states({i for d, i in items if d}, {i for d, i in items if not d},
                            False)

    def _states(self, devices: set[str], channels: set[str], force: bool) -> list[Message]:
        out: list[Message] = []
        store = self.store
        for dev_id in devices:
            dev = store.devices.get(dev_id)
            if dev is not None:
                out += self._device_messages(dev, force)
        for key in channels:
            ch = store.channels.get(key)
            if ch is None:
                continue
            out.append((self.topics.channel_state(ch["device"], ch["number"]),
                        orjson.dumps(ch), True, 0))
            self._published_channels.setdefault(ch["device"], set()).add(ch["number"])
        return out

    def _device_messages(self, dev: JSON, force: bool) -> list[Message]:
        dev_id = dev["id"]
        out: list[Message] = [(self.topics.device_state(dev_id), orjson.dumps(dev), True, 0)]
        avail = "online" if dev["link"] == "online" else "offline"
        if force or self._availability.get(dev_id) != avail:
            self._availability[dev_id] = avail
            out.append((self.topics.availability(dev_id), avail.encode(), True, 1))
        if self.cfg.discovery:
            wanted = self.discovery.payloads(dev)
            sent = self._discovery.setdefault(dev_id, {})
            for topic in [t for t in sent if t not in wanted]:
                del sent[topic]
                out.append((topic, b"", True, 1))
            for topic, payload in wanted.items():
                if force or sent.get(topic) != payload:
                    sent[topic] = payload
                    out.append((topic, payload, True, 1))
        return out

    def clear_device(self, dev_id: str, numbers: list[int] | None) -> list[Message]:
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
            topics |= self.discovery.channel_topics(dev_id, nums)
        out += [(t, b"", True, 1) for t in sorted(topics)]
        return out

    def _clear_channel(self, dev_id: str, n: int) -> list[Message]:
        out: list[Message] = [(self.topics.channel_state(dev_id, n), b"", True, 1)]
        self._published_channels.get(dev_id, set()).discard(n)
        sent = self._discovery.get(dev_id, {})
        for topic in self.discovery.channel_topics(dev_id, {n}):
            if sent.pop(topic, None) is not None:
                out.append((topic, b"", True, 1))
        return out
