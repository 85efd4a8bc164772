"""The state store: the single owner of normalized state.

Links hand it driver events; it applies them, derives each channel's ``status``, and
emits RFC 7396 merge patches with a monotonically increasing ``seq`` to its subscribers
(websocket hub, history writer, alert engine, MQTT bridge). Nothing else mutates state.

Patches are batched: every change made in one turn of the event loop becomes one patch
(``seq`` + 1) delivered on the next turn. Meter changes (RF and audio levels) keep only
their latest values and go out together once per ``meter_interval`` as a meter-only
patch, so ten thousand SAMPLE frames a second become ten patches a second, and a name
or battery change never waits for them.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from micboardd.config import Config, DeviceConfig, SlotConfig
from micboardd.drivers import ChannelUpdate, DeviceUpdate, Event

JSON = dict[str, Any]
_log = structlog.get_logger("micboardd.store")

LINK_STATES = ("connecting", "online", "offline", "silent")
STATUSES = (
    "GOOD", "REPLACE", "CRITICAL", "PREV_GOOD", "PREV_REPLACE", "PREV_CRITICAL",
    "TX_OFF", "RX_OFFLINE", "AUDIO_PEAK", "UNASSIGNED",
)


def empty_channel(device_id: str, number: int) -> JSON:
    return {
        "key": f"{device_id}/{number}",
        "device": device_id,
        "number": number,
        "name": None,
        "frequency_khz": None,
        "group_channel": None,
        "status": "RX_OFFLINE",
        "tx": {
            "present": None, "model": None, "battery_bars": None, "battery_percent": None,
            "battery_minutes": None, "battery_minutes_state": None, "battery_type": None,
            "muted": None, "offset_db": None, "power_lock": None,
        },
        "rf": {
            "antennas": None, "level_pct": None, "rssi_dbm": None, "quality": None,
            "interference": None, "encryption_ok": None,
        },
        "audio": {
            "level_pct": None, "dbfs": None, "peak_dbfs": None, "peak": None,
            "gain_db": None, "muted": None,
        },
        "updated": None,
    }


# Fields that go null when a receiver link drops: a meter frozen at its last value would
# lie. Names, frequency and the last battery reading stay (and PREV_* shows their age).
_CLEARED_ON_OFFLINE = {
    "rf": ("antennas", "level_pct", "rssi_dbm", "quality"),
    "audio": ("level_pct", "dbfs", "peak_dbfs", "peak"),
}


class Subscriber(Protocol):
    def __call__(self, seq: int, patch: JSON, meter_only: bool) -> None: ...


@dataclass(slots=True)
class _ChannelMeta:
    last_bars: int | None = None  # last real battery reading
    last_bars_at: float = 0.0
    peak_until: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True)
class Stats:
    patches: int = 0
    meter_patches: int = 0
    events: int = 0
    subscriber_errors: int = 0


def merge_into(target: JSON, patch: JSON) -> None:
    """Apply an RFC 7396 merge patch in place."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict):
            cur = target.get(k)
            if not isinstance(cur, dict):
                cur = target[k] = {}
            merge_into(cur, v)
        else:
            target[k] = v


def merge_patches(first: JSON, second: JSON) -> JSON:
    """One merge patch with the effect of ``first`` then ``second`` (in place on first).

    Exact except when ``second`` puts an object where ``first`` deleted one; callers
    that coalesce treat a deleted-then-recreated key as a reason to resynchronise.
    """
    for k, v in second.items():
        cur = first.get(k)
        if isinstance(v, dict) and isinstance(cur, dict):
            merge_patches(cur, v)
        else:
            first[k] = copy.deepcopy(v) if isinstance(v, dict) else v
    return first


