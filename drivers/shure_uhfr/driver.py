"""Shure UHF-R (UR4S 1 ch, UR4D 2 ch): UDP 2202, ``* ... *`` frames.

Not the ``< ... >`` family: frames are ``* GET 1 CHAN_NAME *`` one way and
``* REPORT 1 CHAN_NAME name *`` the other, metering is ``* METER n ALL sss *`` (units of
about 30 ms) answered by ``* SAMPLE n ALL ant rfA rfB bat audiobits *``.

UDP transport
-------------
The link feeds each datagram to :meth:`UHFRDriver.receive_data` and, because
``transport == "udp"``, drains the outbox with :meth:`UHFRDriver.datagrams_to_send`:
one datagram per frame. :meth:`data_to_send` still works (frames joined) for tests and
tools. The receive side buffers across datagrams anyway, so a frame split over several
datagrams parses.

There is no connection: the link is "online" while replies arrive. Every keepalive sends
one GET (round robin over every field of every channel) that the receiver answers, and
repeats the METER request for every metered channel that sent no SAMPLE since the
previous keepalive: a lost METER datagram or a receiver reboot would otherwise end
metering silently.

Framing
-------
``*`` both opens and closes a frame, so a stray ``*`` in garbage would flip a
"which star opens" parity for ever. Instead the stream is cut at every ``*``; each
piece between two stars that is not blank is parsed as a frame (blank pieces are the
gaps between frames). A piece that is not a frame is counted as malformed, and the next
``*`` always ends it, so garbage never swallows the frame that follows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, assert_never

from micboardd.drivers._shure.protocol import (
    ProtocolViolation,
    Values,
    antennas,
    bars,
    clamp_pct,
    freq_khz,
    integer,
    minutes,
    text,
    text_arg,
)
from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandInvalid,
    CommandUnsupported,
    Driver,
    Event,
)

#: a SAMPLE's head (the meter fast path skips one that repeats its channel's last)
_SAMPLE_HEAD = re.compile(rb" *SAMPLE ([12]) ")
#: pending bytes without a closing ``*`` beyond this are garbage (real frames are short)
MAX_FRAME = 512
MAX_CHANNELS = 2
#: the fields asked for in the handshake and refreshed round robin by the keepalive
FIELDS = ("CHAN_NAME", "TX_TYPE", "TX_BAT", "TX_BAT_MINS", "GROUP_CHAN", "FREQUENCY",
          "AUDIO_GAIN")
#: METER units are about 30 ms (``003`` ~ 100 ms)
METER_UNIT_MS = 30
#: unknown markers seen in text fields
_UNKNOWN = ("", "U", "UNKN", "UNKNOWN")


def star(*parts: object) -> bytes:
    return ("* " + " ".join(str(p) for p in parts) + " *").encode("ascii")


def meter_units(rate_ms: int) -> int:
    """METER interval in device units: rate / 30 ms rounded, 1..999."""
    return max(1, min(999, round(rate_ms / METER_UNIT_MS)))


# ------------------------------------------------------------------- value parsing
# Handlers take the rest of the frame after the property name, as one string.


def bat_bars(s: str) -> int | None:
    """Battery bars ``1``..``5`` or ``U`` (unknown). ``0`` and Shure's usual ``255`` are
    accepted too (0 as empty, 255 as unknown)."""
    s = s.strip()
    return None if s in _UNKNOWN else bars(s)


def bat_minutes(rest: str) -> Values:
    s = rest.strip()
    if s in _UNKNOWN:
        return {"tx.battery_minutes": None, "tx.battery_minutes_state": None}
    m, state = minutes(s)  # 65535 unknown, 65534 calculating, 65533 comm warning
    return {"tx.battery_minutes": m, "tx.battery_minutes_state": state}


def tx_type(rest: str) -> Values:
    model = text(rest)
    if model == "U":
        model = None
    return {"tx.model": model, "tx.present": model is not None}


def group_chan(rest: str) -> Values:
    # ``gg cc``; ``-- --`` unset. Shown as ``gg,cc`` like the TCP families. A single
    # ``gg,cc`` token is accepted too.
    parts = rest.replace(",", " ").split()
    if len(parts) != 2:
        raise ProtocolViolation(f"GROUP_CHAN needs group and channel, got {rest!r}")
    if any(p.startswith("-") for p in parts):
        return {"group_channel": None}
    return {"group_channel": f"{parts[0]},{parts[1]}"}


def audio_gain(rest: str) -> Values:
    # 0..32 on the wire. shure.md gives no dB scale; we take one step as 1 dB from 0
    # (unverified), so audio.gain_db shows the receiver's own 0..32 number.
    v = integer(rest.strip())
    if not 0 <= v <= 32:
        raise ProtocolViolation(f"AUDIO_GAIN out of range 0..32: {v}")
    return {"audio.gain_db": v}


REPORT_FIELDS: dict[str, Callable[[str], Values]] = {
    # the rest of the frame, its words joined by single spaces (shure.md 2b)
    "CHAN_NAME": lambda r: {"name": text_arg(r.split())},
    "TX_TYPE": tx_type,
    "TX_BAT": lambda r: {"tx.battery_bars": bat_bars(r)},
    "TX_BAT_MINS": bat_minutes,
    "GROUP_CHAN": group_chan,
    "FREQUENCY": lambda r: {"frequency_khz": freq_khz(r.strip())},
    "AUDIO_GAIN": audio_gain,
}


def rf_pct(rf: int) -> int:
    """RF reading: roughly 20 (strong) .. 100 (nothing); smaller is stronger. One peer
    maps it as (100 - rf) * 100 / 80; we do the same. Whether it is a dBm figure in
    disguise is not known, so rf.rssi_dbm stays unknown for this family."""
    return clamp_pct((100 - rf) * 100 / 80)


def name_value(value: object) -> str:
    if not isinstance(value, str):
        raise CommandInvalid("name must be a string")
    if not value.strip():
        raise CommandInvalid("name must not be empty")
    if value != value.strip() or "  " in value:
        # the receiver's reply is split on spaces: such a name would not come back as sent
        raise CommandInvalid("name must not start or end with, or repeat, spaces")
    if len(value) > UHFRDriver.NAME_WIDTH:
        raise CommandInvalid(
            f"name is {len(value)} characters; this family takes {UHFRDriver.NAME_WIDTH}")
    if any(not (32 <= ord(c) < 127) or c == "*" for c in value):
        raise CommandInvalid("name may contain printable ASCII only, without *")
    return value


class UHFRDriver(Driver):
    family = "shure-uhfr"
    transport = "udp"
    default_port = 2202
    keepalive_interval = 2.0
    silent_hint = "no replies over UDP: check the receiver's address and network setup"
    # UR4D is the common unit; configure channels=1 for a UR4S (there is no model query
    # over this protocol, so the count cannot be learned)
    default_channels = 2
    MODELS: ClassVar[Mapping[str, int]] = {"UR4S": 1, "UR4D": 2}
    NAME_WIDTH: ClassVar[int] = 12
    NAME_MAX: ClassVar[int] = 12  # "about 12 chars" (shure.md section 6), uncertain
    #: UHF-R tuning range across its bands, 25 kHz steps
    FREQ_RANGE_KHZ: ClassVar[tuple[int, int]] = (470000, 952000)
    GAIN_RANGE: ClassVar[tuple[int, int]] = (0, 32)

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        if channels is not None and not 1 <= channels <= MAX_CHANNELS:
            raise CommandInvalid(f"UHF-R receivers have 1 or 2 channels, not {channels}")
        super().__init__(meter_rate_ms=meter_rate_ms, channels=channels)
        self._buf = bytearray()
        self._bat: dict[int, str] = {}  # last SAMPLE battery field per channel
        self._poll = 0  # round-robin position of the keepalive GET
        self._sampled: set[int] = set()  # channels that sent a SAMPLE since the keepalive

    # Driver.datagrams_to_send (one outbox item per datagram) is what the link drains
    # over UDP: every frame below is queued as its own item.

    # -- framing ---------------------------------------------------------------------

    def _reset_buffer(self) -> None:
        self._buf.clear()
        self._bat.clear()
        self._poll = 0
        self._sampled.clear()

    def _parse(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        buf += data
        pos = 0
        while (end := buf.find(b"*", pos)) >= 0:
            if end > pos:
                piece = bytes(buf[pos:end])
                if piece.strip():  # blank: the gap between two frames
                    self._frame(piece, events)
            pos = end + 1
        if pos:
            del buf[:pos]
        if len(buf) > MAX_FRAME:
            self._malformed("frame too long without '*'", buf, events)
            buf.clear()
        return events

    def _frame(self, body: bytes, events: list[Event]) -> None:
        head = _SAMPLE_HEAD.match(body) if self.meters is not None else None
        if head is not None and self._repeated(body[head.start(1)] - 48, body):
            self._sampled.add(body[head.start(1)] - 48)  # (the meter fast path)
            return
        try:
            s = body.decode("ascii", "replace")
            verb = s.split(None, 1)[0]
            if verb == "SAMPLE":
                ch, peak = self._on_sample(s.split(), events)
                if head is not None:
                    self._remember(ch, body, {"audio.peak": peak})
            elif verb in ("REPORT", "REP"):
                self._on_report(s.split(None, 3), events)
            elif verb in ("GET", "SET", "METER"):
                raise ProtocolViolation(f"device sent a {verb}")
            elif verb == "ERR":
                self._reject_oldest("device answered ERR", events)
            else:
                raise ProtocolViolation(f"unknown verb {verb[:20]!r}")
        except (ProtocolViolation, IndexError) as exc:
            self._malformed(str(exc) or "missing field", b"*" + body + b"*", events)
            return
        self.stats.frames += 1

    @staticmethod
    def _check_channel(s: str) -> int:
        ch = integer(s)
        if not 1 <= ch <= MAX_CHANNELS:
            raise ProtocolViolation(f"channel index out of range: {ch}")
        return ch

    def _channel_index(self, s: str) -> int:
        """A channel of a frame that parsed: a UR4D's channel 2 is learnt from it."""
        ch = self._check_channel(s)
        if ch > self.channels:
            self.channels = ch
        return ch

    def _on_report(self, parts: list[str], events: list[Event]) -> None:
        # parts: REPORT n PROP rest  (rest kept whole: names may hold single spaces)
        second = parts[1]
        if second == "ERR":
            # The error reply of UHF-R is not documented; the simulator answers bad
            # commands with * REPORT ERR * (and we also take * ERR *). Replies come in
            # order, so it refuses the oldest pending command.
            self._reject_oldest("device answered ERR", events)
            return
        if not second.isdigit():
            self._confirm(None, second, events)  # a device-level report: nothing to map
            return
        ch = self._check_channel(second)
        prop = parts[2]
        rest = parts[3] if len(parts) > 3 else ""
        handler = REPORT_FIELDS.get(prop)
        # unknown properties are normal (other firmware): ignore, not malformed
        values = handler(rest) if handler is not None else {}
        self._channel_index(second)  # the report parsed: now the channel counts
        if values:
            events.append(ChannelUpdate(ch, values))
        self._confirm(ch, prop, events)

    def _on_sample(self, tokens: list[str], events: list[Event]) -> tuple[int, bool]:
        """Returns the channel and whether its audio peaked."""
        # SAMPLE n ALL ant rfA rfB bat audiobits
        if len(tokens) != 8:
            raise ProtocolViolation(f"SAMPLE needs 8 fields, got {len(tokens)}")
        if tokens[2] != "ALL":
            raise ProtocolViolation("SAMPLE without ALL")
        ant, bat = tokens[3], tokens[6]
        # one character per antenna, X = inactive (read by position, as every family)
        active = antennas(ant)
        if len(ant) != 2:
            raise ProtocolViolation(f"bad antenna status {ant!r}")
        rf_a, rf_b, bits = integer(tokens[4]), integer(tokens[5]), integer(tokens[7])
        if not 0 <= bits <= 255:
            raise ProtocolViolation(f"audio bitmap out of range: {bits}")
        bars = bat_bars(bat)
        # the strongest (smallest) reading among the active antennas
        best = None
        if "A" in active:
            best = rf_a
        if "B" in active and (best is None or rf_b < best):
            best = rf_b
        ch = self._channel_index(tokens[1])
        self._sampled.add(ch)
        peak = bool(bits & 128)
        self._meter(ch, {
            "rf.antennas": active,
            "rf.level_pct": 0 if best is None else rf_pct(best),
            # lit LED segments out of 8; the top segment (128) doubles as the peak
            # indicator (uncertain: it may be a separate overload bit; either way a set
            # top bit is shown as a peak). No dBFS scale is known: audio.dbfs and
            # audio.peak_dbfs stay unknown, as does rf.rssi_dbm (see rf_pct).
            "audio.level_pct": round(bits.bit_count() * 100 / 8),
            "audio.peak": peak,
        }, events)
        # the battery rides in every sample but is a status value: deliver it as a
        # regular (non-meter) update, only when it changes
        if self._bat.get(ch) != bat:
            self._bat[ch] = bat
            events.append(ChannelUpdate(ch, {"tx.battery_bars": bars}))
        return ch, peak

    # -- outgoing ----------------------------------------------------------------------

    def _handshake(self) -> list[bytes]:
        chans = range(1, self.channels + 1)
        out = [star("GET", n, f) for n in chans for f in FIELDS]
        out.extend(self._meter_frames())
        return out

    def _meter_frames(self, only: Iterable[int] | None = None) -> list[bytes]:
        if not self.meter_rate_ms:
            return []
        units = meter_units(self.meter_rate_ms)
        chans = range(1, self.channels + 1) if only is None else only
        return [star("METER", n, "ALL", f"{units:03d}") for n in chans]

    def _keepalive(self) -> list[bytes]:
        # one GET the receiver answers (round robin, so state is also refreshed: lost
        # datagrams are normal over UDP), and METER again for channels whose samples
        # stopped (METER lost, receiver rebooted)
        n_fields = len(FIELDS)
        i = self._poll % (self.channels * n_fields)
        self._poll += 1
        out = [star("GET", i // n_fields + 1, FIELDS[i % n_fields])]
        silent = [n for n in range(1, self.channels + 1) if n not in self._sampled]
        self._sampled.clear()
        out.extend(self._meter_frames(silent))
        return out

    def _meter_stop(self) -> list[bytes]:
        if not self.meter_rate_ms:
            return []
        return [star("METER", n, "ALL", "STOP") for n in range(1, self.channels + 1)]

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        if cmd.kind == "mute" or cmd.kind == "identify":
            # no audio mute and no flash among the documented UHF-R strings
            raise CommandUnsupported(f"{self.family} has no {cmd.kind} control")
        if cmd.channel is None:
            raise CommandInvalid(f"{cmd.kind} needs a channel")
        ch = cmd.channel
        v = cmd.value
        if cmd.kind == "name":
            return (ch, "CHAN_NAME"), [star("SET", ch, "CHAN_NAME", name_value(v))]
        if isinstance(v, bool) or not isinstance(v, int):
            raise CommandInvalid(f"{cmd.kind} must be a whole number")
        if cmd.kind == "gain":
            lo, hi = self.GAIN_RANGE
            if not lo <= v <= hi:
                raise CommandInvalid(f"gain must be {lo}..{hi}, not {v}")
            return (ch, "AUDIO_GAIN"), [star("SET", ch, "AUDIO_GAIN", f"{v:02d}")]
        if cmd.kind == "frequency":
            lo, hi = self.FREQ_RANGE_KHZ
            if not lo <= v <= hi:
                raise CommandInvalid(f"frequency must be {lo}..{hi} kHz, not {v}")
            if v % 25:
                raise CommandInvalid("frequency must be a multiple of 25 kHz")
            return (ch, "FREQUENCY"), [star("SET", ch, "FREQUENCY", f"{v:06d}")]
        assert_never(cmd.kind)
