"""Display scales every brand shares, so a Sennheiser tile and a Shure tile at the same
signal, level and charge look the same.

- :func:`rf_pct_from_dbm`, :func:`audio_pct_from_dbfs`: the bar scales of the Shure
  families (moved here unchanged from ``drivers/_shure/protocol.py``, which re-exports
  them), used by every family that reports a dB value.
- :func:`bars_from_percent`: the one way a battery percentage becomes battery bars.

Battery bars from percent
-------------------------
``bars = ceil(percent / 20)``, clamped to 0..5: each bar is a fifth of the charge, as on
the five-segment gauge of Shure transmitters, and 0 % is 0 bars::

    percent   0   1..20   21..40   41..60   61..80   81..100
    bars      0     1        2        3        4        5

Why this and not another table: the store derives a channel's status from bars alone
(4-5 GOOD, 3 REPLACE, 0-2 CRITICAL, the rules of the best-known Shure monitor), so the
mapping fixes what each brand's percentage means on the board: above 60 % GOOD, 41..60 %
REPLACE, 40 % and below CRITICAL, the same fraction of charge for every brand. A
percentage that a device reports in coarse steps goes through the same function: EW G3/G4
``Bat`` 100/70/30/0 become 5/4/2/0 bars, Digital 6000 ``"100%"/"70%"/"30%"`` become
5/4/2 (its ``"low"`` is G4's 0). Bars are never invented where no percentage is known.
"""

from __future__ import annotations

import math


def clamp_pct(v: float) -> int:
    return 0 if v < 0 else 100 if v > 100 else round(v)


def audio_pct_from_dbfs(dbfs: float) -> int:
    """Display bar for audio: -50 dBFS -> 0 %, 0 dBFS -> 100 % (every family alike)."""
    return clamp_pct((dbfs + 50.0) * 2.0)


def rf_pct_from_dbm(dbm: float) -> int:
    """Display bar for RF: -100 dBm -> 0 %, -40 dBm or stronger -> 100 %."""
    return clamp_pct((dbm + 100.0) * (100.0 / 60.0))


def bars_from_percent(percent: float | None) -> int | None:
    """Battery bars 0..5 from a charge percentage (see the module docstring); None stays
    None (unknown)."""
    if percent is None:
        return None
    return max(0, min(5, math.ceil(percent / 20)))


def quality_from_percent(percent: float | None) -> int | None:
    """A 0..100 % link quality (EW-DX RSQI, Digital 6000 LQI) on the 0..5 scale of
    ``rf.quality`` (Axient Digital's), by the same fifths as battery bars."""
    return bars_from_percent(percent)
