"""The alert rules: each turns a channel (or, for ``rx_offline``, a receiver) into a
signal: ``bad``, ``good``, ``unknown`` (no reading, or inside the hysteresis band) or
``n/a`` (the rule does not apply: disabled, slot not active, channel gone).

Thresholds come from ``alerts.default``; ``alerts.groups[<slot group>]`` overrides the
keys it sets (:func:`merged_rule`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from micboardd.config import AlertRule, AlertsConfig
from micboardd.state import JSON

BAD, GOOD, UNKNOWN, NA = "bad", "good", "unknown", "n/a"
RULES = ("battery", "rf_low", "tx_off", "interference", "encryption", "rx_offline")


@dataclass(slots=True, frozen=True)
class Signal:
    state: str
    severity: str = "warning"
    message: str = ""
    value: float | None = None


#: the signals without details, shared
NO_READING = Signal(UNKNOWN)
NOT_APPLICABLE = Signal(NA)
ALL_GOOD = Signal(GOOD)


# ----------------------------------------------------------------------------- rules


def _tx_present(ch: JSON) -> bool | None:
    present: bool | None = ch["tx"]["present"]
    if present is not None:
        return present
    status = ch["status"]
    if status == "TX_OFF" or status.startswith("PREV_"):
        return False
    if status in ("GOOD", "REPLACE", "CRITICAL", "AUDIO_PEAK"):
        return True
    return None


def battery_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    b_max, m_max = r.battery_bars_at_or_below, r.minutes_at_or_below
    if b_max is None and m_max is None:
        return NOT_APPLICABLE
    tx = ch["tx"]
    bars, mins = tx["battery_bars"], tx["battery_minutes"]
    if bars is None and mins is None:
        return NO_READING
    low_bars = b_max is not None and bars is not None and bars <= b_max
    low_mins = m_max is not None and mins is not None and mins <= m_max
    if low_bars or low_mins:
        parts = []
        if bars is not None:
            parts.append(f"{bars} bar{'' if bars == 1 else 's'}")
        if mins is not None:
            parts.append(f"{mins} min left")
        critical = bars == 0 or (mins is not None and mins <= 10)
        return Signal(BAD, "critical" if critical else "warning",
                      "Battery low: " + ", ".join(parts),
                      float(bars) if bars is not None else float(mins))
    ok_bars = b_max is None or bars is None or bars > b_max + r.battery_clear_margin_bars
    ok_mins = m_max is None or mins is None or mins > m_max + r.minutes_clear_margin
    return ALL_GOOD if ok_bars and ok_mins else NO_READING


def rf_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    limit = r.rf_below_pct
    if limit is None:
        return NOT_APPLICABLE
    level = ch["rf"]["level_pct"]
    if not online or level is None or _tx_present(ch) is not True:
        return NO_READING  # an off transmitter has no RF to judge
    if level < limit:
        return Signal(BAD, "warning", f"RF low (below {limit}%)", float(level))
    return ALL_GOOD if level >= limit + r.rf_clear_margin_pct else NO_READING


def tx_off_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    if not r.tx_off_when_active or slot is None or not slot.get("active", True):
        return NOT_APPLICABLE
    if not online:
        return NO_READING  # the receiver alert says it; we cannot know the transmitter
    present = _tx_present(ch)
    if present is None:
        return NO_READING
    if not present:
        return Signal(BAD, "critical", "Transmitter off on an active slot")
    return ALL_GOOD


def interference_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    if not r.interference:
        return NOT_APPLICABLE
    v = ch["rf"]["interference"]
    if v is None:
        return NO_READING
    return Signal(BAD, "warning", "RF interference detected") if v else ALL_GOOD


def encryption_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    if not r.encryption_mismatch:
        return NOT_APPLICABLE
    v = ch["rf"]["encryption_ok"]
    if v is None:
        return NO_READING
    return ALL_GOOD if v else Signal(BAD, "critical", "Encryption mismatch")


CHANNEL_RULES: tuple[tuple[str, Callable[[JSON, AlertRule, JSON | None, bool], Signal]], ...] = (
    ("battery", battery_signal),
    ("rf_low", rf_signal),
    ("tx_off", tx_off_signal),
    ("interference", interference_signal),
    ("encryption", encryption_signal),
)


def receiver_signal(dev: JSON | None, r: AlertRule) -> Signal:
    if dev is None or not r.receiver_offline:
        return NOT_APPLICABLE
    link = dev["link"]
    if link == "online":
        return ALL_GOOD
    what = "not answering" if link == "silent" else "offline"
    return Signal(BAD, "critical", f"Receiver {what}")


def open_hold(rule: str, r: AlertRule) -> float:
    if rule == "rf_low":
        return r.rf_below_for_s
    if rule == "tx_off":
        return r.tx_off_for_s
    if rule == "rx_offline":
        return r.offline_for_s
    return 0.0


def merged_rule(cfg: AlertsConfig, group: str | None) -> AlertRule:
    """``alerts.default`` with the keys ``alerts.groups[group]`` sets."""
    g = cfg.groups.get(group) if group is not None else None
    if g is None:
        return cfg.default
    return cfg.default.model_copy(update={k: getattr(g, k) for k in g.model_fields_set})