class Store:
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
        self._meta: dict[str, _ChannelMeta] = {}
        self._subscribers: list[Subscriber] = []
        self._pending: JSON = {}
        self._pending_meter: JSON = {}
        self._pending_meter_only = True
        self._flush_scheduled = False
        self._meter_timer: asyncio.TimerHandle | None = None
        self._loop = loop
        self._split_cache: dict[str, tuple[str, ...]] = {}
        self._meter_latest: dict[str, JSON] = {}
        self._next_idx = 0
        self.stats = Stats()
        self.config = config
        self.meter_interval = config.http.meter_interval_ms / 1000
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
                "groups": self.groups, **self.sections}

    def put(self, section: str, key: str, value: JSON | None) -> None:
        """Set (or with None delete) ``state[section][key]`` for an optional part, e.g.
        an alert episode; patched to clients like everything else."""
        if section in ("devices", "channels", "slots", "groups", "seq"):
            raise ValueError(f"{section!r} belongs to the store")
        sec = self.sections.setdefault(section, {})
        if value is None:
            if sec.pop(key, None) is None:
                return
        else:
            if sec.get(key) == value:
                return
            sec[key] = copy.deepcopy(value)
        self._pend(self._pending, (section,), {key: copy.deepcopy(value)})

    # -- configuration ----------------------------------------------------------------

    def reconfigure(self, config: Config) -> None:
        """Add, update and remove devices and slots to match ``config``."""
        self.config = config
        self.meter_interval = config.http.meter_interval_ms / 1000
        wanted = {d.id: d for d in config.devices if d.enabled}
        for device_id in list(self.devices):
            if device_id not in wanted and ":" not in device_id:  # remote ones stay
                self.remove_device(device_id)
        for d in wanted.values():
            self.add_device(d)
        self.set_slots(config.slots)
        groups = [g.model_dump() for g in config.groups]
        if groups != self.groups:
            self.groups = groups
            self._pending["groups"] = copy.deepcopy(groups)
            self._schedule()

    def add_device(self, d: DeviceConfig) -> None:
        port = d.port or 2202
        if d.id in self.devices:
            dev = self.devices[d.id]
            changes = {k: v for k, v in (("driver", d.driver), ("host", d.host),
                                          ("port", port)) if dev.get(k) != v}
            if changes:
                dev.update(changes)
                self._pend(self._pending, ("devices", d.id), changes)
            return
        dev = {
            "id": d.id, "driver": d.driver, "host": d.host, "port": port,
            "link": "connecting", "link_hint": None, "model": d.model, "firmware": None,
            "device_name": None, "last_seen": None, "channels": [],
        }
        self.devices[d.id] = dev
        self._pend(self._pending, ("devices",), {d.id: copy.deepcopy(dev)})
        for n in range(1, (d.channel_count() or 0) + 1):
            self._ensure_channel(d.id, n)

    def remove_device(self, device_id: str) -> None:
        dev = self.devices.pop(device_id, None)
        if dev is None:
            return
        self._pend(self._pending, ("devices",), {device_id: None})
        for key in dev["channels"]:
            self.channels.pop(key, None)
            self._meta.pop(key, None)
            self._pend(self._pending, ("channels",), {key: None})
            self._pending_meter.get("channels", {}).pop(key, None)
            self._meter_latest.pop(key, None)

    def _new_idx(self) -> int:
        """A small number naming a channel for the life of this process (never reused):
        compact meter messages refer to channels by it."""
        self._next_idx += 1
        return self._next_idx

    def put_remote(self, device_id: str, device: JSON | None, channels: dict[str, JSON]) -> None:
        """Set a device that no link owns (another site's, through MQTT) with exactly
        ``channels`` (key -> channel object), or with ``device`` None remove it. Its id
        must contain ``:`` (``site:device``), which configured ids cannot."""
        if ":" not in device_id:
            raise ValueError("remote device ids are site:device")
        old = self.devices.get(device_id)
        if device is None:
            if old is not None:
                self.remove_device(device_id)
            return
        if old is not None:
            for key in old["channels"]:
                if key not in channels and self.channels.pop(key, None) is not None:
                    self._pend(self._pending, ("channels",), {key: None})
        for key, ch in channels.items():
            cur = self.channels.get(key)
            ch = {**ch, "idx": cur["idx"] if cur is not None else self._new_idx()}
            if cur is None:
                self.channels[key] = copy.deepcopy(ch)
                self._pend(self._pending, ("channels",), {key: copy.deepcopy(ch)})
            else:
                patch = _diff_into(cur, ch)
                if patch:
                    self._pend(self._pending, ("channels", key), patch)
        dev = {**device, "channels": list(channels)}
        if old is None:
            self.devices[device_id] = copy.deepcopy(dev)
            self._pend(self._pending, ("devices",), {device_id: copy.deepcopy(dev)})
        else:
            patch = _diff_into(old, dev)
            if patch:
                self._pend(self._pending, ("devices", device_id), patch)

    def set_slots(self, slots: Iterable[SlotConfig | JSON]) -> None:
        out: list[JSON] = []
        for s in slots:
            d = s.model_dump() if isinstance(s, SlotConfig) else dict(s)
            out.append({k: d.get(k) for k in ("slot", "channel", "label_id", "label_name",
                                               "group", "active")})
        out.sort(key=lambda s: int(s["slot"]))
        if out != self.slots:
            self.slots = out
            # arrays are replaced whole in a merge patch
            self._pending["slots"] = copy.deepcopy(out)
            self._schedule()

    def _ensure_channel(self, device_id: str, n: int) -> JSON:
        key = f"{device_id}/{n}"
        ch = self.channels.get(key)
        if ch is None:
            ch = empty_channel(device_id, n)
            ch["idx"] = self._new_idx()
            ch["status"] = self._derive_status(ch, _ChannelMeta(), 0.0, device_id)
            self.channels[key] = ch
            self._meta[key] = _ChannelMeta()
            self._pend(self._pending, ("channels",), {key: copy.deepcopy(ch)})
            dev = self.devices[device_id]
            chans = dev["channels"]
            chans.append(key)
            chans.sort(key=lambda k: int(k.rsplit("/", 1)[1]))
            self._pend(self._pending, ("devices", device_id), {"channels": list(chans)})
        return ch

    # -- updates from links -----------------------------------------------------------

    def set_link(self, device_id: str, link: str, hint: str | None = None) -> None:
        dev = self.devices.get(device_id)
        if dev is None or (dev["link"] == link and dev["link_hint"] == hint):
            return
        was_online = dev["link"] == "online"
        dev["link"] = link
        dev["link_hint"] = hint
        self._pend(self._pending, ("devices", device_id), {"link": link, "link_hint": hint})
        now = self.clock()
        for key in dev["channels"]:
            ch = self.channels[key]
            if link != "online":
                self._meter_latest.pop(key, None)  # never resurrect meters of a dead link
            if was_online and link != "online":
                for section, names in _CLEARED_ON_OFFLINE.items():
                    sec = ch[section]
                    cleared = {n: None for n in names if sec[n] is not None}
                    if cleared:
                        # null means "unknown" in the contract; keep the key, send null
                        sec.update(cleared)
                        self._pend_set(key, section, cleared)
            self._restatus(key, ch, now)

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
        last = dev["last_seen"]
        if last is None or now - last >= 1.0:
            # at most once a second: staleness needs seconds, and bytes to browsers count
            dev["last_seen"] = round(now, 3)
            self._pend(self._pending_meter, ("devices", device_id), {"last_seen": dev["last_seen"]})
            self._schedule_meter()

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
            self._pend(self._pending, ("devices", dev["id"]), changed)

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
                self._meta[key].peak_until = now + self.config.status.peak_hold_s
                pch = self.channels[key]
                if pch["status"] != "AUDIO_PEAK":
                    self._restatus(key, pch, now)
            self._schedule_meter()
            return
        ch = self.channels.get(key)
        if ch is None:
            ch = self._ensure_channel(device_id, ev.channel)
        self._apply_values(key, ch, ev.values, False, now)

    def _apply_meters(self) -> None:
        """Fold the latest meter values of every channel into the pending meter patch."""
        latest, self._meter_latest = self._meter_latest, {}
        if not latest:
            return
        now = self.clock()
        channels = self.channels
        for key, values in latest.items():
            ch = channels.get(key)
            if ch is not None:
                self._apply_values(key, ch, values, True, now)

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
                    pch = self._pending_channel(meter, key)
                pch[path] = value
            else:
                section, name = parts
                sec = ch[section]
                if name in sec and sec[name] == value:
                    continue
                sec[name] = value
                if pch is None:
                    pch = self._pending_channel(meter, key)
                psec = pch.get(section)
                if psec is None:
                    pch[section] = {name: value}
                else:
                    psec[name] = value
                if section == "tx" or name == "peak":
                    restatus = True
        if pch is None:
            return
        if not meter:
            # meters alone do not move "updated": it would cost every client bytes for
            # every channel every second; staleness is the device's last_seen
            self._meta[key].updated_at = now
            ch["updated"] = pch["updated"] = round(now, 3)
            self._schedule()
        if restatus:
            self._restatus(key, ch, now)

    def _pending_channel(self, meter: bool, key: str) -> JSON:
        target = self._pending_meter if meter else self._pending
        chans = target.get("channels")
        if chans is None:
            chans = target["channels"] = {}
        node = chans.get(key)
        if node is None:
            node = chans[key] = {}
        return node

    def _pend_set(self, key: str, section: str, values: JSON, target: JSON | None = None) -> None:
        t = self._pending if target is None else target
        chans: JSON | None = t.get("channels")
        if chans is None:
            chans = t["channels"] = {}
        c: JSON | None = chans.get(key)
        if c is None:
            c = chans[key] = {}
        s = c.get(section)
        if s is None:
            c[section] = dict(values)
        elif isinstance(s, dict):
            s.update(values)
        if target is None or target is self._pending:
            self._schedule()

    def _pend(self, target: JSON, path: tuple[str, ...], values: JSON) -> None:
        node = target
        for p in path:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
        for k, v in values.items():
            if isinstance(v, dict) and isinstance(node.get(k), dict):
                merge_patches(node[k], v)
            else:
                node[k] = v
        if target is self._pending:
            self._schedule()

    # -- status -----------------------------------------------------------------------

    def _restatus(self, key: str, ch: JSON, now: float) -> None:
        meta = self._meta[key]
        tx = ch["tx"]
        bars = tx["battery_bars"]
        if bars is not None:
            meta.last_bars = bars
            meta.last_bars_at = now
        if ch["audio"]["peak"]:
            meta.peak_until = now + self.config.status.peak_hold_s
        status = self._derive_status(ch, meta, now, ch["device"])
        old = ch["status"]
        if status != old:
            ch["status"] = status
            if "AUDIO_PEAK" in (status, old) and status != "RX_OFFLINE" and old != "RX_OFFLINE":
                # a peak lighting or going out is meter news: it travels at the meter
                # pace (hundreds a minute at venue scale), not as a message of its own
                self._pend(self._pending_meter, ("channels", key), {"status": status})
                self._schedule_meter()
            else:
                self._pend(self._pending, ("channels", key), {"status": status})

    def _derive_status(self, ch: JSON, meta: _ChannelMeta, now: float, device_id: str) -> str:
        dev = self.devices.get(device_id)
        if dev is None or dev["link"] != "online":
            return "RX_OFFLINE"
        tx = ch["tx"]
        bars = tx["battery_bars"]
        if bars is None:
            held = now - meta.last_bars_at < self.config.status.prev_hold_s
            if meta.last_bars is not None and held:
                return "PREV_" + _battery_status(meta.last_bars)
            if tx["present"]:
                # a transmitter that reports no battery (external power, IEM transmitter)
                return "AUDIO_PEAK" if meta.peak_until > now else "GOOD"
            return "TX_OFF"
        if tx["present"] is False:
            return "TX_OFF"
        if meta.peak_until > now:
            return "AUDIO_PEAK"
        return _battery_status(bars)

    def sweep(self) -> None:
        """Expire PREV_* and AUDIO_PEAK holds; the daemon calls this once a second."""
        now = self.clock()
        hold = self.config.status.prev_hold_s
        for key, meta in self._meta.items():
            ch = self.channels[key]
            st = ch["status"]
            if (st == "AUDIO_PEAK" and meta.peak_until <= now) or (
                st.startswith("PREV_") and now - meta.last_bars_at >= hold
            ):
                self._restatus(key, ch, now)

    # -- flushing ---------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._get_loop().call_soon(self._flush_changes)

    def _schedule_meter(self) -> None:
        if self._meter_timer is None:
            self._meter_timer = self._get_loop().call_later(self.meter_interval,
                                                            self._flush_meters)

    def _flush_changes(self) -> None:
        """Next loop turn after a change: emit it without waiting for the meters."""
        self._flush_scheduled = False
        if self._pending:
            patch, self._pending = self._pending, {}
            self._emit(patch, False)

    def _flush_meters(self) -> None:
        """Every meter interval: the meters that changed, as one meter-only patch."""
        self._meter_timer = None
        self._apply_meters()
        if self._pending_meter:
            patch, self._pending_meter = self._pending_meter, {}
            self._emit(patch, True)

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def flush(self) -> None:
        """Emit everything pending now as one patch, meters included (shutdown, tests)."""
        self._flush_scheduled = False
        if self._meter_timer is not None:
            self._meter_timer.cancel()
            self._meter_timer = None
        self._apply_meters()
        patch = self._pending
        meter = self._pending_meter
        if not patch and not meter:
            return
        meter_only = not patch
        if meter:
            # the important changes win over meters of the same field
            patch = merge_patches(meter, patch) if patch else meter
        self._pending = {}
        self._pending_meter = {}
        self._emit(patch, meter_only)

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


_MISSING = object()

#: Fields that travel at the meter pace although drivers do not call them meters: the
#: runtime countdown changes once a minute on every transmitter, which at venue scale is
#: a message a second or more to every browser if each went out on its own.
_PACED = frozenset({"tx.battery_minutes", "tx.battery_minutes_state"})


def _diff_into(cur: JSON, new: JSON) -> JSON:
    """Make ``cur`` equal to ``new`` in place; return the merge patch that did it."""
    patch: JSON = {}
    for k, v in new.items():
        c = cur.get(k, _MISSING)
        if isinstance(v, dict) and isinstance(c, dict):
            sub = _diff_into(c, v)
            if sub:
                patch[k] = sub
        elif c is _MISSING or c != v or type(c) is not type(v):
            cur[k] = copy.deepcopy(v)
            patch[k] = copy.deepcopy(v)
    for k in [k for k in cur if k not in new]:
        del cur[k]
        patch[k] = None
    return patch


def _battery_status(bars: int) -> str:
    if bars >= 4:
        return "GOOD"
    if bars == 3:
        return "REPLACE"
    return "CRITICAL"
