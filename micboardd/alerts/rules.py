"""The alert rules: each turns a channel (or, for ``rx_offline``, a receiver) into a
signal: ``bad``, ``good``, ``unknown`` (no reading, or inside the hysteresis band) or
``n/a`` (the rule does not apply: disabled, slot not active, channel gone).

Thresholds come from ``alerts.default``; ``alerts.groups[<slot group>]`` overrides the
keys it sets (:func:`merged_rule`). They decide *when* an episode opens; what it is
called and how severe it is come from the status vocabulary
(:mod:`micboardd.state.status`), so the alert list says what the tile says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from micboardd.config import AlertRule, AlertsConfig
from micboardd.state import JSON, Store
from micboardd.state.status import CONDITIONS, MEANINGS, REFINED, battery_level, meaning

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
    """Like the tile (:func:`battery_level`): the runtime estimate decides when the
    transmitter reports one, its bars only when it does not."""
    b_max, m_max = r.battery_bars_at_or_below, r.minutes_at_or_below
    if b_max is None and m_max is None:
        return NOT_APPLICABLE
    tx = ch["tx"]
    bars, mins = tx["battery_bars"], tx["battery_minutes"]
    if mins is not None and m_max is not None:
        low, ok = mins <= m_max, mins > m_max + r.minutes_clear_margin
    elif bars is not None and b_max is not None:
        low, ok = bars <= b_max, bars > b_max + r.battery_clear_margin_bars
    else:
        return NO_READING
    if not low:
        return ALL_GOOD if ok else NO_READING
    parts = []
    if bars is not None:
        parts.append(f"{bars} bar{'' if bars == 1 else 's'}")
    if mins is not None:
        parts.append(f"{mins} min left")
    # a group may alert earlier than the tile turns amber: then it is a "replace"
    level = battery_level(bars, mins)
    m = MEANINGS["CRITICAL" if level == "CRITICAL" else "REPLACE"]
    return Signal(BAD, m.severity, f"{m.sentence}: " + ", ".join(parts),
                  float(bars) if bars is not None else float(mins))


def rf_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    limit = r.rf_below_pct
    if limit is None:
        return NOT_APPLICABLE
    level = ch["rf"]["level_pct"]
    if not online or level is None or _tx_present(ch) is not True:
        return NO_READING  # an off transmitter has no RF to judge
    if level < limit:
        m = CONDITIONS["rf_low"]
        return Signal(BAD, m.severity, f"{m.sentence} (below {limit}%)", float(level))
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
        # switched off (warning), lost in a dropout (critical), RF muted: the tile's words
        status = ch["status"] if ch["status"] in REFINED else "TX_OFF"
        m = meaning(status, ch["tx"].get("off_reason"))
        return Signal(BAD, m.severity, m.sentence)
    return ALL_GOOD


def interference_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    if not r.interference:
        return NOT_APPLICABLE
    v = ch["rf"]["interference"]
    if v is None:
        return NO_READING
    m = CONDITIONS["interference"]
    return Signal(BAD, m.severity, m.sentence) if v else ALL_GOOD


def encryption_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    if not r.encryption_mismatch:
        return NOT_APPLICABLE
    v = ch["rf"]["encryption_ok"]
    if v is None:
        return NO_READING
    m = CONDITIONS["encryption"]
    return ALL_GOOD if v else Signal(BAD, m.severity, m.sentence)


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
    m = MEANINGS["RX_OFFLINE"]
    if link == "silent":
        return Signal(BAD, m.severity, f"{m.sentence}: connected, but not answering")
    return Signal(BAD, m.severity, m.sentence)


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


def subject_gone(store: Store, subject: str, rule: str) -> bool:
    """The subject no longer exists: its receiver was removed, or answers without
    this channel. A channel of a receiver that has not connected yet (an episode
    taken up at start) is not gone: it is not known yet."""
    if rule == "rx_offline":
        return subject not in store.devices
    if subject in store.channels:
        return False
    dev = store.devices.get(subject.rpartition("/")[0])
    return dev is None or dev["link"] == "online"
