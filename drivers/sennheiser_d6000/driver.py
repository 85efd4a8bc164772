"""Sennheiser Digital 6000: EM 6000 and EM 6000 Dante (and D 9000 where it is the same),
SSC v1 over UDP; port configurable, default 45.

Addresses and values (``shared/protocols/sennheiser.md`` section 4; SSC Developer's guide
for Digital 6000, 8.25-8.47 and 8.100):

================================================  ======================================
``mm`` (packed meters, below)                     RF, diversity, quality, audio, peak
``rxN/name``                                      ``name``
``rxN/carrier`` (kHz)                             ``frequency_khz``
``rxN/audio_mute``                                ``audio.muted``
``rxN/active_warnings`` [RFPeak, AFPeak,          ``rf.encryption_ok`` (Aes256Error);
LowSignal, NoLink, LowBattery, BadClock,          NoLink: no transmitter
NoClock, Aes256Error, AnTxYBNCShorted]
``rxN/skx/battery`` ``["70%", "5:12"]``           ``tx.battery_percent`` / ``_bars``,
(states 100%/70%/30%/low, time h:mm or -:--;      ``tx.battery_minutes``; ``[]``: no
``[]`` no transmitter)                            transmitter
``rxN/skx/type``                                  ``tx.model``
================================================  ======================================

``mm`` holds one list of 9 bytes per channel, ``[RF1, RF1peak, RF2, RF2peak, DIV1, DIV2,
LQI, AF, AFpeak]``: RF dBm = (v - 255) / 2, AF dBFS = (v + 1) / 2 - 128, LQI 0..255 (255
best), DIV = antenna on, the peaks 0/1 (guide 8.100, example
``{"mm":[[0,0,0,0,0,0,0,0,0],[83,0,53,0,1,1,128,165,0]]}``). The channel's RSSI is its
strongest active antenna (both when neither is flagged: the level is still measured);
AFpeak is ``audio.peak`` (the AFPeak warning says the same, more slowly). The battery's
"low" state is Sennheiser's last step below 30 %, the state G3/G4 report as ``Bat 0``:
it maps to 0 % (see ``drivers/scales.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar, assert_never

from micboardd.drivers._sennheiser.driver import Batch, SSCDriver
from micboardd.drivers._sennheiser.ssc import Path, SSCViolation, Subscription, encode
from micboardd.drivers._sennheiser.values import (
    LeafHandler,
    Values,
    af_values,
    as_int,
    as_str_list,
    battery_percent_values,
    flag,
    name_value,
    quality_values,
    rssi_values,
    text_or_none,
    whole,
)
from micboardd.drivers.base import Command, CommandInvalid, CommandUnsupported

#: characters the EM 6000 does not take in a name (Bitfocus Companion module
#: sennheiser-digital6000, src/utils.js safeName strips them)
NAME_FORBIDDEN = "()[]{}~`!@%&_\\^:'\".?"


def mm_values(v: Any) -> Values:
    """One channel's 9 meter bytes -> normalized meter values."""
    if not isinstance(v, list) or len(v) != 9:
        raise SSCViolation("mm entry is not a list of 9 values")
    rf1, _, rf2, _, div1, div2, lqi, af, af_peak = (as_int(x, 0, 255) for x in v)
    dbm = {"A": (rf1 - 255) / 2, "B": (rf2 - 255) / 2}
    active = ("A" if div1 else "") + ("B" if div2 else "")
    best = max(dbm[a] for a in active or "AB")
    return {
        **rssi_values(best),
        "rf.antennas": active,
        **quality_values(lqi * 100 / 255),
        **af_values((af + 1) / 2 - 128),
        "audio.peak": bool(af_peak),
    }


def _battery(v: Any) -> Values:
    if not isinstance(v, list) or len(v) > 2 or not all(isinstance(x, str) for x in v):
        raise SSCViolation("skx/battery is not a list of up to 2 strings")
    if not v:
        return {"_no_tx": True}
    pct: int | None = None
    minutes: int | None = None
    for item in v:
        s = item.strip().lower()
        if s.endswith("%") and s[:-1].isdigit() and int(s[:-1]) <= 100:
            pct = int(s[:-1])
        elif s == "low":
            pct = 0
        elif s == "-:--":
            minutes = None
        elif ":" in s and all(p.isdigit() for p in s.split(":", 1)):
            h, m = s.split(":", 1)
            minutes = int(h) * 60 + int(m)
        else:
            raise SSCViolation(f"unknown battery value {item[:20]!r}")
    return {**battery_percent_values(pct), "tx.battery_minutes": minutes, "tx.present": True}


