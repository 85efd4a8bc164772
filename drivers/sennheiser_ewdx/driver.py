"""Sennheiser EW-DX EM 2 / EM 4 (and EW-D EM): SSC v1, JSON over UDP 45.

Addresses and values (``shared/protocols/sennheiser.md`` sections 1 and 4; SSC Developer's
guide for EW-DX, firmware 1.1.3, method list 8.106-8.134; EW-DX Sound Control Protocol
3.0.x method list):

==========================================  ==========================================
``rxN/name`` (8 chars, upper case)          ``name``
``rxN/mute`` (bool)                         ``audio.muted``
``rxN/gain`` (-3..42 dB, 3 dB steps)        ``audio.gain_db``
``rxN/frequency`` (kHz)                     ``frequency_khz``
``rxN/warnings`` [Aes256Error, LowSignal,   ``rf.encryption_ok`` (Aes256Error),
NoLink, RfPeak, AfPeak]                     ``audio.peak`` (AfPeak), NoLink: no transmitter
``m/rxN/rssi`` (-107..0 dBm)                ``rf.rssi_dbm``, ``rf.level_pct`` (Shure scale)
``m/rxN/rsqi`` (0..100 %; 0 = tx gone)      ``rf.quality`` (0..5)
``m/rxN/divi`` (0 none, 1 A, 2 B)           ``rf.antennas``
``m/rxN/af`` (-138.5..0 dBFS)               ``audio.dbfs``, ``audio.level_pct``
``mates/txN/battery/gauge`` (%)             ``tx.battery_percent``, ``tx.battery_bars``
``mates/txN/battery/lifetime`` (minutes)    ``tx.battery_minutes``
``mates/txN/battery/type``                  ``tx.battery_type``
``mates/txN/mute`` (bool)                   ``tx.muted``
``mates/txN/type`` ("SKM", ...)             ``tx.model``
``mates/txN/warnings`` [AfPeak, LowBattery] ``audio.peak`` (with the receiver's AfPeak)
==========================================  ==========================================

A 424 on ``mates/txN/...`` means no transmitter is linked (guide 8.106: "Replied error
code 424 indicates that TX is not present"): the channel shows "no transmitter", which is
not a fault. LowBattery, LowSignal and RfPeak have no field of their own: battery bars and
the RF meter already show them.

Subscriptions (lifetime 10 s, renewed every 6 s): the channel settings, one per
transmitter (so an absent one cannot spoil the others), and the meters at the configured
meter rate (``min`` = ``max`` = rate: one notification per period, SSC Developer's guide
for evolution wireless D1, 5.1.9.1).
"""

from __future__ import annotations

from typing import Any, ClassVar, assert_never

from micboardd.drivers._sennheiser.driver import SSCDriver
from micboardd.drivers._sennheiser.ssc import Path, Subscription
from micboardd.drivers._sennheiser.values import (
    LeafHandler,
    Values,
    af_values,
    as_bool,
    as_int,
    as_number,
    as_str_list,
    battery_percent_values,
    flag,
    name_value,
    quality_values,
    rssi_values,
    text_or_none,
    whole,
)
from micboardd.drivers.base import Command, CommandInvalid

ANTENNAS = {0: "", 1: "A", 2: "B"}


def _frequency(v: Any) -> Values:
    khz = as_int(v, 0)
    return {"frequency_khz": khz or None}


def _minutes(v: Any) -> Values:
    m = as_int(v)
    return {"tx.battery_minutes": m if m >= 0 else None}


def _gauge(v: Any) -> Values:
    return {**battery_percent_values(as_int(v, 0, 100)), "tx.present": True}


def _tx_type(v: Any) -> Values:
    model = text_or_none(v)
    return {"tx.model": model, **({"tx.present": True} if model else {})}


def _rsqi(v: Any) -> Values:
    # RSQI 0: the transmitter has gone (sennheiser.md section 1; Companion module
    # sennheiser-ewdx, src/ewdxReceiver.ts, resets the mate's values on rsqi == 0)
    pct = as_number(v, 0, 100)
    return {**quality_values(pct), "_no_tx": pct == 0}


def _divi(v: Any) -> Values:
    return {"rf.antennas": ANTENNAS[as_int(v, 0, 2)]}


CHANNEL_LEAVES: dict[Path, LeafHandler] = {
    ("rx", "name"): lambda v: {"name": text_or_none(v)},
    ("rx", "mute"): lambda v: {"audio.muted": as_bool(v)},
    ("rx", "gain"): lambda v: {"audio.gain_db": as_int(v, -3, 42)},
    ("rx", "frequency"): _frequency,
    ("rx", "warnings"): lambda v: {"_rx_warnings": as_str_list(v)},
    ("mates", "tx", "battery", "gauge"): _gauge,
    ("mates", "tx", "battery", "lifetime"): _minutes,
    ("mates", "tx", "battery", "type"): lambda v: {"tx.battery_type": text_or_none(v)},
    ("mates", "tx", "mute"): lambda v: {"tx.muted": as_bool(v)},
    ("mates", "tx", "type"): _tx_type,
    ("mates", "tx", "warnings"): lambda v: {"_tx_warnings": as_str_list(v)},
}

