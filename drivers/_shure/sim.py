"""Shared machinery for the Shure receiver simulators.

A simulator is a real server on a real socket that speaks a family's protocol: it
answers GET/SET and ``ALL``, sends an unsolicited ``REP`` whenever a value changes,
``SAMPLE`` frames at each connection's meter rate, and ``REP ERR`` for bad commands.
A channel lives a believable life (:mod:`.life`: calm with a script of a few problems, or
chaos) unless frozen for a deterministic test, and the simulator can be given the habits
real receivers have (:mod:`.habits`: no answer to ``GET 0 ALL``, bare names, garbage...).

Tests steer a simulator either in-process through its methods or from any process with a
simulator-only verb on a second connection to the same port::

    < SIMCTL 1 BATT_BARS 002 >      set a raw channel property (REP goes to every client)
    < SIMCTL DEVICE_ID {Rack A} >   set a raw device property
    < SIMCTL TX 1 OFF >             switch channel 1's transmitter off (ON to restore)
    < SIMCTL RF 1 8 >               hold channel 1's RF level at 8 % (metered)
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
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from micboardd.drivers._shure import habits as _habits
from micboardd.drivers._shure.framing import split_frame
from micboardd.drivers._shure.life import ChannelLife, Life, initial_minutes
from micboardd.drivers._shure.sim_commands import Commands, Conn

__all__ = ["FAULTS", "ChannelLife", "Conn", "ShureSimulator"]

FAULTS = ("none", "close", "silent", "garbage", "split", "reboot")


class ShureSimulator(Commands):
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
    #: habits this family can be given (see :mod:`.habits`)
    HABITS: ClassVar[frozenset[str]] = _habits.COMMON

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
        habits: Iterable[str] = (),
        script: Iterable[Mapping[str, Any]] = (),
        chaos: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.model = model or self.default_model
        if self.model not in self.models:
            raise ValueError(f"{self.family} simulator has no model {self.model!r}")
        self.n_channels = self.models[self.model]
        self.habits = _habits.check(habits, self.HABITS, self.family)
        self.rng = random.Random(seed)
        self.speed = speed
        self.frozen = frozen
        self.fault = "none"
        self.device: dict[str, str] = self.device_defaults()
        self.channels: dict[int, dict[str, str]] = {}
        self.life: dict[int, ChannelLife] = {}
        names = list(names)
        calm = not chaos and not frozen
        for n in range(1, self.n_channels + 1):
            life = ChannelLife(minutes=initial_minutes(self.rng, self.BATTERY_FULL_MIN, calm))
            self.life[n] = life
            name = names[n - 1] if n - 1 < len(names) else f"CH {n}"
            self.channels[n] = self.channel_defaults(n, name)
            self._apply_life(n, announce=False)
        self.mood = Life(self, self.rng, chaos=chaos, script=script)
        self._next_garbage = (_habits.FIRST_GARBAGE_S + self.rng.uniform(*_habits.GARBAGE_EVERY_S)
                              if "garbage_bursts" in self.habits else 0.0)
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
        # indexed keys ("SLOT_TX_MODEL 2") take the width of their property
        width = self.STRINGS.get(prop.split(" ", 1)[0])
        if width is None:
            return raw
        if prop == "CHAN_NAME" and "unbraced_names" in self.habits:
            return raw.strip()  # < REP 1 CHAN_NAME Choir L >
        return "{" + raw.ljust(width) + "}"

    def rep(self, n: int | None, prop: str) -> bytes:
        if n is None:
            return f"< REP {prop} {self.fmt(prop, self.device[prop])} >".encode()
        return f"< REP {n} {prop} {self.fmt(prop, self.channels[n][prop])} >".encode()

    def all_reps(self, n: int) -> list[bytes]:
        """The answer to ``GET n ALL``: Shure's pages say the device properties and those
        of channel n (of every channel for 0)."""
        out = [self.rep(None, p) for p in self.device]
        for ch in self.channels if n == 0 else (n,):
            out.extend(self.rep(ch, p) for p in self.channels[ch])
        return out

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

    def set_rf(self, n: int, pct: float) -> None:
        """Hold channel n's signal strength at ``pct`` % (it is metered in SAMPLE frames,
        which a raw property set would not change)."""
        life = self.life[n]
        life.rf = life.rf_target = min(1.0, max(0.0, pct / 100))
        self._apply_life(n)

    def set_battery_minutes(self, n: int, minutes: float) -> None:
        self.life[n].minutes = minutes
        self._apply_life(n)

    def apply_life(self, n: int) -> None:
        """Report the wire values that follow from channel n's life."""
        self._apply_life(n)

    def _apply_life(self, n: int, announce: bool = True) -> None:
        for prop, raw in self.life_props(n, self.life[n]).items():
            if announce:
                self.set_channel(n, prop, raw)
            else:
                self.channels[n][prop] = raw

    def evolve(self, dt: float) -> None:
        """Advance every channel's life by ``dt`` seconds (calm or chaos, see .life)."""
        self.mood.step(dt)
        if "garbage_bursts" in self.habits:
            self._next_garbage -= dt
            if self._next_garbage <= 0:
                self._next_garbage = self.rng.uniform(*_habits.GARBAGE_EVERY_S)
                self.garbage_burst()

    def garbage_burst(self) -> None:
        """Send every client a burst of random bytes (the ``garbage_bursts`` habit)."""
        junk = _habits.garbage(self.rng)
        for c in list(self.conns):
            if self.fault != "silent" and not c.writer.is_closing():
                c.writer.write(junk)

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
        c.writer.write(data + b"\r\n" if "crlf" in self.habits else data)

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

