"""A channel's status: one ordered table of rules, read top to bottom.

The first rule whose condition holds names the status. Reading the table tells a tech
why a tile is red. The inputs are gathered into :class:`Facts` by the store (which keeps
the held battery reading and the peak hold); nothing here reads a clock.

``BATTERY`` and ``PREV_BATTERY`` in the table stand for the battery level of the current
or the held reading: ``GOOD``, ``REPLACE`` or ``CRITICAL`` (:func:`battery_level`), and
``PREV_`` + that level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from micboardd.state.contract import Status


@dataclass(slots=True, frozen=True)
class Facts:
    """What the status of one channel is decided from."""

    online: bool  # the receiver's link is online
    bars: int | None  # battery bars now (None: no reading)
    held_bars: int | None  # the last real reading, while status.prev_hold_s has not passed
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
    Rule(PREV_BATTERY, lambda f: f.bars is None and f.held_bars is not None,
         "the battery reading went away: the last one is held (status.prev_hold_s)"),
    Rule("AUDIO_PEAK", lambda f: f.bars is None and bool(f.present) and f.peak,
         "a transmitter without a battery reading peaked"),
    Rule("GOOD", lambda f: f.bars is None and bool(f.present),
         "a transmitter without a battery reading (external power, IEM transmitter)"),
    Rule("TX_OFF", lambda f: f.bars is None or f.present is False,
         "no transmitter"),
    Rule("AUDIO_PEAK", lambda f: f.peak,
         "the audio peaked within status.peak_hold_s"),
    Rule(BATTERY, lambda f: True,
         "the battery level"),
)


def battery_level(bars: int) -> Status:
    """4-5 bars GOOD, 3 REPLACE, 0-2 CRITICAL."""
    if bars >= 4:
        return "GOOD"
    if bars == 3:
        return "REPLACE"
    return "CRITICAL"


def derive(f: Facts) -> Status:
    """The status of the first rule that holds."""
    for rule in RULES:
        if rule.when(f):
            if rule.status == BATTERY:
                assert f.bars is not None
                return battery_level(f.bars)
            if rule.status == PREV_BATTERY:
                assert f.held_bars is not None
                return "PREV_" + battery_level(f.held_bars)  # type: ignore[return-value]
            return rule.status  # type: ignore[return-value]
    raise AssertionError("the last rule always holds")


@dataclass(slots=True)
class Holds:
    """What a channel's status remembers between readings: the last real battery reading
    (shown as PREV_* for ``status.prev_hold_s`` after it goes away) and when the last audio
    peak stops counting (``status.peak_hold_s``)."""

    last_bars: int | None = None
    last_bars_at: float = 0.0
    peak_until: float = 0.0

    def note(self, bars: int | None, peak: bool | None, now: float, peak_hold_s: float) -> None:
        if bars is not None:
            self.last_bars = bars
            self.last_bars_at = now
        if peak:
            self.peak_until = now + peak_hold_s

    def facts(self, online: bool, bars: int | None, present: bool | None, now: float,
              prev_hold_s: float) -> Facts:
        held = (self.last_bars if self.last_bars is not None
                and now - self.last_bars_at < prev_hold_s else None)
        return Facts(online=online, bars=bars, held_bars=held, present=present,
                     peak=self.peak_until > now)

    def expired(self, status: str, now: float, prev_hold_s: float) -> bool:
        """Whether a hold behind ``status`` has run out (time to derive it again)."""
        return (status == "AUDIO_PEAK" and self.peak_until <= now) or (
            status.startswith("PREV_") and now - self.last_bars_at >= prev_hold_s)
