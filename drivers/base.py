"""The contract every receiver driver fulfils.

A driver is a sans-IO protocol state machine in the manner of h11: it owns a receive
buffer and never a socket. The device link feeds it bytes with :meth:`Driver.receive_data`
and gets back typed events; whatever the driver needs to send (handshake, keepalive,
automatic fallbacks, commands, the meter stop before a close) it queues in an outbox that
the link drains with :meth:`Driver.data_to_send`. Time is always passed in, never read.

Normalized values use dotted paths into the channel object of the state contract in
``micboardd/state/contract.py`` (``"tx.battery_bars"``, ``"rf.level_pct"``, ``"name"``).
``None`` always means unknown: special wire values (255, 65535, UNKN, ``000000`` ...)
never leak out of a driver as numbers.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

JSONValue = Any

# ---------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class DeviceUpdate:
    """Device-level values: ``model``, ``firmware``, ``device_name``, ``channel_count``."""

    values: Mapping[str, JSONValue]


@dataclass(frozen=True, slots=True)
class ChannelUpdate:
    """Values of one channel (1-based ``channel``) as dotted normalized paths.

    ``meter`` marks fast-moving metering values (RF and audio levels) that consumers may
    coalesce; everything else (names, battery, status inputs) must be delivered.
    """

    channel: int
    values: Mapping[str, JSONValue]
    meter: bool = False


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """A frame the driver could not understand. Parsing continues after it."""

    reason: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class CommandDone:
    """The device confirmed the command ``cmd_id`` by reporting the value back."""

    cmd_id: int


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """The device refused command ``cmd_id`` (``REP ERR``)."""

    cmd_id: int
    reason: str


Event = DeviceUpdate | ChannelUpdate | ProtocolError | CommandDone | CommandFailed

# -------------------------------------------------------------------------- commands

CommandKind = Literal["name", "mute", "identify", "gain", "frequency"]
COMMAND_KINDS: tuple[CommandKind, ...] = ("name", "mute", "identify", "gain", "frequency")


@dataclass(frozen=True, slots=True)
class Command:
    """A control command in normalized terms.

    - ``name``: ``value`` is the new channel name (str)
    - ``mute``: ``value`` is True (mute) or False (unmute)
    - ``identify``: flash the receiver (``channel`` None) or a channel; ``value`` unused
    - ``gain``: ``value`` is the audio gain in dB (int)
    - ``frequency``: ``value`` is the frequency in kHz (int)
    """

    kind: CommandKind
    channel: int | None
    value: JSONValue = None


class DriverError(Exception):
    """Base of every error a driver raises (never for bad input bytes: those are events)."""


class CommandInvalid(DriverError, ValueError):
    """A command value or channel is out of range for this family; nothing was sent."""


class CommandUnsupported(DriverError):
    """This family has no such control (for example mute on QLX-D)."""


# ---------------------------------------------------------------------------- driver


@dataclass(slots=True)
class DriverStats:
    frames: int = 0
    malformed: int = 0
    bytes_in: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class _Pending:
    cmd_id: int
    key: tuple[int | None, str]


class Driver(abc.ABC):
    """Base class for every receiver family.

    Subclasses set the class attributes and implement :meth:`_parse` (bytes in, events
    out), :meth:`_handshake`, :meth:`_keepalive`, :meth:`_meter_stop` and
    :meth:`_encode_command`.
    """

    family: ClassVar[str]
    transport: ClassVar[Literal["tcp", "udp"]] = "tcp"
    default_port: ClassVar[int] = 2202
    #: seconds between keepalive polls; a live device also answers them, which is how a
    #: half-open TCP connection or a dead UDP peer is noticed.
    keepalive_interval: ClassVar[float] = 2.0
    #: the hint shown when a device accepts the connection but never answers
    silent_hint: ClassVar[str] = "connected, but the device sends no replies"
    #: how many channels the family has when the model is not known yet
    default_channels: ClassVar[int] = 1
    #: the longest channel name a rename command accepts (what the dashboard offers)
    NAME_MAX: ClassVar[int]
    #: seconds without any valid reply after which a device counts as offline, for
    #: families that know better than the configured ``status.stale_s`` (connectionless
    #: UDP families that ping every ``keepalive_interval``); None: use ``status.stale_s``
    stale_after_s: ClassVar[float | None] = None
    #: a local UDP port the protocol requires, shared by every device of the family
    #: (EW G3/G4 receivers send from and to 53212); None: a socket of the link's own
    shared_local_port: ClassVar[int | None] = None

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        if meter_rate_ms and not 100 <= meter_rate_ms <= 65535:
            raise CommandInvalid(f"meter_rate_ms must be 0 or 100..65535, not {meter_rate_ms}")
        self.meter_rate_ms = meter_rate_ms
        self.channels = channels or self.default_channels
        self.stats = DriverStats()
        self._out: list[bytes] = []
        self._next_cmd = 1
        self._pending: dict[tuple[int | None, str], _Pending] = {}
        self._last_keepalive = 0.0
        #: the meter fast path (:meth:`collect_meters`): None while meters are events
        self.meters: dict[int, dict[str, JSONValue]] | None = None
        self.peaked: set[int] = set()
        #: per channel, the meter fields of its last SAMPLE as received (families that
        #: skip a SAMPLE repeating them byte for byte), and whether it peaked
        self._raw: dict[int, bytes] = {}
        self._raw_peak: set[int] = set()

    # -- I/O surface used by the link -------------------------------------------------

    def connection_made(self, now: float) -> None:
        """A fresh connection: reset the receive buffer and queue the handshake."""
        self._reset_buffer()
        self.forget_meters()
        self._out.clear()
        self._fail_all_pending("connection reset")
        self._last_keepalive = now
        self._out.extend(self._handshake())

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes as they came off the wire; returns the events they complete."""
        self.stats.bytes_in += len(data)
        return self._parse(data)

    def data_to_send(self) -> bytes:
        """Drain the outbox."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def resend_handshake(self) -> None:
        """Queue the handshake again on the same connection (a device that ignored it,
        like an SLX-D before Controller Access was switched on, has started answering)."""
        self._out.extend(self._handshake())

    def datagrams_to_send(self) -> list[bytes]:
        """Drain the outbox one frame per item (datagram transports send each alone)."""
        out, self._out = self._out, []
        return out

    def tick(self, now: float) -> None:
        """Called periodically by the link; queues a keepalive when one is due."""
        if now - self._last_keepalive >= self.keepalive_interval:
            self._last_keepalive = now
            self._out.extend(self._keepalive())

    def close(self) -> None:
        """A clean close is coming: queue the meter stop (QLX-D lock-up otherwise)."""
        self._out.extend(self._meter_stop())

    def command(self, cmd: Command) -> int:
        """Validate and queue a control command; returns its id.

        Raises :class:`CommandInvalid` or :class:`CommandUnsupported` and queues nothing
        when the command cannot be sent as given.
        """
        if cmd.kind not in COMMAND_KINDS:
            raise CommandUnsupported(f"unknown command {cmd.kind!r}")
        if cmd.channel is not None and not 1 <= cmd.channel <= self.channels:
            raise CommandInvalid(f"channel must be 1..{self.channels}, not {cmd.channel}")
        key, frames = self._encode_command(cmd)
        cmd_id = self._next_cmd
        self._next_cmd += 1
        if key is not None:
            self._pending[key] = _Pending(cmd_id, key)
        self._out.extend(frames)
        return cmd_id

    # -- hooks for subclasses ---------------------------------------------------------

    @abc.abstractmethod
    def _reset_buffer(self) -> None: ...

    @abc.abstractmethod
    def _parse(self, data: bytes) -> list[Event]: ...

    @abc.abstractmethod
    def _handshake(self) -> list[bytes]: ...

    @abc.abstractmethod
    def _keepalive(self) -> list[bytes]: ...

    @abc.abstractmethod
    def _meter_stop(self) -> list[bytes]: ...

    @abc.abstractmethod
    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        """Return the (channel, wire property) whose report confirms the command (None
        when the device does not answer, as for a flash) and the frames to send."""

    # -- helpers for subclasses -------------------------------------------------------

    def _confirm(self, channel: int | None, prop: str, events: list[Event]) -> None:
        """A report for (channel, prop) arrived: complete a pending command for it."""
        pending = self._pending.pop((channel, prop), None)
        if pending is not None:
            events.append(CommandDone(pending.cmd_id))

    def _reject_oldest(self, reason: str, events: list[Event]) -> bool:
        """An error reply arrived; the oldest pending command is the one refused."""
        if not self._pending:
            return False
        key = next(iter(self._pending))
        pending = self._pending.pop(key)
        events.append(CommandFailed(pending.cmd_id, reason))
        return True

    def _fail_all_pending(self, reason: str) -> list[Event]:
        events: list[Event] = [CommandFailed(p.cmd_id, reason) for p in self._pending.values()]
        self._pending.clear()
        return events

    # -- the meter fast path ----------------------------------------------------------

    def collect_meters(self) -> None:
        """Keep meter values in :attr:`meters` instead of returning them as events.

        ``meters`` maps each channel to its latest meter values since the link (the
        store) last took them, ``peaked`` holds the channels whose audio peaked in
        between: ten thousand SAMPLE frames a second become dict assignments, and the
        store reads them once per meter interval. Families that can (the Shure ones)
        also skip a SAMPLE whose fields repeat the channel's previous one byte for
        byte: it is counted as a frame, its values are already known. Everything else
        (reports, errors, command answers) is still returned as events.
        """
        self.meters = {}
        self.peaked = set()

    def take_meters(self) -> tuple[dict[int, dict[str, JSONValue]], set[int]]:
        """The meters collected since the last call, and the channels that peaked."""
        meters, peaked = self.meters or {}, self.peaked
        if self.meters is not None:
            self.meters = {}
        if peaked:
            self.peaked = set()
        return meters, peaked

    def forget_meters(self) -> None:
        """The link's meters were cleared (it went offline): drop what is pending and
        take the next SAMPLE of every channel as news, even if it repeats the last."""
        self._raw.clear()
        self._raw_peak.clear()
        if self.meters:
            self.meters.clear()
        self.peaked.clear()

    def _meter(self, ch: int, values: dict[str, JSONValue], events: list[Event]) -> None:
        """Meter values of channel ``ch`` (a fresh dict the driver gives away)."""
        box = self.meters
        if box is None:
            events.append(ChannelUpdate(ch, values, meter=True))
            return
        cur = box.get(ch)
        if cur is None:
            box[ch] = values
        else:
            cur.update(values)
        if values.get("audio.peak"):
            self.peaked.add(ch)

    def _repeated(self, ch: int, raw: bytes) -> bool:
        """Whether ``raw`` (a SAMPLE's fields) repeats channel ``ch``'s last one; then
        the frame is counted and nothing else is needed (a lasting peak stays lit)."""
        if self._raw.get(ch) != raw:
            return False
        self.stats.frames += 1
        if ch in self._raw_peak:
            self.peaked.add(ch)
        return True

    def _remember(self, ch: int, raw: bytes, values: dict[str, JSONValue]) -> None:
        """``raw`` parsed into ``values``: the next identical SAMPLE can be skipped."""
        if self.meters is None:
            return
        self._raw[ch] = raw
        if values.get("audio.peak"):
            self._raw_peak.add(ch)
        else:
            self._raw_peak.discard(ch)

    def _malformed(self, reason: str, frame: bytes | bytearray, events: list[Event]) -> None:
        self.stats.malformed += 1
        self.stats.last_error = reason
        events.append(ProtocolError(reason, bytes(frame[:200])))
