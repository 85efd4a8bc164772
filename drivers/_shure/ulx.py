"""The ULX-D parameter list, spoken by ULX-D (ULXD4, ULXD4D, ULXD4Q) and QLX-D (QLXD4).

shared/protocols/shure.md section 4: both families report the same properties and the same
``SAMPLE n ALL ant rf audio`` metering; QLX-D lacks ``AUDIO_MUTE``. Each family package
subclasses :class:`UlxDriver` with its models.
"""

from __future__ import annotations

from typing import ClassVar, assert_never

from micboardd.drivers._shure.props import (
    batt_type,
    enc_warning,
    group_chan,
    mute_status,
    rf_int,
    tx_offset,
    tx_type,
)
from micboardd.drivers._shure.protocol import (
    PropHandler,
    ShureDriver,
    Values,
    antennas,
    battery_values,
    encode_string,
    frame,
    freq_khz,
    frequency_command,
    gain_command,
    integer,
    mute_value,
    on_off,
    percent,
    runtime_values,
    text_arg,
)
from micboardd.drivers.base import Command


def rf_values(rf: int) -> Values:
    # RF is 000..115. Shure's pages give it as a 0..115 scale; one peer reads it as
    # rf - 128 dBm. We display the scale (percent = rf * 100 / 115) and report the
    # peer's dBm reading as rssi_dbm, which only the alert thresholds use.
    return {"rf.level_pct": min(100, round(rf * 100 / 115)), "rf.rssi_dbm": rf - 128}


#: AUDIO (000..050, dBFS = a - 50) at or above this lights the peak indicator.
#: The family sends no overload flag. Shure's Micboard (py/mic.py, PEAK_LEVEL 80 on its
#: doubled scale) calls 40, i.e. -10 dBFS, a peak (shure.md 2b), and so do we: techs
#: moving from Micboard see AUDIO_PEAK at the level they know, and a meter pinned at
#: 0 dBFS (our earlier rule) means the clipping has already happened.
PEAK_AUDIO = 40


def audio_values(a: int) -> Values:
    a = min(a, 50)
    return {"audio.level_pct": a * 2, "audio.dbfs": a - 50, "audio.peak": a >= PEAK_AUDIO}


CHANNEL_PROPS: dict[str, PropHandler] = {
    # names may come unbraced with spaces (shure.md 2b): every token is the value
    "CHAN_NAME": lambda a: {"name": text_arg(a)},
    "FREQUENCY": lambda a: {"frequency_khz": freq_khz(a[0])},
    "GROUP_CHAN": group_chan,
    # the Axient / SLX-D spelling: accepted too, should a firmware use it
    "GROUP_CHANNEL": group_chan,
    "AUDIO_GAIN": lambda a: {"audio.gain_db": integer(a[0]) - 18},
    "AUDIO_MUTE": lambda a: {"audio.muted": on_off(a[0])},
    "ENCRYPTION_WARNING": enc_warning,
    "RF_INT_DET": rf_int,
    "RX_RF_LVL": lambda a: rf_values(integer(a[0])),
    "AUDIO_LVL": lambda a: audio_values(integer(a[0])),
    "RF_ANTENNA": lambda a: {"rf.antennas": antennas(a[0])},
    "TX_TYPE": tx_type,
    "TX_OFFSET": tx_offset,
    "TX_MUTE_STATUS": mute_status,
    "TX_PWR_LOCK": lambda a: {"tx.power_lock": on_off(a[0])},
    "BATT_BARS": lambda a: battery_values(a[0]),
    "BATT_CHARGE": lambda a: {"tx.battery_percent": percent(a[0])},
    "BATT_RUN_TIME": lambda a: runtime_values(a[0]),
    "BATT_TYPE": batt_type,
    "METER_RATE": lambda a: {},
    "TX_RF_PWR": lambda a: {},
    "TX_MENU_LOCK": lambda a: {},
    "TX_MUTE_BUTTON_STATUS": lambda a: {},
    "TX_POWER_SOURCE": lambda a: {},
    "TX_DEVICE_ID": lambda a: {},
    "BATT_CYCLE": lambda a: {},
    "BATT_TEMP_C": lambda a: {},
    "BATT_TEMP_F": lambda a: {},
    "BATT_HEALTH": lambda a: {},
}

DEVICE_PROPS: dict[str, PropHandler] = {
    "FW_VER": lambda a: {"firmware": text_arg(a)},
    "DEVICE_ID": lambda a: {"device_name": text_arg(a)},
    "MODEL": lambda a: {"model": text_arg(a)},
    "ENCRYPTION": lambda a: {},
    "AUDIO_SUMMING_MODE": lambda a: {},
    "FREQUENCY_DIVERSITY_MODE": lambda a: {},
    "HIGH_DENSITY": lambda a: {},
    "FLASH": lambda a: {},
}


class UlxDriver(ShureDriver):
    """ULX-D / QLX-D: the ULX-D parameter list over TCP 2202."""

    default_channels = 1
    CHANNEL_PROPS = CHANNEL_PROPS
    DEVICE_PROPS = DEVICE_PROPS
    METER_PROPS = frozenset({"RX_RF_LVL", "AUDIO_LVL", "RF_ANTENNA"})
    NAME_WIDTH = 8
    NAME_MAX = 8  # ULX-D / QLX-D CHAN_NAME: 8 characters
    HAS_MUTE: ClassVar[bool] = True

    def _sample(self, fields: list[str]) -> Values:
        # < SAMPLE n ALL ant rf audio >  (the hot path: inlined rf_values/audio_values)
        rf = int(fields[1])
        a = int(fields[2])
        if a > 50:
            a = 50
        return {
            "rf.antennas": antennas(fields[0]),
            "rf.level_pct": min(100, round(rf * 100 / 115)),
            "rf.rssi_dbm": rf - 128,
            "audio.level_pct": a * 2,
            "audio.dbfs": a - 50,
            "audio.peak": a >= PEAK_AUDIO,
        }

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        if cmd.kind == "identify":
            return (None, "FLASH"), [frame("SET", "FLASH", "ON")]
        ch = self._need_channel(cmd)
        if cmd.kind == "name":
            return (ch, "CHAN_NAME"), [
                frame("SET", ch, "CHAN_NAME", encode_string(cmd.value, self.NAME_WIDTH))
            ]
        if cmd.kind == "mute":
            if not self.HAS_MUTE:
                return super()._encode_command(cmd)
            on = mute_value(cmd)
            return (ch, "AUDIO_MUTE"), [frame("SET", ch, "AUDIO_MUTE", "ON" if on else "OFF")]
        if cmd.kind == "gain":
            # AUDIO_GAIN 000..060, dB = v - 18
            return gain_command(cmd, ch, -18, 42, 18)
        if cmd.kind == "frequency":
            return frequency_command(cmd, ch, 6)
        assert_never(cmd.kind)
