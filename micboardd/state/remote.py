"""Devices no link owns: another site's receivers, as its daemon publishes them (MQTT).

Their ids contain ``:`` (``site:device``), which configured ids cannot, so they never
collide with a local device and a reload never removes them.
"""

from __future__ import annotations

import copy

from micboardd.state.contract import CLEARED_ON_OFFLINE, JSON
from micboardd.state.mergepatch import diff_into
from micboardd.state.store import Store

#: a remote channel's meters travel at the meter pace here too, as a local channel's do
_METERS = {section: frozenset(names) for section, names in CLEARED_ON_OFFLINE.items()}


def _pend_channel(store: Store, key: str, patch: JSON) -> None:
    """Pend a remote channel's change: its meter fields with the meters, the rest now."""
    meters: JSON = {}
    for section, names in _METERS.items():
        sec = patch.get(section)
        if isinstance(sec, dict):
            moved = {n: sec.pop(n) for n in [n for n in sec if n in names]}
            if moved:
                meters[section] = moved
            if not sec:
                del patch[section]
    if meters:
        store.batch.pend(("channels", key), meters, meter=True)
    if patch:
        store.batch.pend(("channels", key), patch)


def _pend_device(store: Store, device_id: str, patch: JSON) -> None:
    """Pend a remote device's change: ``last_seen`` with the meters (as a local one's)."""
    if "last_seen" in patch:
        store.batch.pend(("devices", device_id), {"last_seen": patch.pop("last_seen")},
                         meter=True)
    if patch:
        store.batch.pend(("devices", device_id), patch)


def put_remote_device(store: Store, device_id: str, device: JSON) -> bool:
    """Update the fields of a remote device the store has, its channels as they are (the
    device message a site sends every second, ``last_seen``); False when it has none."""
    old = store.devices.get(device_id)
    if old is None:
        return False
    patch = diff_into(old, {**device, "channels": old["channels"], "idx": old["idx"]})
    if patch:
        _pend_device(store, device_id, patch)
    return True


def put_remote_channel(store: Store, device_id: str, key: str, channel: JSON) -> bool:
    """Update one channel ``key`` a remote device already has (the common message: one
    channel's state); False when it has no such channel yet (then set the whole device
    with :func:`put_remote`)."""
    cur = store.channels.get(key)
    dev = store.devices.get(device_id)
    if cur is None or dev is None or key not in dev["channels"]:
        return False
    patch = diff_into(cur, {**channel, "idx": cur["idx"]})
    if patch:
        _pend_channel(store, key, patch)
    return True


def put_remote(store: Store, device_id: str, device: JSON | None,
               channels: dict[str, JSON]) -> None:
    """Set a device that no link owns (another site's, through MQTT) with exactly
    ``channels`` (key -> channel object), or with ``device`` None remove it. Its id
    must contain ``:`` (``site:device``), which configured ids cannot."""
    if ":" not in device_id:
        raise ValueError("remote device ids are site:device")
    old = store.devices.get(device_id)
    if device is None:
        if old is not None:
            store.remove_device(device_id)
        return
    if old is not None:
        for key in old["channels"]:
            if key not in channels and store.channels.pop(key, None) is not None:
                store.batch.pend(("channels",), {key: None})
    for key, ch in channels.items():
        cur = store.channels.get(key)
        ch = {**ch, "idx": cur["idx"] if cur is not None else store.new_idx()}
        if cur is None:
            store.channels[key] = copy.deepcopy(ch)
            store.batch.pend(("channels",), {key: copy.deepcopy(ch)})
        else:
            patch = diff_into(cur, ch)
            if patch:
                _pend_channel(store, key, patch)
    dev = {**device, "channels": list(channels),
           "idx": old["idx"] if old is not None and "idx" in old else store.new_idx()}
    if old is None:
        store.devices[device_id] = copy.deepcopy(dev)
        store.batch.pend(("devices",), {device_id: copy.deepcopy(dev)})
    else:
        patch = diff_into(old, dev)
        if patch:
            _pend_device(store, device_id, patch)
