"""Axient Digital metering: the ``SAMPLE n ALL`` layouts and the levels they carry.

shure.md section 3 (corrected), from Shure's Axient Digital command strings::

    quality ledbits peak rms ants  led rssi  led rssi  [led rssi  led rssi]
    < SAMPLE 1 ALL 005 031 102 102 BB   31 086 31 065 >
    < SAMPLE 1 ALL 005 031 102 102 BBBB 31 083 31 068 31 069 31 072 >       quadversity

and, in frequency diversity combined (FD-C) mode, a second antenna group for the second
frequency (14 fields after ``ALL``, 22 with quadversity)::

    < SAMPLE 4 ALL 005 031 102 102 BB 31 082 31 060 BB 31 082 31 060 >

``ants`` holds one character per antenna in antenna order, each the antenna LED's colour
(B blue: active, R red: active, flagged, X off; the older letter reading gives the same
result, see :func:`~micboardd.drivers._shure.values.antenna_status`). The channel's RSSI is
the strongest *active* antenna of any group: an inactive antenna's reading is noise.
"""

from __future__ import annotations

from micboardd.drivers._shure.protocol import (
    ProtocolViolation,
    Values,
    antenna_status,
    audio_pct_from_dbfs,
    integer,
    rf_pct_from_dbm,
)

_LETTERS = "ABCD"


def level_db(s: str) -> int | None:
    """Peak, RMS and RSSI: 000..120 on the wire, minus 120 = dBFS / dBm. 255 is not in
    the documentation but is Shure's usual "unknown"; it is read as None, not a level."""
    v = integer(s)
    if v == 255:
        return None
    if not 0 <= v <= 120:
        raise ProtocolViolation(f"level out of range 0..120: {v}")
    return v - 120


def quality(s: str) -> int | None:
    v = integer(s)
    if v == 255:
        return None
    if not 0 <= v <= 5:
        raise ProtocolViolation(f"quality out of range 0..5: {v}")
    return v


def _group(fields: list[str], at: int) -> tuple[str, bool, int | None, int]:
    """One antenna group starting at ``fields[at]`` (status, then a led/rssi pair per
    antenna): (active letters, red seen, strongest active dBm, index after the group)."""
    status = fields[at]
    active, red = antenna_status(status)
    k = len(status)
    if k not in (2, 4):
        raise ProtocolViolation(f"antenna status {status!r}: 2 or 4 antennas")
    end = at + 1 + 2 * k
    if end > len(fields):
        raise ProtocolViolation(f"antenna status {status!r} without its {k} readings")
    best: int | None = None
    for i, c in enumerate(status):
        led = integer(fields[at + 1 + 2 * i])
        if not 0 <= led <= 255:
            raise ProtocolViolation(f"RF LED bitmap out of range: {led}")
        dbm = level_db(fields[at + 2 + 2 * i])
        if c != "X" and dbm is not None and (best is None or dbm > best):
            best = dbm
    return active, red, best, end


def sample_values(fields: list[str]) -> Values:
    """Normalized values of the fields after ``SAMPLE n ALL`` (every layout above)."""
    if len(fields) < 9:
        raise ProtocolViolation(f"SAMPLE needs 9, 13, 14 or 22 fields, got {len(fields)}")
    leds = integer(fields[1])
    if not 0 <= leds <= 255:
        raise ProtocolViolation(f"LED bitmap out of range: {leds}")
    peak = level_db(fields[2])
    rms = level_db(fields[3])
    active, red, best, end = _group(fields, 4)
    if end != len(fields):  # FD-C: a second group of the same size must fill the rest
        if len(fields[end]) != len(fields[4]):
            raise ProtocolViolation(f"SAMPLE with {len(fields)} fields is no known layout")
        active2, red2, best2, end = _group(fields, end)
        if end != len(fields):
            raise ProtocolViolation(f"SAMPLE with {len(fields)} fields is no known layout")
        active = "".join(c for c in _LETTERS if c in active or c in active2)
        red = red or red2
        if best2 is not None and (best is None or best2 > best):
            best = best2
    return {
        "rf.quality": quality(fields[0]),
        "rf.antennas": active,
        "rf.antenna_warning": red,
        "rf.rssi_dbm": best,
        # no active antenna: no usable signal, an empty bar (rssi stays unknown)
        "rf.level_pct": 0 if best is None else rf_pct_from_dbm(best),
        "audio.dbfs": rms,
        "audio.level_pct": None if rms is None else audio_pct_from_dbfs(rms),
        "audio.peak_dbfs": peak,
        "audio.peak": bool(leds & 128),  # top bit of the audio LED bitmap: overload
    }