METER_LEAVES: dict[Path, LeafHandler] = {
    ("m", "rx", "rssi"): lambda v: rssi_values(as_number(v, -150, 10)),
    ("m", "rx", "rsqi"): _rsqi,
    ("m", "rx", "divi"): _divi,
    ("m", "rx", "af"): lambda v: af_values(as_number(v, -150, 10)),
}

# what is subscribed: a subset of the trees Bitfocus Companion module sennheiser-ewdx
# subscribes (src/ewdxReceiver.ts, initSubscriptions: rxN, mates/txN, m/rxN)
RX_FIELDS = {"name": None, "mute": None, "gain": None, "frequency": None, "warnings": None}
TX_FIELDS = {"battery": {"gauge": None, "lifetime": None, "type": None}, "mute": None,
             "warnings": None, "type": None}
METER_FIELDS = {"rssi": None, "rsqi": None, "divi": None, "af": None}


class EWDXDriver(SSCDriver):
    family = "sennheiser-ewdx"
    silent_hint = ("no SSC replies: on EW-DX firmware 4.x third-party access is off; "
                   "enable 'Legacy' (SSC v1) in Control Cockpit")
    default_channels = 2
    MAX_CHANNELS = 4
    NAME_MAX = 8
    MODELS: ClassVar[dict[str, int]] = {
        "EW-DX EM 2": 2, "EW-DX EM 2 Dante": 2, "EW-DX EM 4 Dante": 4, "EW-D EM": 1}
    CHANNEL_LEAVES = CHANNEL_LEAVES
    METER_LEAVES = METER_LEAVES
    GAIN_DB: ClassVar[tuple[int, int, int]] = (-3, 42, 3)
    #: EW-DX tuning range, 25 kHz grid (EW-DX SSC 3.0.x, /rx1/frequency)
    FREQ_KHZ: ClassVar[tuple[int, int, int]] = (470200, 1999000, 25)

    def _channels_for(self, model: str) -> int | None:
        n = self.MODELS.get(model)
        if n is None and "EM 4" in model:
            n = 4  # product names not listed above (other regions, Dante variants)
        return n

    def _subscriptions(self) -> list[Subscription]:
        chans = range(1, self.channels + 1)
        subs = [Subscription("rx", {f"rx{n}": dict(RX_FIELDS) for n in chans},
                             self.LIFETIME_S)]
        subs += [Subscription(f"tx{n}", {"mates": {f"tx{n}": TX_FIELDS}}, self.LIFETIME_S)
                 for n in chans]
        if self.meter_rate_ms:
            rate = self.meter_rate_ms
            subs.append(Subscription("meters", {"m": {f"rx{n}": dict(METER_FIELDS)
                                                      for n in chans}},
                                     self.LIFETIME_S, min_ms=rate, max_ms=rate))
        return subs

    def _absent_channel(self, path: Path) -> int | None:
        if len(path) >= 2 and path[0] == "mates" and path[1].startswith("tx"):
            suffix = path[1][2:]
            return int(suffix) if suffix.isdigit() else None
        return None

    def _derive(self, ch: int, values: Values) -> None:
        st = self._channel_state(ch)
        rx = values.pop("_rx_warnings", None)
        tx = values.pop("_tx_warnings", None)
        gone = values.pop("_no_tx", None)
        if rx is not None:
            st.rx_warnings = rx
            values["rf.encryption_ok"] = "Aes256Error" not in rx
            if "NoLink" in rx:
                gone = True
        if tx is not None:
            st.tx_warnings = tx
        if rx is not None or tx is not None:
            values["audio.peak"] = "AfPeak" in st.rx_warnings or "AfPeak" in st.tx_warnings
        if values.get("tx.present"):
            gone = False
        if gone is not None:
            self._mark_gone(ch, gone, values)

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        if cmd.kind == "identify":
            where = "device" if cmd.channel is None else f"rx{cmd.channel}"
            return self._write(f"{where}/identification/visual", True)
        if cmd.channel is None:
            raise CommandInvalid(f"{cmd.kind} needs a channel")
        rx = f"rx{cmd.channel}"
        if cmd.kind == "name":
            # 8 characters, upper case (sennheiser.md section 1; the Companion module's
            # setName upper-cases too); longer is refused, not cut
            return self._write(f"{rx}/name", name_value(cmd.value, self.NAME_MAX, upper=True))
        if cmd.kind == "mute":
            return self._write(f"{rx}/mute", flag(cmd.value))
        if cmd.kind == "gain":
            return self._write(f"{rx}/gain", whole(cmd.value, "gain", *self.GAIN_DB))
        if cmd.kind == "frequency":
            return self._write(f"{rx}/frequency", whole(cmd.value, "frequency", *self.FREQ_KHZ))
        assert_never(cmd.kind)
