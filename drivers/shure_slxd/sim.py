"""SLX-D and SLX-D+ receiver simulators (SLXD4, SLXD4D; SLXD4+, SLXD4D+, SLXD4Q+,
SLXD4QDAN+) on TCP 2202.

``SLXDSimulator(model=...)`` is the entry point for every model; a ``+`` model builds an
:class:`SLXDPlusSimulator`, which behaves like SLX-D+ firmware 2.0.38.9: it answers
``GET 0 ALL`` with ``REP ERR``, reports 7-digit frequencies and ``TX_MODEL``, has two
transmitter slots per channel (``LINK_STATUS s online|offline``, ``SLOT_TX_MODEL s`` padded
to 10, blank for an empty slot), and an unpaired channel's ``GET n ALL`` holds only
``TX_MODEL UNKNOWN``, ``TX_BATT_BARS 255``, ``TX_BATT_MINS 65535`` and its slot lines.

Habits besides the common ones: ``per_antenna_rssi`` (``RSSI 1 vvv`` / ``RSSI 2 vvv``, the
second antenna weaker) and ``group_chan`` (``GROUP_CHAN`` instead of ``GROUP_CHANNEL``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from micboardd.drivers._shure import habits
from micboardd.drivers._shure.sim import ChannelLife, ShureSimulator

#: the second antenna's RSSI sits this much below the first (per_antenna_rssi)
SECOND_ANTENNA_DB = 19


class SLXDSimulator(ShureSimulator):
    family = "shure-slxd"
    models: ClassVar[dict[str, int]] = {
        "SLXD4": 1, "SLXD4D": 2, "SLXD4+": 1, "SLXD4D+": 2, "SLXD4Q+": 4, "SLXD4QDAN+": 4,
    }
    default_model = "SLXD4D"
    HABITS = habits.COMMON | {"per_antenna_rssi", "group_chan"}
    STRINGS: ClassVar[dict[str, int]] = {
        "CHAN_NAME": 31, "DEVICE_ID": 31, "FW_VER": 24, "MODEL": 32, "RF_BAND": 8,
    }
    SETTABLE = frozenset({"CHAN_NAME", "AUDIO_GAIN", "FREQUENCY", "FLASH"})
    BATT_BARS = "TX_BATT_BARS"
    BATT_MINS = "TX_BATT_MINS"
    TX_MODEL = "TX_TYPE"
    TX_UNKNOWN = "UNKNOWN"
    TX_MODELS: ClassVar[tuple[str, ...]] = ("SLXD2", "SLXD1")
    FW_VERSION: ClassVar[str] = "1.2.10.0"
    FREQ_DIGITS: ClassVar[int] = 6
    #: metered properties: a GET answers them from the channel's life, never stale
    LIVE: ClassVar[frozenset[str]] = frozenset({"RSSI", "AUDIO_LEVEL_PEAK", "AUDIO_LEVEL_RMS"})

    def __new__(cls, *args: Any, **kwargs: Any) -> SLXDSimulator:
        model = kwargs.get("model")
        target: type[SLXDSimulator] = cls
        if cls is SLXDSimulator and isinstance(model, str) and model.endswith("+"):
            target = SLXDPlusSimulator
        return object.__new__(target)

    def device_defaults(self) -> dict[str, str]:
        return {
            "MODEL": self.model,
            "RF_BAND": "G58",
            "LOCK_STATUS": "OFF",
            "FW_VER": self.FW_VERSION,
            "DEVICE_ID": self.model,
            "FLASH": "OFF",
        }

    def channel_defaults(self, n: int, name: str) -> dict[str, str]:
        freq = 470125 + 6025 * n + self.rng.randrange(40) * 25
        group = "GROUP_CHAN" if "group_chan" in self.habits else "GROUP_CHANNEL"
        props = {
            "CHAN_NAME": name[:31],
            "METER_RATE": "00000",
            "AUDIO_OUT_LVL_SWITCH": "MIC",
            "AUDIO_GAIN": "018",
            group: f"01,{n:02d}",
            "FREQUENCY": f"{freq:0{self.FREQ_DIGITS}d}",
            self.TX_MODEL: self.tx_model(n),
            "TX_BATT_BARS": "005",
            "TX_BATT_MINS": "65534",
            "AUDIO_LEVEL_PEAK": "000",
            "AUDIO_LEVEL_RMS": "000",
        }
        if "per_antenna_rssi" in self.habits:
            props["RSSI 1"] = props["RSSI 2"] = "000"
        else:
            props["RSSI"] = "000"
        return props

    def tx_model(self, n: int) -> str:
        return self.TX_MODELS[(n - 1) % len(self.TX_MODELS)]

    def levels(self, n: int) -> tuple[int, int, int]:
        """Raw ``peak rms rssi`` (each value + 120) from the channel's life."""
        life = self.life[n]
        if not life.tx_on:
            return 0, 0, 0
        rms = max(0, min(120, round(life.audio_dbfs) + 120))
        peak = 120 if life.peak else min(120, rms + 6)
        rssi = round(20 + life.rf * 60)  # -100..-40 dBm
        return peak, rms, rssi

    def sample_fields(self, n: int) -> str:
        peak, rms, rssi = self.levels(n)
        return f"{peak:03d} {rms:03d} {rssi:03d}"

    def live_value(self, n: int, prop: str) -> str:
        peak, rms, rssi = self.levels(n)
        if prop == "RSSI 2":  # (per_antenna_rssi) the second antenna hears less
            rssi = max(0, rssi - SECOND_ANTENNA_DB)
        v = {"AUDIO_LEVEL_PEAK": peak, "AUDIO_LEVEL_RMS": rms}.get(prop, rssi)
        return f"{v:03d}"

    def rep(self, n: int | None, prop: str) -> bytes:
        if n is not None and prop.split(" ", 1)[0] in self.LIVE:
            self.channels[n][prop] = self.live_value(n, prop)
        return super().rep(n, prop)

    def validate(self, n: int | None, prop: str, value: str) -> str | None:
        if prop == "CHAN_NAME":
            return value if len(value) <= 8 else None  # reports pad to 31, SET takes 8
        if prop == "AUDIO_GAIN":
            return f"{int(value):03d}" if value.isdigit() and int(value) <= 60 else None
        if prop == "FREQUENCY":
            ok = (value.isdigit() and len(value) == self.FREQ_DIGITS
                  and 470000 <= int(value) <= 960000)
            return value if ok else None
        if prop == "FLASH":
            return value if value in ("ON", "OFF") else None
        return None


