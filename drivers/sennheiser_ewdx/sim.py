"""EW-DX receiver simulator (EM 2, EM 2 Dante, EM 4 Dante, EW-D EM) on UDP (default 45).

The address space of ``driver.py`` (its docstring names the sources), answered from each
channel's simulated life: ``m/rxN`` meters from the RF and audio, ``mates/txN`` from the
transmitter and its battery (424 while it is off), ``rxN/warnings`` from the life's
flags. Writable: ``rxN/name`` (1..8 printable ASCII, stored upper case), ``rxN/mute``,
``rxN/gain`` (-3..42 dB in 3 dB steps), ``rxN/frequency`` (the simulated unit is a Q1-6
band receiver: 470200..526000 kHz on 25 kHz; anything else is refused with 406, as a real
receiver refuses a frequency outside its band), ``rxN/identification/visual``,
``device/identification/visual``, ``device/name``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from micboardd.drivers._sennheiser.sim import Err, SSCSimulator
from micboardd.drivers._sennheiser.simbase import Life
from micboardd.drivers._sennheiser.ssc import Path, split_channel

TX_TYPES = ("SKM", "SK", "SKM", "SKM")


@dataclass(slots=True)
class RxSettings:
    mute: bool = False
    gain: int = 12
    frequency: int = 550000
    identify: bool = False


def _rx_warnings(life: Life) -> list[str]:
    out = []
    if life.enc_error:
        out.append("Aes256Error")
    if not life.tx_on:
        out.append("NoLink")
    elif life.rf_dbm < -90:
        out.append("LowSignal")
    if life.tx_on and life.peak:
        out.append("AfPeak")
    return out


def _tx_warnings(life: Life) -> list[str]:
    return ["LowBattery"] if life.battery_pct < 10 else []


RX_READ: dict[Path, Callable[[Life, RxSettings], Any]] = {
    ("rx", "name"): lambda life, s: life.name.upper()[:8],
    ("rx", "mute"): lambda life, s: s.mute,
    ("rx", "gain"): lambda life, s: s.gain,
    ("rx", "frequency"): lambda life, s: s.frequency,
    ("rx", "warnings"): lambda life, s: _rx_warnings(life),
    ("rx", "identification", "visual"): lambda life, s: s.identify,
    ("m", "rx", "rssi"): lambda life, s: round(life.rf_dbm, 1) if life.tx_on else -107.0,
    ("m", "rx", "rsqi"): lambda life, s: round(life.rf_fraction * 100) if life.tx_on else 0,
    ("m", "rx", "divi"): lambda life, s: (1 if life.antenna == "A" else 2) if life.tx_on else 0,
    ("m", "rx", "af"): lambda life, s: round(life.audio_dbfs, 1) if life.tx_on else -138.5,
}
TX_READ: dict[Path, Callable[[Life, int], Any]] = {
    ("mates", "tx", "battery", "gauge"): lambda life, n: round(life.battery_pct),
    ("mates", "tx", "battery", "lifetime"): lambda life, n: life.battery_minutes,
    ("mates", "tx", "battery", "type"): lambda life, n: "Battery",
    ("mates", "tx", "mute"): lambda life, n: False,
    ("mates", "tx", "warnings"): lambda life, n: _tx_warnings(life),
    ("mates", "tx", "type"): lambda life, n: TX_TYPES[(n - 1) % len(TX_TYPES)],
    ("mates", "tx", "name"): lambda life, n: life.name.upper()[:8],
}


class EWDXSimulator(SSCSimulator):
    family = "sennheiser-ewdx"
    models: ClassVar[dict[str, int]] = {
        "EW-DX EM 2": 2, "EW-DX EM 2 Dante": 2, "EW-DX EM 4 Dante": 4, "EW-D EM": 1}
    default_model = "EW-DX EM 2"
    VERSION: ClassVar[str] = "3.0.0"
    BAND_KHZ: ClassVar[tuple[int, int]] = (470200, 526000)

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, **kw: Any) -> None:
        super().__init__(host, port, **kw)
        self.device_name = "EWDX-SIM"
        self.device_identify = False
        self.rx: dict[int, RxSettings] = {
            n: RxSettings(frequency=500000 + 1200 * n + self.rng.randrange(20) * 25)
            for n in self.life}

    def read(self, path: Path) -> Any:
        device = {
            ("device", "name"): self.device_name,
            ("device", "identity", "product"): self.model,
            ("device", "identity", "version"): self.VERSION,
            ("device", "identity", "vendor"): "Sennheiser electronic SE & Co. KG",
            ("device", "encryption"): True,
            ("device", "identification", "visual"): self.device_identify,
        }
        if path in device:
            return device[path]
        ch, norm = split_channel(path)
        if ch not in self.life:
            return Err(404)
        life = self.life[ch]
        rx = RX_READ.get(norm)
        if rx is not None:
            return rx(life, self.rx[ch])
        tx = TX_READ.get(norm)
        if tx is not None:
            return tx(life, ch) if life.tx_on else Err(424)
        return Err(404)

    def write(self, path: Path, value: Any) -> Any:
        ch, norm = split_channel(path)
        if ch is None:
            return self._write_device(path, value)
        if ch not in self.life:
            return Err(404)
        s = self.rx[ch]
        if norm == ("rx", "name"):
            ok = isinstance(value, str) and 0 < len(value) <= 8 and value.isascii() \
                and value.isprintable()
            if not ok:
                return Err(406)
            self.life[ch].name = value.upper()
        elif norm == ("rx", "mute") and isinstance(value, bool):
            s.mute = value
        elif norm == ("rx", "identification", "visual") and isinstance(value, bool):
            s.identify = value
        elif norm == ("rx", "gain") and _grid(value, -3, 42, 3):
            s.gain = value
        elif norm == ("rx", "frequency") and _grid(value, *self.BAND_KHZ, 25):
            s.frequency = value
        else:
            return Err(406) if self.read(path) != Err(404) else Err(404)
        return self.read(path)

    def _write_device(self, path: Path, value: Any) -> Any:
        if path == ("device", "identification", "visual") and isinstance(value, bool):
            self.device_identify = value
        elif path == ("device", "name") and isinstance(value, str) and len(value) <= 18:
            self.device_name = value
        else:
            return Err(406) if self.read(path) != Err(404) else Err(404)
        return self.read(path)


def _grid(v: Any, lo: int, hi: int, step: int) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
            and (v - lo) % step == 0)
