"""A channel's status, and the one vocabulary every consumer speaks.

Two things live here and nowhere else:

* **The vocabulary** (:data:`MEANINGS`, :data:`OFF_REASONS`, :data:`SEVERITIES`): for
  each status its severity (``critical`` > ``warning`` > ``info`` > ``ok``), the word a
  tile shows, the sentence the alert list, the history and MQTT use, and the page's
  icon. The page gets it from the server (``state.statuses``, :func:`vocabulary`), the
  alert rules word their episodes with it, MQTT and the history events carry its
  severity: one mapping, used everywhere.
* **The rules**: one ordered table (:data:`RULES`), read top to bottom. The first rule
  whose condition holds names the status, so reading the table tells a tech why a tile
  is red. The inputs are gathered into :class:`Facts` by the store (which keeps the held
  battery level, the peak hold and how the transmitter went away in :class:`Holds`);
  nothing here reads a clock.

``BATTERY`` and ``PREV_BATTERY`` in the table stand for the battery level of the current
or the held reading (:func:`battery_level`: ``GOOD``, ``REPLACE`` or ``CRITICAL``), and
``PREV_`` + that level. An audio peak never outranks anything: ``AUDIO_PEAK`` is only
ever what would otherwise be ``GOOD`` (the peak itself is ``audio.peak``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Literal, NamedTuple

from micboardd.state.contract import JSON, STATUSES, Status

Severity = Literal["ok", "info", "warning", "critical"]
#: least to most urgent: the index is the rank
SEVERITIES: tuple[Severity, ...] = ("ok", "info", "warning", "critical")
OffReason = Literal["switched_off", "lost", "rf_muted"]
Level = Literal["GOOD", "REPLACE", "CRITICAL"]


def severity_rank(severity: str) -> int:
    """0 (ok) .. 3 (critical); an unknown severity counts as info."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1


@dataclass(slots=True, frozen=True)
class Meaning:
    severity: Severity
    label: str  # the tile's word: short, it is read from across a stage
    sentence: str  # the alert list's, the history's and MQTT's words
    icon: str  # the page's icon (a symbol id in web/index.html)
    live: bool = True  # False: what the tile shows is last known, not live


_LOST = Meaning("critical", "TX LOST", "Transmitter lost: its RF faded out (dropout)", "i-lost")
_GONE = Meaning("critical", "TX LOST", "Transmitter gone (how is not known)", "i-lost")

#: every status of the contract, and the two only the page can know (NO_DATA: the page
#: has no live connection to micboardd; UNKNOWN: a status it does not know)
MEANINGS: dict[str, Meaning] = {
    "GOOD": Meaning("ok", "OK", "Transmitter on, battery good", "i-ok"),
    "REPLACE": Meaning("warning", "REPLACE", "Replace battery soon", "i-warn"),
    "CRITICAL": Meaning("critical", "CRITICAL", "Battery critical", "i-crit"),
    "PREV_GOOD": _GONE,
    "PREV_REPLACE": _GONE,
    "PREV_CRITICAL": _GONE,
    "TX_OFF": Meaning("warning", "TX OFF", "No transmitter", "i-power"),
    "RX_OFFLINE": Meaning("critical", "RX OFFLINE", "Receiver offline", "i-unplug", live=False),
    "AUDIO_PEAK": Meaning("info", "PEAK", "Audio peak", "i-peak"),
    "UNASSIGNED": Meaning("info", "NO CHANNEL", "No channel assigned to the slot", "i-empty"),
    "NO_DATA": Meaning("critical", "NO DATA", "No live data from micboardd", "i-unplug",
                       live=False),
    "UNKNOWN": Meaning("info", "UNKNOWN", "Status not known", "i-question"),
}

#: how a transmitter went away (``tx.off_reason``) refines PREV_* and TX_OFF
OFF_REASONS: dict[str, Meaning] = {
    "switched_off": Meaning("warning", "TX OFF", "Transmitter switched off", "i-power"),
    "lost": _LOST,
    "rf_muted": Meaning("warning", "RF MUTED", "RF output muted", "i-mute"),
}

assert set(STATUSES) <= set(MEANINGS), "every status of the contract has a meaning"


#: the statuses ``tx.off_reason`` refines (a transmitter that is not there)
REFINED = ("TX_OFF", "PREV_GOOD", "PREV_REPLACE", "PREV_CRITICAL")


def meaning(status: str, off_reason: str | None = None) -> Meaning:
    """What a status (with how its transmitter went away) means."""
    if off_reason is not None and status in REFINED:
        m = OFF_REASONS.get(off_reason)
        if m is not None:
            return m
    return MEANINGS.get(status) or MEANINGS["UNKNOWN"]


def channel_meaning(ch: JSON) -> Meaning:
    return meaning(ch["status"], ch["tx"].get("off_reason"))


