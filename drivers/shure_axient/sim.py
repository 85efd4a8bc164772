"""Axient Digital receiver simulator (AD4D, AD4Q) on TCP 2202.

On top of the shared Shure simulator this one knows the second index after a property
name: ``RSSI a`` per antenna and the eight ShowLink slots per channel are stored under
keys such as ``"RSSI 2"`` or ``"SLOT_BATT_BARS 8"``, which the shared ``rep`` writes out
as ``< REP 1 RSSI 2 071 >``. ``< GET n PROP i >`` and ``< SIMCTL n PROP i value >`` reach
them. ``QUADVERSITY_MODE ON`` (a device property, settable and SIMCTL-able) makes SAMPLE
carry four antenna pairs instead of two.

Metered values (quality, RSSI, antenna status, audio levels) follow the channel's life
and are never reported unsolicited, as on the device; a GET or GET ALL answers them
fresh. Antenna status is written as the device writes it, one LED colour per antenna
(``B`` active, ``R`` active but weaker than -85 dBm, ``X`` off). The ``fd_combined`` habit
puts channels in frequency diversity combined mode: ``FD_MODE FD-C`` and SAMPLE frames
with a second antenna group for the second frequency.
"""

from __future__ import annotations

from typing import ClassVar

from micboardd.drivers._shure import habits
from micboardd.drivers._shure.sim import ChannelLife, Conn, ShureSimulator

SLOTS = 8
#: RSSI of an inactive antenna (noise floor), dBm
NOISE_DBM = -110
#: an active antenna weaker than this shows red
RED_DBM = -85


