"""UHF-R receiver simulator (UR4S, UR4D) on UDP 2202 with ``* ... *`` frames.

The channel state and its believable life (battery, transmitter off and on, RF fades,
audio) come from the shared :class:`ShureSimulator`; this class replaces its TCP server
with a datagram endpoint and its ``< >`` frames with star frames. The TCP-only parts of
the base (``_serve``, ``_meter_loop``, ``handle``) are not used.

- Replies go to the address a datagram came from. Every address that sent a valid frame
  is a known peer: unsolicited ``REPORT``\\ s on change go to all of them.
- ``* METER n ALL sss *`` (units of 30 ms) makes the sender a meter subscriber for
  channel n; ``* METER n ALL STOP *`` ends it. There is no reply to METER.
- Bad or unknown commands are answered ``* REPORT ERR *``. What a real UR4 does is not
  documented (it may stay silent); the driver copes with either.
- ``* SIMCTL ... *`` mirrors the TCP simulators (``< SIMCTL ... >``), answered
  ``* SIMCTL OK *`` / ``* SIMCTL ERR *``. Faults: ``silent`` (ignore and send nothing),
  ``garbage`` (junk with a stray ``*`` before each frame), ``split`` (each frame sent as
  several datagrams), ``reboot N`` (forget peers and ignore datagrams for N s) and
  ``close`` (there is no connection to close: forget every peer and its metering).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from micboardd.drivers._shure import habits
from micboardd.drivers._shure.sim import ChannelLife, ShureSimulator

Addr = Any  # whatever the datagram endpoint reports as the sender address

#: meter units of the protocol, seconds
METER_UNIT_S = 0.030
#: the split fault sends frames in pieces of this many bytes
SPLIT_BYTES = 5


def star(body: str) -> bytes:
    return f"* {body} *".encode("ascii", "replace")


@dataclass(slots=True, eq=False)
class Peer:
    addr: Addr
    meter: dict[int, float] = field(default_factory=dict)  # channel -> interval s
    due: dict[int, float] = field(default_factory=dict)  # channel -> next sample time
    buf: bytes = b""  # a frame split across datagrams
    known: bool = False  # sent GET/SET/METER: gets unsolicited reports


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, sim: UHFRSimulator) -> None:
        self.sim = sim

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.sim._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable from a peer that went away: keep serving the others


class UHFRSimulator(ShureSimulator):
    family = "shure-uhfr"
    models: ClassVar[dict[str, int]] = {"UR4S": 1, "UR4D": 2}
    default_model = "UR4D"
    #: CHAN_NAME is reported padded to 12 characters (no braces in this family)
    STRINGS: ClassVar[dict[str, int]] = {"CHAN_NAME": 12}
    SETTABLE = frozenset({"CHAN_NAME", "AUDIO_GAIN", "FREQUENCY"})
    BATT_BARS = "TX_BAT"
    BATT_MINS = "TX_BAT_MINS"
    TX_MODEL = "TX_TYPE"
    TX_UNKNOWN = "UNKN"
    TX_MODELS: ClassVar[tuple[str, ...]] = ("UR2", "UR1", "UR1M", "UR2")
    #: the simulated unit is a J5 band receiver: 578..638 MHz, 25 kHz steps
    BAND_KHZ: ClassVar[tuple[int, int]] = (578000, 638000)
    #: of the common habits only garbage fits a star-framed UDP unit
    HABITS = frozenset({"garbage_bursts"})

    def __init__(self, host: str = "127.0.0.1", port: int = 2202, **kw: Any) -> None:
        super().__init__(host, port, **kw)
        self.peers: dict[Addr, Peer] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._meter_task: asyncio.Task[None] | None = None
        self._deaf = False  # rebooting: datagrams are ignored

    # -- tables -----------------------------------------------------------------------

    def device_defaults(self) -> dict[str, str]:
        return {}  # no device-level properties are documented for UHF-R

    def channel_defaults(self, n: int, name: str) -> dict[str, str]:
        return {
            "CHAN_NAME": name[:12],
            "TX_TYPE": self.tx_model(n),
            "TX_BAT": "5",
            "TX_BAT_MINS": "65534",
            "GROUP_CHAN": f"01 {n:02d}",
            "FREQUENCY": f"{578125 + 6025 * n + self.rng.randrange(40) * 25:06d}",
            "AUDIO_GAIN": "16",
        }

    def tx_model(self, n: int) -> str:
        return self.TX_MODELS[(n - 1) % len(self.TX_MODELS)]

    def life_props(self, n: int, life: ChannelLife) -> dict[str, str]:
        if not life.tx_on:
            return {"TX_BAT": "U", "TX_BAT_MINS": "65535", "TX_TYPE": self.TX_UNKNOWN}
        return {
            "TX_BAT": str(max(1, self.bars(life.minutes))),
            "TX_BAT_MINS": f"{int(life.minutes):05d}",
            "TX_TYPE": self.tx_model(n),
        }

    def sample_fields(self, n: int) -> str:
        """``ant rfA rfB bat audiobits``: rf about 20 (strong) .. 100 (nothing)."""
        life = self.life[n]
        if not life.tx_on:
            return "XX 100 100 U 000"
        ant = ("A" if "A" in life.antennas else "X") + ("B" if "B" in life.antennas else "X")
        strong = round(100 - life.rf * 80)
        rf_a = strong if ant[0] == "A" else min(100, strong + 15)
        rf_b = min(100, strong + 3) if ant[1] == "B" else min(100, strong + 15)
        if life.peak:
            bits = 255  # every segment lit, the top one being the peak LED
        else:
            k = max(0, min(7, round((life.audio_dbfs + 50) / 50 * 8)))
            bits = (1 << k) - 1
        return f"{ant} {rf_a:03d} {rf_b:03d} {self.channels[n]['TX_BAT']} {bits:03d}"

    def fmt(self, prop: str, raw: str) -> str:
        width = self.STRINGS.get(prop)
        return raw.ljust(width) if width is not None else raw

    def rep(self, n: int | None, prop: str) -> bytes:
        if n is None:
            return star(f"REPORT {prop} {self.fmt(prop, self.device[prop])}")
        return star(f"REPORT {n} {prop} {self.fmt(prop, self.channels[n][prop])}")

    def validate(self, n: int | None, prop: str, value: str) -> str | None:
        if n is None:
            return None
        if prop == "CHAN_NAME":
            return value if 0 < len(value) <= 12 and "*" not in value else None
        if prop == "AUDIO_GAIN":
            ok = value.isdigit() and len(value) <= 3 and int(value) <= 32
            return f"{int(value):02d}" if ok else None
        if prop == "FREQUENCY":
            lo, hi = self.BAND_KHZ
            ok = (value.isdigit() and len(value) == 6 and lo <= int(value) <= hi
                  and int(value) % 25 == 0)
            return value if ok else None
        return None

    # -- server -----------------------------------------------------------------------

    async def start(self) -> Self:
        await self._listen()
        self._life_task = asyncio.create_task(self._life_loop())
        self._meter_task = asyncio.create_task(self._udp_meter_loop())
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self), local_addr=(self.host, self.port)
        )
        self._transport = transport
        if self.port == 0:
            self.port = transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        for t in (self._life_task, self._reboot_task, self._meter_task):
            if t is not None:
                t.cancel()
        self._drop_all()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for _ in range(3):
            await asyncio.sleep(0)

    def _drop_all(self) -> None:
        """UDP has no connection to drop: forget every peer (and so its metering); a
        peer that sends again is served again."""
        self.peers.clear()

    async def reboot(self, seconds: float) -> None:
        """Power-cycle: forget every peer and ignore datagrams for ``seconds``."""
        self.fault = "none"
        self._drop_all()
        self._deaf = True
        try:
            await asyncio.sleep(seconds)
        finally:
            self._deaf = False

    # -- sending ----------------------------------------------------------------------

    def broadcast(self, data: bytes) -> None:
        for peer in list(self.peers.values()):
            if peer.known:
                self._send(peer.addr, data)

    def _send(self, addr: Addr, data: bytes) -> None:
        t = self._transport
        if t is None or t.is_closing() or self.fault == "silent" or self._deaf:
            return
        if self.fault == "split":
            for i in range(0, len(data), SPLIT_BYTES):
                t.sendto(data[i : i + SPLIT_BYTES], addr)
            return
        if self.fault == "garbage":
            junk = bytes(self.rng.randrange(256) for _ in range(6)).replace(b"*", b"")
            data = b"\x00\xffGARBAGE* " + junk + data
        t.sendto(data, addr)

    def garbage_burst(self) -> None:
        """A datagram of random bytes to every known peer (``garbage_bursts``)."""
        t = self._transport
        junk = habits.garbage(self.rng)
        for peer in list(self.peers.values()):
            if t is not None and peer.known and self.fault != "silent" and not self._deaf:
                t.sendto(junk, peer.addr)

    async def _udp_meter_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            nxt = now + 0.05
            for peer in list(self.peers.values()):
                for n, interval in list(peer.meter.items()):
                    t = peer.due.get(n, now)
                    if now >= t:
                        self._send(peer.addr, star(f"SAMPLE {n} ALL {self.sample_fields(n)}"))
                        t = max(t + interval, now)
                        peer.due[n] = t
                    nxt = min(nxt, t)
            await asyncio.sleep(max(0.005, nxt - loop.time()))

    # -- receiving --------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: Addr) -> None:
        if self._deaf or self.fault == "silent":
            return
        peer = self.peers.get(addr)
        if peer is None:
            peer = self.peers[addr] = Peer(addr)
        buf = peer.buf + data
        pos = 0
        bodies: list[str] = []
        while (end := buf.find(b"*", pos)) >= 0:
            piece = buf[pos:end].decode("ascii", "replace").strip()
            if piece:
                bodies.append(piece)
            pos = end + 1
        peer.buf = buf[pos:][-1024:]
        for body in bodies:
            self._star_command(peer, body)

    def _star_command(self, peer: Peer, body: str) -> None:
        self.commands_seen.append(body)
        tokens = body.split()
        verb = tokens[0]
        if verb == "SIMCTL":
            # a SIMCTL channel property value may hold spaces: keep the rest whole
            args = body.split(None, 3)[1:] if len(tokens) > 3 and tokens[1].isdigit() \
                else tokens[1:]
            ok = self._simctl(args) if args else False
            self._send(peer.addr, star("SIMCTL OK" if ok else "SIMCTL ERR"))
            return
        # the first valid command makes the sender a known peer (unsolicited reports)
        if verb in ("GET", "SET", "METER"):
            peer.known = True
        out = self._answer(peer, verb, body)
        if out is None:
            self._send(peer.addr, star("REPORT ERR"))
            return
        for frame_bytes in out:
            self._send(peer.addr, frame_bytes)

    def _answer(self, peer: Peer, verb: str, body: str) -> list[bytes] | None:
        """Replies for the sender alone; None means ERR. A SET that changes a value is
        reported to every peer through set_channel."""
        parts = body.split(None, 3)  # verb n PROP rest
        if len(parts) < 3 or not parts[1].isdigit():
            return None
        n = int(parts[1])
        if n not in self.channels:
            return None
        prop = parts[2]
        rest = parts[3] if len(parts) > 3 else ""
        if verb == "GET":
            return [self.rep(n, prop)] if prop in self.channels[n] and not rest else None
        if verb == "METER":
            if prop != "ALL":
                return None
            if rest == "STOP":
                peer.meter.pop(n, None)
                peer.due.pop(n, None)
                return []
            if not rest.isdigit() or not 1 <= int(rest) <= 999:
                return None
            peer.meter[n] = int(rest) * METER_UNIT_S
            return []
        if verb == "SET":
            if prop not in self.SETTABLE:
                return None
            raw = self.validate(n, prop, rest)
            if raw is None:
                return None
            if self.channels[n].get(prop) == raw:
                return [self.rep(n, prop)]  # unchanged: still answer this peer
            self.set_channel(n, prop, raw)
            return []
        return None

    def _simctl(self, args: list[str]) -> bool:
        # FAULT close/reboot come through the base (-> _drop_all / reboot above)
        with contextlib.suppress(IndexError):
            if args[0].isdigit() and len(args) > 2:
                n = int(args[0])
                if n not in self.channels:
                    return False
                self.set_channel(n, args[1], args[2])
                return True
        return super()._simctl(args)