#: conditions only the alert rules watch: the channel status does not carry them (their
#: thresholds and hold times are the alert rules', per group: ``alerts.*``); an open
#: episode of one shows in its tile's status line in these words
CONDITIONS: dict[str, Meaning] = {
    "rf_low": Meaning("warning", "RF LOW", "RF low", "i-rf"),
    "interference": Meaning("warning", "RF INTERF", "RF interference detected", "i-intf"),
    "encryption": Meaning("critical", "ENCRYPT", "Encryption mismatch", "i-lock"),
}

#: the words of an alert episode, by rule, for each severity it can have: the status it
#: stands for (a battery alert is REPLACE or CRITICAL, a transmitter alert TX OFF or TX
#: LOST) or its condition. A tile with an open episode shows the worse of its status and
#: these words (web/format.js), so a channel with an alert never reads OK.
ALERT_MEANINGS: dict[str, tuple[Meaning, ...]] = {
    "battery": (MEANINGS["REPLACE"], MEANINGS["CRITICAL"]),
    "tx_off": (OFF_REASONS["switched_off"], _LOST),
    "rx_offline": (MEANINGS["RX_OFFLINE"],),
    **{rule: (m,) for rule, m in CONDITIONS.items()},
}


def alert_meaning(rule: str, severity: str) -> Meaning:
    """The words of an episode of ``rule`` at ``severity`` (the episode's severity rules:
    a group may raise one earlier, or more severe, than the status would be)."""
    options = ALERT_MEANINGS.get(rule) or (MEANINGS["UNKNOWN"],)
    for m in options:
        if m.severity == severity:
            return m
    sev: Severity = next((s for s in SEVERITIES if s == severity), "warning")
    return replace(options[0], severity=sev)


def vocabulary() -> JSON:
    """The vocabulary as the page gets it (``state.statuses``)."""
    return {
        "severities": list(SEVERITIES),
        "statuses": {k: asdict(m) for k, m in MEANINGS.items()},
        "off_reasons": {k: asdict(m) for k, m in OFF_REASONS.items()},
        "off_reason_refines": list(REFINED),
        "alerts": {rule: {sev: asdict(alert_meaning(rule, sev)) for sev in ("warning", "critical")}
                   for rule in ALERT_MEANINGS},
    }


# ------------------------------------------------------------------------ battery


#: the transmitter's own runtime estimate decides when it reports one ...
CRITICAL_MINUTES = 30
REPLACE_MINUTES = 90
#: ... and its bars only when it does not
CRITICAL_BARS = 1
REPLACE_BARS = 2


def battery_level(bars: int | None, minutes: int | None) -> Level | None:
    """GOOD, REPLACE or CRITICAL; None without a reading. Minutes (when the transmitter
    reports them) decide: at most 30 CRITICAL, at most 90 REPLACE. Otherwise bars: 0-1
    CRITICAL, 2 REPLACE, 3-5 GOOD. The tile and the battery alert both use this."""
    if minutes is not None:
        if minutes <= CRITICAL_MINUTES:
            return "CRITICAL"
        return "REPLACE" if minutes <= REPLACE_MINUTES else "GOOD"
    if bars is None:
        return None
    if bars <= CRITICAL_BARS:
        return "CRITICAL"
    return "REPLACE" if bars <= REPLACE_BARS else "GOOD"


# -------------------------------------------------------------------------- rules


@dataclass(slots=True, frozen=True)
class Facts:
    """What the status of one channel is decided from."""

    online: bool  # the receiver's link is online
    level: Level | None  # battery level now (None: no reading)
    held_level: Level | None  # of the last real reading, while status.prev_hold_s runs
    present: bool | None  # the receiver reports a transmitter
    peak: bool  # an audio peak within status.peak_hold_s


class Rule(NamedTuple):
    status: str  # a status, or BATTERY / PREV_BATTERY
    when: Callable[[Facts], bool]
    why: str


BATTERY = "BATTERY"
PREV_BATTERY = "PREV_BATTERY"

RULES: tuple[Rule, ...] = (
    Rule("RX_OFFLINE", lambda f: not f.online,
         "the receiver is not online: nothing it last said is live"),
    Rule(PREV_BATTERY, lambda f: f.level is None and f.held_level is not None
         and f.present is not True,
         "the transmitter went away: its last battery level is held (status.prev_hold_s)"),
    Rule("TX_OFF", lambda f: f.present is False or (f.level is None and f.present is None),
         "no transmitter"),
    Rule(BATTERY, lambda f: f.level in ("REPLACE", "CRITICAL"),
         "the battery is low: that outranks an audio peak"),
    Rule("AUDIO_PEAK", lambda f: f.peak,
         "the audio peaked within status.peak_hold_s (and nothing else is wrong)"),
    Rule("GOOD", lambda f: True,
         "a transmitter with a good battery, or without a battery reading (external "
         "power, IEM transmitter)"),
)


