"""What every Sennheiser simulator shares: a real UDP socket, a believable life per
channel, faults, and the ``SIMCTL`` steering verbs.

A simulator is constructed like every other (``cls(host, port, model=, names=, seed=,
speed=, frozen=)``, see ``micboardd/simulate.py``); port 0 binds a free port. Replies go to
the address a datagram came from, so several simulators can serve one client socket (the
shared G3/G4 socket of the daemon) and several clients can use one simulator.

Steering, from any socket, one datagram each, answered ``SIMCTL OK`` / ``SIMCTL ERR``::

    SIMCTL TX 1 OFF          transmitter of channel 1 off (ON to restore)
    SIMCTL BATTERY 1 25      battery of channel 1 at 25 %
    SIMCTL RF 1 -85          RF level of channel 1 in dBm (-100 .. -30)
    SIMCTL AF 1 -20          audio level of channel 1 in dBFS
    SIMCTL PEAK 1 ON         audio peak warning on channel 1 (OFF to clear)
    SIMCTL ENCERR 1 ON       encryption (AES-256) error on channel 1 (OFF to clear)
    SIMCTL NAME 1 DRUMS      rename at the front panel (reported like any change)
    SIMCTL FREEZE            stop random behaviour (THAW resumes)
    SIMCTL FAULT silent      faults: silent, garbage, reboot N, close, expire, none

A real receiver never sees SIMCTL; it exists only here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

Addr = Any  # whatever the datagram endpoint reports as the sender address

FAULTS = ("none", "silent", "garbage", "reboot", "close", "expire")
#: the background loop: life, periodic sends, expiries
STEP_S = 0.05


@dataclass(slots=True)
class Life:
    """The physical truth behind one channel, from which wire values are derived."""

    tx_on: bool = True
    battery_pct: float = 80.0
    rf_dbm: float = -55.0
    rf_target: float = -55.0
    audio_dbfs: float = -30.0
    antenna: str = "A"
    peak: bool = False
    enc_error: bool = False
    name: str = ""

    @property
    def battery_minutes(self) -> int:
        return int(self.battery_pct / 100 * 480)

    @property
    def rf_fraction(self) -> float:
        """0 (no signal, -100 dBm) .. 1 (-30 dBm)."""
        return max(0.0, min(1.0, (self.rf_dbm + 100) / 70))


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, sim: SennheiserSimulator) -> None:
        self.sim = sim

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.sim._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable from a client that went away: keep serving the others


class SennheiserSimulator:
    family: ClassVar[str]
    models: ClassVar[dict[str, int]]
    default_model: ClassVar[str]
    default_port: ClassVar[int]
    #: minutes a full battery lasts
    BATTERY_FULL_MIN: ClassVar[float] = 480.0

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *,
                 model: str | None = None, names: Iterable[str] = (), seed: int | None = None,
                 speed: float = 1.0, frozen: bool = False, habits: Iterable[str] = (),
                 script: Iterable[object] = (), chaos: bool = False) -> None:
        # the simulate block's keys are the same for every family; these simulators have
        # no habits or scripted cues yet, and say so rather than ignore them
        unknown = [*map(str, habits), *map(str, script)]
        if unknown:
            raise ValueError(f"the {self.family} simulator knows no habits or script cues")
        if chaos:
            speed *= 20  # the demo's --chaos: batteries drain in minutes
        self.host = host
        self.port = self.default_port if port is None else port
        self.model = model or self.default_model
        if self.model not in self.models:
            raise ValueError(f"{self.family} simulator has no model {self.model!r}")
        self.n_channels = self.models[self.model]
        self.rng = random.Random(seed)
        self.speed = speed
        self.frozen = frozen
        self.fault = "none"
        names = list(names)
        self.life: dict[int, Life] = {}
        for n in range(1, self.n_channels + 1):
            name = names[n - 1] if n - 1 < len(names) else f"CH {n}"
            self.life[n] = Life(battery_pct=self.rng.uniform(45, 100), name=name,
                                rf_dbm=self.rng.uniform(-60, -45))
            self.life[n].rf_target = self.life[n].rf_dbm
        self.commands_seen: list[bytes] = []  # every datagram a client sent, for tests
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self._reboot_task: asyncio.Task[None] | None = None
        self._deaf = False

    # -- family hooks -----------------------------------------------------------------

    def handle(self, data: bytes, addr: Addr) -> None:
        """A protocol datagram from ``addr``."""
        raise NotImplementedError

    def step(self, now: float) -> None:
        """Every STEP_S: periodic sends, change notifications, expiries."""

    def forget_clients(self) -> None:
        """Drop every subscription and client (power cycle, ``close`` fault)."""

    def expire_all(self) -> None:
        """End every subscription now, telling the clients (``expire`` fault)."""

    # -- server -----------------------------------------------------------------------

    async def start(self) -> Self:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self), local_addr=(self.host, self.port))
        self._transport = transport
        if self.port == 0:
            self.port = transport.get_extra_info("sockname")[1]
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        for t in (self._task, self._reboot_task):
            if t is not None:
                t.cancel()
        self.forget_clients()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for _ in range(3):
            await asyncio.sleep(0)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(STEP_S)
            now = loop.time()
            if not self.frozen and self.fault != "silent":
                self.evolve(now - last)
            last = now
            if not self._deaf:
                self.step(now)

    # -- sending and receiving ------------------------------------------------------------

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def send(self, addr: Addr, data: bytes) -> None:
        t = self._transport
        if t is None or t.is_closing() or self.fault == "silent" or self._deaf:
            return
        if self.fault == "garbage":
            # a junk datagram before every real one: random bytes or a truncated copy
            junk = data[: max(1, len(data) // 2)] if self.rng.random() < 0.5 else bytes(
                self.rng.randrange(256) for _ in range(12))
            t.sendto(junk, addr)
        t.sendto(data, addr)

    def _datagram(self, data: bytes, addr: Addr) -> None:
        if self._deaf:
            return
        if data.startswith(b"SIMCTL"):
            ok = self.simctl(data.decode("ascii", "replace").split()[1:])
            t = self._transport
            if t is not None and not t.is_closing():  # answered even when "silent"
                t.sendto(b"SIMCTL OK" if ok else b"SIMCTL ERR", addr)
            return
        if self.fault == "silent":
            return
        self.commands_seen.append(data)
        self.handle(data, addr)

    # -- life -------------------------------------------------------------------------

    def evolve(self, dt: float) -> None:
        """Advance every channel's life by ``dt`` seconds of simulated time."""
        rng = self.rng
        for life in self.life.values():
            if rng.random() < dt / 1800:  # about once every half hour per channel
                life.tx_on = not life.tx_on
            if not life.tx_on:
                continue
            life.battery_pct -= dt * self.speed / 60 * 100 / self.BATTERY_FULL_MIN
            if life.battery_pct <= 0:
                life.battery_pct = 100.0  # fresh batteries went in
            if rng.random() < dt / 20:
                life.rf_target = rng.choice((-45.0, -55.0, -60.0, -80.0, -90.0))
            life.rf_dbm += (life.rf_target - life.rf_dbm) * min(1.0, dt * 2)
            life.rf_dbm = max(-100.0, min(-30.0, life.rf_dbm + rng.uniform(-1.5, 1.5)))
            if rng.random() < dt / 8:
                life.antenna = "B" if life.antenna == "A" else "A"
            drift = (-22.0 - life.audio_dbfs) * min(1.0, dt * 1.5)
            life.audio_dbfs = max(-60.0, min(-4.0, life.audio_dbfs + drift + rng.uniform(-7, 7)))
            if rng.random() < dt / 90:
                life.audio_dbfs = -1.0
            life.peak = life.audio_dbfs > -3

    # -- steering ---------------------------------------------------------------------

    def simctl(self, args: list[str]) -> bool:
        try:
            return self._simctl(args)
        except (IndexError, ValueError, KeyError):
            return False

    def _simctl(self, args: list[str]) -> bool:
        verb = args[0].upper()
        if verb in ("FREEZE", "THAW"):
            self.frozen = verb == "FREEZE"
            return True
        if verb == "FAULT":
            self.set_fault(args[1], float(args[2]) if len(args) > 2 else 5.0)
            return True
        life = self.life[int(args[1])]
        value = " ".join(args[2:])
        on = value.upper() == "ON"
        if verb == "TX":
            life.tx_on = on
        elif verb == "BATTERY":
            life.battery_pct = max(0.0, min(100.0, float(value)))
        elif verb == "RF":
            life.rf_dbm = life.rf_target = float(value)
        elif verb == "AF":
            life.audio_dbfs = float(value)
        elif verb == "PEAK":
            life.peak = on
        elif verb == "ENCERR":
            life.enc_error = on
        elif verb == "NAME":
            life.name = value
        else:
            return False
        return True

    def set_fault(self, mode: str, seconds: float = 5.0) -> None:
        """``silent``: hear and send nothing; ``garbage``: a junk datagram (random bytes
        or a truncated copy) before every real one; ``reboot N``: forget every client and
        ignore datagrams for N s; ``close``: forget every client at once (no notice);
        ``expire``: end every subscription now with its notice; ``none`` clears."""
        if mode not in FAULTS:
            raise ValueError(f"unknown fault {mode!r}")
        if mode == "close":
            self.forget_clients()
        elif mode == "expire":
            self.expire_all()
        elif mode == "reboot":
            self._reboot_task = asyncio.create_task(self.reboot(seconds))
        else:
            self.fault = mode

    async def reboot(self, seconds: float) -> None:
        self.fault = "none"
        self.forget_clients()
        self._deaf = True
        try:
            await asyncio.sleep(seconds)
        finally:
            self._deaf = False
