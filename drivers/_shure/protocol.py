"""What every Shure TCP family shares: the ``< ... >`` driver core.

Family drivers subclass :class:`ShureDriver` and describe their protocol with tables:
``CHANNEL_PROPS`` / ``DEVICE_PROPS`` map a wire property to a function that turns its
arguments into normalized values, and :meth:`ShureDriver._sample` reads a ``SAMPLE``.
Value helpers live in :mod:`.values`, framing in :mod:`.framing`; both are re-exported
here for the family modules.

What the core does for every family (shure.md sections 2 and 2b):

- Frames are buffered across reads and may hold braced strings with ``<`` ``>`` in them.
- ``GET 0 ALL`` may be refused (``REP ERR``) or ignored: either way, with no channel
  report about one second after asking, every channel is asked ``GET n ALL``.
- Channels the model or the reports reveal later are metered (and asked, after a
  fallback) as soon as they are known.
- A device that does not answer the device-level keepalive within half a second is kept
  alive with a channel query instead (some firmware answers only channel queries).
- A malformed frame yields one ``ProtocolError`` and nothing else: no value, no channel
  learnt, nothing queued, so a link can tell garbage from life.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from micboardd.drivers._shure.commands import frequency_command, gain_command, mute_value
from micboardd.drivers._shure.framing import (
    MAX_FRAME,
    encode_string,
    frame,
    frame_end,
    split_frame,
)
from micboardd.drivers._shure.values import (
    PropHandler,
    ProtocolViolation,
    Values,
    antenna_status,
    antennas,
    audio_pct_from_dbfs,
    bars,
    battery_values,
    clamp_pct,
    freq_khz,
    integer,
    minutes,
    num,
    on_off,
    percent,
    rf_pct_from_dbm,
    runtime_values,
    text,
    text_arg,
)
from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandInvalid,
    CommandUnsupported,
    DeviceUpdate,
    Driver,
    Event,
)

__all__ = [
    "MAX_FRAME", "PropHandler", "ProtocolViolation", "ShureDriver", "Values",
    "antenna_status", "antennas", "audio_pct_from_dbfs", "bars", "battery_values",
    "clamp_pct", "encode_string", "frame", "freq_khz", "frequency_command",
    "gain_command", "integer", "minutes", "model_channels", "mute_value", "num", "on_off",
    "percent", "rf_pct_from_dbm", "runtime_values", "split_frame", "text", "text_arg",
]

#: the most channels any Shure receiver has (frame indexes beyond are malformed)
MAX_CHANNELS = 8
#: a SAMPLE in the form every Shure family sends (anything else takes the general path)
_FAST_SAMPLE = re.compile(rb"[ \t\r\n]*< SAMPLE ([1-8]) ALL ([^<>{}]*)>")


def model_channels(models: Mapping[str, int], model: str | None) -> int | None:
    """Channel count of a MODEL string: the exact name, else the longest known name it
    starts with (regional suffixes such as ``AD4Q-A`` may be appended)."""
    if model is None:
        return None
    if model in models:
        return models[model]
    for name in sorted(models, key=len, reverse=True):
        if model.startswith(name):
            return models[name]
    return None


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
    #: device property polled as keepalive (a live device answers it)...
    KEEPALIVE_GET: ClassVar[str] = "DEVICE_ID"
    #: ...or, for firmware that ignores device-level queries, this one of channel 1
    #: (it must produce a value event: the link counts events as life)
    KEEPALIVE_CHANNEL_GET: ClassVar[str] = "CHAN_NAME"
    #: seconds a device-level keepalive may go unanswered before the channel one is used
    KEEPALIVE_REPLY_S: ClassVar[float] = 0.5
    #: seconds to wait for the first channel report of GET 0 ALL (shure.md 2b: "about 1 s")
    ALL_TIMEOUT_S: ClassVar[float] = 1.0
    #: model name -> channel count
    MODELS: ClassVar[Mapping[str, int]] = {}
    #: width of CHAN_NAME accepted by SET
    NAME_WIDTH: ClassVar[int] = 8
    #: whether the family meters with SAMPLE and METER_RATE
    HAS_METER_RATE: ClassVar[bool] = True

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        super().__init__(meter_rate_ms=meter_rate_ms, channels=channels)
        self._buf = bytearray()
        self._all_pending = False  # GET 0 ALL sent, no channel report yet
        self._all_sent_at: float | None = None  # when (None: at the next tick)
        self._fallback_used = False  # channels are asked one by one on this connection
        self._metered: set[int] = set()  # channels we asked to meter on this connection
        self._ka_sent_at: float | None = None  # device-level keepalive awaiting its reply
        self._ka_by_channel = False  # the device ignores device-level keepalives

    def model_channels(self, model: str | None) -> int | None:
        """Channel count of a reported MODEL (None: unknown model)."""
        return model_channels(self.MODELS, model)

    # -- I/O surface ---------------------------------------------------------------------

    def connection_made(self, now: float) -> None:
        super().connection_made(now)
        self._all_sent_at = now

    def tick(self, now: float) -> None:
        if self._all_pending:
            if self._all_sent_at is None:  # a resent handshake: its clock starts now
                self._all_sent_at = now
            elif now - self._all_sent_at >= self.ALL_TIMEOUT_S:
                # GET 0 ALL went unanswered (shure.md 2b): ask channel by channel
                self._fall_back()
        if self._ka_sent_at is not None and now - self._ka_sent_at >= self.KEEPALIVE_REPLY_S:
            # no answer to the device-level keepalive (shure.md 2b: some firmware only
            # answers channel queries): keep the link alive with channel queries instead
            self._ka_sent_at = None
            self._ka_by_channel = True
            self._out.append(frame("GET", 1, self.KEEPALIVE_CHANNEL_GET))
        if now - self._last_keepalive >= self.keepalive_interval:
            self._last_keepalive = now
            self._out.extend(self._keepalive())
            if not self._ka_by_channel:
                self._ka_sent_at = now

    # -- framing ---------------------------------------------------------------------

    def _reset_buffer(self) -> None:
        self._buf.clear()
        self._all_pending = False
        self._all_sent_at = None
        self._fallback_used = False
        self._metered.clear()
        self._ka_sent_at = None
        self._ka_by_channel = False

    def _parse(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        buf += data
        pos = 0
        n = len(buf)
        fast = _FAST_SAMPLE.match if self.meters is not None else None
        last_raw = self._raw
        while pos < n:
            if fast is not None and (m := fast(buf, pos)) is not None:
                pos = m.end()
                chb, raw = m.group(1, 2)
                ch = chb[0] - 48
                if last_raw.get(ch) == raw:  # (Driver._repeated, inlined: most frames)
                    self.stats.frames += 1
                    if ch in self._raw_peak:
                        self.peaked.add(ch)
                else:
                    self._fast_sample(ch, raw, events)
                continue
            start = buf.find(b"<", pos)
            if start < 0:
                self._garbage(buf[pos:], events)
                pos = n
                break
            if start > pos:
                self._garbage(buf[pos:start], events)
            end, cut = frame_end(buf, start)
            if end >= 0:
                self._frame(bytes(buf[start + 1 : end]), events)
                pos = end + 1
            elif cut >= 0:
                # a new frame began before this one ended: the first was cut off
                self._malformed("truncated frame", buf[start:cut], events)
                pos = cut
            else:
                if n - start > MAX_FRAME:
                    self._malformed("frame too long without '>'", buf[start:], events)
                    pos = n
                else:
                    pos = start
                break
        del buf[:pos]
        return events

    def _garbage(self, chunk: bytes | bytearray, events: list[Event]) -> None:
        if chunk.strip():  # spaces and CR/LF between frames are fine (PSM1000 sends CRLF)
            self._malformed("bytes outside a frame", chunk, events)

    # -- frames ------------------------------------------------------------------------

    def _frame(self, body: bytes, events: list[Event]) -> None:
        mark = len(events)
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
                raise ProtocolViolation(f"unknown verb {verb[:20]!r}")
        except (ValueError, IndexError) as exc:  # ProtocolViolation is a ValueError
            del events[mark:]  # a malformed frame yields its ProtocolError and nothing else
            self._malformed(str(exc) or "missing field", b"<" + body + b">", events)
            return
        self.stats.frames += 1

    @staticmethod
    def _check_channel(s: str) -> int:
        """A channel index 1..8 (no side effects: the frame may still turn out bad)."""
        ch = integer(s)
        if not 1 <= ch <= MAX_CHANNELS:
            raise ProtocolViolation(f"channel index out of range: {ch}")
        return ch

    def _channel_seen(self, ch: int) -> None:
        """A well-formed report or sample of channel ``ch`` arrived: a channel first seen
        here (a ULXD4Q reports 4 in its GET ALL answer) is metered too."""
        if ch > self.channels:
            self.channels = ch
        if ch not in self._metered and self.HAS_METER_RATE and self.meter_rate_ms:
            self._metered.add(ch)
            self._out.append(frame("SET", ch, "METER_RATE", f"{self.meter_rate_ms:05d}"))

    def _set_channels(self, count: int) -> None:
        """The device has ``count`` channels: meter the new ones (shure.md 2b: METER_RATE
        may have gone out before the MODEL reply) and, once channels are asked one by
        one, ask the new ones too."""
        new = range(self.channels + 1, count + 1)
        self.channels = count
        if self.HAS_METER_RATE and self.meter_rate_ms:
            for n in new:
                if n not in self._metered:
                    self._metered.add(n)
                    self._out.append(frame("SET", n, "METER_RATE", f"{self.meter_rate_ms:05d}"))
        if self._fallback_used:
            self._out.extend(frame("GET", n, "ALL") for n in new)

    def _on_sample(self, tokens: list[str], events: list[Event]) -> None:
        ch = self._check_channel(tokens[1])
        if tokens[2] != "ALL":
            raise ProtocolViolation("SAMPLE without ALL")
        values = self._sample(tokens[3:])
        if ch > self.channels or ch not in self._metered:
            self._channel_seen(ch)
        self._raw.pop(ch, None)  # an unusual form: the next usual one is news
        self._meter(ch, values, events)

    def _fast_sample(self, ch: int, raw: bytes, events: list[Event]) -> None:
        """A SAMPLE in its usual form, ``< SAMPLE n ALL fields >``, on the meter fast
        path (:meth:`Driver.collect_meters`): one regex match instead of framing and
        tokenizing (and :meth:`_parse` skips it before this when its fields repeat the
        channel's last ones). Validation is the same as :meth:`_on_sample`'s."""
        try:
            values = self._sample(raw.decode("ascii", "replace").split())
        except (ValueError, IndexError) as exc:  # ProtocolViolation is a ValueError
            self._malformed(str(exc) or "missing field", b"< SAMPLE %d ALL %s>" % (ch, raw),
                            events)
            return
        self.stats.frames += 1
        if ch > self.channels or ch not in self._metered:
            self._channel_seen(ch)
        self._remember(ch, raw, values)
        self._meter(ch, values, events)

    def _sample(self, fields: list[str]) -> Values:
        raise ProtocolViolation("this family does not send SAMPLE")

    def _on_rep(self, tokens: list[str], events: list[Event]) -> None:
        second = tokens[1]
        if second == "ERR":
            self._on_error(events)
            return
        if not second.isdigit():
            self._device_prop(second, tokens[2:], events)
            return
        prop = tokens[2]
        if second.strip("0") == "":
            # some firmware echoes device properties with index 0
            self._device_prop(prop, tokens[3:], events)
            return
        ch = self._check_channel(second)
        values = self._channel_values(ch, prop, tokens[3:], events)
        if prop != "METER_RATE":  # (the echo of our own SET does not answer GET 0 ALL)
            self._all_pending = False
        self._channel_seen(ch)
        if values:
            self._raw.pop(ch, None)  # a report may set what the last SAMPLE said
            events.append(ChannelUpdate(ch, values, meter=prop in self.METER_PROPS))
        self._confirm(ch, prop, events)

    def _channel_values(self, ch: int, prop: str, args: list[str],
                        events: list[Event]) -> Values:
        """Normalized values of one channel report (families with per-channel state,
        such as per-antenna RSSI, override this for those properties)."""
        handler = self.CHANNEL_PROPS.get(prop)
        if handler is not None:
            return handler(args)
        if prop in self.DEVICE_PROPS:
            # a device property reported with a channel index (a third-party simulator
            # does this): still the device's
            self._device_prop(prop, args, events)
        # unknown properties are normal (newer firmware): ignored, not malformed
        return {}

    def _device_prop(self, prop: str, args: list[str], events: list[Event]) -> None:
        handler = self.DEVICE_PROPS.get(prop)
        if handler is not None:
            values = handler(args)
            if "model" in values:
                count = self.model_channels(values["model"])
                if count is not None:
                    values = {**values, "channel_count": count}
                    self._set_channels(count)
            if values:
                events.append(DeviceUpdate(values))
        if prop == self.KEEPALIVE_GET:
            self._ka_sent_at = None
        self._confirm(None, prop, events)

    def _on_error(self, events: list[Event]) -> None:
        # Replies come in order. An ERR while GET 0 ALL is unanswered is its answer
        # (SLX-D+ 2.0.38.9 refuses index 0): ask channel by channel instead.
        if self._all_pending:
            self._fall_back()
            return
        self._reject_oldest("device answered REP ERR", events)

    def _fall_back(self) -> None:
        """GET 0 ALL was refused or ignored: ask every channel the model has."""
        self._all_pending = False
        self._fallback_used = True
        self._out.extend(frame("GET", n, "ALL") for n in range(1, self.channels + 1))

    # -- outgoing ----------------------------------------------------------------------

    def _handshake(self) -> list[bytes]:
        out = [frame("GET", p) for p in self.HANDSHAKE_GETS]
        out.append(frame("GET", 0, "ALL"))
        self._all_pending = True
        self._all_sent_at = None  # connection_made sets it; a resend starts at next tick
        if self.HAS_METER_RATE and self.meter_rate_ms:
            out.extend(self._meter_frames(self.meter_rate_ms))
        return out

    def _meter_frames(self, rate_ms: int) -> list[bytes]:
        if rate_ms:
            self._metered.update(range(1, self.channels + 1))
        return [frame("SET", n, "METER_RATE", f"{rate_ms:05d}") for n in sorted(self._metered)]

    def _keepalive(self) -> list[bytes]:
        if self._ka_by_channel:
            return [frame("GET", 1, self.KEEPALIVE_CHANNEL_GET)]
        return [frame("GET", self.KEEPALIVE_GET)]

    def _meter_stop(self) -> list[bytes]:
        return self._meter_frames(0) if self.HAS_METER_RATE and self.meter_rate_ms else []

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        raise CommandUnsupported(f"{self.family} has no {cmd.kind} control")

    def _need_channel(self, cmd: Command) -> int:
        if cmd.channel is None:
            raise CommandInvalid(f"{cmd.kind} needs a channel")
        return cmd.channel
