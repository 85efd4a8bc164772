"""Digital 6000 receiver simulator (EM 6000, EM 6000 Dante, D 9000 EM 9046) on UDP.

The address space of ``driver.py`` (its docstring names the sources), answered from each
channel's simulated life: ``mm`` packs every channel's meters (RF as 2 x dBm + 255, AF as
2 x (dBFS + 128) - 1, LQI 0..255), ``rxN/skx/battery`` gives Sennheiser's battery steps
and ``h:mm`` (``[]`` while the transmitter is off), ``rxN/active_warnings`` the life's
flags. Writable: ``rxN/name`` (1..8 characters, none of the ones the EM refuses),
``rxN/audio_mute``, ``rxN/carrier`` (470100..713900 kHz on 25 kHz). ``rxN/identify`` is a
method: calling it (with null) flashes the channel and answers true.
"""

from __future__ import annotations

from typing import Any, ClassVar

from micboardd.drivers._sennheiser.sim import Err, SSCSimulator
from micboardd.drivers._sennheiser.simbase import Life
from micboardd.drivers._sennheiser.ssc import Path, split_channel
from micboardd.drivers.sennheiser_d6000.driver import NAME_FORBIDDEN


def battery_state(life: Life) -> list[str]:
    if not life.tx_on:
        return []
    pct = life.battery_pct
    step = "100%" if pct > 85 else "70%" if pct > 50 else "30%" if pct > 12 else "low"
    m = life.battery_minutes
    return [step, f"{m // 60}:{m % 60:02d}"]


def warnings(life: Life) -> list[str]:
    out = []
    if not life.tx_on:
        out.append("NoLink")
    else:
        if life.peak:
            out.append("AFPeak")
        if life.battery_pct <= 12:
            out.append("LowBattery")
        if life.rf_dbm < -90:
            out.append("LowSignal")
    if life.enc_error:
        out.append("Aes256Error")
    return out


def mm_entry(life: Life) -> list[int]:
    """``[RF1, RF1peak, RF2, RF2peak, DIV1, DIV2, LQI, AF, AFpeak]`` (guide 8.100)."""
    if not life.tx_on:
        return [55, 0, 52, 0, 0, 0, 0, 0, 0]  # noise around -100 dBm, no link, no audio
    main = round(2 * life.rf_dbm + 255)
    other = max(0, main - 14)
    rf1, rf2 = (main, other) if life.antenna == "A" else (other, main)
    af = max(0, min(255, round(2 * (life.audio_dbfs + 128) - 1)))
    lqi = round(life.rf_fraction * 255)
    return [rf1, 0, rf2, 0, int(life.antenna == "A"), int(life.antenna == "B"), lqi, af,
            int(life.peak)]


class D6000Simulator(SSCSimulator):
    family = "sennheiser-d6000"
    models: ClassVar[dict[str, int]] = {"EM6000": 2, "EM6000-Dante": 2, "EM9046": 8}
    default_model = "EM6000"
    VERSION: ClassVar[str] = "4.1.0"
    DEFAULT_LIFETIME_S = 10

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, **kw: Any) -> None:
        super().__init__(host, port, **kw)
        self.device_name = "EM6000-SIM"
        self.mute: dict[int, bool] = dict.fromkeys(self.life, False)
        self.carrier: dict[int, int] = {
            n: 558000 + 2400 * n + self.rng.randrange(40) * 25 for n in self.life}

    def read(self, path: Path) -> Any:
        if path == ("mm",):
            return [mm_entry(life) for life in self.life.values()]
        device = {
            ("device", "name"): self.device_name,
            ("device", "identity", "product"): self.model,
            ("device", "identity", "version"): self.VERSION,
            ("device", "identity", "vendor"): "Sennheiser electronic GmbH & Co. KG",
        }
        if path in device:
            return device[path]
        ch, norm = split_channel(path)
        if ch not in self.life or norm[:1] != ("rx",):
            return Err(404)
        life = self.life[ch]
        values: dict[Path, Any] = {
            ("rx", "name"): life.name[:8],
            ("rx", "carrier"): self.carrier[ch],
            ("rx", "audio_mute"): self.mute[ch],
            ("rx", "active_warnings"): warnings(life),
            ("rx", "skx", "battery"): battery_state(life),
            ("rx", "skx", "type"): ["SKM 6000", 470, 558] if life.tx_on else "",
            ("rx", "skx", "name"): life.name[:8] if life.tx_on else "",
        }
        if norm == ("rx", "identify"):
            self.identifying.add(ch)
            return True
        return values.get(norm, Err(404))

    def write(self, path: Path, value: Any) -> Any:
        ch, norm = split_channel(path)
        if ch not in self.life:
            return Err(404)
        if norm == ("rx", "name"):
            ok = isinstance(value, str) and 0 < len(value) <= 8 and value.isascii() \
                and value.isprintable() and not set(value) & set(NAME_FORBIDDEN)
            if not ok:
                return Err(406)
            self.life[ch].name = value
        elif norm == ("rx", "audio_mute") and isinstance(value, bool):
            self.mute[ch] = value
        elif norm == ("rx", "carrier") and isinstance(value, int) and not isinstance(
                value, bool) and 470100 <= value <= 713900 and value % 25 == 0:
            self.carrier[ch] = value
        elif norm == ("rx", "identify"):
            return self.read(path)
        else:
            return Err(406) if self.read(path) != Err(404) else Err(404)
        return self.read(path)
