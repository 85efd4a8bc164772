"""What goes over /ws, byte for byte.

Every change is an RFC 7396 merge patch of the state. Meter-only patches (RF and audio
levels: most of the traffic) travel in a compact form that expands to exactly the same
merge patch::

    {"type": "meters", "seq": M, "base": N,
     "m": [idx, mask, v, v, ..., idx, mask, v, ...],   # meter fields of each channel
     "patch": {...}}                                    # anything else, as a merge patch

``idx`` is the channel's ``idx`` field (a small number the store gives each channel for
the life of the process). Bit ``i`` of ``mask`` says that ``METER_FIELDS[i]`` changed,
and its value follows in field order. A ``null`` value means unknown, as everywhere. The
snapshot carries ``meter_fields`` so a client never hard-codes the order. A changed
channel's meters take about 20 bytes this way instead of 110 (docs/benchmarks.md).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import orjson

JSON = dict[str, Any]

METER_FIELDS: tuple[tuple[str, str], ...] = (
    ("rf", "antennas"),
    ("rf", "level_pct"),
    ("rf", "rssi_dbm"),
    ("rf", "quality"),
    ("audio", "level_pct"),
    ("audio", "dbfs"),
    ("audio", "peak_dbfs"),
    ("audio", "peak"),
    ("rf", "antenna_warning"),  # added last: earlier fields keep their bits
)
METER_FIELD_NAMES = [f"{s}.{n}" for s, n in METER_FIELDS]
#: everything that may travel in a meter-only patch (the store paces these): meters, the
#: runtime countdown, and a status going to or from AUDIO_PEAK ("" = top level)
PACED_FIELDS: tuple[tuple[str, str], ...] = (
    *METER_FIELDS, ("tx", "battery_minutes"), ("tx", "battery_minutes_state"), ("", "status"),
)
#: field name -> bit in the mask, per section (looked up for every meter of every channel)
_RF = {n: i for i, (s, n) in enumerate(METER_FIELDS) if s == "rf"}
_AUDIO = {n: i for i, (s, n) in enumerate(METER_FIELDS) if s == "audio"}


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


def encode_snapshot(seq: int, state: JSON) -> bytes:
    return orjson.dumps({"type": "snapshot", "seq": seq, "meter_fields": METER_FIELD_NAMES,
                         "state": state})


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


def encode_meters(seq: int, base: int, patch: JSON, idx_of: Callable[[str], int | None]
                  ) -> bytes:
    """A meter-only patch in the compact form (a plain patch when it holds no meters)."""
    m: list[Any] = []
    rest: JSON = {k: v for k, v in patch.items() if k != "channels"}
    other: JSON = {}
    for key, node in (patch.get("channels") or {}).items():
        idx = idx_of(key) if isinstance(node, dict) else None
        if idx is None or not isinstance(node, dict):
            other[key] = node
            continue
        found: list[tuple[int, Any]] = []
        left: JSON = {}
        for k, v in node.items():
            if k == "rf":
                r = _split(node, "rf", _RF, found)
                if r is not None:
                    left["rf"] = r
            elif k == "audio":
                a = _split(node, "audio", _AUDIO, found)
                if a is not None:
                    left["audio"] = a
            else:
                left[k] = v
        if found:
            found.sort()
            mask = 0
            for i, _ in found:
                mask |= 1 << i
            m.append(idx)
            m.append(mask)
            m.extend(v for _, v in found)
        if left:
            other[key] = left
    if not m:
        return encode_patch(seq, base, patch)
    if other:
        rest["channels"] = other
    msg: JSON = {"type": "meters", "seq": seq, "base": base, "m": m}
    if rest:
        msg["patch"] = rest
    return orjson.dumps(msg)


def expand_meters(msg: JSON, key_of: Mapping[int, str]) -> JSON:
    """The merge patch a "meters" message stands for (what a client applies).
    ``key_of`` maps each channel's ``idx`` to its key."""
    patch: JSON = dict(msg.get("patch") or {})
    chans: JSON = dict(patch.get("channels") or {})
    m = msg.get("m", [])
    pos = 0
    while pos < len(m):
        key = key_of[m[pos]]
        mask = m[pos + 1]
        pos += 2
        node = chans.get(key)
        node = dict(node) if isinstance(node, dict) else {}
        for i, (section, name) in enumerate(METER_FIELDS):
            if mask & (1 << i):
                sec = node.get(section)
                if not isinstance(sec, dict):
                    sec = node[section] = {}
                sec[name] = m[pos]
                pos += 1
        chans[key] = node
    if chans:
        patch["channels"] = chans
    return patch
