"""Value checks every Sennheiser family shares: JSON leaves to typed values (a wrong type
is a violation, never a crash) and the name rules of the rename commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from micboardd.drivers._sennheiser.ssc import SSCViolation
from micboardd.drivers.base import CommandInvalid
from micboardd.drivers.scales import (
    audio_pct_from_dbfs,
    bars_from_percent,
    quality_from_percent,
    rf_pct_from_dbm,
)

Values = dict[str, Any]
LeafHandler = Callable[[Any], Values]

#: what a channel looks like with no transmitter: known to be absent, nothing else known
NO_TX: Values = {
    "tx.present": False, "tx.model": None, "tx.battery_percent": None,
    "tx.battery_bars": None, "tx.battery_minutes": None, "tx.battery_type": None,
    "tx.muted": None,
}


def as_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise SSCViolation(f"expected true/false, got {v!r}"[:80])


def as_int(v: Any, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SSCViolation(f"expected a number, got {v!r}"[:80])
    if isinstance(v, float):
        if not math.isfinite(v) or v != int(v):
            raise SSCViolation(f"expected a whole number, got {v!r}")
        v = int(v)
    n: int = v
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise SSCViolation(f"{n} out of range {lo}..{hi}")
    return n


def as_number(v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise SSCViolation(f"expected a number, got {v!r}"[:80])
    if not lo <= v <= hi:
        raise SSCViolation(f"{v} out of range {lo}..{hi}")
    return float(v)


def as_str(v: Any) -> str:
    if not isinstance(v, str):
        raise SSCViolation(f"expected a string, got {v!r}"[:80])
    return v


def as_str_list(v: Any) -> frozenset[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise SSCViolation(f"expected a list of strings, got {v!r}"[:80])
    return frozenset(v)


def text_or_none(v: Any) -> str | None:
    """A string leaf; empty (and "unknown") means unknown."""
    s = as_str(v).strip()
    return None if s in ("", "unknown") else s


# ------------------------------------------------------------ normalized values


def battery_percent_values(pct: int | None) -> Values:
    return {"tx.battery_percent": pct, "tx.battery_bars": bars_from_percent(pct)}


def rssi_values(dbm: float) -> Values:
    return {"rf.rssi_dbm": round(dbm, 1), "rf.level_pct": rf_pct_from_dbm(dbm)}


def af_values(dbfs: float) -> Values:
    return {"audio.dbfs": round(dbfs, 1), "audio.level_pct": audio_pct_from_dbfs(dbfs)}


def quality_values(pct: float) -> Values:
    return {"rf.quality": quality_from_percent(pct)}


# -------------------------------------------------------------------- names


def name_value(value: Any, limit: int, *, forbidden: str = "", upper: bool = False) -> str:
    """Validate a rename: a non-empty string of printable ASCII (SSC strings allow ASCII
    32..126 only), at most ``limit`` characters, none of ``forbidden``. Too long is
    refused, never cut: a name on stage must read as typed. ``upper`` sends it upper case
    (EW-DX shows channel names in capitals)."""
    if not isinstance(value, str):
        raise CommandInvalid("name must be a string")
    if not value.strip():
        raise CommandInvalid("name must not be empty")
    if len(value) > limit:
        raise CommandInvalid(f"name is {len(value)} characters; this family takes {limit}")
    bad = [c for c in value if not 32 <= ord(c) < 127 or c in forbidden]
    if bad:
        extra = f", without {forbidden}" if forbidden else ""
        raise CommandInvalid(f"name may contain printable ASCII only{extra}")
    return value.upper() if upper else value


def whole(value: Any, what: str, lo: int, hi: int, step: int = 1) -> int:
    """A command's whole-number value in lo..hi on a step grid from lo."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommandInvalid(f"{what} must be a whole number")
    if not lo <= value <= hi:
        raise CommandInvalid(f"{what} must be {lo}..{hi}, not {value}")
    if (value - lo) % step:
        raise CommandInvalid(f"{what} must be in steps of {step} from {lo}")
    return value


def flag(value: Any, what: str = "mute") -> bool:
    if not isinstance(value, bool):
        raise CommandInvalid(f"{what} needs true or false")
    return value
