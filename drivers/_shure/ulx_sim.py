"""A receiver that speaks the ULX-D parameter list on TCP 2202: the simulator base of
ULX-D and QLX-D."""

from __future__ import annotations

from typing import ClassVar

from micboardd.drivers._shure.sim import ChannelLife, ShureSimulator


class UlxSimulator(ShureSimulator):
    SETTABLE = frozenset({"CHAN_NAME", "AUDIO_MUTE", "AUDIO_GAIN", "FREQUENCY", "FLASH"})
    TX_MODELS: ClassVar[tuple[str, ...]] = ("ULXD2", "ULXD1", "ULXD2", "ULXD8")

    def device_defaults(self) -> dict[str, str]:
        return {
            "FW_VER": "2.4.23",
            "DEVICE_ID": self.model,
            "ENCRYPTION": "OFF",
            "AUDIO_SUMMING_MODE": "OFF",
            "FREQUENCY_DIVERSITY_MODE": "OFF",
            "HIGH_DENSITY": "OFF",
            "FLASH": "OFF",
        }

    def channel_defaults(self, n: int, name: str) -> dict[str, str]:
        return {
            "CHAN_NAME": name[:8],
            "METER_RATE": "00000",
            "AUDIO_GAIN": "018",
            "AUDIO_MUTE": "OFF",
            "GROUP_CHAN": f"01,{n:02d}",
            "FREQUENCY": f"{470125 + 6025 * n + self.rng.randrange(40) * 25:06d}",
            "ENCRYPTION_WARNING": "OFF",
            "RF_INT_DET": "NONE",
            "TX_TYPE": self.tx_model(n),
            "TX_OFFSET": "000",
            "TX_RF_PWR": "NORMAL",
            "TX_MUTE_STATUS": "OFF",
            "TX_PWR_LOCK": "OFF",
            "TX_MENU_LOCK": "OFF",
            "TX_POWER_SOURCE": "BATTERY",
            "BATT_BARS": "005",
            "BATT_CHARGE": "255",
            "BATT_RUN_TIME": "65534",
            "BATT_TYPE": "LION",
        }

    def tx_model(self, n: int) -> str:
        return self.TX_MODELS[(n - 1) % len(self.TX_MODELS)]

    def sample_fields(self, n: int) -> str:
        return meter_fields_ulx(self.life[n])

    def validate(self, n: int | None, prop: str, value: str) -> str | None:
        if prop == "CHAN_NAME":
            return value if len(value) <= 8 else None
        if prop == "AUDIO_MUTE":
            return value if value in ("ON", "OFF") else None
        if prop == "AUDIO_GAIN":
            return f"{int(value):03d}" if value.isdigit() and int(value) <= 60 else None
        if prop == "FREQUENCY":
            ok = value.isdigit() and len(value) == 6 and 470000 <= int(value) <= 960000
            return value if ok else None
        if prop == "FLASH":
            return value if value in ("ON", "OFF") else None
        return None


def meter_fields_ulx(life: ChannelLife) -> str:
    """ULX-D / QLX-D SAMPLE fields: ``ant rf audio``."""
    if not life.tx_on:
        return "XX 000 000"
    ant = ("A" if "A" in life.antennas else "X") + ("B" if "B" in life.antennas else "X")
    rf = round(life.rf * 115)
    audio = round(max(0.0, life.audio_dbfs + 50))
    return f"{ant} {rf:03d} {audio:03d}"