def derive(f: Facts) -> Status:
    """The status of the first rule that holds."""
    for rule in RULES:
        if rule.when(f):
            if rule.status == BATTERY:
                assert f.level is not None
                return f.level
            if rule.status == PREV_BATTERY:
                return "PREV_" + str(f.held_level)  # type: ignore[return-value]
            return rule.status  # type: ignore[return-value]
    raise AssertionError("the last rule always holds")


# ----------------------------------------------------- how a transmitter went away

#: RF at or above this is healthy; a transmitter that disappears while its RF was
#: healthy (or went low at most ABRUPT_S before) was switched off
RF_HEALTHY_PCT = 25
ABRUPT_S = 2.0
#: after a reconnect, a transmitter reported gone within this long went unobserved
RECONNECT_S = 3.0


def off_reason(rf_low_for: float | None, muted: bool | None, had_battery: bool) -> OffReason:
    """How a transmitter that just went away went away.

    A heuristic, and it can be wrong: receivers do not say. A pack switched off vanishes
    at once, so its RF was healthy up to the moment the receiver reported it gone (or
    dropped at most ``ABRUPT_S`` before, when the meter beat the report). A pack that
    walked out of range or lost its antenna faded first: its RF had been low for longer
    (``rf_low_for`` seconds; None: RF was healthy). An IEM transmitter that reports its
    own RF muted (PSM1000: ``tx.muted`` with ``tx.present`` False, never a battery) is
    muted, not gone. A transmitter that was weak (below ``RF_HEALTHY_PCT``) for a long
    time and then switched off reads as lost: the doubt falls on the louder side.
    """
    if muted is True and not had_battery:
        return "rf_muted"
    if rf_low_for is None or rf_low_for <= ABRUPT_S:
        return "switched_off"
    return "lost"


@dataclass(slots=True)
class Holds:
    """What a channel's status remembers between readings: the last real battery level
    (shown as PREV_* for ``status.prev_hold_s`` after it goes away), when the last audio
    peak stops counting (``status.peak_hold_s``), and since when its RF has been low."""

    last_level: Level | None = None
    last_level_at: float = 0.0
    peak_until: float = 0.0
    rf_low_since: float | None = None  # None: healthy (or never metered)
    on_air: bool = False
    undecided_until: float = 0.0  # just reconnected: what it reports first is old news

    def note(self, level: Level | None, peak: bool | None, now: float,
             peak_hold_s: float) -> None:
        if level is not None:
            self.last_level = level
            self.last_level_at = now
        if peak:
            self.peak_until = now + peak_hold_s

    def note_rf(self, level_pct: object, now: float) -> None:
        """An RF level arrived (meters): remember since when it has been low."""
        if isinstance(level_pct, int | float) and level_pct >= RF_HEALTHY_PCT:
            self.rf_low_since = None
        elif self.rf_low_since is None:
            self.rf_low_since = now

    def facts(self, online: bool, level: Level | None, present: bool | None, now: float,
              prev_hold_s: float) -> Facts:
        held = (self.last_level if self.last_level is not None
                and now - self.last_level_at < prev_hold_s else None)
        return Facts(online=online, level=level, held_level=held, present=present,
                     peak=self.peak_until > now)

    def link(self, online: bool, tx: JSON, now: float) -> None:
        """The receiver's link changed. Offline: nobody can tell what goes meanwhile.
        Back online: the transmitter counts as on air if the values kept say so, but
        what the receiver reports in its first seconds (a transmitter that went while
        nobody listened) decides nothing."""
        on = tx["present"] is True or (tx["present"] is None and tx["battery_bars"] is not None)
        self.on_air = online and on
        self.undecided_until = now + RECONNECT_S if online else 0.0

    def went(self, tx: JSON, online: bool, now: float) -> JSON:
        """The ``tx`` fields to change when the transmitter comes or goes (``off_reason``
        and ``last_seen``); {} when it did neither. Only a receiver that is online can
        tell a transmitter went away."""
        on = tx["present"] is True or (tx["present"] is None and tx["battery_bars"] is not None)
        # while the receiver is offline nobody can tell: what comes after is not decided
        was, self.on_air = self.on_air, on and online
        if on:
            if tx["off_reason"] is None and tx["last_seen"] is None:
                return {}
            return {"off_reason": None, "last_seen": None}
        if not was or not online or now < self.undecided_until:
            if tx["present"] is False and tx["muted"] is True and self.last_level is None \
                    and tx["off_reason"] is None:
                return {"off_reason": "rf_muted"}  # an IEM seen muted from the start
            return {}
        low_for = None if self.rf_low_since is None else now - self.rf_low_since
        reason = off_reason(low_for, tx["muted"], self.last_level is not None)
        return {"off_reason": reason, "last_seen": round(now, 3)}

    def expired(self, status: str, now: float, prev_hold_s: float) -> bool:
        """Whether a hold behind ``status`` has run out (time to derive it again)."""
        return (status == "AUDIO_PEAK" and self.peak_until <= now) or (
            status.startswith("PREV_") and now - self.last_level_at >= prev_hold_s)
