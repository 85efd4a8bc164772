"""Sennheiser EW G3 / G4 / 2000 series (EM receivers, SR in-ear transmitters): the Media
Control Protocol, plain text over UDP 53212.

Wire facts (``shared/protocols/sennheiser.md`` sections 3 and 4; Sennheiser TI 1254
"Media Control Protocol for ew G4 series", pages 5-21): ASCII ``Command p1 .. pN`` lines
ended by CR, one port both ways, at most 1500 bytes. ``Push timeout cycle mode``
subscribes for ``timeout`` seconds: the cyclic block every ``cycle`` ms and, with mode
bits 1/2/4, configuration changes, warning changes and pilot/battery changes as they
happen (7 = all). The receiver's cyclic block, in one datagram, always in this order
(TI 1254 p. 9)::

    RF1 25 65 1        antenna 1: min max active (percent, 100 % = 40 dBuV)
    RF2 28 78 0        antenna 2
    States 3 2         mute flags, pilot flags
    RF 50 1 1          level, antenna (1 or 2), pilot
    AF 40 65 3         peak, peak hold (0 % = -50 dB), mute bits
    Bat 70             0/30/70/100 or ?
    Msg Low_RF_Signal Low_Battery      warnings, or OK
    Config 234         changes of configuration so far (wraps at 999)

An SR sends ``AF`` with left/right peaks and holds (``Af 15 25 40 38 5``), ``States`` whose
first value is its RF mute, ``Msg`` and ``Config``. Mute bits: 1 any, 2 TX mute, 4 RF mute
(squelch: no usable carrier), 8 RX mute. Errors: ``1020: Value out of range [ AfOut 125 ]``.

Mapping: RF percent -> ``rf.level_pct`` (no dBm: the dBuV scale is not known to be
linear), AF percent -> ``audio.level_pct`` and ``audio.dbfs`` = percent / 2 - 50 (the
same as Shure's scale), ``Bat`` -> ``tx.battery_percent`` and bars through
``drivers/scales.py``, ``AF_Peak`` -> ``audio.peak``, TX mute -> ``tx.muted``, RX mute ->
``audio.muted``; a transmitter is present while its battery is known (it rides on the
pilot tone) or the receiver is not RF-muted. An SR is treated like the PSM1000: its RF
mute is ``tx.muted`` and not ``tx.present``.

A ``Config`` number different from the last one seen (and the first one of a
connection) asks for the configuration again: ``Name``, ``Frequency``, ``Mute``.

One datagram is one message, applied whole or not at all: one without its final CR is
truncated, a line that does not parse spoils the datagram; either is one ProtocolError.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, assert_never

from micboardd.drivers._sennheiser.values import battery_percent_values, name_value
from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandFailed,
    CommandInvalid,
    CommandUnsupported,
    Driver,
    Event,
)
from micboardd.drivers.scales import clamp_pct

MAX_DATAGRAM = 1500
#: ``Push 60 <cycle> 3`` every 60 s in Bitfocus Companion module
#: sennheiser-evolutionwireless (src/api.ts); ``Push 100 100 7`` in RFjs (rfjs_server.js)
PUSH_TIMEOUT_S = 60
#: 1 configuration on change, 2 cyclic on warning change, 4 on pilot/battery change
PUSH_MODE = 7
CONFIG_GETS = ("Name", "Frequency", "Mute")
_KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_ERROR = re.compile(r"^(\d{4}):\s*([^\[]*)(?:\[\s*(\S+)?[^\]]*\])?\s*$")
TX_MUTE, RF_MUTE, RX_MUTE = 2, 4, 8
Values = dict[str, Any]


class G4Violation(ValueError):
    """A line or datagram that does not fit MCP; becomes a ProtocolError."""


def _ints(args: list[str], n: tuple[int, ...], what: str) -> list[int]:
    if len(args) not in n or not all(a.lstrip("-").isdigit() for a in args):
        raise G4Violation(f"{what} needs {' or '.join(map(str, n))} numbers, got {args!r}"[:90])
    return [int(a) for a in args]


def af_pct_values(peak: int, hold: int) -> Values:
    return {"audio.level_pct": clamp_pct(peak), "audio.dbfs": peak / 2 - 50,
            "audio.peak_dbfs": hold / 2 - 50}


@dataclass(slots=True)
class Block:
    """What one datagram says, checked before any of it is applied."""

    meter: Values = field(default_factory=dict)
    status: Values = field(default_factory=dict)
    mutebits: int | None = None
    rf_mute: bool | None = None
    bat: tuple[bool, int | None] | None = None  # (seen, percent)
    msg: frozenset[str] | None = None
    config: int | None = None
    echoes: list[tuple[str, str]] = field(default_factory=list)  # (WORD, rest of line)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (text, command word)
    sr: bool = False


class G4Driver(Driver):
    family = "sennheiser-g4"
    transport = "udp"
    default_port = 53212
    shared_local_port = 53212
    #: Push is re-sent at a third of its timeout, so one lost datagram cannot end it
    keepalive_interval = PUSH_TIMEOUT_S / 3
    #: the cyclic block arrives every cycle (at most 500 ms): 2 s of silence is offline
    stale_after_s = 2.0
    silent_hint = ("no replies on UDP 53212: check the address, that the device's "
                   "network control is on, and that nothing else holds port 53212")
    default_channels = 1
    NAME_MAX = 8  # the G3/G4 display shows 8 characters (uncertain: no source gives it)
    FREQ_KHZ: ClassVar[tuple[int, int]] = (400000, 2000000)

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        if channels not in (None, 1):
            raise CommandInvalid("a G3/G4 device has one channel")
        super().__init__(meter_rate_ms=meter_rate_ms, channels=1)
        # the cyclic block also carries battery and warnings and is the only sign of
        # life, so it is asked for even with metering off (then every 500 ms)
        rate = meter_rate_ms or 500
        self.cycle_ms = min(60000, max(100, (rate + 50) // 100 * 100))  # 100 ms steps
        self.mode = PUSH_MODE
        self.is_sr = False
        self._config: int | None = None
        self._status: Values = {}
        self._expect: dict[str, str] = {}  # WORD -> the value its echo must carry

    # -- framing -------------------------------------------------------------------------

    def _reset_buffer(self) -> None:
        self._config = None
        self._status = {}
        self._expect.clear()
        self.mode = PUSH_MODE

    def _parse(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        try:
            block = self._block(data)
        except G4Violation as exc:
            self._malformed(str(exc), data, events)
            return events
        self.stats.frames += 1
        self._commit(block, events)
        return events

    def _block(self, data: bytes) -> Block:
        if len(data) > MAX_DATAGRAM:
            raise G4Violation("datagram over 1500 bytes")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise G4Violation("not ASCII text") from None
        if not text.endswith(("\r", "\n")):
            raise G4Violation("no CR at the end: truncated")
        lines = [ln.strip() for ln in re.split(r"[\r\n]+", text) if ln.strip()]
        if not lines:
            raise G4Violation("empty datagram")
        block = Block()
        for line in lines:
            self._line(line, block)
        return block

    def _line(self, line: str, b: Block) -> None:
        err = _ERROR.match(line)
        if err:
            b.errors.append((line, err.group(3) or ""))
            return
        word, _, rest = line.partition(" ")
        if not _KEYWORD.match(word):
            raise G4Violation(f"not a command line: {line[:40]!r}")
        key = word.upper()
        args = rest.split()
        handler = _LINES.get(key)
        if handler is not None:
            handler(self, args, rest.strip(), b)
        b.echoes.append((key, rest.strip()))  # unknown words are normal: ignored

    # -- line handlers -------------------------------------------------------------------

    def _rf_line(self, args: list[str], rest: str, b: Block) -> None:
        # antenna 1 -> A, otherwise B, as RFjs reads it (rfjs_server.js, updateReceiver)
        level, antenna, _pilot = _ints(args, (3,), "RF")
        if antenna not in (0, 1, 2):
            raise G4Violation(f"RF antenna {antenna} is not 1 or 2")
        b.meter["rf.level_pct"] = clamp_pct(level)
        b.meter["rf.antennas"] = "" if level <= 0 or not antenna else "AB"[antenna - 1]

    def _rfn_line(self, args: list[str], rest: str, b: Block) -> None:
        _ints(args, (3,), "RF1/RF2")  # checked; RF carries the level that is shown

    def _states_line(self, args: list[str], rest: str, b: Block) -> None:
        flags = _ints(args, (2,), "States")
        if b.sr or self.is_sr:  # an SR's first value is its RF mute
            b.rf_mute = bool(flags[0])

    def _af_line(self, args: list[str], rest: str, b: Block) -> None:
        v = _ints(args, (3, 4, 5), "AF")
        if len(v) == 3:
            peak, hold, b.mutebits = v
        else:  # SR: left and right peaks, then holds
            b.sr = True
            peak, hold = max(v[0], v[1]), max(v[2], v[3])
        b.meter.update(af_pct_values(peak, hold))

    def _bat_line(self, args: list[str], rest: str, b: Block) -> None:
        if args == ["?"]:
            b.bat = (True, None)
            return
        (pct,) = _ints(args, (1,), "Bat")
        if not 0 <= pct <= 100:
            raise G4Violation(f"Bat {pct} out of range")
        b.bat = (True, pct)

    def _msg_line(self, args: list[str], rest: str, b: Block) -> None:
        if not args:
            raise G4Violation("Msg without a warning or OK")
        b.msg = frozenset(a for a in args if a != "OK")

    def _config_line(self, args: list[str], rest: str, b: Block) -> None:
        (b.config,) = _ints(args, (1,), "Config")

    def _name_line(self, args: list[str], rest: str, b: Block) -> None:
        b.status["name"] = rest or None

    def _frequency_line(self, args: list[str], rest: str, b: Block) -> None:
        v = _ints(args, (1, 3), "Frequency")
        b.status["frequency_khz"] = v[0] or None

    def _mute_line(self, args: list[str], rest: str, b: Block) -> None:
        (m,) = _ints(args, (1,), "Mute")
        if m not in (0, 1):
            raise G4Violation(f"Mute {m} is not 0 or 1")
        b.status["_mute"] = bool(m)

    def _push_line(self, args: list[str], rest: str, b: Block) -> None:
        _ints(args, (3,), "Push")  # the acknowledgement of our subscription

    # -- applying ------------------------------------------------------------------------

    def _commit(self, b: Block, events: list[Event]) -> None:
        results: list[Event] = []
        if b.sr and not self.is_sr:
            # an SR after all: its Mute is the RF mute, not the receiver's audio mute
            self.is_sr = True
            b.status.setdefault("audio.muted", None)
            self._out.append(b"Mute\r")
        status = self._derive(b)
        changed = {k: v for k, v in status.items() if self._status.get(k, object()) != v}
        if changed:
            self._status.update(changed)
            events.append(ChannelUpdate(1, changed))
        if b.msg is not None:
            b.meter["audio.peak"] = "AF_Peak" in b.msg
        if b.meter:
            self._meter(1, b.meter, events)
        if b.config is not None and b.config != self._config:
            self._config = b.config
            self._out.extend(f"{g}\r".encode() for g in CONFIG_GETS)
        for line, word in b.errors:
            self._on_error(line, word, results)
        for word, rest in b.echoes:
            self._echo(word, rest, results)
        events.extend(results)

    def _derive(self, b: Block) -> Values:
        """Status values (delivered only when they change) from one block."""
        out = {k: v for k, v in b.status.items() if k != "_mute"}
        mute = b.status.get("_mute")
        if self.is_sr:
            rf_mute = mute if mute is not None else b.rf_mute
            if rf_mute is not None:  # PSM1000 convention: a muted carrier is not present
                out.update({"tx.muted": rf_mute, "tx.present": not rf_mute})
            return out
        if mute is not None:
            out["audio.muted"] = mute
        bits = b.mutebits
        if bits is None and b.msg is not None:
            bits = (TX_MUTE * ("TX_Mute" in b.msg) | RF_MUTE * ("RF_Mute" in b.msg)
                    | RX_MUTE * ("RX_Mute" in b.msg))
        if bits is not None:
            out["tx.muted"] = bool(bits & TX_MUTE)
            out["audio.muted"] = bool(bits & RX_MUTE)
        if b.bat is not None:
            pct = b.bat[1]
            out.update(battery_percent_values(pct))
            if pct is not None:
                out["tx.present"] = True
            elif bits is not None:
                out["tx.present"] = not bits & RF_MUTE
        return out

    def _echo(self, word: str, rest: str, results: list[Event]) -> None:
        """A set request is acknowledged by its echo; a report of another value (a
        configuration re-read crossing the command) confirms nothing."""
        want = self._expect.get(word)
        if want is None or (rest.split()[:1] if word != "NAME" else [rest]) != [want]:
            return
        del self._expect[word]
        self._confirm(1, word, results)

    def _on_error(self, line: str, word: str, results: list[Event]) -> None:
        if word.upper() == "PUSH" and self.mode != 1:
            # some devices (SR) take only configuration as the mode: subscribe with that
            self.mode = 1
            self._out.extend(self._handshake())
            return
        pending = self._pending.pop((1, word.upper()), None)
        if pending is not None:
            self._expect.pop(word.upper(), None)
            results.append(CommandFailed(pending.cmd_id, line))
            return
        if self._pending:
            self._expect.pop(next(iter(self._pending))[1], None)
        self._reject_oldest(line, results)

    # -- outgoing ------------------------------------------------------------------------

    def _set(self, word: str, value: str, line: str) -> tuple[tuple[int | None, str], list[bytes]]:
        self._expect[word] = value
        return (1, word), [f"{line}\r".encode()]

    def _push(self) -> bytes:
        return f"Push {PUSH_TIMEOUT_S} {self.cycle_ms} {self.mode}\r".encode()

    def _handshake(self) -> list[bytes]:
        return [self._push()]

    def _keepalive(self) -> list[bytes]:
        return [self._push()]

    def _meter_stop(self) -> list[bytes]:
        return [b"Push 0 0 0\r"]  # all zero: the device stops sending (TI 1254 p. 12)

    def _encode_command(self, cmd: Command) -> tuple[tuple[int | None, str] | None, list[bytes]]:
        if cmd.kind == "identify" or cmd.kind == "gain":
            raise CommandUnsupported(f"{self.family} has no {cmd.kind} control")
        if cmd.kind == "name":
            name = name_value(cmd.value, self.NAME_MAX)
            if name != name.strip() or "  " in name:
                raise CommandInvalid("name must not start or end with, or repeat, spaces")
            return self._set("NAME", name, f"Name {name}")
        if cmd.kind == "mute":
            if not isinstance(cmd.value, bool):
                raise CommandInvalid("mute needs true or false")
            return self._set("MUTE", str(int(cmd.value)), f"Mute {int(cmd.value)}")
        if cmd.kind == "frequency":
            v = cmd.value
            lo, hi = self.FREQ_KHZ
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi or v % 25:
                raise CommandInvalid(f"frequency must be {lo}..{hi} kHz on a 25 kHz grid")
            return self._set("FREQUENCY", str(v), f"Frequency {v}")
        assert_never(cmd.kind)


LineHandler = Callable[[G4Driver, list[str], str, Block], None]
_LINES: dict[str, LineHandler] = {
    "RF": G4Driver._rf_line, "RF1": G4Driver._rfn_line, "RF2": G4Driver._rfn_line,
    "STATES": G4Driver._states_line, "AF": G4Driver._af_line, "BAT": G4Driver._bat_line,
    "MSG": G4Driver._msg_line, "CONFIG": G4Driver._config_line,
    "NAME": G4Driver._name_line, "FREQUENCY": G4Driver._frequency_line,
    "MUTE": G4Driver._mute_line, "PUSH": G4Driver._push_line,
}
