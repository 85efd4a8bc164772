"""Shared machinery for the Shure receiver simulators.

A simulator is a real server on a real socket that speaks a family's protocol: it
answers GET/SET and ``ALL``, sends an unsolicited ``REP`` whenever a value changes,
``SAMPLE`` frames at each connection's meter rate, and ``REP ERR`` for bad commands.
A channel lives a believable life (battery drains, runtime counts down, the transmitter
goes off and on, RF fades, audio moves) unless frozen for a deterministic test.

Tests steer a simulator either in-process through its methods or from any process with a
simulator-only verb on a second connection to the same port::

    < SIMCTL 1 BATT_BARS 002 >      set a raw channel property (REP goes to every client)
    < SIMCTL DEVICE_ID {Rack A} >   set a raw device property
    < SIMCTL TX 1 OFF >             switch channel 1's transmitter off (ON to restore)
    < SIMCTL FREEZE >               stop random behaviour (THAW resumes)
    < SIMCTL FAULT silent >         fault modes: close, silent, garbage, split, reboot N, none

A real receiver never sees SIMCTL; it exists only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from micboardd.drivers._shure.protocol import split_frame

FAULTS = ("none", "close", "silent", "garbage", "split", "reboot")


@dataclass(slots=True)
class ChannelLife:
    """The physical truth behind one channel, from which wire values are derived."""

    tx_on: bool = True
    minutes: float = 420.0  # battery runtime left
    rf: float = 0.85  # 0..1 signal strength
    rf_target: float = 0.85
    audio_dbfs: float = -30.0
    antennas: str = "AB"  # active antennas
    peak: bool = False
    quality: int = 5


@dataclass(slots=True, eq=False)
class Conn:
    writer: asyncio.StreamWriter
    meter: dict[int, int] = field(default_factory=dict)  # channel -> rate ms
    task: asyncio.Task[None] | None = None


class ShureSimulator:
    """Base for ``< ... >`` TCP simulators. Subclasses define the property tables."""

    family: ClassVar[str]
    models: ClassVar[dict[str, int]] = {}
    default_model: ClassVar[str]
    #: string properties and their padded width in REP
    STRINGS: ClassVar[dict[str, int]] = {"CHAN_NAME": 8, "DEVICE_ID": 8, "FW_VER": 18}
    #: properties a client may SET, with a validator returning the stored raw value
    #: or None for REP ERR
    SETTABLE: ClassVar[frozenset[str]] = frozenset()
    #: property answered by SET FLASH ON (device-level)
    BATT_BARS: ClassVar[str] = "BATT_BARS"
    BATT_MINS: ClassVar[str] = "BATT_RUN_TIME"
    TX_MODEL: ClassVar[str] = "TX_TYPE"
    TX_UNKNOWN: ClassVar[str] = "UNKN"
    #: whether the device accepts GET 0 ALL (SLX-D+ answers REP ERR)
    ACCEPTS_ALL_ZERO: ClassVar[bool] = True
    BATTERY_FULL_MIN: ClassVar[float] = 480.0

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 2202,
        *,
        model: str | None = None,
        names: Iterable[str] = (),
        seed: int | None = None,
        speed: float = 1.0,
        frozen: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.model = model or self.default_model
        if self.model not in self.models:
            raise ValueError(f"{self.family} simulator has no model {self.model!r}")
        self.n_channels = self.models[self.model]
        self.rng = random.Random(seed)
        self.speed = speed
        self.frozen = frozen
        self.fault = "none"
        self.device: dict[str, str] = self.device_defaults()
        self.channels: dict[int, dict[str, str]] = {}
        self.life: dict[int, ChannelLife] = {}
        names = list(names)
        for n in range(1, self.n_channels + 1):
            life = ChannelLife(minutes=self.rng.uniform(200, self.BATTERY_FULL_MIN))
            self.life[n] = life
            name = names[n - 1] if n - 1 < len(names) else f"CH {n}"
            self.channels[n] = self.channel_defaults(n, name)
            self._apply_life(n, announce=False)
        self.conns: set[Conn] = set()
        self.commands_seen: list[str] = []  # every frame a client sent, for tests
        self._server: asyncio.Server | None = None
        self._life_task: asyncio.Task[None] | None = None
        self._reboot_task: asyncio.Task[None] | None = None

    # -- family hooks -----------------------------------------------------------------

    def device_defaults(self) -> dict[str, str]:
        raise NotImplementedError

    def channel_defaults(self, n: int, name: str) -> dict[str, str]:
        raise NotImplementedError

    def sample_fields(self, n: int) -> str:
        """The fields after ``SAMPLE n ALL`` in this family's order."""
        raise NotImplementedError

    def validate(self, n: int | None, prop: str, value: str) -> str | None:
        """Raw value to store for SET, or None to answer REP ERR."""
        return None

    def life_props(self, n: int, life: ChannelLife) -> dict[str, str]:
        """Wire properties that follow from the channel's life (battery, tx model)."""
        if not life.tx_on:
            return {self.BATT_BARS: "255", self.BATT_MINS: "65535",
                    self.TX_MODEL: self.TX_UNKNOWN}
        return {
            self.BATT_BARS: f"{self.bars(life.minutes):03d}",
            self.BATT_MINS: f"{int(life.minutes):05d}",
            self.TX_MODEL: self.tx_model(n),
        }

    def tx_model(self, n: int) -> str:
        raise NotImplementedError

    def bars(self, minutes: float) -> int:
        return max(0, min(5, math.ceil(minutes / (self.BATTERY_FULL_MIN / 5))))

    # -- formatting -------------------------------------------------------------------

    def fmt(self, prop: str, raw: str) -> str:
        width = self.STRINGS.get(prop)
        return "{" + raw.ljust(width) + "}" if width is not None else raw

    def rep(self, n: int | None, prop: str) -> bytes:
        if n is None:
            return f"< REP {prop} {self.fmt(prop, self.device[prop])} >".encode()
        return f"< REP {n} {prop} {self.fmt(prop, self.channels[n][prop])} >".encode()

    def all_reps(self, n: int) -> list[bytes]:
        if n == 0:
            out = [self.rep(None, p) for p in self.device]
            for ch in self.channels:
                out.extend(self.rep(ch, p) for p in self.channels[ch])
            return out
        return [self.rep(n, p) for p in self.channels[n]]

    # -- state changes ----------------------------------------------------------------

    def set_channel(self, n: int, prop: str, raw: str) -> None:
        """Set a raw channel property and report it to every client, as the device does."""
        if self.channels[n].get(prop) == raw:
            return
        self.channels[n][prop] = raw
        self.broadcast(self.rep(n, prop))

    def set_device(self, prop: str, raw: str) -> None:
        if self.device.get(prop) == raw:
            return
        self.device[prop] = raw
        self.broadcast(self.rep(None, prop))

    def set_tx(self, n: int, on: bool) -> None:
        self.life[n].tx_on = on
        self._apply_life(n)

    def set_battery_minutes(self, n: int, minutes: float) -> None:
        self.life[n].minutes = minutes
        self._apply_life(n)

    def _apply_life(self, n: int, announce: bool = True) -> None:
        for prop, raw in self.life_props(n, self.life[n]).items():
            if announce:
                self.set_channel(n, prop, raw)
            else:
                self.channels[n][prop] = raw

    def evolve(self, dt: float) -> None:
        """Advance every channel's life by ``dt`` seconds of simulated time."""
        rng = self.rng
        for n, life in self.life.items():
            if rng.random() < dt / 1800:  # about once every half hour per channel
                self.set_tx(n, not life.tx_on)
                continue
            if not life.tx_on:
                continue
            before = (self.bars(life.minutes), int(life.minutes))
            life.minutes = max(0.0, life.minutes - dt * self.speed / 60.0)
            if life.minutes <= 0:
                life.minutes = self.BATTERY_FULL_MIN  # fresh batteries went in
            if (self.bars(life.minutes), int(life.minutes)) != before:
                self._apply_life(n)
            if rng.random() < dt / 20:
                life.rf_target = rng.choice((0.9, 0.8, 0.7, 0.35, 0.15))
            life.rf += (life.rf_target - life.rf) * min(1.0, dt * 2)
            life.rf = min(1.0, max(0.0, life.rf + rng.uniform(-0.03, 0.03)))
            life.antennas = rng.choice(("AB", "AB", "AB", "A", "B")) if life.rf < 0.5 else "AB"
            life.quality = max(0, min(5, round(life.rf * 6)))
            # speech and music around -22 dBFS, pulled back towards it, the odd peak
            drift = (-22.0 - life.audio_dbfs) * min(1.0, dt * 1.5)
            life.audio_dbfs = max(-60.0, min(-4.0, life.audio_dbfs + drift + rng.uniform(-7, 7)))
            if rng.random() < dt / 90:
                life.audio_dbfs = -1.0
            life.peak = life.audio_dbfs > -3

    # -- server -----------------------------------------------------------------------

    async def start(self) -> ShureSimulator:
        await self._listen()
        self._life_task = asyncio.create_task(self._life_loop())
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for t in (self._life_task, self._reboot_task):
            if t is not None:
                t.cancel()
        self._drop_all()
        if self._server is not None:
            self._server.close()
            self._server = None
        # let the connection handlers see their aborted transports and finish
        for _ in range(3):
            await asyncio.sleep(0)

    async def __aenter__(self) -> ShureSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _drop_all(self) -> None:
        for c in list(self.conns):
            if c.task is not None:
                c.task.cancel()
            c.writer.transport.abort()
        self.conns.clear()

    async def _life_loop(self) -> None:
        step = 0.25
        while True:
            await asyncio.sleep(step)
            if not self.frozen and self.fault != "silent":
                self.evolve(step)

    def broadcast(self, data: bytes) -> None:
        for c in list(self.conns):
            self._write(c, data)

    def _write(self, c: Conn, data: bytes) -> None:
        if self.fault == "silent" or c.writer.is_closing():
            return
        if self.fault == "split":
            # one byte per TCP segment: TCP_NODELAY is set and each byte is its own write
            for b in data:
                c.writer.write(bytes((b,)))
            return
        if self.fault == "garbage":
            c.writer.write(b"\x00\xffGARBAGE<<" + bytes(self.rng.randrange(256) for _ in range(8)))
        c.writer.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(writer)
        self.conns.add(conn)
        conn.task = asyncio.create_task(self._meter_loop(conn))
        buf = b""
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                buf += data
                while True:
                    start = buf.find(b"<")
                    end = buf.find(b">", start + 1)
                    if start < 0 or end < 0:
                        if start < 0:
                            buf = b""
                        break
                    body, buf = buf[start + 1 : end], buf[end + 1 :]
                    if self.fault != "silent":
                        self._command(conn, body)
                if len(buf) > 4096:
                    buf = b""
        except (ConnectionError, OSError):
            pass
        finally:
            self.conns.discard(conn)
            if conn.task is not None:
                conn.task.cancel()
            writer.transport.abort()

    async def _meter_loop(self, conn: Conn) -> None:
        due: dict[int, float] = {}
        loop = asyncio.get_running_loop()
        while True:
            if not conn.meter:
                await asyncio.sleep(0.05)
                continue
            now = loop.time()
            for n, rate in list(conn.meter.items()):
                t = due.get(n, now)
                if now >= t:
                    self._write(conn, f"< SAMPLE {n} ALL {self.sample_fields(n)} >".encode())
                    due[n] = max(t + rate / 1000, now)
            nxt = min(due.get(n, now) for n in conn.meter)
            await asyncio.sleep(max(0.005, nxt - loop.time()))

    # -- commands ---------------------------------------------------------------------

    def _command(self, conn: Conn, body: bytes) -> None:
        try:
            tokens = split_frame(body)
        except ValueError:
            self._write(conn, b"< REP ERR >")
            return
        text = " ".join(tokens)
        self.commands_seen.append(text)
        if not tokens:
            self._write(conn, b"< REP ERR >")
            return
        verb = tokens[0]
        if verb == "SIMCTL":
            ok = self._simctl(tokens[1:])
            self._write(conn, b"< SIMCTL OK >" if ok else b"< SIMCTL ERR >")
            return
        out = self.handle(conn, verb, tokens[1:])
        if out is None:
            self._write(conn, b"< REP ERR >")
        else:
            for frame_bytes in out:
                self._write(conn, frame_bytes)

    def handle(self, conn: Conn, verb: str, args: list[str]) -> list[bytes] | None:
        """Answer a GET or SET; None means REP ERR. Reports of SET go to every client
        (through set_channel), so the return value is what this client alone gets."""
        if verb == "GET" and args:
            if args[0].isdigit():
                n = int(args[0])
                if len(args) < 2:
                    return None
                if args[1] == "ALL":
                    if n == 0 and not self.ACCEPTS_ALL_ZERO:
                        return None
                    if n != 0 and n not in self.channels:
                        return None
                    return self.all_reps(n)
                if n in self.channels and args[1] in self.channels[n]:
                    return [self.rep(n, args[1])]
                return None
            if args[0] in self.device:
                return [self.rep(None, args[0])]
            return None
        if verb == "SET" and len(args) >= 2:
            if args[0].isdigit():
                n = int(args[0])
                if n not in self.channels or len(args) < 3:
                    return None
                prop, value = args[1], args[2]
                if prop == "METER_RATE":
                    if not value.isdigit() or len(value) != 5:
                        return None
                    rate = int(value)
                    if rate and rate < 100:
                        return None
                    if rate:
                        conn.meter[n] = rate
                    else:
                        conn.meter.pop(n, None)
                    self.channels[n]["METER_RATE"] = value
                    return [self.rep(n, "METER_RATE")]
                if prop not in self.SETTABLE:
                    return None
                raw = self.validate(n, prop, value)
                if raw is None:
                    return None
                if self.channels[n].get(prop) == raw:
                    return [self.rep(n, prop)]  # unchanged: still answer this client
                self.set_channel(n, prop, raw)
                return []
            prop, value = args[0], args[1]
            if prop not in self.SETTABLE:
                return None
            raw = self.validate(None, prop, value)
            if raw is None:
                return None
            if prop == "FLASH":
                self.device["FLASH"] = raw
                self.broadcast(self.rep(None, "FLASH"))
                return []
            self.set_device(prop, raw)
            return []
        return None

    def _simctl(self, args: list[str]) -> bool:
        try:
            if args[0] == "FREEZE":
                self.frozen = True
            elif args[0] == "THAW":
                self.frozen = False
            elif args[0] == "FAULT":
                self.set_fault(args[1], float(args[2]) if len(args) > 2 else 5.0)
            elif args[0] == "TX":
                self.set_tx(int(args[1]), args[2] == "ON")
            elif args[0] == "MINUTES":
                self.set_battery_minutes(int(args[1]), float(args[2]))
            elif args[0].isdigit():
                n = int(args[0])
                if n not in self.channels:
                    return False
                self.set_channel(n, args[1], args[2] if len(args) > 2 else "")
            else:
                self.set_device(args[0], args[1] if len(args) > 1 else "")
        except (IndexError, ValueError, KeyError):
            return False
        return True

    # -- faults -----------------------------------------------------------------------

    def set_fault(self, mode: str, seconds: float = 5.0) -> None:
        """Switch a fault on: ``close`` drops every connection now (clients may come
        back), ``silent`` keeps connections open but sends and answers nothing,
        ``garbage`` precedes every frame with junk, ``split`` writes one byte at a time,
        ``reboot`` drops everything and refuses connections for ``seconds``; ``none``
        clears the mode."""
        if mode not in FAULTS:
            raise ValueError(f"unknown fault {mode!r}")
        if mode == "close":
            self._drop_all()
            return
        if mode == "reboot":
            self._reboot_task = asyncio.create_task(self.reboot(seconds))
            return
        self.fault = mode

    async def reboot(self, seconds: float) -> None:
        """Power-cycle: refuse connections for ``seconds``, then listen again."""
        self.fault = "none"
        if self._server is not None:
            self._server.close()
            self._server = None
        self._drop_all()
        await asyncio.sleep(seconds)
        await self._listen()


def meter_fields_ulx(life: ChannelLife) -> str:
    """ULX-D / QLX-D SAMPLE fields: ``ant rf audio``."""
    if not life.tx_on:
        return "XX 000 000"
    ant = ("A" if "A" in life.antennas else "X") + ("B" if "B" in life.antennas else "X")
    rf = round(life.rf * 115)
    audio = round(max(0.0, life.audio_dbfs + 50))
    return f"{ant} {rf:03d} {audio:03d}"
