"""What goes over /ws, byte for byte.

Every change is an RFC 7396 merge patch of the state. Meter-only patches (RF and audio
levels and the devices' ``last_seen``: most of the traffic) travel in a compact form
that expands to exactly the same merge patch::

    {"type": "meters", "seq": M, "base": N,
     "m": [d, mask, v, v, ..., d, mask, v, ...],   # meter fields of each channel
     "seen": [t, d, d, ...],                        # devices whose last_seen is now t
     "patch": {...}}                                # anything else, as a merge patch

Channels and devices are named by their ``idx`` (a small number the store gives each
for the life of the process), in increasing order and delta-coded: the first ``d`` is
an ``idx``, each next one is added to the one before (``[7, ..., 2, ...]`` is idx 7,
then 9). Bit ``i`` of ``mask`` says that ``METER_FIELDS[i]`` changed, and its value
follows in field order. A ``null`` value means unknown, as everywhere. The snapshot
carries ``meter_fields`` (so a client never hard-codes the order) and ``meter_format``
(this is format 2). A changed channel's meters take about 15 bytes this way instead of
110, a device's ``last_seen`` about 2 instead of 40 (docs/benchmarks.md). ``"m"``,
``"seen"`` and ``"patch"`` are each left out when empty.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import orjson

JSON = dict[str, Any]

METER_FIELDS: tuple[tuple[str, str], ...] = (
    # the fields that move most come first: their masks are the shortest numbers (audio
    # level and dBFS alone: 3; with RF level and RSSI: 15). Clients read the order from
    # the snapshot's meter_fields.
    ("audio", "level_pct"),
    ("audio", "dbfs"),
    ("rf", "level_pct"),
    ("rf", "rssi_dbm"),
    ("audio", "peak_dbfs"),
    ("audio", "peak"),
    ("rf", "antennas"),
    ("rf", "quality"),
    ("rf", "antenna_warning"),
    # the runtime countdown travels with the meters (every transmitter, once a minute)
    ("tx", "battery_minutes"),
)
METER_FIELD_NAMES = [f"{s}.{n}" for s, n in METER_FIELDS]
#: everything that may travel in a meter-only patch (the store paces these): meters, the
#: runtime countdown, and a status going to or from AUDIO_PEAK ("" = top level)
PACED_FIELDS: tuple[tuple[str, str], ...] = (
    *METER_FIELDS, ("tx", "battery_minutes_state"), ("", "status"),
)
#: section -> field name -> bit in the mask (looked up for every meter of every channel)
_BITS: dict[str, dict[str, int]] = {}
for _i, (_s, _n) in enumerate(METER_FIELDS):
    _BITS.setdefault(_s, {})[_n] = _i


def frame_header(size: int) -> bytes:
    """The header of an unmasked, final websocket text frame of ``size`` payload bytes
    (RFC 6455 section 5.2): a server's frame is the same for every client."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


def text_frame(payload: bytes) -> bytes:
    """``payload`` as one whole websocket text frame, ready for any client's socket."""
    return frame_header(len(payload)) + payload


#: the compact meters message's format, in every snapshot (2: idx delta-coded, "seen")
METER_FORMAT = 2


def encode_snapshot(seq: int, state: JSON) -> bytes:
    return orjson.dumps({"type": "snapshot", "seq": seq, "meter_fields": METER_FIELD_NAMES,
                         "meter_format": METER_FORMAT, "state": state})


def encode_patch(seq: int, base: int, patch: JSON) -> bytes:
    return orjson.dumps({"type": "patch", "seq": seq, "base": base, "patch": patch})


def _split(node: JSON, section: str, fields: dict[str, int],
           found: list[tuple[int, Any]]) -> JSON | None:
    """Take the meter fields out of one section of a channel patch; returns what is left
    of the section (None when nothing is)."""
    sec = node.get(section)
    if not isinstance(sec, dict):
        return sec
    rest = None
    for name, value in sec.items():
        idx = fields.get(name)
        if idx is None:
            if rest is None:
                rest = {}
            rest[name] = value
        else:
            found.append((idx, value))
    return rest


