"""The part of the store that follows the configuration: devices, their channels, the
slots and groups. A reload adds, updates and removes them; each change is pended as a
merge patch like any other. (A mixin of :class:`micboardd.state.store.Store`, which owns
the attributes declared here.)"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from micboardd.config import Config, DeviceConfig, SlotConfig
from micboardd.drivers import Driver, driver_class
from micboardd.state.batcher import PatchBatcher
from micboardd.state.contract import JSON, empty_channel, new_device, slot
from micboardd.state.status import Holds, battery_level, derive


class Layout:
    config: Config
    devices: dict[str, JSON]
    channels: dict[str, JSON]
    slots: list[JSON]
    groups: list[JSON]
    batch: PatchBatcher
    _holds: dict[str, Holds]
    _meter_latest: dict[str, JSON]
    _meter_sources: dict[str, Driver]
    _meter_prev: dict[str, Mapping[str, Any]]
    _next_idx: int

    # -- configuration ----------------------------------------------------------------

    def reconfigure(self, config: Config) -> None:
        """Add, update and remove devices and slots to match ``config``."""
        self.config = config
        self.batch.meter_interval = config.http.meter_interval_ms / 1000
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
            self.batch.pend((), {"groups": copy.deepcopy(groups)})

    def add_device(self, d: DeviceConfig) -> None:
        port = d.port or driver_class(d.driver).default_port
        if d.id in self.devices:
            dev = self.devices[d.id]
            changes = {k: v for k, v in (("driver", d.driver), ("host", d.host),
                                          ("port", port)) if dev.get(k) != v}
            if changes:
                dev.update(changes)
                self.batch.pend(("devices", d.id), changes)
            return
        dev = new_device(d.id, d.driver, d.host, port, d.model)
        dev["idx"] = self.new_idx()
        self.devices[d.id] = dev
        self.batch.pend(("devices",), {d.id: copy.deepcopy(dev)})
        for n in range(1, (d.channel_count() or 0) + 1):
            self._ensure_channel(d.id, n)

    def remove_device(self, device_id: str) -> None:
        dev = self.devices.pop(device_id, None)
        if dev is None:
            return
        self.batch.pend(("devices",), {device_id: None})
        self._meter_sources.pop(device_id, None)
        for key in dev["channels"]:
            self.channels.pop(key, None)
            self._holds.pop(key, None)
            self.batch.pend(("channels",), {key: None})
            self.batch.forget_meters(key)
            self._meter_latest.pop(key, None)
            self._meter_prev.pop(key, None)

    def new_idx(self) -> int:
        """A small number naming a channel or a device for the life of this process
        (never reused): compact meter messages refer to them by it."""
        self._next_idx += 1
        return self._next_idx

    def set_slots(self, slots: Iterable[SlotConfig | JSON]) -> None:
        out: list[JSON] = []
        for s in slots:
            d = s.model_dump() if isinstance(s, SlotConfig) else dict(s)
            out.append(slot(d))
        out.sort(key=lambda s: int(s["slot"]))
        if out != self.slots:
            self.slots = out
            # arrays are replaced whole in a merge patch
            self.batch.pend((), {"slots": copy.deepcopy(out)})

    def _ensure_channel(self, device_id: str, n: int) -> JSON:
        key = f"{device_id}/{n}"
        ch = self.channels.get(key)
        if ch is None:
            ch = empty_channel(device_id, n)
            ch["idx"] = self.new_idx()
            ch["status"] = self._derive_status(ch, Holds(), 0.0, device_id)
            self.channels[key] = ch
            self._holds[key] = Holds()
            self.batch.pend(("channels",), {key: copy.deepcopy(ch)})
            dev = self.devices[device_id]
            chans = dev["channels"]
            chans.append(key)
            chans.sort(key=lambda k: int(k.rsplit("/", 1)[1]))
            self.batch.pend(("devices", device_id), {"channels": list(chans)})
        return ch

    def _derive_status(self, ch: JSON, holds: Holds, now: float, device_id: str) -> str:
        dev = self.devices.get(device_id)
        tx = ch["tx"]
        return derive(holds.facts(dev is not None and dev["link"] == "online",
                                  battery_level(tx["battery_bars"], tx["battery_minutes"]),
                                  tx["present"], now, self.config.status.prev_hold_s))
