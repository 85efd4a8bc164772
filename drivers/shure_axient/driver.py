"""Shure Axient Digital (AD4D 2 ch, AD4Q 4 ch; AD and ADX transmitters): TCP 2202,
``< ... >`` frames.

Differences from ULX-D that matter here:

- ``FREQUENCY`` has 7 digits (``0596075`` kHz).
- Some properties carry a second index after the name: per-antenna ``RSSI a vvv`` and the
  eight ShowLink transmitter slots per channel (``SLOT_BATT_BARS s vvv`` ...). The base
  passes the arguments after the property name, so ``args[0]`` is that index.
- ``SAMPLE n ALL`` carries quality, an audio LED bitmap, peak, RMS, the antenna status and
  one ``led rssi`` pair per antenna: two pairs, or four in quadversity mode.
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
    antennas,
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
)
from micboardd.drivers.base import ChannelUpdate, Command, DeviceUpdate, Event

MODELS: dict[str, int] = {"AD4D": 2, "AD4Q": 4}

#: antenna letter -> index of its ``led rssi`` pair in SAMPLE (and the RSSI REP index - 1)
_ANT_INDEX = {"A": 0, "B": 1, "C": 2, "D": 3}
_ANT_CHARS = "ABCDXR"
#: SAMPLE fields: quality ledbits peak rms ant + 2 or 4 (led, rssi) pairs
_SAMPLE_LENGTHS = (9, 13)


def level_db(s: str) -> int | None:
    """Peak, RMS and RSSI: 000..120 on the wire, minus 120 = dBFS / dBm. 255 is not in
    the documentation but is Shure's usual "unknown"; it is read as None, not a level."""
    v = integer(s)
    if v == 255:
        return None
    if not 0 <= v <= 120:
        raise ProtocolViolation(f"level out of range 0..120: {v}")
    return v - 120


def quality(s: str) -> int | None:
    v = integer(s)
    if v == 255:
        return None
    if not 0 <= v <= 5:
        raise ProtocolViolation(f"quality out of range 0..5: {v}")
    return v


