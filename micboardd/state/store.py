"""The state store: the single owner of normalized state.

Links hand it driver events; it applies them, derives each channel's ``status``
(:mod:`micboardd.state.status`), and emits RFC 7396 merge patches with a monotonically
increasing ``seq`` to its subscribers (websocket hub, history recorder, alert engine,
MQTT bridge). Nothing else mutates state. How changes are batched into patches is
:mod:`micboardd.state.batcher`.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from micboardd.config import Config
from micboardd.drivers import ChannelUpdate, DeviceUpdate, Driver, Event
from micboardd.state.batcher import PatchBatcher
from micboardd.state.contract import CLEARED_ON_OFFLINE, JSON
from micboardd.state.layout import Layout
from micboardd.state.status import Holds, battery_level, vocabulary

_log = structlog.get_logger("micboardd.state")


class Subscriber(Protocol):
    def __call__(self, seq: int, patch: JSON, meter_only: bool) -> None: ...


@dataclass(slots=True)
class Stats:
    patches: int = 0
    meter_patches: int = 0
    events: int = 0
    subscriber_errors: int = 0


class Store(Layout):
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.clock = clock
        self.seq = 0
        self.devices: dict[str, JSON] = {}
        self.channels: dict[str, JSON] = {}
        self.slots: list[JSON] = []
        self.groups: list[JSON] = []
        #: extra top-level keyed sections owned by optional parts ("alerts", "sites")
        self.sections: dict[str, JSON] = {}
        self._holds: dict[str, Holds] = {}
        self._subscribers: list[Subscriber] = []
        self._split_cache: dict[str, tuple[str, ...]] = {}
        self._meter_latest: dict[str, JSON] = {}
        #: devices heard since the last meter interval, not yet in the state: their
        #: last_seen is that interval's time (one value for all: the wire shares it)
        self._seen_latest: set[str] = set()
        #: device -> its driver, where meters wait for the next meter interval (the
        #: meter fast path: Driver.collect_meters; registered by the device's link)
        self._meter_sources: dict[str, Driver] = {}
        #: channel -> the meter values last taken from its source (what the state holds
        #: of them, until something else writes them: then the entry goes)
        self._meter_prev: dict[str, Mapping[str, Any]] = {}
        self._next_idx = 0
        self.stats = Stats()
        self.config = config
        self.batch = PatchBatcher(self._emit, self._apply_meters,
                                  config.http.meter_interval_ms / 1000, loop)
        self.reconfigure(config)

    # -- subscriptions ----------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def snapshot(self) -> JSON:
        """The whole state as of ``seq`` (shares structure: serialize, don't mutate)."""
        return {"seq": self.seq, **self.state()}

    def state(self) -> JSON:
        """Everything but ``seq``: what a websocket snapshot carries."""
        return {"devices": self.devices, "channels": self.channels, "slots": self.slots,
                "groups": self.groups, "statuses": _VOCABULARY, **self.sections}

    def put(self, section: str, key: str, value: JSON | None) -> None:
        """Set (or with None delete) ``state[section][key]`` for an optional part, e.g.
        an alert episode; patched to clients like everything else."""
        if section in ("devices", "channels", "slots", "groups", "seq", "statuses"):
            raise ValueError(f"{section!r} belongs to the store")
        sec = self.sections.setdefault(section, {})
        if value is None:
            if sec.pop(key, None) is None:
                return
        else:
            if sec.get(key) == value:
                return
            sec[key] = copy.deepcopy(value)
        self.batch.pend((section,), {key: copy.deepcopy(value)})

    # -- updates from links -----------------------------------------------------------

    def set_link(self, device_id: str, link: str, hint: str | None = None) -> None:
        dev = self.devices.get(device_id)
        if dev is None or (dev["link"] == link and dev["link_hint"] == hint):
            return
        was_online = dev["link"] == "online"
        dev["link"] = link
        dev["link_hint"] = hint
        self.batch.pend(("devices", device_id), {"link": link, "link_hint": hint})
        now = self.clock()
        src = self._meter_sources.get(device_id)
        if src is not None and link != "online":
            src.forget_meters()
        for key in dev["channels"]:
            ch = self.channels[key]
            if link != "online":
                self._meter_latest.pop(key, None)  # never resurrect meters of a dead link
                self._meter_prev.pop(key, None)
            if was_online != (link == "online"):
                self._holds[key].link(link == "online", ch["tx"], now)
            if was_online and link != "online":
                for section, names in CLEARED_ON_OFFLINE.items():
                    sec = ch[section]
                    cleared = {n: None for n in names if sec[n] is not None}
                    if cleared:
                        # null means "unknown" in the contract; keep the key, send null
                        sec.update(cleared)
                        self.batch.pend(("channels", key, section), cleared)
            self._restatus(key, ch, now, heard=False)

    def add_meter_source(self, device_id: str, driver: Driver) -> None:
        """``driver`` collects the device's meters (:meth:`Driver.collect_meters`): they
        are taken from it once per meter interval while the device is online."""
        self._meter_sources[device_id] = driver
        self.batch.schedule_meter()

    def remove_meter_source(self, device_id: str, driver: Driver) -> None:
        if self._meter_sources.get(device_id) is driver:
            del self._meter_sources[device_id]

    def seen(self, device_id: str) -> None:
        """The device was heard (a read that held only meters): ``last_seen``."""
        dev = self.devices.get(device_id)
        if dev is not None:
            self._heard(device_id, dev, self.clock())

    def apply(self, device_id: str, events: Iterable[Event]) -> None:
        """Apply driver events from one device's link."""
        dev = self.devices.get(device_id)
        if dev is None:
            return
        now = self.clock()
        n_events = 0
        for ev in events:
            n_events += 1
            if type(ev) is ChannelUpdate:
                self._apply_channel(device_id, ev, now)
            elif type(ev) is DeviceUpdate:
                self._apply_device(dev, ev, now)
        self.stats.events += n_events
        self._heard(device_id, dev, now)

    def _heard(self, device_id: str, dev: JSON, now: float) -> None:
        if device_id in self._seen_latest:
            return
        last = dev["last_seen"]
        if last is None or now - last >= 1.0:
            # at most once a second: staleness needs seconds, and bytes to browsers count.
            # It reaches the state with the meters, so the state never runs ahead of seq.
            self._seen_latest.add(device_id)
            self.batch.schedule_meter()

    def _apply_device(self, dev: JSON, ev: DeviceUpdate, now: float) -> None:
        changed: JSON = {}
        for k, v in ev.values.items():
            if k == "channel_count":
                if isinstance(v, int):
                    for n in range(1, v + 1):
                        self._ensure_channel(dev["id"], n)
                continue
            if k in dev and dev[k] != v:
                dev[k] = v
                changed[k] = v
        if changed:
            self.batch.pend(("devices", dev["id"]), changed)

    def _apply_channel(self, device_id: str, ev: ChannelUpdate, now: float) -> None:
        key = f"{device_id}/{ev.channel}"
        if ev.meter or ev.values.keys() <= _PACED:
            # Hot path (ten thousand a second at venue scale): keep the latest values
            # and diff them once per meter interval in _apply_meters.
            latest = self._meter_latest.get(key)
            if latest is None:
                self._meter_latest[key] = dict(ev.values)
                if key not in self.channels:
                    self._ensure_channel(device_id, ev.channel)
            else:
                latest.update(ev.values)
            if ev.values.get("audio.peak"):
                # a peak must light AUDIO_PEAK even if the next sample clears it
                self._holds[key].peak_until = now + self.config.status.peak_hold_s
                pch = self.channels[key]
                if pch["status"] != "AUDIO_PEAK":
                    self._restatus(key, pch, now)
            self.batch.schedule_meter()
            return
        ch = self.channels.get(key)
        if ch is None:
            ch = self._ensure_channel(device_id, ev.channel)
        self._meter_prev.pop(key, None)  # (it may write a meter field)
        self._apply_values(key, ch, ev.values, False, now)

    def _apply_meters(self) -> None:
        """Fold the latest meter values of every channel into the pending meter patch."""
        if self._seen_latest:
            seen, self._seen_latest = self._seen_latest, set()
            ts = round(self.clock(), 3)
            for device_id in seen:
                dev = self.devices.get(device_id)
                if dev is not None:
                    dev["last_seen"] = ts
                    self.batch.pend(("devices", device_id), {"last_seen": ts}, meter=True,
                                    schedule=False)
        latest, self._meter_latest = self._meter_latest, {}
        now = self.clock()
        channels = self.channels
        prev = self._meter_prev
        for key, values in latest.items():
            ch = channels.get(key)
            if ch is not None:
                prev.pop(key, None)
                self._apply_values(key, ch, values, True, now)
        if self._meter_sources:
            devices = self.devices
            for device_id, driver in self._meter_sources.items():
                if driver.meters or driver.peaked:
                    dev = devices.get(device_id)
                    if dev is None or dev["link"] != "online":
                        driver.take_meters()  # never resurrect meters of a dead link
                    else:
                        self._apply_source(device_id, driver, now)
            self.batch.schedule_meter()  # the sources are read every interval

    def _apply_source(self, device_id: str, driver: Driver, now: float) -> None:
        """The meters a driver collected since the last interval (the latest of each
        channel; a peak in between still lights AUDIO_PEAK)."""
        meters, peaked = driver.take_meters()
        prefix = device_id + "/"
        channels = self.channels
        prev = self._meter_prev
        for n, values in meters.items():
            key = prefix + str(n)
            ch = channels.get(key)
            if ch is None:
                ch = self._ensure_channel(device_id, n)
            last = prev.get(key)
            prev[key] = values
            if last is not None:
                # most of a SAMPLE repeats the last one: compare the items in C, then
                # look at the fields that moved only
                moved: Collection[tuple[str, Any]]
                try:
                    moved = values.items() - last.items()
                except TypeError:  # an unhashable value: field by field, below
                    moved = list(values.items())
                if not moved:
                    continue
                values = dict(moved)
            self._apply_values(key, ch, values, True, now)
        for n in peaked:
            key = prefix + str(n)
            pch = channels.get(key)
            if pch is not None:
                self._holds[key].peak_until = now + self.config.status.peak_hold_s
                if pch["status"] != "AUDIO_PEAK":
                    self._restatus(key, pch, now)

    def _apply_values(self, key: str, ch: JSON, values: Mapping[str, Any], meter: bool,
                      now: float) -> None:
        pch: JSON | None = None  # this channel's node in the pending patch
        restatus = False
        cache = self._split_cache
        for path, value in values.items():
            parts = cache.get(path)
            if parts is None:
                parts = cache[path] = tuple(path.split("."))
            if len(parts) == 1:
                if path in ch and ch[path] == value:
                    continue
                ch[path] = value
                if pch is None:
                    pch = self.batch.channel_node(key, meter)
                pch[path] = value
            else:
                section, name = parts
                sec = ch[section]
                if name in sec and sec[name] == value:
                    continue
                sec[name] = value
                if pch is None:
                    pch = self.batch.channel_node(key, meter)
                psec = pch.get(section)
                if psec is None:
                    pch[section] = {name: value}
                else:
                    psec[name] = value
                if section == "tx" or name == "peak":
                    restatus = True
                elif name == "level_pct" and section == "rf":
                    self._holds[key].note_rf(value, now)
        if pch is None:
            return
        if not meter:
            # meters alone do not move "updated": it would cost every client bytes for
            # every channel every second; staleness is the device's last_seen
            ch["updated"] = pch["updated"] = round(now, 3)
            self.batch.schedule()
        if restatus:
            self._restatus(key, ch, now)

    # -- status -----------------------------------------------------------------------

    def _restatus(self, key: str, ch: JSON, now: float, heard: bool = True) -> None:
        """Derive the status again (``heard``: after news from the receiver, which may
        say the transmitter came or went)."""
        holds = self._holds[key]
        tx = ch["tx"]
        holds.note(battery_level(tx["battery_bars"], tx["battery_minutes"]),
                   ch["audio"]["peak"], now, self.config.status.peak_hold_s)
        dev = self.devices.get(ch["device"])
        went = holds.went(tx, dev is not None and dev["link"] == "online", now) if heard else {}
        if went:
            tx.update(went)
            self.batch.pend(("channels", key, "tx"), dict(went))
        status = self._derive_status(ch, holds, now, ch["device"])
        old = ch["status"]
        if status != old:
            ch["status"] = status
            if "AUDIO_PEAK" in (status, old) and status != "RX_OFFLINE" and old != "RX_OFFLINE":
                # a peak lighting or going out is meter news: it travels at the meter
                # pace (hundreds a minute at venue scale), not as a message of its own
                self.batch.pend(("channels", key), {"status": status}, meter=True)
            else:
                self.batch.pend(("channels", key), {"status": status})

    def sweep(self) -> None:
        """Expire PREV_* and AUDIO_PEAK holds; the daemon calls this once a second."""
        now = self.clock()
        hold = self.config.status.prev_hold_s
        for key, holds in self._holds.items():
            ch = self.channels[key]
            if holds.expired(ch["status"], now, hold):
                self._restatus(key, ch, now, heard=False)

    # -- flushing ---------------------------------------------------------------------

    def flush(self) -> None:
        """Emit everything pending now as one patch, meters included (shutdown, tests)."""
        self.batch.flush()

    def _emit(self, patch: JSON, meter_only: bool) -> None:
        self.seq += 1
        self.stats.patches += 1
        if meter_only:
            self.stats.meter_patches += 1
        seq = self.seq
        for fn in list(self._subscribers):
            try:
                fn(seq, patch, meter_only)
            except Exception:  # a broken consumer must not break the store
                self.stats.subscriber_errors += 1
                _log.exception("subscriber_failed", subscriber=repr(fn))


_VOCABULARY = vocabulary()


#: Fields that travel at the meter pace although drivers do not call them meters: the
#: runtime countdown changes once a minute on every transmitter, which at venue scale is
#: a message a second or more to every browser if each went out on its own.
_PACED = frozenset({"tx.battery_minutes", "tx.battery_minutes_state"})
