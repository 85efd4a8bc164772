"""Wire values every Shure family shares: numbers, special values, strings, antennas.

Each helper turns one wire field into a normalized value or raises
:class:`ProtocolViolation`, which the frame parser turns into a ``ProtocolError`` event:
a field that does not fit never becomes a number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# the display scales every brand shares (drivers/scales.py), re-exported for the Shure
# families
from micboardd.drivers.scales import audio_pct_from_dbfs as audio_pct_from_dbfs
from micboardd.drivers.scales import clamp_pct as clamp_pct
from micboardd.drivers.scales import rf_pct_from_dbm as rf_pct_from_dbm

Values = dict[str, Any]
#: args after the property name -> normalized values (empty dict: known, nothing to show)
PropHandler = Callable[[list[str]], Values]


class ProtocolViolation(ValueError):
    """Raised inside handlers for a value that does not fit; becomes a ProtocolError."""


def integer(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise ProtocolViolation(f"expected a number, got {s!r}") from None


def num(s: str, *unknown: int) -> int | None:
    """A zero-padded number, ``None`` when it is one of the ``unknown`` markers."""
    v = integer(s)
    return None if v in unknown else v


def bars(s: str) -> int | None:
    """Battery bars 0..5; 255 (transmitter off / unknown) and anything else -> None."""
    v = integer(s)
    if v == 255:
        return None
    if not 0 <= v <= 5:
        raise ProtocolViolation(f"battery bars out of range: {v}")
    return v


def minutes(s: str) -> tuple[int | None, str | None]:
    """Run time in minutes and its state: 65535 unknown, 65534 calculating, 65533 comm
    warning, 0..65532 valid."""
    v = integer(s)
    if v == 65535:
        return None, None
    if v == 65534:
        return None, "calculating"
    if v == 65533:
        return None, "comm_warning"
    return v, None


def percent(s: str) -> int | None:
    v = integer(s)
    if v == 255:
        return None
    if not 0 <= v <= 100:
        raise ProtocolViolation(f"percent out of range: {v}")
    return v


def text(s: str) -> str | None:
    """A padded string; ``UNKN``/``UNKNOWN``/empty -> None."""
    s = s.strip()
    return None if s in ("", "UNKN", "UNKNOWN") else s


def text_arg(args: list[str]) -> str | None:
    """A string property's value: every token after the property name.

    shure.md 2b: names may arrive unbraced and with spaces (``CHAN_NAME Choir L``), so
    the value is all the tokens joined by single spaces. A braced string is already one
    token (its inner spacing kept), so both forms read the same.
    """
    return text(" ".join(args))


def freq_khz(s: str) -> int | None:
    """6 or 7 digit kHz; all zeros means unknown."""
    v = integer(s)
    return None if v == 0 else v


def on_off(s: str) -> bool | None:
    if s in ("ON", "1", "YES", "TRUE"):
        return True
    if s in ("OFF", "0", "NO", "FALSE"):
        return False
    if s in ("UNKN", "UNKNOWN"):
        return None
    raise ProtocolViolation(f"expected ON/OFF, got {s!r}")


_LETTERS = "ABCD"
#: characters an antenna position may hold: X off; A-D (letter form) or B blue (colour
#: form) active; R red: active but flagged
_ANT_ACTIVE = frozenset("ABCDR")
_ANT_CACHE: dict[str, tuple[str, bool]] = {}


def antenna_status(s: str) -> tuple[str, bool]:
    """Antenna status, one character per antenna in antenna order -> (active antenna
    letters, whether any antenna shows red).

    Two spellings are in use and one reading serves both: ULX-D and SLX-D+ write the
    letter of an active antenna in its own position (``AX``, ``XB``, ``AB``), Axient
    Digital writes each antenna LED's colour (``BB``, ``BX``, ``XB``, ``BRXB``: B blue =
    active, R red, X off). Either way position i is antenna A, B, C, D and ``X`` means
    off, so ``AX`` and ``BX`` are both "only A". ``R`` **(uncertain meaning)** counts as
    active and is reported as a warning.
    """
    known = _ANT_CACHE.get(s)
    if known is not None:
        return known
    if not 1 <= len(s) <= 4 or any(c != "X" and c not in _ANT_ACTIVE for c in s):
        raise ProtocolViolation(f"bad antenna status {s!r}")
    result = ("".join(_LETTERS[i] for i, c in enumerate(s) if c != "X"), "R" in s)
    if len(_ANT_CACHE) < 256:
        _ANT_CACHE[s] = result
    return result


def antennas(s: str) -> str:
    """The active antenna letters of an antenna status (see :func:`antenna_status`)."""
    return antenna_status(s)[0]


def battery_values(bars_s: str) -> Values:
    b = bars(bars_s)
    return {"tx.battery_bars": b}


def runtime_values(s: str) -> Values:
    m, state = minutes(s)
    return {"tx.battery_minutes": m, "tx.battery_minutes_state": state}