def _clamp(v: float, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else round(v)


def _pairs(ant: str, rssi: list[int]) -> str:
    """Per antenna: an RF LED count (0..5, 0 when off) and the RSSI."""
    return " ".join(f"{0 if c == 'X' else min(5, r // 20):02d} {r:03d}"
                    for c, r in zip(ant, rssi, strict=True))


class AxientSimulator(ShureSimulator):
    family = "shure-axient"
    models: ClassVar[dict[str, int]] = {"AD4D": 2, "AD4Q": 4}
    default_model = "AD4Q"
    STRINGS: ClassVar[dict[str, int]] = {
        "CHAN_NAME": 31, "DEVICE_ID": 31, "FW_VER": 24, "MODEL": 32, "RF_BAND": 8,
        "TX_DEVICE_ID": 8, "SLOT_TX_DEVICE_ID": 8,
    }
    SETTABLE = frozenset(
        {"CHAN_NAME", "AUDIO_MUTE", "AUDIO_GAIN", "FREQUENCY", "FLASH", "QUADVERSITY_MODE"}
    )
    BATT_BARS = "TX_BATT_BARS"
    BATT_MINS = "TX_BATT_MINS"
    TX_MODEL = "TX_MODEL"
    TX_UNKNOWN = "UNKNOWN"
    TX_MODELS: ClassVar[tuple[str, ...]] = ("ADX2", "AD2", "ADX1", "AD1")
    #: the simulated unit is a G57 band receiver: 470..616 MHz in 25 kHz steps
    BAND_KHZ: ClassVar[tuple[int, int]] = (470000, 616000)
    #: CHAN_NAME is reported 31 wide but SET takes 8 characters (shure.md)
    SET_NAME_WIDTH: ClassVar[int] = 8
    HABITS = habits.COMMON | {"fd_combined"}

    # -- tables -----------------------------------------------------------------------

    def device_defaults(self) -> dict[str, str]:
        return {
            "MODEL": self.model,
            "FW_VER": "1.2.19.0",
            "DEVICE_ID": self.model,
            "RF_BAND": "G57",
            "ENCRYPTION_MODE": "AUTO",
            "QUADVERSITY_MODE": "OFF",
            "TRANSMISSION_MODE": "STANDARD",
            "FLASH": "OFF",
        }

    def channel_defaults(self, n: int, name: str) -> dict[str, str]:
        props = {
            "CHAN_NAME": name[:31],
            "METER_RATE": "00000",
            "AUDIO_GAIN": "018",
            "AUDIO_MUTE": "OFF",
            "FLASH": "OFF",
            "GROUP_CHANNEL": f"01,{n:02d}",
            "FREQUENCY": f"{470125 + 6025 * n + self.rng.randrange(40) * 25:07d}",
            "ENCRYPTION_STATUS": "OK",
            "INTERFERENCE_STATUS": "NONE",
            "UNREGISTERED_TX_STATUS": "OK",
            "FD_MODE": "FD-C" if "fd_combined" in self.habits else "OFF",
            "TX_MODEL": self.tx_model(n),
            "TX_DEVICE_ID": f"TX{n}",
            "TX_OFFSET": "012",
            "TX_INPUT_PAD": "OFF",
            "TX_POWER_LEVEL": "010",
            "TX_MUTE_MODE_STATUS": "ON",
            "TX_LOCK": "NONE",
            "TX_TALK_SWITCH": "RELEASED",
            "TX_BATT_BARS": "005",
            "TX_BATT_MINS": "65534",
            "TX_BATT_CHARGE_PERCENT": "255",
            "TX_BATT_CYCLE_COUNT": "00012",
            "TX_BATT_HEALTH_PERCENT": "098",
            "TX_BATT_TEMP_C": "064",
            "TX_BATT_TEMP_F": "116",
            "TX_BATT_TYPE": "LION",
        }
        props.update(self.meter_props(n))
        for s in range(1, SLOTS + 1):
            active = s == 1  # slot 1 holds the transmitter on air; the others are empty
            props[f"SLOT_STATUS {s}"] = "LINKED.ACTIVE" if active else "EMPTY"
            props[f"SLOT_TX_MODEL {s}"] = self.tx_model(n) if active else "UNKNOWN"
            props[f"SLOT_TX_DEVICE_ID {s}"] = f"TX{n}" if active else ""
            props[f"SLOT_BATT_BARS {s}"] = "005" if active else "255"
            props[f"SLOT_BATT_MINS {s}"] = "65534" if active else "65535"
            props[f"SLOT_RF_OUTPUT {s}"] = "RF_ON" if active else "UNKNOWN"
            props[f"SLOT_RF_POWER {s}"] = "010" if active else "255"
            props[f"SLOT_SHOWLINK_STATUS {s}"] = "005" if active else "255"
        return props

    def tx_model(self, n: int) -> str:
        return self.TX_MODELS[(n - 1) % len(self.TX_MODELS)]

    def life_props(self, n: int, life: ChannelLife) -> dict[str, str]:
        props = super().life_props(n, life)
        pct = _clamp(life.minutes * 100 / self.BATTERY_FULL_MIN, 0, 100)
        props["TX_BATT_CHARGE_PERCENT"] = f"{pct:03d}" if life.tx_on else "255"
        # the active slot mirrors the transmitter on air
        props["SLOT_BATT_BARS 1"] = props[self.BATT_BARS]
        props["SLOT_BATT_MINS 1"] = props[self.BATT_MINS]
        props["SLOT_TX_MODEL 1"] = props[self.TX_MODEL]
        return props

    # -- meters -----------------------------------------------------------------------

    @property
    def quadversity(self) -> bool:
        return self.device.get("QUADVERSITY_MODE") == "ON"

    def _meters(self, n: int) -> tuple[int, int, int, int, str, list[int]]:
        """quality, LED bitmap, peak, rms, antenna status and one wire RSSI per antenna."""
        life = self.life[n]
        k = 4 if self.quadversity else 2
        noise = NOISE_DBM + 120
        if not life.tx_on:
            return 255, 0, 0, 0, "X" * k, [noise] * k
        act = life.antennas
        on = ["A" in act, "B" in act] * (k // 2)  # the second pair follows the first
        dbm = -100.0 + life.rf * 60.0
        rssi = [_clamp(dbm - 2 * i + 120, 0, 120) if up else noise for i, up in enumerate(on)]
        # one LED colour per antenna: blue, red when weak, off
        ant = "".join("X" if not up else "R" if r - 120 < RED_DBM else "B"
                      for up, r in zip(on, rssi, strict=True))
        rms = _clamp(life.audio_dbfs + 120, 0, 120)
        peak = min(120, rms + 8)
        segments = _clamp((life.audio_dbfs + 50) / 50 * 7, 0, 7)
        leds = (1 << segments) - 1 | (128 if life.peak else 0)
        return life.quality, leds, peak, rms, ant, rssi

    def meter_props(self, n: int) -> dict[str, str]:
        q, _, peak, rms, ant, rssi = self._meters(n)
        props = {"CHAN_QUALITY": f"{q:03d}", "ANTENNA_STATUS": ant}
        for i, r in enumerate(rssi, 1):
            props[f"RSSI {i}"] = f"{r:03d}"
        props["AUDIO_LEVEL_RMS"] = f"{rms:03d}"
        props["AUDIO_LEVEL_PEAK"] = f"{peak:03d}"
        return props

    def _refresh_meters(self, n: int) -> None:
        """Bring the metered REP values up to date, silently (never reported unsolicited)."""
        ch = self.channels[n]
        for key in [k for k in ch if k.startswith("RSSI ")]:
            del ch[key]
        ch.update(self.meter_props(n))

    def sample_fields(self, n: int) -> str:
        q, leds, peak, rms, ant, rssi = self._meters(n)
        group = f"{ant} {_pairs(ant, rssi)}"
        if "fd_combined" in self.habits:
            # the second frequency's antennas: the same antennas, a few dB apart
            group += f" {ant} {_pairs(ant, [max(0, r - 3) for r in rssi])}"
        return f"{q:03d} {leds:03d} {peak:03d} {rms:03d} {group}"

    # -- commands ---------------------------------------------------------------------

    def handle(self, conn: Conn, verb: str, args: list[str]) -> list[bytes] | None:
        if verb == "GET":
            for n in self.channels:
                self._refresh_meters(n)
            if len(args) == 3 and args[0].isdigit():
                n = int(args[0])
                key = f"{args[1]} {args[2]}"
                if n in self.channels and key in self.channels[n]:
                    return [self.rep(n, key)]
                return None
        return super().handle(conn, verb, args)

    def validate(self, n: int | None, prop: str, value: str) -> str | None:
        if prop == "CHAN_NAME":
            return value if 0 < len(value) <= self.SET_NAME_WIDTH else None
        if prop == "AUDIO_MUTE":
            if value == "TOGGLE" and n is not None:
                return "OFF" if self.channels[n].get("AUDIO_MUTE") == "ON" else "ON"
            return value if value in ("ON", "OFF") else None
        if prop == "AUDIO_GAIN":
            return f"{int(value):03d}" if value.isdigit() and int(value) <= 60 else None
        if prop == "FREQUENCY":
            lo, hi = self.BAND_KHZ
            ok = (value.isdigit() and len(value) == 7 and lo <= int(value) <= hi
                  and int(value) % 25 == 0)
            return value if ok else None
        if prop == "FLASH":
            return value if value in ("ON", "OFF") else None
        if prop == "QUADVERSITY_MODE":
            return value if n is None and value in ("ON", "OFF") else None
        return None

    def _simctl(self, args: list[str]) -> bool:
        # < SIMCTL n PROP i value >: an indexed channel property ("SLOT_BATT_BARS 3")
        if len(args) == 4 and args[0].isdigit():
            n = int(args[0])
            if n not in self.channels:
                return False
            self.set_channel(n, f"{args[1]} {args[2]}", args[3])
            return True
        return super()._simctl(args)
