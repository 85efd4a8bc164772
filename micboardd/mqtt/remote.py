"""Channels of other micboardd sites, read from the MQTT broker, in the local state.

Another micboardd (another venue, another stage) publishes its normalized state through
the MQTT bridge (:mod:`micboardd.mqtt.bridge`). This module turns those retained topics back into
devices and channels of the local store, so one dashboard shows every site:

- a remote device ``rx1`` of site ``stage2`` becomes device ``stage2:rx1`` with channels
  ``stage2:rx1/1`` ...; local device ids cannot contain ``:`` so keys never collide;
- remote values pass through a whitelist of the state contract (unknown keys dropped,
  only scalars kept), so a broken or hostile publisher cannot reshape local state;
- the remote site's availability (its daemon's last will, plus an optional bridge
  notification topic) goes to ``state.sites[<site>]``; while a site is unreachable its
  devices show ``link: "offline"`` and its channels ``RX_OFFLINE`` with meters null,
  exactly as a local receiver whose link dropped.

Remote devices go into the store with :func:`micboardd.state.put_remote`;
``Store.reconfigure`` leaves them alone (their ids contain ``:``, configured ids cannot).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from micboardd.state import (
    JSON,
    LINK_STATES,
    STATUSES,
    Store,
    empty_channel,
    put_remote,
    put_remote_channel,
    put_remote_device,
)

log = structlog.get_logger("micboardd.mqtt")

SITES = "sites"  # the store section with one entry per remote site
MAX_PAYLOAD = 64 * 1024
_MAX_STR = 256

_DEVICE_KEYS = ("id", "driver", "host", "port", "link", "link_hint", "model", "firmware",
                "device_name", "last_seen")
_METERS = {
    "rf": ("antennas", "level_pct", "rssi_dbm", "quality", "antenna_warning"),
    "audio": ("level_pct", "dbfs", "peak_dbfs", "peak"),
}
_MISSING = object()


# -- sanitizing what a remote publishes --------------------------------------------------


def _scalar(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float):
        return v
    if isinstance(v, str):
        return v[:_MAX_STR]
    return None


def clean_channel(raw: Any, device_id: str, number: int) -> JSON | None:
    """The contract's channel object from a remote payload (None if not an object)."""
    if not isinstance(raw, dict):
        return None
    out = empty_channel(device_id, number)
    for k, tmpl in out.items():
        if k in ("key", "device", "number"):
            continue
        v = raw.get(k)
        if isinstance(tmpl, dict):
            sub = v if isinstance(v, dict) else {}
            for name in tmpl:
                tmpl[name] = _scalar(sub.get(name))
        else:
            out[k] = _scalar(v)
    if out["status"] not in STATUSES:
        out["status"] = "RX_OFFLINE"
    return out


def clean_device(raw: Any, device_id: str) -> JSON | None:
    if not isinstance(raw, dict):
        return None
    out = {k: _scalar(raw.get(k)) for k in _DEVICE_KEYS}
    out["id"] = device_id
    if out["link"] not in LINK_STATES:
        out["link"] = "offline"
    return out


# -- the remote sites ---------------------------------------------------------------------


@dataclass(slots=True)
class _Site:
    name: str
    status: str | None = None  # the remote daemon's status topic: online / offline
    bridge: str | None = None  # optional bridge notification: "1" / "0"
    since: float | None = None
    available: bool | None = None
    devices: dict[str, JSON] = field(default_factory=dict)  # remote id -> clean device
    channels: dict[str, dict[int, JSON]] = field(default_factory=dict)  # id -> n -> ch


@dataclass(slots=True)
class RemoteStats:
    messages: int = 0
    rejected: int = 0


