"""Shure PSM1000 (P10T in-ear monitor transmitter, 2 channels): TCP 2202, ``< ... >``.

The P10T transmits, it does not receive, so most of the channel contract stays null:
no battery (``tx.battery_*``), no RF receive levels (``rf.*``), no gain in dB.

- ``tx`` describes the P10T's own RF output. ``RF_MUTE 0`` (carrier on air) sets
  ``tx.present`` True and ``tx.muted`` False; ``RF_MUTE 1`` sets ``tx.present`` False and
  ``tx.muted`` True. With no battery the store shows a present transmitter as GOOD and a
  muted one as TX_OFF, which is what the engineer needs to see: a muted IEM carrier
  means the performer hears nothing.
- Meters: no SAMPLE. ``METER_RATE`` paces ``REP n AUDIO_IN_LVL_L v`` / ``_R`` reports
  with large integers on an undocumented monotonic scale, bucketed 0..8 at the
  thresholds the known open-source monitor uses. The louder side is shown:
  ``audio.level_pct`` = bucket * 100 / 8 and ``audio.peak`` = top bucket. ``audio.dbfs``
  stays null: the scale has no known relation to dBFS.
- Peers GET each property one by one, so the handshake does too instead of ``GET 0 ALL``.
- Peers end every frame with CR LF; this driver does the same and ignores them on input.
- Tolerated beyond shure.md: the verb spelt ``REPORT`` and unbraced names (one public
  description of a live P10T shows both).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import ClassVar, assert_never

from micboardd.drivers._shure.props import group_chan
from micboardd.drivers._shure.protocol import (
    PropHandler,
    ShureDriver,
    Values,
    encode_string,
    frame,
    freq_khz,
    frequency_command,
    integer,
    mute_value,
    on_off,
    text,
)
from micboardd.drivers.base import Command, Event

#: AUDIO_IN_LVL_L/_R at or above the n-th threshold is bucket n (0..8)
LEVEL_THRESHOLDS = (10272, 23728, 85488, 246260, 641928, 1588744, 2157767, 2502970)
TOP_BUCKET = len(LEVEL_THRESHOLDS)
_BUCKET_PCT = tuple(b * 100 // TOP_BUCKET for b in range(TOP_BUCKET + 1))
_METER_SIDE = {"AUDIO_IN_LVL_L": 0, "AUDIO_IN_LVL_R": 1}
MAX_CHANNELS = 8  # the frame parser's channel index limit


def name(args: list[str]) -> Values:
    # braced and padded per shure.md; also accept a bare name split on spaces
    return {"name": text(" ".join(args))}


def frequency(args: list[str]) -> Values:
    # shure.md: kHz digits like the receivers (`518250`). One peer formats it as MHz
    # with a decimal point (`518.250`): accepted too; both are shown as kHz.
    s = args[0]
    mhz, dot, frac = s.partition(".")
    if not dot:
        return {"frequency_khz": freq_khz(s)}
    khz = integer(mhz) * 1000 + integer((frac + "000")[:3])
    return {"frequency_khz": khz or None}


def rf_mute(args: list[str]) -> Values:
    muted = on_off(args[0])  # 1 / 0 (ON / OFF accepted)
    return {"tx.muted": muted, "tx.present": None if muted is None else not muted}


def _ignore(args: list[str]) -> Values:
    return {}


CHANNEL_PROPS: dict[str, PropHandler] = {
    "CHAN_NAME": name,
    "GROUP_CHAN": group_chan,
    "FREQUENCY": frequency,
    "RF_MUTE": rf_mute,
    "RF_TX_LVL": _ignore,  # 10 / 50 / 100 mW
    "AUDIO_TX_MODE": _ignore,  # 1 mono, 2 point-to-point, 3 stereo
    "AUDIO_IN_LINE_LVL": _ignore,
    "AUDIO_IN_LVL": _ignore,
    "METER_RATE": _ignore,
    # AUDIO_IN_LVL_L / _R are meters with per-channel state: PSM1000Driver._on_rep
}

DEVICE_PROPS: dict[str, PropHandler] = {
    "DEVICE_NAME": lambda a: {"device_name": text(" ".join(a))},
    # not in shure.md for the P10T; understood should a firmware report them
    "MODEL": lambda a: {"model": text(" ".join(a))},
    "FW_VER": lambda a: {"firmware": text(" ".join(a))},
}


class PSM1000Driver(ShureDriver):
    family = "shure-psm1000"
    default_channels = 2
    CHANNEL_PROPS = CHANNEL_PROPS
    DEVICE_PROPS = DEVICE_PROPS
    METER_PROPS = frozenset(_METER_SIDE)
    HANDSHAKE_GETS = ("DEVICE_NAME",)
    #: channel properties asked for one by one in the handshake (those we normalize)
    CHANNEL_GETS: ClassVar[tuple[str, ...]] = ("CHAN_NAME", "GROUP_CHAN", "FREQUENCY", "RF_MUTE")
    KEEPALIVE_GET = "DEVICE_NAME"
    MODELS: ClassVar[dict[str, int]] = {"P10T": 2}
    # shure.md gives no PSM1000 CHAN_NAME width: 8 like the other compact families (a
    # guess; the transmitter answers REP ERR to a name it does not take)
    NAME_WIDTH = 8
    NAME_MAX = 8  # what this driver has always sent (shure.md gives no PSM1000 width)

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        super().__init__(meter_rate_ms=meter_rate_ms, channels=channels)
        # last bucket of each side (L, R) per channel, index 0 unused
        self._levels = [[0, 0] for _ in range(MAX_CHANNELS + 1)]

    def _reset_buffer(self) -> None:
        super()._reset_buffer()
        for lv in self._levels:
            lv[0] = lv[1] = 0

    # -- incoming ----------------------------------------------------------------------

    def _frame(self, body: bytes, events: list[Event]) -> None:
        if body.find(b"REPORT", 0, 8) >= 0:
            body = body.replace(b"REPORT", b"REP", 1)
        super()._frame(body, events)

    def _on_rep(self, tokens: list[str], events: list[Event]) -> None:
        side = _METER_SIDE.get(tokens[2]) if len(tokens) == 4 else None
        if side is None:
            super()._on_rep(tokens, events)
            return
        # hot path: < REP n AUDIO_IN_LVL_L v >
        ch = self._check_channel(tokens[1])
        bucket = bisect_right(LEVEL_THRESHOLDS, integer(tokens[3]))
        if ch > self.channels:
            self._channel_seen(ch)
        lv = self._levels[ch]
        lv[side] = bucket
        b = lv[0] if lv[0] > lv[1] else lv[1]
        self._meter(ch, {"audio.level_pct": _BUCKET_PCT[b], "audio.peak": b == TOP_BUCKET},
                    events)

    # -- outgoing ----------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        # '>' only ever ends a frame: names with '<' or '>' are refused by encode_string
        return super().data_to_send().replace(b">", b">\r\n")

    def _handshake(self) -> list[bytes]:
        out = [frame("GET", p) for p in self.HANDSHAKE_GETS]
        for n in range(1, self.channels + 1):
            out.extend(frame("GET", n, p) for p in self.CHANNEL_GETS)
        if self.meter_rate_ms:
            # METER_RATE starts the AUDIO_IN_LVL reports; five digits as on the receivers
            out.extend(self._meter_frames(self.meter_rate_ms))
        return out

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        if cmd.kind == "identify" or cmd.kind == "gain":
            # shure.md lists no FLASH and no gain in dB for the P10T
            return super()._encode_command(cmd)
        ch = self._need_channel(cmd)
        if cmd.kind == "name":
            return (ch, "CHAN_NAME"), [
                frame("SET", ch, "CHAN_NAME", encode_string(cmd.value, self.NAME_WIDTH))
            ]
        if cmd.kind == "mute":
            return (ch, "RF_MUTE"), [frame("SET", ch, "RF_MUTE", 1 if mute_value(cmd) else 0)]
        if cmd.kind == "frequency":
            return frequency_command(cmd, ch, 6)
        assert_never(cmd.kind)
