"""How a Shure TCP simulator answers what a client sends: GET, SET, and the test-only
SIMCTL verb. A mixin of :class:`~micboardd.drivers._shure.sim.ShureSimulator`, which owns
the state, formatting and connections these methods use."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(slots=True, eq=False)
class Conn:
    writer: asyncio.StreamWriter
    meter: dict[int, int] = field(default_factory=dict)  # channel -> rate ms
    task: asyncio.Task[None] | None = None


class Commands:
    # provided by the simulator class
    channels: dict[int, dict[str, str]]
    device: dict[str, str]
    habits: frozenset[str]
    frozen: bool
    ACCEPTS_ALL_ZERO: ClassVar[bool]
    SETTABLE: ClassVar[frozenset[str]]

    def rep(self, n: int | None, prop: str) -> bytes:
        raise NotImplementedError

    def all_reps(self, n: int) -> list[bytes]:
        raise NotImplementedError

    def validate(self, n: int | None, prop: str, value: str) -> str | None:
        raise NotImplementedError

    def set_channel(self, n: int, prop: str, raw: str) -> None:
        raise NotImplementedError

    def set_device(self, prop: str, raw: str) -> None:
        raise NotImplementedError

    def broadcast(self, data: bytes) -> None:
        raise NotImplementedError

    def set_fault(self, mode: str, seconds: float = 5.0) -> None:
        raise NotImplementedError

    def set_tx(self, n: int, on: bool) -> None:
        raise NotImplementedError

    def set_battery_minutes(self, n: int, minutes: float) -> None:
        raise NotImplementedError

    def set_rf(self, n: int, pct: float) -> None:
        raise NotImplementedError

    # -- GET / SET ------------------------------------------------------------------------

    def handle(self, conn: Conn, verb: str, args: list[str]) -> list[bytes] | None:
        """Answer a GET or SET; None means REP ERR. Reports of SET go to every client
        (through set_channel), so the return value is what this client alone gets."""
        if verb == "GET" and args:
            return self._get(args)
        if verb == "SET" and len(args) >= 2:
            if args[0].isdigit():
                return self._set_channel(conn, int(args[0]), args[1:])
            return self._set_device(args[0], args[1])
        return None

    def _get(self, args: list[str]) -> list[bytes] | None:
        if not args[0].isdigit():
            if "no_device_gets" in self.habits:
                return []  # device-level queries, the keepalive among them, go unanswered
            return [self.rep(None, args[0])] if args[0] in self.device else None
        n = int(args[0])
        if len(args) < 2:
            return None
        if args[1] == "ALL":
            if n == 0 and "no_get0" in self.habits:
                return []  # not even REP ERR (shure.md 2b)
            if (n == 0 and not self.ACCEPTS_ALL_ZERO) or (n != 0 and n not in self.channels):
                return None
            return self.all_reps(n)
        if n in self.channels and args[1] in self.channels[n]:
            return [self.rep(n, args[1])]
        return None

    def _set_channel(self, conn: Conn, n: int, args: list[str]) -> list[bytes] | None:
        if n not in self.channels or len(args) < 2:
            return None
        prop, value = args[0], args[1]
        if prop == "METER_RATE":
            if not value.isdigit() or len(value) != 5 or 0 < int(value) < 100:
                return None
            if int(value):
                conn.meter[n] = int(value)
            else:
                conn.meter.pop(n, None)
            self.channels[n]["METER_RATE"] = value
            return [self.rep(n, "METER_RATE")]
        raw = self.validate(n, prop, value) if prop in self.SETTABLE else None
        if raw is None:
            return None
        if self.channels[n].get(prop) == raw:
            return [self.rep(n, prop)]  # unchanged: still answer this client
        self.set_channel(n, prop, raw)
        return []

    def _set_device(self, prop: str, value: str) -> list[bytes] | None:
        raw = self.validate(None, prop, value) if prop in self.SETTABLE else None
        if raw is None:
            return None
        if prop == "FLASH":
            self.device["FLASH"] = raw
            self.broadcast(self.rep(None, "FLASH"))
            return []
        self.set_device(prop, raw)
        return []

    # -- SIMCTL ---------------------------------------------------------------------------


    def _simctl(self, args: list[str]) -> bool:
        try:
            word = args[0]
            if word == "FREEZE":
                self.frozen = True
            elif word == "THAW":
                self.frozen = False
            elif word == "FAULT":
                self.set_fault(args[1], float(args[2]) if len(args) > 2 else 5.0)
            elif word == "TX":
                self.set_tx(int(args[1]), args[2] == "ON")
            elif word == "MINUTES":
                self.set_battery_minutes(int(args[1]), float(args[2]))
            elif word == "RF":
                self.set_rf(int(args[1]), float(args[2]))
            elif word.isdigit():
                if int(word) not in self.channels:
                    return False
                self.set_channel(int(word), args[1], args[2] if len(args) > 2 else "")
            else:
                self.set_device(word, args[1] if len(args) > 1 else "")
        except (IndexError, ValueError, KeyError):
            return False
        return True