def encode_meters(seq: int, base: int, patch: JSON, idx_of: Callable[[str], int | None],
                  dev_idx_of: Callable[[str], int | None] | None = None) -> bytes:
    """A meter-only patch in the compact form (a plain patch when nothing in it can be
    made compact). ``idx_of``/``dev_idx_of``: a channel's / a device's ``idx``."""
    entries, other = _entries(patch.get("channels") or {}, idx_of)
    seen, devices = _seen(patch.get("devices"), dev_idx_of)
    if not entries and not seen:
        return encode_patch(seq, base, patch)
    rest: JSON = {k: v for k, v in patch.items() if k != "channels" and k != "devices"}
    if other:
        rest["channels"] = other
    if devices:
        rest["devices"] = devices
    msg: JSON = {"type": "meters", "seq": seq, "base": base}
    if entries:
        entries.sort()
        m: list[Any] = []
        prev = 0
        for idx, mask, vals in entries:
            m.append(idx - prev)
            m.append(mask)
            m.extend(vals)
            prev = idx
        msg["m"] = m
    if seen:
        msg["seen"] = seen
    if rest:
        msg["patch"] = rest
    return orjson.dumps(msg)


def _entries(chans: JSON, idx_of: Callable[[str], int | None]
             ) -> tuple[list[tuple[int, int, list[Any]]], JSON]:
    """(idx, mask, values) of each channel's meter fields; and what is left of the
    channels as a merge patch."""
    entries: list[tuple[int, int, list[Any]]] = []
    other: JSON = {}
    for key, node in chans.items():
        idx = idx_of(key) if isinstance(node, dict) else None
        if idx is None or not isinstance(node, dict):
            other[key] = node
            continue
        found: list[tuple[int, Any]] = []
        left: JSON = {}
        for k, v in node.items():
            bits = _BITS.get(k)
            if bits is None:
                left[k] = v
            else:
                rest = _split(node, k, bits, found)
                if rest is not None:
                    left[k] = rest
        if found:
            found.sort()
            mask = 0
            for i, _ in found:
                mask |= 1 << i
            entries.append((idx, mask, [v for _, v in found]))
        if left:
            other[key] = left
    return entries, other


def _seen(devices: JSON | None, dev_idx_of: Callable[[str], int | None] | None
          ) -> tuple[list[Any], JSON]:
    """The devices whose only change is ``last_seen``, all to the same time, as ``[t, d,
    d, ...]``; and what is left of ``devices`` as a merge patch."""
    if not devices or dev_idx_of is None:
        return [], dict(devices or {})
    groups: dict[Any, list[int]] = {}
    for dev_id, node in devices.items():
        if isinstance(node, dict) and len(node) == 1 and "last_seen" in node:
            idx = dev_idx_of(dev_id)
            if idx is not None:
                groups.setdefault(node["last_seen"], []).append(idx)
    if not groups:
        return [], dict(devices)
    t, idxs = max(groups.items(), key=lambda g: len(g[1]))
    idxs.sort()
    seen: list[Any] = [t]
    prev = 0
    for idx in idxs:
        seen.append(idx - prev)
        prev = idx
    taken = set(idxs)
    left = {d: n for d, n in devices.items()
            if not (isinstance(n, dict) and n.get("last_seen") == t and len(n) == 1
                    and dev_idx_of(d) in taken)}
    return seen, left


def expand_meters(msg: JSON, key_of: Mapping[int, str],
                  dev_key_of: Mapping[int, str] | None = None) -> JSON:
    """The merge patch a "meters" message stands for (what a client applies).
    ``key_of`` / ``dev_key_of`` map each channel's / device's ``idx`` to its key
    (KeyError: an idx the client does not know; it needs a snapshot)."""
    patch: JSON = dict(msg.get("patch") or {})
    chans: JSON = dict(patch.get("channels") or {})
    m = msg.get("m", [])
    pos = 0
    idx = 0
    while pos < len(m):
        idx += m[pos]
        key = key_of[idx]
        mask = m[pos + 1]
        pos += 2
        node = chans.get(key)
        node = dict(node) if isinstance(node, dict) else {}
        for i, (section, name) in enumerate(METER_FIELDS):
            if mask & (1 << i):
                sec = node.get(section)
                sec = node[section] = dict(sec) if isinstance(sec, dict) else {}
                sec[name] = m[pos]
                pos += 1
        chans[key] = node
    if chans:
        patch["channels"] = chans
    seen = msg.get("seen")
    if seen:
        devs: JSON = dict(patch.get("devices") or {})
        didx = 0
        for d in seen[1:]:
            didx += d
            dev_id = (dev_key_of or {})[didx]
            devs[dev_id] = {**(devs.get(dev_id) or {}), "last_seen": seen[0]}
        patch["devices"] = devs
    return patch