class RemoteSites:
    """Remote sites' state, fed with MQTT messages by the bridge; owns ``site:*`` keys."""

    def __init__(self, store: Store, prefix: str, sites: list[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.prefix = prefix
        self.clock = clock
        self.sites = {s: _Site(s) for s in sites}
        self.connected = False  # to the broker
        self.stats = RemoteStats()
        for s in self.sites.values():
            self._publish_site(s)

    def subscriptions(self) -> list[str]:
        out: list[str] = []
        for s in self.sites:
            base = f"{self.prefix}/{s}"
            out += [f"{base}/status", f"{base}/bridge", f"{base}/device/+/state",
                    f"{base}/channel/+/+/state"]
        return out

    # -- broker connection ------------------------------------------------------------

    def broker_connected(self) -> None:
        """Connected (again): the broker resends every retained topic, so start over."""
        self.connected = True
        for s in self.sites.values():
            s.status = s.bridge = None
            self._refresh(s)

    def broker_lost(self) -> None:
        self.connected = False
        for s in self.sites.values():
            self._refresh(s)

    # -- messages ---------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> bool:
        """Take one message; False when the topic is not a remote site's."""
        if not topic.startswith(self.prefix + "/"):
            return False
        parts = topic[len(self.prefix) + 1:].split("/")
        site = self.sites.get(parts[0])
        if site is None:
            return False
        self.stats.messages += 1
        rest = parts[1:]
        if len(payload) > MAX_PAYLOAD:
            self._reject(topic, "payload too large")
            return True
        if rest == ["status"]:
            site.status = payload.decode("utf-8", "replace").strip() or None
            self._refresh(site)
        elif rest == ["bridge"]:
            site.bridge = payload.decode("utf-8", "replace").strip() or None
            self._refresh(site)
        elif len(rest) == 3 and rest[0] == "device" and rest[2] == "state":
            self._device(site, rest[1], payload, topic)
        elif len(rest) == 4 and rest[0] == "channel" and rest[3] == "state":
            self._channel(site, rest[1], rest[2], payload, topic)
        # other topics of the site (availability, events, results) are not state
        return True

    def _reject(self, topic: str, why: str) -> None:
        self.stats.rejected += 1
        log.warning("remote_message_rejected", topic=topic, reason=why)

    def _load(self, payload: bytes, topic: str) -> Any:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            self._reject(topic, "not JSON")
            return _MISSING

    def _device(self, site: _Site, dev_id: str, payload: bytes, topic: str) -> None:
        if not payload:
            if site.devices.pop(dev_id, None) is not None:
                self._sync_device(site, dev_id)
            site.channels.pop(dev_id, None)
            self._publish_site(site)
            return
        raw = self._load(payload, topic)
        if raw is _MISSING:
            return
        dev = clean_device(raw, f"{site.name}:{dev_id}")
        if dev is None:
            self._reject(topic, "not a device object")
            return
        known = dev_id in site.devices
        site.devices[dev_id] = dev
        if known and site.available and put_remote_device(
                self.store, f"{site.name}:{dev_id}", dev):
            return  # its fields moved (last_seen, every second): not its channels
        self._sync_device(site, dev_id)
        if not known:
            self._publish_site(site)

    def _channel(self, site: _Site, dev_id: str, n: str, payload: bytes, topic: str) -> None:
        if not n.isdigit() or not 1 <= int(n) <= 64:
            self._reject(topic, "channel number")
            return
        num = int(n)
        chans = site.channels.setdefault(dev_id, {})
        if not payload:
            if chans.pop(num, None) is not None:
                self._sync_device(site, dev_id)
            return
        raw = self._load(payload, topic)
        if raw is _MISSING:
            return
        ch = clean_channel(raw, f"{site.name}:{dev_id}", num)
        if ch is None:
            self._reject(topic, "not a channel object")
            return
        chans[num] = ch
        key = f"{site.name}:{dev_id}"
        if site.available and dev_id in site.devices and put_remote_channel(
                self.store, key, f"{key}/{num}", ch):
            return  # one channel moved (its meters, mostly): that channel alone
        self._sync_device(site, dev_id)

    # -- into the store ---------------------------------------------------------------

    def _why_unavailable(self, site: _Site) -> str | None:
        if not self.connected:
            return "no connection to the MQTT broker"
        if site.bridge == "0":
            return f"the link to site {site.name} is down (broker bridge)"
        if site.status != "online":
            if site.status is None:
                return f"site {site.name} has not published its status"
            return f"site {site.name} is {site.status}"
        return None

    def _refresh(self, site: _Site) -> None:
        available = self._why_unavailable(site) is None
        if available != site.available:
            site.available = available
            site.since = round(self.clock(), 3)
        for dev_id in site.devices:
            self._sync_device(site, dev_id)
        self._publish_site(site)

    def _publish_site(self, site: _Site) -> None:
        why = self._why_unavailable(site)
        self.store.put(SITES, site.name, {
            "site": site.name, "local": False,
            "status": "online" if why is None else "offline",
            "reason": why, "since": site.since,
            "devices": sorted(f"{site.name}:{d}" for d in site.devices),
        })

    def _sync_device(self, site: _Site, dev_id: str) -> None:
        key = f"{site.name}:{dev_id}"
        raw = site.devices.get(dev_id)
        if raw is None:
            put_remote(self.store, key, None, {})
            return
        why = self._why_unavailable(site)
        dev = dict(raw)
        if why is not None:
            dev["link"] = "offline"
            dev["link_hint"] = why
        channels: dict[str, JSON] = {}
        for n in sorted(site.channels.get(dev_id, {})):
            ch = site.channels[dev_id][n]
            if why is not None:
                ch = copy.deepcopy(ch)
                ch["status"] = "RX_OFFLINE"
                for section, names in _METERS.items():
                    for name in names:
                        ch[section][name] = None
            channels[f"{key}/{n}"] = ch
        put_remote(self.store, key, dev, channels)

    def close(self) -> None:
        """Remove every remote device, channel and site from the store."""
        for site in self.sites.values():
            for dev_id in list(site.devices):
                put_remote(self.store, f"{site.name}:{dev_id}", None, {})
            self.store.put(SITES, site.name, None)
        self.sites.clear()


__all__ = ["SITES", "RemoteSites", "clean_channel", "clean_device"]