def _skx_type(v: Any) -> Values:
    # a string, or [type, low, high] as one third-party module reads it (uncertain)
    first = v[0] if isinstance(v, list) and v else v if not isinstance(v, list) else ""
    model = text_or_none(first)
    return {"tx.model": model, **({"tx.present": True} if model else {})}


def _mute(v: Any) -> Values:
    if isinstance(v, bool) or v in (0, 1):
        return {"audio.muted": bool(v)}
    raise SSCViolation(f"audio_mute is not a boolean: {v!r}"[:80])


CHANNEL_LEAVES: dict[Path, LeafHandler] = {
    ("rx", "name"): lambda v: {"name": text_or_none(v)},
    ("rx", "carrier"): lambda v: {"frequency_khz": as_int(v, 0) or None},
    ("rx", "audio_mute"): _mute,
    ("rx", "active_warnings"): lambda v: {"_rx_warnings": as_str_list(v)},
    ("rx", "skx", "battery"): _battery,
    ("rx", "skx", "type"): _skx_type,
}

# a subset of what Bitfocus Companion module sennheiser-digital6000 subscribes per channel
# (src/subscriptions.js, setupInitialSubscriptions)
RX_FIELDS = {"name": None, "carrier": None, "audio_mute": None, "active_warnings": None,
             "skx": {"battery": None, "type": None}}


class D6000Driver(SSCDriver):
    family = "sennheiser-d6000"
    silent_hint = "no SSC replies: check the receiver's address and the SSC port (default 45)"
    default_channels = 2
    MAX_CHANNELS = 8
    NAME_MAX = 8
    MODELS: ClassVar[dict[str, int]] = {"EM6000": 2, "EM6000-Dante": 2, "EM9046": 8}
    CHANNEL_LEAVES = CHANNEL_LEAVES
    LIFETIME_S = 20
    #: EM 6000 carrier range, 25 kHz grid (Companion module consts.js, limits.carrier)
    FREQ_KHZ: ClassVar[tuple[int, int, int]] = (470100, 713900, 25)

    def _subscriptions(self) -> list[Subscription]:
        rx = {f"rx{n}": RX_FIELDS for n in range(1, self.channels + 1)}
        subs = [Subscription("rx", rx, self.LIFETIME_S)]
        if self.meter_rate_ms:
            rate = self.meter_rate_ms
            subs.append(Subscription("mm", {"mm": None}, self.LIFETIME_S, rate, rate))
        return subs

    def _special(self, path: Path, value: Any, batch: Batch) -> bool:
        if path != ("mm",):
            return False
        if not isinstance(value, list) or len(value) > self.MAX_CHANNELS:
            raise SSCViolation("mm is not a list of channels")
        for i, entry in enumerate(value, start=1):
            batch.meter_for(i).update(mm_values(entry))
        return True

    def _derive(self, ch: int, values: Values) -> None:
        gone = values.pop("_no_tx", None)
        rx = values.pop("_rx_warnings", None)
        if rx is not None:
            self._channel_state(ch).rx_warnings = rx
            values["rf.encryption_ok"] = "Aes256Error" not in rx
            if "NoLink" in rx:
                gone = True
        if values.get("tx.present"):
            gone = False
        if gone is not None:
            self._mark_gone(ch, gone, values)

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        if cmd.kind == "gain":
            raise CommandUnsupported(f"{self.family} has no receiver gain control")
        if cmd.kind == "identify":
            # a method called with null (Companion module actions.js rxIdentify; the
            # L 6000's identify works the same way, guide 11.2); no channel: all of them
            chans = [cmd.channel] if cmd.channel is not None else range(1, self.channels + 1)
            first = next(iter(chans))
            return (None, f"rx{first}/identify"), [
                encode({f"rx{n}": {"identify": None} for n in chans})]
        if cmd.channel is None:
            raise CommandInvalid(f"{cmd.kind} needs a channel")
        rx = f"rx{cmd.channel}"
        if cmd.kind == "name":
            value = name_value(cmd.value, self.NAME_MAX, forbidden=NAME_FORBIDDEN)
            return self._write(f"{rx}/name", value)
        if cmd.kind == "mute":
            return self._write(f"{rx}/audio_mute", flag(cmd.value))
        if cmd.kind == "frequency":
            return self._write(f"{rx}/carrier", whole(cmd.value, "frequency", *self.FREQ_KHZ))
        assert_never(cmd.kind)
