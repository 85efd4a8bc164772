"""The life of a simulated receiver: what its transmitters do between two meter samples.

Three moods, chosen per simulator:

- **frozen**: nothing changes unless a test says so (``--frozen``; handled by the
  simulator, which then never calls :meth:`Life.step`).
- **calm** (the default, and ``micboardd demo``): a show going well. Batteries drain in
  real time (a pack lasts hours), transmitters stay on, RF and audio move gently, the odd
  peak. A *script* of a few believable problems, each at a set second after start, makes
  the first minutes worth watching (see :class:`Cue`).
- **chaos** (``micboardd demo --chaos``): the old random demo. Batteries drain
  :data:`CHAOS_SPEED` times faster, transmitters switch off and on at random, RF fades
  hard, peaks are frequent.

``speed`` multiplies the drain in every mood.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

#: how much faster chaos drains batteries than real time (the old demo's ``speed: 20``)
CHAOS_SPEED = 20.0

#: script actions and the fields each needs besides ``at``
CUE_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "battery": ("channel", "minutes"),  # the pack now has this many minutes left
    "tx_off": ("channel",),  # the transmitter is switched off (and stays off)
    "tx_on": ("channel",),
    "rf_dropout": ("channel", "seconds"),  # the signal all but vanishes for a while
    "peak": ("channel",),  # one loud moment
    "reboot": ("seconds",),  # the receiver power-cycles
}


@dataclass(slots=True)
class ChannelLife:
    """The physical truth behind one channel, from which wire values are derived."""

    tx_on: bool = True
    minutes: float = 420.0  # battery runtime left
    rf: float = 0.85  # 0..1 signal strength
    rf_target: float = 0.85
    audio_dbfs: float = -30.0
    antennas: str = "AB"  # active antennas
    peak: bool = False
    quality: int = 5
    dropout_s: float = 0.0  # seconds of scripted RF dropout left


@dataclass(frozen=True, slots=True)
class Cue:
    """One scripted event: ``{"at": 40, "do": "battery", "channel": 4, "minutes": 90}``."""

    at: float
    do: str
    channel: int | None = None
    minutes: float = 0.0
    seconds: float = 0.0

    @classmethod
    def parse(cls, raw: Mapping[str, Any], channels: int) -> Cue:
        do = str(raw.get("do"))
        if do not in CUE_ACTIONS:
            raise ValueError(f"script: unknown action {do!r}; known: {', '.join(CUE_ACTIONS)}")
        missing = [k for k in ("at", *CUE_ACTIONS[do]) if k not in raw]
        if missing:
            raise ValueError(f"script: {do} needs {', '.join(missing)}")
        ch = raw.get("channel")
        if ch is not None and (not isinstance(ch, int) or not 1 <= ch <= channels):
            raise ValueError(f"script: channel must be 1..{channels}, not {ch!r}")
        return cls(float(raw["at"]), do, ch, float(raw.get("minutes", 0.0)),
                   float(raw.get("seconds", 0.0)))


class Host(Protocol):
    """What a life needs of its simulator."""

    BATTERY_FULL_MIN: ClassVar[float]
    life: dict[int, ChannelLife]
    speed: float

    def set_tx(self, n: int, on: bool) -> None: ...
    def set_battery_minutes(self, n: int, minutes: float) -> None: ...
    def bars(self, minutes: float) -> int: ...
    def apply_life(self, n: int) -> None: ...
    def set_fault(self, mode: str, seconds: float = 5.0) -> None: ...


def initial_minutes(rng: random.Random, full: float, calm: bool) -> float:
    """Battery a pack starts with; a calm show starts with fresh-ish packs (4-5 bars)."""
    return rng.uniform(full * 0.75 if calm else 200.0, full)


class Life:
    def __init__(self, host: Host, rng: random.Random, *, chaos: bool = False,
                 script: Iterable[Mapping[str, Any]] = ()) -> None:
        self.host = host
        self.rng = rng
        self.chaos = chaos
        self.elapsed = 0.0
        cues = [Cue.parse(c, len(host.life)) for c in script]
        self._cues = sorted(cues, key=lambda c: c.at)

    def step(self, dt: float) -> None:
        """Advance every channel by ``dt`` seconds."""
        self.elapsed += dt
        if self.chaos:
            for n, life in self.host.life.items():
                self._chaos(n, life, dt)
            return
        while self._cues and self._cues[0].at <= self.elapsed:
            self._run(self._cues.pop(0))
        for n, life in self.host.life.items():
            self._calm(n, life, dt)

    # -- moods ------------------------------------------------------------------------

    def _drain(self, n: int, life: ChannelLife, minutes: float) -> None:
        before = (self.host.bars(life.minutes), int(life.minutes))
        life.minutes = max(0.0, life.minutes - minutes)
        if life.minutes <= 0:
            life.minutes = self.host.BATTERY_FULL_MIN  # fresh batteries went in
        if (self.host.bars(life.minutes), int(life.minutes)) != before:
            self.host.apply_life(n)

    def _chaos(self, n: int, life: ChannelLife, dt: float) -> None:
        h, rng = self.host, self.rng
        if rng.random() < dt / 1800:  # about once every half hour per channel
            h.set_tx(n, not life.tx_on)
            return
        if not life.tx_on:
            return
        self._drain(n, life, dt * h.speed * CHAOS_SPEED / 60.0)
        if rng.random() < dt / 20:
            life.rf_target = rng.choice((0.9, 0.8, 0.7, 0.35, 0.15))
        self._move_rf(life, dt, 0.03)
        # speech and music around -22 dBFS, pulled back towards it, the odd peak
        self._move_audio(life, dt, -22.0, 7.0, peak_every_s=90)

    def _calm(self, n: int, life: ChannelLife, dt: float) -> None:
        h, rng = self.host, self.rng
        if not life.tx_on:
            return
        self._drain(n, life, dt * h.speed / 60.0)
        if life.dropout_s > 0:
            life.dropout_s = max(0.0, life.dropout_s - dt)
            life.rf_target = 0.04 if life.dropout_s > 0 else 0.85
        elif rng.random() < dt / 40:
            life.rf_target = rng.choice((0.92, 0.88, 0.85, 0.8, 0.72))
        self._move_rf(life, dt, 0.01)
        self._move_audio(life, dt, -24.0, 4.0, peak_every_s=900)

    def _move_rf(self, life: ChannelLife, dt: float, jitter: float) -> None:
        rng = self.rng
        life.rf += (life.rf_target - life.rf) * min(1.0, dt * 2)
        life.rf = min(1.0, max(0.0, life.rf + rng.uniform(-jitter, jitter)))
        life.antennas = rng.choice(("AB", "AB", "AB", "A", "B")) if life.rf < 0.5 else "AB"
        life.quality = max(0, min(5, round(life.rf * 6)))

    def _move_audio(self, life: ChannelLife, dt: float, centre: float, wobble: float,
                    peak_every_s: float) -> None:
        rng = self.rng
        drift = (centre - life.audio_dbfs) * min(1.0, dt * 1.5)
        life.audio_dbfs = max(-60.0, min(-4.0, life.audio_dbfs + drift
                                         + rng.uniform(-wobble, wobble)))
        if rng.random() < dt / peak_every_s:
            life.audio_dbfs = -1.0
        life.peak = life.audio_dbfs > -3

    # -- script -----------------------------------------------------------------------

    def _run(self, cue: Cue) -> None:
        h = self.host
        if cue.do == "reboot":
            h.set_fault("reboot", cue.seconds)
            return
        assert cue.channel is not None  # Cue.parse checked it
        life = h.life[cue.channel]
        if cue.do == "battery":
            h.set_battery_minutes(cue.channel, cue.minutes)
        elif cue.do in ("tx_off", "tx_on"):
            h.set_tx(cue.channel, cue.do == "tx_on")
        elif cue.do == "rf_dropout":
            life.dropout_s = cue.seconds
            life.rf_target = 0.04
        elif cue.do == "peak":
            life.audio_dbfs = -1.0
            life.peak = True
