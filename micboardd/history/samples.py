"""One channel's sample interval: what it did (minimum and time-weighted average RF while
on air, audio maxima, time on air) and its last values, closed into one row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Accumulator:
    """What one channel did during the current sample interval, plus its last values."""

    device: str
    online: bool = False
    seen_online: bool = False  # the receiver was online at some time in this interval
    status: str | None = None
    name: str | None = None
    frequency: int | None = None
    present: bool | None = None
    interference: bool | None = None
    encryption_ok: bool | None = None
    bars: int | None = None
    minutes: int | None = None
    percent: int | None = None
    # RF: statistics only while the transmitter is on air (an off transmitter's 0 is no
    # "worst RF"); the average is time-weighted
    rf_cur: float | None = None
    rf_t: float = 0.0
    rf_area: float = 0.0
    rf_time: float = 0.0
    rf_min: float | None = None
    rssi_cur: float | None = None
    rssi_min: float | None = None
    quality_cur: float | None = None
    quality_min: float | None = None
    audio_cur: float | None = None
    audio_max: float | None = None
    peak_cur: float | None = None
    peak_max: float | None = None
    on_air_since: float | None = None
    on_air_s: float = 0.0

    @property
    def on_air(self) -> bool:
        return self.on_air_since is not None

    def integrate(self, now: float) -> None:
        if self.on_air_since is not None and self.rf_cur is not None and now > self.rf_t:
            dt = now - self.rf_t
            self.rf_area += self.rf_cur * dt
            self.rf_time += dt
        self.rf_t = now

    def note_rf(self, rf: dict[str, Any], now: float) -> None:
        """RF meters changed: the minima count only while on air."""
        if "level_pct" in rf:
            v = number(rf["level_pct"])
            self.integrate(now)
            self.rf_cur = v
            if self.on_air:
                self.rf_min = lower(self.rf_min, v)
        if "rssi_dbm" in rf:
            self.rssi_cur = v = number(rf["rssi_dbm"])
            if self.on_air:
                self.rssi_min = lower(self.rssi_min, v)
        if "quality" in rf:
            self.quality_cur = q = number(rf["quality"])
            if self.on_air:
                self.quality_min = lower(self.quality_min, q)

    def note_audio(self, audio: dict[str, Any]) -> None:
        if "level_pct" in audio:
            self.audio_cur = v = number(audio["level_pct"])
            self.audio_max = higher(self.audio_max, v)
        if "peak_dbfs" in audio:
            self.peak_cur = v = number(audio["peak_dbfs"])
            self.peak_max = higher(self.peak_max, v)

    def set_on_air(self, on: bool, now: float) -> None:
        if on == self.on_air:
            return
        self.integrate(now)
        if on:
            self.on_air_since = now
            self.rf_min = lower(self.rf_min, self.rf_cur)
            self.rssi_min = lower(self.rssi_min, self.rssi_cur)
            self.quality_min = lower(self.quality_min, self.quality_cur)
        else:
            assert self.on_air_since is not None
            self.on_air_s += max(0.0, now - self.on_air_since)
            self.on_air_since = None

    def close(self, key: str, ts: int, interval: float, now: float) -> tuple[Any, ...] | None:
        """The sample row for the interval starting at ``ts``; resets for the next."""
        self.integrate(now)
        if self.on_air_since is not None:
            self.on_air_s += max(0.0, now - self.on_air_since)
            self.on_air_since = now
        row: tuple[Any, ...] | None = None
        if self.seen_online:
            rf_avg = round(self.rf_area / self.rf_time, 1) if self.rf_time > 0 else None
            row = (ts, key, interval, self.bars, self.minutes, self.percent,
                   self.rf_min, rf_avg, self.rssi_min, self.quality_min, self.audio_max,
                   self.peak_max, round(min(self.on_air_s, interval), 1))
        on = self.on_air
        self.seen_online = self.online
        self.rf_area = self.rf_time = self.on_air_s = 0.0
        self.rf_min = self.rf_cur if on else None
        self.rssi_min = self.rssi_cur if on else None
        self.quality_min = self.quality_cur if on else None
        self.audio_max = self.audio_cur
        self.peak_max = self.peak_cur
        return row


def lower(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return b if b < a else a


def higher(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return b if b > a else a


def number(v: Any) -> float | None:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None
