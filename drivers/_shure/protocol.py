"""What every Shure TCP family shares: ``< ... >`` framing, tokens, special values.

Family drivers subclass :class:`ShureDriver` and describe their protocol with tables:
``CHANNEL_PROPS`` / ``DEVICE_PROPS`` map a wire property to a function that turns its
arguments into normalized values, and :meth:`ShureDriver._sample` reads a ``SAMPLE``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandInvalid,
    CommandUnsupported,
    DeviceUpdate,
    Driver,
    Event,
)

# the display scales moved to drivers/scales.py (shared with the Sennheiser families);
# re-exported here so the Shure families keep importing them from this module
from micboardd.drivers.scales import audio_pct_from_dbfs as audio_pct_from_dbfs
from micboardd.drivers.scales import clamp_pct as clamp_pct
from micboardd.drivers.scales import rf_pct_from_dbm as rf_pct_from_dbm

#: A frame longer than this without its closing ``>`` is garbage; the buffer is dropped.
MAX_FRAME = 2048

Values = dict[str, Any]
#: args after the property name -> normalized values (empty dict: known, nothing to show)
PropHandler = Callable[[list[str]], Values]


class ProtocolViolation(ValueError):
    """Raised inside handlers for a value that does not fit; becomes a ProtocolError."""


# ------------------------------------------------------------------- value helpers


def integer(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise ProtocolViolation(f"expected a number, got {s!r}") from None


def num(s: str, *unknown: int) -> int | None:
    """A zero-padded number, ``None`` when it is one of the ``unknown`` markers."""
    v = integer(s)
    return None if v in unknown else v


def bars(s: str) -> int | None:
    """Battery bars 0..5; 255 (transmitter off / unknown) and anything else -> None."""
    v = integer(s)
    if v == 255:
        return None
    if not 0 <= v <= 5:
        raise ProtocolViolation(f"battery bars out of range: {v}")
    return v


def minutes(s: str) -> tuple[int | None, str | None]:
    """Run time in minutes and its state: 65535 unknown, 65534 calculating, 65533 comm
    warning, 0..65532 valid."""
    v = integer(s)
    if v == 65535:
        return None, None
    if v == 65534:
        return None, "calculating"
    if v == 65533:
        return None, "comm_warning"
    return v, None


def percent(s: str) -> int | None:
    v = integer(s)
    if v == 255:
        return None
    if not 0 <= v <= 100:
        raise ProtocolViolation(f"percent out of range: {v}")
    return v


def text(s: str) -> str | None:
    """A padded string; ``UNKN``/``UNKNOWN``/empty -> None."""
    s = s.strip()
    return None if s in ("", "UNKN", "UNKNOWN") else s


def freq_khz(s: str) -> int | None:
    """6 or 7 digit kHz; all zeros means unknown."""
    v = integer(s)
    return None if v == 0 else v


def on_off(s: str) -> bool | None:
    if s in ("ON", "1", "YES", "TRUE"):
        return True
    if s in ("OFF", "0", "NO", "FALSE"):
        return False
    if s in ("UNKN", "UNKNOWN"):
        return None
    raise ProtocolViolation(f"expected ON/OFF, got {s!r}")


_ANTENNAS = {"AB": "AB", "AX": "A", "XB": "B", "XX": ""}


def antennas(s: str) -> str:
    """Antenna status chars (A B C D active; X inactive; R reserved) -> active letters."""
    known = _ANTENNAS.get(s)
    return known if known is not None else "".join(c for c in s if c in "ABCD")


def battery_values(bars_s: str) -> Values:
    b = bars(bars_s)
    return {"tx.battery_bars": b}


def runtime_values(s: str) -> Values:
    m, state = minutes(s)
    return {"tx.battery_minutes": m, "tx.battery_minutes_state": state}


# ------------------------------------------------------------------------- framing


def split_frame(body: bytes) -> list[str]:
    """Tokens of one frame body (without ``<`` ``>``); a ``{...}`` string is one token,
    braces removed and padding stripped."""
    brace = body.find(b"{")
    if brace < 0:
        return body.decode("ascii", "replace").split()
    end = body.rfind(b"}")
    if end < brace:
        raise ProtocolViolation("unterminated {string}")
    head = body[:brace].decode("ascii", "replace").split()
    head.append(body[brace + 1 : end].decode("utf-8", "replace").rstrip())
    return head


def encode_string(value: str, width: int) -> str:
    """Validate a name for SET: printable ASCII, no braces or angle brackets, ``width``
    characters at most."""
    if not isinstance(value, str):
        raise CommandInvalid("name must be a string")
    if not value.strip():
        raise CommandInvalid("name must not be empty")
    if len(value) > width:
        raise CommandInvalid(f"name is {len(value)} characters; this family takes {width}")
    if any(not (32 <= ord(c) < 127) or c in "{}<>" for c in value):
        raise CommandInvalid("name may contain printable ASCII only, without {} or <>")
    return "{" + value + "}"


def frame(*parts: object) -> bytes:
    return ("< " + " ".join(str(p) for p in parts) + " >").encode("ascii")


class ShureDriver(Driver):
    """Generic ``< ... >`` Shure TCP driver; families fill in the tables."""

    #: wire channel property -> handler
    CHANNEL_PROPS: ClassVar[Mapping[str, PropHandler]] = {}
    #: wire device property (no channel index) -> handler
    DEVICE_PROPS: ClassVar[Mapping[str, PropHandler]] = {}
    #: channel properties whose values are meters (may be coalesced)
    METER_PROPS: ClassVar[frozenset[str]] = frozenset()
    #: device properties asked for one by one in the handshake
    HANDSHAKE_GETS: ClassVar[tuple[str, ...]] = ("FW_VER", "DEVICE_ID")
    #: device property polled as keepalive (must be answered)
    KEEPALIVE_GET: ClassVar[str] = "DEVICE_ID"
    #: model name -> channel count
    MODELS: ClassVar[Mapping[str, int]] = {}
    #: width of CHAN_NAME accepted by SET
    NAME_WIDTH: ClassVar[int] = 8
    NAME_MAX: ClassVar[int] = 8  # = NAME_WIDTH: what SET CHAN_NAME accepts
    #: whether the family meters with SAMPLE and METER_RATE
    HAS_METER_RATE: ClassVar[bool] = True

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        super().__init__(meter_rate_ms=meter_rate_ms, channels=channels)
        self._buf = bytearray()
        self._all_pending = False  # GET 0 ALL sent, not answered yet
        self._fallback_used = False
        self._metered: set[int] = set()  # channels we asked to meter on this connection

    # -- framing ---------------------------------------------------------------------

    def _reset_buffer(self) -> None:
        self._buf.clear()
        self._all_pending = False
        self._metered.clear()

    def _parse(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        buf += data
        pos = 0
        n = len(buf)
        while pos < n:
            start = buf.find(b"<", pos)
            if start < 0:
                self._garbage(buf[pos:], events)
                pos = n
                break
            if start > pos:
                self._garbage(buf[pos:start], events)
            end = buf.find(b">", start + 1)
            if end < 0:
                if n - start > MAX_FRAME:
                    self._malformed("frame too long without '>'", buf[start:], events)
                    pos = n
                else:
                    pos = start
                break
            nxt = buf.find(b"<", start + 1, end)
            if nxt >= 0:
                # a new frame began before this one ended: the first was cut off
                self._malformed("truncated frame", buf[start:nxt], events)
                pos = nxt
                continue
            self._frame(bytes(buf[start + 1 : end]), events)
            pos = end + 1
        del buf[:pos]
        return events

    def _garbage(self, chunk: bytes | bytearray, events: list[Event]) -> None:
        if chunk.strip():  # spaces and CR/LF between frames are fine (PSM1000 sends CRLF)
            self._malformed("bytes outside a frame", chunk, events)

    # -- frames ------------------------------------------------------------------------

    def _frame(self, body: bytes, events: list[Event]) -> None:
        try:
            tokens = split_frame(body)
            if not tokens:
                raise ProtocolViolation("empty frame")
            verb = tokens[0]
            if verb == "SAMPLE":
                self._on_sample(tokens, events)
            elif verb == "REP":
                self._on_rep(tokens, events)
            elif verb in ("GET", "SET"):
                raise ProtocolViolation(f"device sent a {verb}")
            else:
                raise ProtocolViolation(f"unknown verb {verb!r}")
        except (ValueError, IndexError) as exc:  # ProtocolViolation is a ValueError
            self._malformed(str(exc) or "missing field", b"<" + body + b">", events)
            return
        self.stats.frames += 1

    def _channel_index(self, s: str) -> int:
        ch = integer(s)
        if not 1 <= ch <= 8:
            raise ProtocolViolation(f"channel index out of range: {ch}")
        if ch > self.channels:
            self.channels = ch
        if ch not in self._metered and self.HAS_METER_RATE and self.meter_rate_ms:
            # a channel first seen in the GET ALL answer (ULXD4Q reports 4): meter it too
            self._metered.add(ch)
            self._out.append(frame("SET", ch, "METER_RATE", f"{self.meter_rate_ms:05d}"))
        return ch

    def _on_sample(self, tokens: list[str], events: list[Event]) -> None:
        ch = int(tokens[1])
        if not 1 <= ch <= self.channels or ch not in self._metered:
            ch = self._channel_index(tokens[1])
        if tokens[2] != "ALL":
            raise ProtocolViolation("SAMPLE without ALL")
        events.append(ChannelUpdate(ch, self._sample(tokens[3:]), meter=True))

    def _sample(self, fields: list[str]) -> Values:
        raise ProtocolViolation("this family does not send SAMPLE")

    def _on_rep(self, tokens: list[str], events: list[Event]) -> None:
        second = tokens[1]
        if second == "ERR":
            self._on_error(events)
            return
        if second.isdigit():
            ch = integer(second)
            prop = tokens[2]
            if ch == 0:
                # some firmware echoes device properties with index 0
                self._device_prop(prop, tokens[3:], events)
                return
            ch = self._channel_index(second)
            handler = self.CHANNEL_PROPS.get(prop)
            if handler is None:
                if prop in self.DEVICE_PROPS:
                    self._device_prop(prop, tokens[3:], events)
                # unknown properties are normal (newer firmware): ignore, not malformed
                self._confirm(ch, prop, events)
                return
            self._all_pending = False
            values = handler(tokens[3:])
            if values:
                events.append(ChannelUpdate(ch, values, meter=prop in self.METER_PROPS))
            self._confirm(ch, prop, events)
        else:
            self._device_prop(second, tokens[2:], events)

    def _device_prop(self, prop: str, args: list[str], events: list[Event]) -> None:
        handler = self.DEVICE_PROPS.get(prop)
        if handler is not None:
            values = handler(args)
            if values:
                if "model" in values and values["model"] in self.MODELS:
                    values = {**values, "channel_count": self.MODELS[values["model"]]}
                    self.channels = self.MODELS[values["model"]]
                events.append(DeviceUpdate(values))
        self._confirm(None, prop, events)

    def _on_error(self, events: list[Event]) -> None:
        # Replies come in order. An ERR while GET 0 ALL is unanswered is its answer
        # (SLX-D+ 2.0.38.9 refuses index 0): ask channel by channel instead.
        if self._all_pending:
            self._all_pending = False
            self._fallback_used = True
            self._out.extend(frame("GET", n, "ALL") for n in range(1, self.channels + 1))
            return
        self._reject_oldest("device answered REP ERR", events)

    # -- outgoing ----------------------------------------------------------------------

    def _handshake(self) -> list[bytes]:
        out = [frame("GET", p) for p in self.HANDSHAKE_GETS]
        out.append(frame("GET", 0, "ALL"))
        self._all_pending = True
        if self.HAS_METER_RATE and self.meter_rate_ms:
            out.extend(self._meter_frames(self.meter_rate_ms))
        return out

    def _meter_frames(self, rate_ms: int) -> list[bytes]:
        if rate_ms:
            self._metered.update(range(1, self.channels + 1))
        return [frame("SET", n, "METER_RATE", f"{rate_ms:05d}") for n in sorted(self._metered)]

    def _keepalive(self) -> list[bytes]:
        return [frame("GET", self.KEEPALIVE_GET)]

    def _meter_stop(self) -> list[bytes]:
        return self._meter_frames(0) if self.HAS_METER_RATE and self.meter_rate_ms else []

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        raise CommandUnsupported(f"{self.family} has no {cmd.kind} control")

    def _need_channel(self, cmd: Command) -> int:
        if cmd.channel is None:
            raise CommandInvalid(f"{cmd.kind} needs a channel")
        return cmd.channel


def gain_command(cmd: Command, ch: int, lo_db: int, hi_db: int, offset: int, width: int = 3,
                 prop: str = "AUDIO_GAIN") -> tuple[tuple[int | None, str], list[bytes]]:
    """``SET n AUDIO_GAIN v`` where dB = v - offset, validated to lo_db..hi_db."""
    v = cmd.value
    if isinstance(v, bool) or not isinstance(v, int):
        raise CommandInvalid("gain must be a whole number of dB")
    if not lo_db <= v <= hi_db:
        raise CommandInvalid(f"gain must be {lo_db}..{hi_db} dB, not {v}")
    return (ch, prop), [frame("SET", ch, prop, f"{v + offset:0{width}d}")]


def frequency_command(cmd: Command, ch: int, digits: int, lo_khz: int = 470000,
                      hi_khz: int = 1000000, step_khz: int = 25
                      ) -> tuple[tuple[int | None, str], list[bytes]]:
    v = cmd.value
    if isinstance(v, bool) or not isinstance(v, int):
        raise CommandInvalid("frequency must be a whole number of kHz")
    if not lo_khz <= v <= hi_khz:
        raise CommandInvalid(f"frequency must be {lo_khz}..{hi_khz} kHz, not {v}")
    if v % step_khz:
        raise CommandInvalid(f"frequency must be a multiple of {step_khz} kHz")
    return (ch, "FREQUENCY"), [frame("SET", ch, "FREQUENCY", f"{v:0{digits}d}")]


def mute_value(cmd: Command) -> bool:
    if not isinstance(cmd.value, bool):
        raise CommandInvalid("mute needs true or false")
    return cmd.value
