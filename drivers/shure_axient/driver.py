"""Shure Axient Digital (AD4D 2 ch, AD4Q 4 ch; AD and ADX transmitters): TCP 2202,
``< ... >`` frames.

Differences from ULX-D that matter here:

- ``FREQUENCY`` has 7 digits (``0596075`` kHz).
- Some properties carry a second index after the name: per-antenna ``RSSI a vvv`` and the
  eight ShowLink transmitter slots per channel (``SLOT_BATT_BARS s vvv`` ...). The base
  passes the arguments after the property name, so ``args[0]`` is that index.
- ``SAMPLE n ALL`` carries quality, an audio LED bitmap, peak, RMS, the antenna status and
  one ``led rssi`` pair per antenna: two pairs, four in quadversity mode, and a second
  such group in frequency diversity combined mode (:mod:`.sample`).
- Antenna status is one LED colour per antenna (``BX`` = only A active, ``R`` red =
  active but flagged, shown as ``rf.antenna_warning``), in SAMPLE and in
  ``REP n ANTENNA_STATUS``; ``RSSI a vvv`` per antenna counts only for active antennas.
- Transmitter mute is ``TX_MUTE_MODE_STATUS`` where ``ON`` means **un**muted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, assert_never

from micboardd.drivers._shure.protocol import (
    PropHandler,
    ProtocolViolation,
    ShureDriver,
    Values,
    antenna_status,
    audio_pct_from_dbfs,
    battery_values,
    encode_string,
    frame,
    freq_khz,
    frequency_command,
    gain_command,
    integer,
    mute_value,
    num,
    on_off,
    percent,
    rf_pct_from_dbm,
    runtime_values,
    text,
    text_arg,
)
from micboardd.drivers._shure.protocol import (
    model_channels as _model_channels,
)
from micboardd.drivers.base import Command, Event
from micboardd.drivers.shure_axient.sample import level_db, quality, sample_values

MODELS: dict[str, int] = {"AD4D": 2, "AD4Q": 4}

#: antenna index of a RSSI REP (1..4, or a letter) -> antenna letter
_RSSI_ANTENNA = {"1": "A", "2": "B", "3": "C", "4": "D", "A": "A", "B": "B", "C": "C",
                 "D": "D"}


def model_channels(model: str | None) -> int | None:
    """Channel count of a MODEL string. Exact names first; regional suffixes that some
    units may append (``AD4Q-A``, ``AD4QUS``) are matched by prefix, longest first."""
    return _model_channels(MODELS, model)


# --------------------------------------------------------------- channel handlers


def tx_model(args: list[str]) -> Values:
    model = text(args[0])
    return {"tx.model": model, "tx.present": model is not None}


def tx_offset(args: list[str]) -> Values:
    # dB = v - 12; 255 unknown (transmitter off)
    v = num(args[0], 255)
    return {"tx.offset_db": None if v is None else v - 12}


def tx_mute_mode(args: list[str]) -> Values:
    # ON = the transmitter passes audio (UNmuted); MUTE = muted. UNKNOWN and anything
    # else (transmitter off, newer firmware values) -> unknown.
    s = args[0]
    return {"tx.muted": False if s == "ON" else True if s == "MUTE" else None}


def tx_lock(args: list[str]) -> Values:
    # ALL / POWER / MENU / NONE: the power switch is locked in ALL and POWER
    s = args[0]
    if s in ("ALL", "POWER"):
        return {"tx.power_lock": True}
    if s in ("MENU", "NONE"):
        return {"tx.power_lock": False}
    return {"tx.power_lock": None}


def group_channel(args: list[str]) -> Values:
    s = " ".join(args)
    return {"group_channel": None if not s or s.startswith("--") else s}


def encryption_status(args: list[str]) -> Values:
    s = args[0]
    return {"rf.encryption_ok": True if s == "OK" else False if s == "ERROR" else None}


def interference_status(args: list[str]) -> Values:
    s = args[0]
    return {"rf.interference": True if s == "DETECTED" else False if s == "NONE" else None}


def slot_prop(args: list[str]) -> Values:
    """``SLOT_* s value``: validated, not mapped.

    The eight ShowLink slots describe every transmitter linked to the channel, active or
    not. The channel's own ``TX_*`` properties already describe the transmitter that is
    on air (the active slot), and the normalized channel has no room for the others, so
    slot lines are parsed for consistency and otherwise dropped."""
    s = integer(args[0])
    if not 1 <= s <= 8:
        raise ProtocolViolation(f"slot index out of range 1..8: {s}")
    if len(args) < 2:
        raise ProtocolViolation("slot property without a value")
    return {}


def ignored(args: list[str]) -> Values:
    return {}


def audio_rms(args: list[str]) -> Values:
    db = level_db(args[0])
    return {"audio.dbfs": db, "audio.level_pct": None if db is None else audio_pct_from_dbfs(db)}


CHANNEL_PROPS: dict[str, PropHandler] = {
    "CHAN_NAME": lambda a: {"name": text_arg(a)},  # braced or not (shure.md 2b)
    "FREQUENCY": lambda a: {"frequency_khz": freq_khz(a[0])},
    "GROUP_CHANNEL": group_channel,
    "GROUP_CHAN": group_channel,  # the ULX-D spelling, should a firmware use it
    "AUDIO_GAIN": lambda a: {"audio.gain_db": integer(a[0]) - 18},
    "AUDIO_MUTE": lambda a: {"audio.muted": on_off(a[0])},
    "ENCRYPTION_STATUS": encryption_status,
    "INTERFERENCE_STATUS": interference_status,
    "CHAN_QUALITY": lambda a: {"rf.quality": quality(a[0])},
    "AUDIO_LEVEL_RMS": audio_rms,
    "AUDIO_LEVEL_PEAK": lambda a: {"audio.peak_dbfs": level_db(a[0])},
    "TX_MODEL": tx_model,
    "TX_OFFSET": tx_offset,
    "TX_MUTE_MODE_STATUS": tx_mute_mode,
    "TX_LOCK": tx_lock,
    "TX_BATT_BARS": lambda a: battery_values(a[0]),
    "TX_BATT_MINS": lambda a: runtime_values(a[0]),
    "TX_BATT_CHARGE_PERCENT": lambda a: {"tx.battery_percent": percent(a[0])},
    "TX_BATT_TYPE": lambda a: {"tx.battery_type": text(a[0])},
    # channel-level identify (see AxientDriver._encode_command)
    "FLASH": ignored,
    "METER_RATE": ignored,
    "UNREGISTERED_TX_STATUS": ignored,
    # Frequency diversity: the second frequency is not shown; the channel's display
    # follows the primary GROUP_CHANNEL / FREQUENCY / INTERFERENCE_STATUS.
    "FD_MODE": ignored,
    "GROUP_CHANNEL2": ignored,
    "FREQUENCY2": ignored,
    "INTERFERENCE_STATUS2": ignored,
    "TX_INPUT_PAD": ignored,
    "TX_POWER_LEVEL": ignored,
    "TX_TALK_SWITCH": ignored,
    "TX_DEVICE_ID": ignored,
    "TX_BATT_CYCLE_COUNT": ignored,
    "TX_BATT_HEALTH_PERCENT": ignored,
    "TX_BATT_TEMP_C": ignored,
    "TX_BATT_TEMP_F": ignored,
    "SLOT_STATUS": slot_prop,
    "SLOT_TX_MODEL": slot_prop,
    "SLOT_TX_DEVICE_ID": slot_prop,
    "SLOT_BATT_BARS": slot_prop,
    "SLOT_BATT_MINS": slot_prop,
    "SLOT_RF_OUTPUT": slot_prop,
    "SLOT_RF_POWER": slot_prop,
    "SLOT_SHOWLINK_STATUS": slot_prop,
}

DEVICE_PROPS: dict[str, PropHandler] = {
    "FW_VER": lambda a: {"firmware": text_arg(a)},
    "DEVICE_ID": lambda a: {"device_name": text_arg(a)},
    "MODEL": lambda a: {"model": text_arg(a)},  # its channel count: model_channels
    "RF_BAND": ignored,
    "ENCRYPTION_MODE": ignored,
    # the SAMPLE itself says whether 2 or 4 antennas are reported
    "QUADVERSITY_MODE": ignored,
    "TRANSMISSION_MODE": ignored,
    "FLASH": ignored,
}


class AxientDriver(ShureDriver):
    family = "shure-axient"
    default_channels = 2
    CHANNEL_PROPS = CHANNEL_PROPS
    DEVICE_PROPS = DEVICE_PROPS
    HANDSHAKE_GETS = ("MODEL", "FW_VER", "DEVICE_ID")
    KEEPALIVE_GET = "DEVICE_ID"
    MODELS: ClassVar[Mapping[str, int]] = MODELS
    METER_PROPS = frozenset({"AUDIO_LEVEL_RMS", "AUDIO_LEVEL_PEAK", "RSSI", "ANTENNA_STATUS"})
    # REP pads CHAN_NAME to 31 characters, but shure.md says SET accepts 8: names we
    # send are limited to 8, names the device reports are shown whole.
    NAME_WIDTH = 8
    NAME_MAX = 8  # reports pad to 31, SET takes 8

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        super().__init__(meter_rate_ms=meter_rate_ms, channels=channels)
        # per channel: last RSSI REP per antenna letter, last ANTENNA_STATUS REP
        self._rssi: dict[int, dict[str, int | None]] = {}
        self._ant: dict[int, str] = {}

    def _reset_buffer(self) -> None:
        super()._reset_buffer()
        self._rssi.clear()
        self._ant.clear()

    def _sample(self, fields: list[str]) -> Values:
        return sample_values(fields)

    # -- REP with state: RSSI per antenna, ANTENNA_STATUS ------------------------------

    def _channel_values(self, ch: int, prop: str, args: list[str],
                        events: list[Event]) -> Values:
        if prop in ("RSSI", "ANTENNA_STATUS"):
            return self._rf_rep(ch, prop, args)
        return super()._channel_values(ch, prop, args, events)

    def _rf_rep(self, ch: int, prop: str, args: list[str]) -> Values:
        """``RSSI a vvv`` (a = 1..4 or A..D) and ``ANTENNA_STATUS xx`` arrive one per
        REP (in the GET ALL answer; metered values are not reported unsolicited): keep
        them per channel so that rf.rssi_dbm is the strongest active antenna, as in
        SAMPLE. Until an ANTENNA_STATUS is known every reported antenna counts."""
        values: Values = {}
        rssi = self._rssi.setdefault(ch, {})
        if prop == "RSSI":
            if len(args) != 2:
                raise ProtocolViolation("RSSI needs an antenna and a value")
            letter = _RSSI_ANTENNA.get(args[0])
            if letter is None:
                raise ProtocolViolation(f"bad antenna index {args[0]!r}")
            rssi[letter] = level_db(args[1])
        else:
            # the LED colour per antenna (BX: only A), as in SAMPLE
            active, red = antenna_status(args[0])
            self._ant[ch] = active
            values["rf.antennas"] = active
            values["rf.antenna_warning"] = red
            if not rssi:
                return values
        active_now = self._ant.get(ch)
        known = [v for k, v in rssi.items()
                 if v is not None and (active_now is None or k in active_now)]
        best = max(known) if known else None
        values["rf.rssi_dbm"] = best
        values["rf.level_pct"] = 0 if best is None else rf_pct_from_dbm(best)
        return values

    # -- commands --------------------------------------------------------------------

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        if cmd.kind == "identify":
            # Axient Digital flashes either the whole receiver (< SET FLASH ON >) or one
            # channel's display (< SET n FLASH ON >): a channel-level identify is sent as
            # such, since that is what picks a channel out in a rack of AD4Qs.
            if cmd.channel is None:
                return (None, "FLASH"), [frame("SET", "FLASH", "ON")]
            return (cmd.channel, "FLASH"), [frame("SET", cmd.channel, "FLASH", "ON")]
        ch = self._need_channel(cmd)
        if cmd.kind == "name":
            return (ch, "CHAN_NAME"), [
                frame("SET", ch, "CHAN_NAME", encode_string(cmd.value, self.NAME_WIDTH))
            ]
        if cmd.kind == "mute":
            on = mute_value(cmd)
            return (ch, "AUDIO_MUTE"), [frame("SET", ch, "AUDIO_MUTE", "ON" if on else "OFF")]
        if cmd.kind == "gain":
            # shure.md gives no range for AD. We assume the ULX-D scheme, which the AD4
            # front panel range matches: 000..060 on the wire, dB = v - 18 (-18..+42).
            return gain_command(cmd, ch, -18, 42, 18)
        if cmd.kind == "frequency":
            # 7 digits; AD bands lie between 174 MHz and 2 GHz, tuned in 25 kHz steps
            return frequency_command(cmd, ch, 7, lo_khz=174000, hi_khz=1999975)
        assert_never(cmd.kind)