class SLXDPlusSimulator(SLXDSimulator):
    models: ClassVar[dict[str, int]] = {"SLXD4+": 1, "SLXD4D+": 2, "SLXD4Q+": 4, "SLXD4QDAN+": 4}
    STRINGS: ClassVar[dict[str, int]] = {**SLXDSimulator.STRINGS, "SLOT_TX_MODEL": 10}
    default_model = "SLXD4D+"
    ACCEPTS_ALL_ZERO = False
    TX_MODEL = "TX_MODEL"
    TX_MODELS: ClassVar[tuple[str, ...]] = ("SLXD2+", "SLXD1+", "SLXD3+")
    FW_VERSION: ClassVar[str] = "2.0.38.9"
    FREQ_DIGITS: ClassVar[int] = 7
    LIVE: ClassVar[frozenset[str]] = SLXDSimulator.LIVE | {"ANTENNA_STATUS"}
    SLOTS: ClassVar[int] = 2

    def channel_defaults(self, n: int, name: str) -> dict[str, str]:
        d = super().channel_defaults(n, name)
        d.update({
            "ANTENNA_STATUS": "AB",
            "INTERFERENCE_STATUS": "NONE",
            "ENCRYPTION_STATUS": "OK",
        })
        for s in range(1, self.SLOTS + 1):  # slot 1 follows the transmitter (life_props)
            d[f"LINK_STATUS {s}"] = "offline"
            d[f"SLOT_TX_MODEL {s}"] = ""  # blank padded: an empty slot
        return d

    def life_props(self, n: int, life: ChannelLife) -> dict[str, str]:
        # a slot's key holds its index, so rep() writes `REP n LINK_STATUS 1 online`
        props = super().life_props(n, life)
        props["LINK_STATUS 1"] = "online" if life.tx_on else "offline"
        props["SLOT_TX_MODEL 1"] = self.tx_model(n)  # paired, whether on or off
        return props

    def live_value(self, n: int, prop: str) -> str:
        if prop != "ANTENNA_STATUS":
            return super().live_value(n, prop)
        life = self.life[n]
        if not life.tx_on:
            return "XX"
        return ("A" if "A" in life.antennas else "X") + ("B" if "B" in life.antennas else "X")

    def all_reps(self, n: int) -> list[bytes]:
        if n == 0 or self.life[n].tx_on:
            return super().all_reps(n)
        # unpaired: only the transmitter's unknowns and the slot lines (shure.md section 2)
        keep = {self.TX_MODEL, self.BATT_BARS, self.BATT_MINS}
        return [self.rep(n, p) for p in self.channels[n]
                if p in keep or p.startswith(("LINK_STATUS ", "SLOT_TX_MODEL "))]