def model_channels(model: str | None) -> int | None:
    """Channel count of a MODEL string. Exact names first; regional suffixes that some
    units may append (``AD4Q-A``, ``AD4QUS``) are matched by prefix, longest first."""
    if model is None:
        return None
    if model in MODELS:
        return MODELS[model]
    for name in sorted(MODELS, key=len, reverse=True):
        if model.startswith(name):
            return MODELS[name]
    return None


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
    "CHAN_NAME": lambda a: {"name": text(a[0]) if a else None},
    "FREQUENCY": lambda a: {"frequency_khz": freq_khz(a[0])},
    "GROUP_CHANNEL": group_channel,
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
    "FW_VER": lambda a: {"firmware": text(a[0]) if a else None},
    "DEVICE_ID": lambda a: {"device_name": text(a[0]) if a else None},
    # MODEL is handled by AxientDriver._device_prop (channel count); listed so that a
    # channel-indexed echo of it is routed to the device
    "MODEL": lambda a: {"model": text(a[0]) if a else None},
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
    METER_PROPS = frozenset({"AUDIO_LEVEL_RMS", "AUDIO_LEVEL_PEAK"})
    HANDSHAKE_GETS = ("MODEL", "FW_VER", "DEVICE_ID")
    KEEPALIVE_GET = "DEVICE_ID"
    MODELS: ClassVar[Mapping[str, int]] = MODELS
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

    # -- SAMPLE ----------------------------------------------------------------------

    def _sample(self, fields: list[str]) -> Values:
        # quality ledbits peak rms ant ledA rssiA ledB rssiB [ledC rssiC ledD rssiD]
        n = len(fields)
        if n not in _SAMPLE_LENGTHS:
            raise ProtocolViolation(f"SAMPLE needs 9 or 13 fields, got {n}")
        leds = integer(fields[1])
        if not 0 <= leds <= 255:
            raise ProtocolViolation(f"LED bitmap out of range: {leds}")
        peak = level_db(fields[2])
        rms = level_db(fields[3])
        ant = fields[4]
        if ant.strip(_ANT_CHARS):
            raise ProtocolViolation(f"bad antenna status {ant!r}")
        # strongest ACTIVE antenna; the per-antenna LED fields are not used
        best: int | None = None
        active = ""
        for c in ant:
            i = _ANT_INDEX.get(c)
            if i is None:  # X inactive, R reserved
                continue
            j = 6 + 2 * i
            if j >= n:
                raise ProtocolViolation(f"antenna {c} has no RSSI field")
            dbm = level_db(fields[j])
            active += c
            if dbm is not None and (best is None or dbm > best):
                best = dbm
        return {
            "rf.quality": quality(fields[0]),
            "rf.antennas": active,
            "rf.rssi_dbm": best,
            # no active antenna: no usable signal, an empty bar (rssi stays unknown)
            "rf.level_pct": 0 if best is None else rf_pct_from_dbm(best),
            "audio.dbfs": rms,
            "audio.level_pct": None if rms is None else audio_pct_from_dbfs(rms),
            "audio.peak_dbfs": peak,
            "audio.peak": bool(leds & 128),
        }

    # -- REP with state: RSSI per antenna, ANTENNA_STATUS, MODEL ----------------------

    def _on_rep(self, tokens: list[str], events: list[Event]) -> None:
        if (len(tokens) > 2 and tokens[2] in ("RSSI", "ANTENNA_STATUS")
                and tokens[1].isdigit() and tokens[1] != "0"):
            ch = self._channel_index(tokens[1])
            self._all_pending = False
            events.append(ChannelUpdate(ch, self._rf_rep(ch, tokens[2], tokens[3:]),
                                        meter=True))
            self._confirm(ch, tokens[2], events)
            return
        super()._on_rep(tokens, events)

    def _rf_rep(self, ch: int, prop: str, args: list[str]) -> Values:
        """``RSSI a vvv`` (a = 1..4 or A..D) and ``ANTENNA_STATUS xx`` arrive one per
        REP (in the GET ALL answer; metered values are not reported unsolicited): keep
        them per channel so that rf.rssi_dbm is the strongest active antenna, as in
        SAMPLE. Until an ANTENNA_STATUS is known every reported antenna counts."""
        values: Values = {}
        rssi = self._rssi.setdefault(ch, {})
        if prop == "RSSI":
            if len(args) < 2:
                raise ProtocolViolation("RSSI needs an antenna and a value")
            a = args[0]
            letter = "ABCD"[int(a) - 1] if a in ("1", "2", "3", "4") else a
            if letter not in _ANT_INDEX:
                raise ProtocolViolation(f"bad antenna index {a!r}")
            rssi[letter] = level_db(args[1])
        else:
            status = args[0]
            if status.strip(_ANT_CHARS):
                raise ProtocolViolation(f"bad antenna status {status!r}")
            self._ant[ch] = antennas(status)
            values["rf.antennas"] = self._ant[ch]
            if not rssi:
                return values
        active = self._ant.get(ch)
        known = [v for k, v in rssi.items()
                 if v is not None and (active is None or k in active)]
        best = max(known) if known else None
        values["rf.rssi_dbm"] = best
        values["rf.level_pct"] = 0 if best is None else rf_pct_from_dbm(best)
        return values

    def _device_prop(self, prop: str, args: list[str], events: list[Event]) -> None:
        if prop != "MODEL":
            super()._device_prop(prop, args, events)
            return
        model = text(args[0]) if args else None
        values: Values = {"model": model}
        count = model_channels(model)
        if count is not None:
            values["channel_count"] = count
            self.channels = count
        events.append(DeviceUpdate(values))
        self._confirm(None, prop, events)

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
