"""PSM1000 (P10T in-ear monitor transmitter, 2 channels) simulator on TCP 2202.

Differences from the receiver simulators: no battery and no SAMPLE. ``METER_RATE``
paces ``REP n AUDIO_IN_LVL_L v`` / ``_R`` reports instead; the "transmitter off" of the
shared channel life is the RF mute (``SIMCTL TX 1 OFF`` reports ``RF_MUTE 1``, and the
rare random switch-off of the demo stands in for an engineer muting a carrier). Setting
the frequency also reports ``GROUP_CHAN`` (now unset), as the device does. Every report
ends with CR LF, and ``GET n ALL`` is refused: peers only ever GET property by property.
The ``report_verb`` habit spells replies ``REPORT`` as Shure's PSM1000 page does.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from micboardd.drivers._shure import habits
from micboardd.drivers._shure.sim import ChannelLife, Conn, ShureSimulator

#: AUDIO_IN_LVL at 0 dBFS: just above the top bucket of the driver (2502970)
FULL_SCALE = 2_600_000


class PSM1000Simulator(ShureSimulator):
    family = "shure-psm1000"
    models: ClassVar[dict[str, int]] = {"P10T": 2}
    default_model = "P10T"
    STRINGS: ClassVar[dict[str, int]] = {"CHAN_NAME": 8, "DEVICE_NAME": 8}
    SETTABLE = frozenset({"CHAN_NAME", "FREQUENCY", "RF_MUTE"})
    LIVE: ClassVar[frozenset[str]] = frozenset({"AUDIO_IN_LVL_L", "AUDIO_IN_LVL_R"})
    HABITS = habits.COMMON | {"report_verb"}

    def device_defaults(self) -> dict[str, str]:
        return {"DEVICE_NAME": "P10T"}

    def channel_defaults(self, n: int, name: str) -> dict[str, str]:
        freq = 470125 + 6025 * n + self.rng.randrange(40) * 25
        return {
            "CHAN_NAME": name[:8],
            "GROUP_CHAN": f"01,{n:02d}",
            "FREQUENCY": f"{freq:06d}",
            "RF_TX_LVL": "10",
            "RF_MUTE": "0",
            "AUDIO_TX_MODE": "3",
            "AUDIO_IN_LINE_LVL": "1",
            "AUDIO_IN_LVL_L": "0",
            "AUDIO_IN_LVL_R": "0",
            "METER_RATE": "00000",
        }

    def life_props(self, n: int, life: ChannelLife) -> dict[str, str]:
        return {"RF_MUTE": "0" if life.tx_on else "1"}

    def input_level(self, n: int, prop: str) -> int:
        """The big-integer meter of one input side; the right side sits 2 dB lower."""
        dbfs = self.life[n].audio_dbfs - (2.0 if prop == "AUDIO_IN_LVL_R" else 0.0)
        return round(FULL_SCALE * 10 ** (dbfs / 10))

    def rep(self, n: int | None, prop: str) -> bytes:
        if n is not None and prop in self.LIVE:
            self.channels[n][prop] = str(self.input_level(n, prop))
        frame = super().rep(n, prop)
        if "report_verb" in self.habits:
            frame = frame.replace(b"< REP ", b"< REPORT ", 1)
        return frame + b"\r\n"

    def set_channel(self, n: int, prop: str, raw: str) -> None:
        if prop == "RF_MUTE":
            self.life[n].tx_on = raw == "0"  # keep the life in step with a SET / SIMCTL
        super().set_channel(n, prop, raw)
        if prop == "FREQUENCY":
            # a tuned frequency leaves the group/channel grid; the device reports it
            self.channels[n]["GROUP_CHAN"] = "--,--"
            self.broadcast(self.rep(n, "GROUP_CHAN"))

    def handle(self, conn: Conn, verb: str, args: list[str]) -> list[bytes] | None:
        if verb == "GET" and len(args) >= 2 and args[1] == "ALL":
            return None
        return super().handle(conn, verb, args)

    def validate(self, n: int | None, prop: str, value: str) -> str | None:
        if prop == "CHAN_NAME":
            return value if len(value) <= 8 else None
        if prop == "FREQUENCY":
            ok = value.isdigit() and len(value) == 6 and 470000 <= int(value) <= 960000
            return value if ok else None
        if prop == "RF_MUTE":
            return value if value in ("0", "1") else None
        return None

    async def _meter_loop(self, conn: Conn) -> None:
        # no SAMPLE on the P10T: each metered channel reports both input sides
        while True:
            if not conn.meter:
                await asyncio.sleep(0.05)
                continue
            for n in list(conn.meter):
                self._write(conn, self.rep(n, "AUDIO_IN_LVL_L") + self.rep(n, "AUDIO_IN_LVL_R"))
            await asyncio.sleep(min(conn.meter.values(), default=100) / 1000)
