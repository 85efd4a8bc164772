"""Shure SLX-D (SLXD4, SLXD4D) and SLX-D+ (SLXD4+, SLXD4D+, SLXD4Q+, SLXD4QDAN+): TCP 2202,
``< ... >`` frames.

Differences from ULX-D that matter here (shared/protocols/shure.md sections 2-5):

- ``SAMPLE n ALL peak rms rssi``, each 000..120 and minus 120 for dBFS / dBm: a different
  field order from ULX-D, so the sample has its own parser.
- ``CHAN_NAME`` is padded to 31 in reports, but SET takes 8 characters.
- The transmitter model comes as ``TX_TYPE`` or ``TX_MODEL`` (same meaning); battery is
  ``TX_BATT_BARS`` / ``TX_BATT_MINS``.
- SLX-D has no antenna diversity, quality, TX offset or power-lock data: those
  normalized fields are never emitted, so they stay null (never 0).
- SLX-D+ adds ``ANTENNA_STATUS``, ``INTERFERENCE_STATUS``, ``ENCRYPTION_STATUS`` and two
  transmitter slots per channel (``LINK_STATUS s``, ``SLOT_TX_MODEL s``). Its firmware
  2.0.38.9 answers ``GET 0 ALL`` with ``REP ERR``; the base driver then asks channel by
  channel, all four on an ``SLXD4Q+`` / ``SLXD4QDAN+``. ``LINK_TX_MODEL`` does not exist
  there (``REP ERR``): the channel's ``TX_MODEL`` names the transmitter on air, and only a
  channel that never reports one takes the model of its ``online`` slot.
- RSSI comes as one diversity value (``RSSI 096``) or per antenna (``RSSI 1 083``,
  ``RSSI 2 064``): both are kept and the channel shows the strongest (shure.md 2b).
- Group/channel is ``GROUP_CHANNEL`` in Shure's pages and ``GROUP_CHAN`` in other
  sources **(uncertain)**: both are read.
- Frequencies are 6 digits on SLX-D and 7 on SLX-D+. Both parse the same; the SET width
  follows the model (a ``+`` model) or the width the receiver itself reported.
- A receiver with "Controller Access" disabled accepts the connection and stays silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, assert_never

from micboardd.drivers._shure.props import group_chan, rf_int, tx_type
from micboardd.drivers._shure.protocol import (
    PropHandler,
    ProtocolViolation,
    ShureDriver,
    Values,
    antennas,
    audio_pct_from_dbfs,
    battery_values,
    encode_string,
    frame,
    frequency_command,
    gain_command,
    integer,
    rf_pct_from_dbm,
    runtime_values,
    text_arg,
)
from micboardd.drivers._shure.ulx import CHANNEL_PROPS as ULX_CHANNEL_PROPS
from micboardd.drivers._shure.ulx import DEVICE_PROPS as ULX_DEVICE_PROPS
from micboardd.drivers.base import Command, Event

#: The wire has no overload flag for SLX-D: a peak within 1 dB of full scale lights the
#: peak indicator (our choice, the nearest thing to ULX-D's "meter pinned at full scale").
PEAK_DBFS = -1

# AUDIO_GAIN: shure.md gives no SLX-D range, so the ULX-D one is assumed
# (000..060 on the wire, dB = v - 18, i.e. -18..+42 dB); the receiver refuses
# anything it does not take with REP ERR, which fails the command cleanly.
GAIN_OFFSET = 18
GAIN_MIN_DB, GAIN_MAX_DB = -18, 42

#: SLX-D+ slot link states: firmware 2.0.38.9 sends online/offline, Shure's first PDF
#: of the strings names the Axient words (both read)
_LINK_UP = {"online": True, "LINKED.ACTIVE": True, "offline": False,
            "LINKED.INACTIVE": False, "EMPTY": False}
_MODEL_SHAPE = re.compile(r"SLXD4(Q|D)?")


@dataclass(slots=True)
class _Slot:
    model: str | None = None  # SLOT_TX_MODEL (None: blank, an empty slot)
    up: bool | None = None  # LINK_STATUS online / offline (None: not reported)


def level(s: str) -> int:
    """A 000..120 meter reading as dBFS / dBm (reading - 120)."""
    v = integer(s)
    if not 0 <= v <= 120:
        raise ProtocolViolation(f"meter reading out of range: {v}")
    return v - 120


def audio_rms(args: list[str]) -> Values:
    dbfs = level(args[0])
    return {"audio.dbfs": dbfs, "audio.level_pct": audio_pct_from_dbfs(dbfs)}


def audio_peak(args: list[str]) -> Values:
    dbfs = level(args[0])
    return {"audio.peak_dbfs": dbfs, "audio.peak": dbfs >= PEAK_DBFS}


def encryption_status(args: list[str]) -> Values:
    s = args[0]
    return {"rf.encryption_ok": True if s == "OK" else False if s == "ERROR" else None}


def _ignore(args: list[str]) -> Values:
    return {}


CHANNEL_PROPS: dict[str, PropHandler] = {
    "CHAN_NAME": ULX_CHANNEL_PROPS["CHAN_NAME"],  # braced or not, every token
    "FREQUENCY": ULX_CHANNEL_PROPS["FREQUENCY"],  # 6 or 7 digits alike
    "AUDIO_GAIN": ULX_CHANNEL_PROPS["AUDIO_GAIN"],  # dB = v - 18 (assumed, see above)
    "GROUP_CHANNEL": group_chan,
    "GROUP_CHAN": group_chan,  # (uncertain) the other spelling sources use
    "TX_TYPE": tx_type,
    "TX_MODEL": tx_type,
    "TX_BATT_BARS": lambda a: battery_values(a[0]),
    "TX_BATT_MINS": lambda a: runtime_values(a[0]),
    # SLX-D+: carries a slot index but echoes the active transmitter's runtime into
    # every slot, so it is the channel's runtime (the reading is the last argument)
    "LINK_TX_BATT_MINS": lambda a: runtime_values(a[-1]),
    "AUDIO_LEVEL_RMS": audio_rms,
    "AUDIO_LEVEL_PEAK": audio_peak,
    # SLX-D+ only
    "ANTENNA_STATUS": lambda a: {"rf.antennas": antennas(a[0])},
    "INTERFERENCE_STATUS": rf_int,  # NONE / DETECTED
    "ENCRYPTION_STATUS": encryption_status,  # OK / ERROR
    "REM_PAIR": _ignore,
    # known, nothing to show
    "AUDIO_OUT_LVL_SWITCH": _ignore,
    "METER_RATE": _ignore,
    # RSSI, LINK_STATUS and SLOT_TX_MODEL keep per-channel state: SLXDDriver
}

DEVICE_PROPS: dict[str, PropHandler] = {
    "MODEL": ULX_DEVICE_PROPS["MODEL"],
    "FW_VER": ULX_DEVICE_PROPS["FW_VER"],
    "DEVICE_ID": ULX_DEVICE_PROPS["DEVICE_ID"],
    "FLASH": _ignore,
    "RF_BAND": _ignore,
    "LOCK_STATUS": _ignore,  # the receiver's front panel lock, not the transmitter's
    "ENCRYPTION_MODE": _ignore,  # SLX-D+
}


class SLXDDriver(ShureDriver):
    family = "shure-slxd"
    silent_hint = "connected, no replies: is Controller Access enabled on the receiver?"
    default_channels = 1
    CHANNEL_PROPS = CHANNEL_PROPS
    DEVICE_PROPS = DEVICE_PROPS
    METER_PROPS = frozenset({"RSSI", "AUDIO_LEVEL_RMS", "AUDIO_LEVEL_PEAK", "ANTENNA_STATUS"})
    # MODEL first: it sets the channel count before the GET 0 ALL answer (or its REP ERR
    # on SLX-D+, whose per-channel fallback needs the count) comes back.
    HANDSHAKE_GETS = ("MODEL", "FW_VER", "DEVICE_ID")
    MODELS: ClassVar[dict[str, int]] = {
        "SLXD4": 1, "SLXD4D": 2, "SLXD4+": 1, "SLXD4D+": 2, "SLXD4Q+": 4, "SLXD4QDAN+": 4,
    }
    NAME_WIDTH = 8  # reports pad CHAN_NAME to 31, SET takes 8
    NAME_MAX = 8

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        super().__init__(meter_rate_ms=meter_rate_ms, channels=channels)
        #: digits of FREQUENCY in SET: 6 on SLX-D, 7 on SLX-D+
        self.freq_digits = 6
        self._rssi: dict[int, dict[str, int]] = {}  # channel -> antenna ("" both) -> dBm
        self._slots: dict[int, dict[int, _Slot]] = {}  # channel -> slot number -> slot
        self._own_model: set[int] = set()  # channels that reported TX_MODEL / TX_TYPE

    def model_channels(self, model: str | None) -> int | None:
        """The exact model, else its shape: ``SLXD4Q...`` 4, ``SLXD4D...`` 2, ``SLXD4...``
        1 (so a later variant such as another Dante model still gets all channels)."""
        if model is None or model in self.MODELS:
            return None if model is None else self.MODELS[model]
        m = _MODEL_SHAPE.match(model)
        if m is None:
            return None
        return {"Q": 4, "D": 2}.get(m.group(1) or "", 1)

    def _reset_buffer(self) -> None:
        super()._reset_buffer()
        self._rssi.clear()
        self._slots.clear()
        self._own_model.clear()

    def _sample(self, fields: list[str]) -> Values:
        # < SAMPLE n ALL peak rms rssi >: one diversity RSSI, no antenna letters
        peak, rms, dbm = level(fields[0]), level(fields[1]), level(fields[2])
        return {
            "audio.peak_dbfs": peak,
            "audio.peak": peak >= PEAK_DBFS,
            "audio.dbfs": rms,
            "audio.level_pct": audio_pct_from_dbfs(rms),
            "rf.rssi_dbm": dbm,
            "rf.level_pct": rf_pct_from_dbm(dbm),
        }

    # -- reports with per-channel state ---------------------------------------------

    def _channel_values(self, ch: int, prop: str, args: list[str],
                        events: list[Event]) -> Values:
        if prop == "RSSI":
            return self._rssi_values(ch, args)
        if prop in ("LINK_STATUS", "SLOT_TX_MODEL"):
            return self._slot_values(ch, prop, args)
        values = super()._channel_values(ch, prop, args, events)
        if prop in ("TX_MODEL", "TX_TYPE"):
            self._own_model.add(ch)
        return values

    def _rssi_values(self, ch: int, args: list[str]) -> Values:
        """``RSSI vvv`` (the diversity value) or ``RSSI a vvv`` per antenna: every one is
        kept, the channel shows the strongest, never merely the last (shure.md 2b)."""
        if len(args) > 2 or (len(args) == 2 and args[0] not in ("1", "2")):
            raise ProtocolViolation(f"RSSI needs [antenna 1|2] and a reading, got {args}")
        dbm = level(args[-1])
        per_antenna = self._rssi.setdefault(ch, {})
        per_antenna[args[0] if len(args) == 2 else ""] = dbm
        best = max(per_antenna.values())
        return {"rf.rssi_dbm": best, "rf.level_pct": rf_pct_from_dbm(best)}

    def _slot_values(self, ch: int, prop: str, args: list[str]) -> Values:
        """``LINK_STATUS s online|offline`` and ``SLOT_TX_MODEL s {model}``.

        The channel's own ``TX_MODEL`` names the transmitter on air; a channel that never
        reports one (shure.md 2b: ``LINK_TX_MODEL`` answers ``REP ERR`` on an SLXD4QDAN+)
        takes the model of its online slot instead."""
        s = integer(args[0])
        if not 1 <= s <= 8 or len(args) < 2:
            raise ProtocolViolation(f"{prop} needs a slot 1..8 and a value, got {args}")
        if prop == "SLOT_TX_MODEL":
            model = text_arg(args[1:])  # a blank padded model: an empty slot
            self._slots.setdefault(ch, {}).setdefault(s, _Slot()).model = model
        else:
            up = _LINK_UP.get(args[1])
            if up is None:
                raise ProtocolViolation(f"unknown link status {args[1]!r}")
            self._slots.setdefault(ch, {}).setdefault(s, _Slot()).up = up
        slots = self._slots[ch].values()
        if ch in self._own_model or all(slot.up is None for slot in slots):
            return {}
        model = next((slot.model for slot in slots if slot.up and slot.model), None)
        return {"tx.model": model, "tx.present": model is not None}

    def _on_rep(self, tokens: list[str], events: list[Event]) -> None:
        super()._on_rep(tokens, events)
        # reached only for a report that parsed: learn the SLX-D+ frequency width
        if tokens[1] == "MODEL" and len(tokens) > 2:
            self.freq_digits = 7 if tokens[2].strip().endswith("+") else 6
        elif len(tokens) > 3 and tokens[2] == "FREQUENCY" and len(tokens[3]) in (6, 7):
            self.freq_digits = len(tokens[3])

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        if cmd.kind == "identify":
            return (None, "FLASH"), [frame("SET", "FLASH", "ON")]
        ch = self._need_channel(cmd)
        if cmd.kind == "name":
            return (ch, "CHAN_NAME"), [
                frame("SET", ch, "CHAN_NAME", encode_string(cmd.value, self.NAME_WIDTH))
            ]
        if cmd.kind == "mute":
            return super()._encode_command(cmd)  # SLX-D has no audio mute control
        if cmd.kind == "gain":
            return gain_command(cmd, ch, GAIN_MIN_DB, GAIN_MAX_DB, GAIN_OFFSET)
        if cmd.kind == "frequency":
            return frequency_command(cmd, ch, self.freq_digits)
        assert_never(cmd.kind)
