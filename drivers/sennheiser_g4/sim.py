"""EW G3/G4/2000 simulator (EM receivers and SR in-ear transmitters): the Media Control
Protocol on a real UDP socket, port configurable (default 53212; tests use a free one).

Behaviour from Sennheiser TI 1254 (Media Control Protocol for ew G4 series):

- Lines ``Command p1 .. pN`` ended by CR; a datagram over 1500 bytes is ignored; a line
  without its CR is answered ``1050: Incorrect termination [ ... ]``.
- Set requests are echoed (``Mute 1`` -> ``Mute 1``), get requests (the bare keyword) are
  answered with the value. Errors: ``1000: Invalid command``, ``1010: Invalid parameter``,
  ``1020: Value out of range``, ``1030: Relative parameters not supported``, ``1040:
  Invalid numbers of parameter``, each followed by ``[ the instruction ]``.
- ``Push timeout cycle mode``: the sender gets the cyclic block every ``cycle`` ms for
  ``timeout`` s, configuration changes (mode 1), the block at once on a warning change
  (2) or a battery/pilot change (4, EM only); every configuration attribute once when
  mode > 0; ``Push 0 0 0`` stops. An SR takes mode 0 or 1 only (1020 otherwise).
- ``Config n`` counts configuration changes, wrapping at 999.

Replies go to the address the request came from, so one client socket (the daemon's
shared port) can talk to many simulators and each keeps that client's Push apart by
address. ``reply_port`` sends replies to that port of the sender's host instead, as a
real device does (it always answers port 53212).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from micboardd.drivers._sennheiser.simbase import Addr, Life, SennheiserSimulator

MAX_DATAGRAM = 1500


@dataclass(slots=True)
class Client:
    until: float
    cycle_s: float
    mode: int
    next_at: float
    last_msg: str = ""
    last_bat: str = ""


class Refused(Exception):
    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text


def bat_step(life: Life) -> str:
    if not life.tx_on:
        return "?"
    pct = life.battery_pct
    return "100" if pct > 85 else "70" if pct > 50 else "30" if pct > 12 else "0"


class G4Simulator(SennheiserSimulator):
    family = "sennheiser-g4"
    models: ClassVar[dict[str, int]] = {
        "EM 300-500 G4": 1, "EM 100 G4": 1, "EM 300-500 G3": 1, "EM 2050": 1,
        "SR 300 IEM G4": 1, "SR 2050 IEM": 1}
    default_model = "EM 300-500 G4"
    default_port = 53212
    #: the simulated unit is an A band device: 516..558 MHz
    BAND_KHZ: ClassVar[tuple[int, int]] = (516000, 558000)

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *,
                 reply_port: int | None = None, **kw: Any) -> None:
        super().__init__(host, port, **kw)
        self.reply_port = reply_port
        self.is_sr = self.model.startswith("SR")
        self.frequency = 530000 + self.rng.randrange(200) * 25
        self.mute = False
        self.squelch = 5
        self.af_out = 0
        self.config = self.rng.randrange(1000)
        self.clients: dict[Addr, Client] = {}

    # -- sending ----------------------------------------------------------------------

    def reply(self, addr: Addr, *lines: str) -> None:
        to = addr if self.reply_port is None else (addr[0], self.reply_port)
        self.send(to, "".join(f"{ln}\r" for ln in lines).encode("ascii", "replace"))

    def cyclic(self) -> list[str]:
        life = self.life[1]
        msg = self.warnings()
        if self.is_sr:
            peak = self._pct(life.audio_dbfs)
            return [f"Af {peak} {max(0, peak - 4)} {min(100, peak + 8)} {peak + 4} 0",
                    f"States {int(self.mute)} 0", f"Msg {msg}", f"Config {self.config}"]
        on = life.tx_on
        rf = round(life.rf_fraction * 100) if on else 0
        ant = 1 if life.antenna == "A" else 2
        bits = (4 if not on else 0) | (8 if self.mute else 0)
        bits |= 1 if bits else 0
        peak = self._pct(life.audio_dbfs) if on else 0
        return [f"RF1 {max(0, rf - 10)} {rf} {int(ant == 1)}",
                f"RF2 {max(0, rf - 20)} {max(0, rf - 8)} {int(ant == 2)}",
                f"States {bits} {int(on)}", f"RF {rf} {ant} {int(on)}",
                f"AF {peak} {min(100, peak + 10)} {bits}", f"Bat {bat_step(life)}",
                f"Msg {msg}", f"Config {self.config}"]

    @staticmethod
    def _pct(dbfs: float) -> int:
        return max(0, min(100, round((dbfs + 50) * 2)))

    def warnings(self) -> str:
        life = self.life[1]
        out = []
        if life.tx_on and life.peak:
            out.append("AF_Peak")
        if not self.is_sr and life.tx_on and bat_step(life) == "0":
            out.append("Low_Battery")
        if not self.is_sr and not life.tx_on:
            out.append("RF_Mute")
        if self.mute:
            out.append("RF_Mute" if self.is_sr else "RX_Mute")
        return " ".join(out) or "OK"

    def config_lines(self) -> list[str]:
        out = [f"Name {self.life[1].name}", f"Frequency {self.frequency} 0 0",
               f"Mute {int(self.mute)}"]
        if not self.is_sr:
            out += [f"Squelch {self.squelch}", f"AfOut {self.af_out}"]
        return out

    def config_changed(self, line: str) -> None:
        self.config = (self.config + 1) % 1000
        for addr, c in self.clients.items():
            if c.mode & 1:
                self.reply(addr, line)

    def _simctl(self, args: list[str]) -> bool:
        ok = super()._simctl(args)
        if ok and args[0].upper() == "NAME":  # a rename at the front panel
            self.config_changed(f"Name {self.life[1].name}")
        return ok

    # -- requests ---------------------------------------------------------------------

    def handle(self, data: bytes, addr: Addr) -> None:
        if len(data) > MAX_DATAGRAM:
            return  # "all characters will be ignored and no warning message is sent"
        text = data.decode("ascii", "replace")
        lines = text.split("\r")
        for i, line in enumerate(lines):
            line = line.strip("\n ")
            if not line:
                continue
            if i == len(lines) - 1:  # after the last CR: no termination
                self.reply(addr, f"1050: Incorrect termination [ {line} ]")
                continue
            try:
                self.reply(addr, *self.command(line, addr))
            except Refused as r:
                self.reply(addr, f"{r.code}: {r.text} [ {line} ]")

    def command(self, line: str, addr: Addr) -> list[str]:
        word, *args = line.split()
        if word == "Push":
            return self._push(args, addr)
        if word == "Name":
            if not args:
                return [f"Name {self.life[1].name}"]
            name = line.split(None, 1)[1].strip()
            if len(name) > 8 or not name.isascii() or not name.isprintable():
                raise Refused(1010, "Invalid parameter")
            self.life[1].name = name
            self.config_changed(f"Name {name}")
            return [f"Name {name}"]
        if word == "Frequency":
            if not args:
                return [f"Frequency {self.frequency} 0 0"]
            khz = self._int(args[0], len(args) in (1, 3))
            lo, hi = self.BAND_KHZ
            if not lo <= khz <= hi or khz % 25:
                raise Refused(1020, "Value out of range")
            self.frequency = khz
            self.config_changed(f"Frequency {khz} 0 0")
            return [f"Frequency {khz} 0 0"]
        if word in ("Mute", "Squelch", "AfOut"):
            return self._setting(word, args)
        raise Refused(1000, "Invalid command")

    def _int(self, s: str, count_ok: bool = True) -> int:
        if not count_ok:
            raise Refused(1040, "Invalid numbers of parameter")
        if s.startswith("#"):
            raise Refused(1030, "Relative parameters not supported")
        if not s.lstrip("-").isdigit():
            raise Refused(1010, "Invalid parameter")
        return int(s)

    def _setting(self, word: str, args: list[str]) -> list[str]:
        attr = {"Mute": "mute", "Squelch": "squelch", "AfOut": "af_out"}[word]
        if not args:
            return [f"{word} {int(getattr(self, attr))}"]
        v = self._int(args[0], len(args) == 1)
        ranges = {"mute": (0, 1), "squelch": (0, 25), "af_out": (-24, 24)}
        lo, hi = ranges[attr]
        if not lo <= v <= hi:
            raise Refused(1020, "Value out of range")
        setattr(self, attr, bool(v) if attr == "mute" else v)
        self.config_changed(f"{word} {v}")
        return [f"{word} {v}"]

    def _push(self, args: list[str], addr: Addr) -> list[str]:
        if len(args) != 3:
            raise Refused(1040, "Invalid numbers of parameter")
        timeout, cycle, mode = (self._int(a) for a in args)
        max_mode = 1 if self.is_sr else 7
        if not (0 <= timeout <= 300 and 0 <= cycle <= 60000 and cycle % 100 == 0
                and 0 <= mode <= max_mode):
            raise Refused(1020, "Value out of range")
        echo = f"Push {timeout} {cycle} {mode}"
        if timeout == cycle == mode == 0:
            self.clients.pop(addr, None)
            return [echo]
        out = [echo]
        if mode:
            out += self.config_lines()
        if timeout == 0:
            out += self.cyclic() if cycle else []
            return out
        now = self.now()
        self.clients[addr] = Client(now + timeout, cycle / 1000, mode, now)
        return out

    # -- the background step ----------------------------------------------------------

    def step(self, now: float) -> None:
        for addr, c in list(self.clients.items()):
            if now >= c.until:
                del self.clients[addr]
                continue
            msg, bat = self.warnings(), bat_step(self.life[1])
            urgent = (c.mode & 2 and msg != c.last_msg) or (
                c.mode & 4 and not self.is_sr and bat != c.last_bat)
            c.last_msg, c.last_bat = msg, bat
            if (c.cycle_s and now >= c.next_at) or urgent:
                if c.cycle_s and now >= c.next_at:
                    c.next_at = max(c.next_at + c.cycle_s, now)
                self.reply(addr, *self.cyclic())

    def forget_clients(self) -> None:
        self.clients.clear()

    def expire_all(self) -> None:
        for c in self.clients.values():
            c.until = 0.0
