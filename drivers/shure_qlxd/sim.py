"""QLX-D receiver simulator (QLXD4) on TCP 2202."""

from __future__ import annotations

from typing import ClassVar

from micboardd.drivers._shure.ulx_sim import UlxSimulator


class QLXDSimulator(UlxSimulator):
    """A QLXD4: the ULX-D parameter list with one channel, QLX-D transmitters and no audio
    mute (``SET n AUDIO_MUTE`` is answered ``REP ERR``)."""

    family = "shure-qlxd"
    models: ClassVar[dict[str, int]] = {"QLXD4": 1}
    default_model = "QLXD4"
    SETTABLE = UlxSimulator.SETTABLE - {"AUDIO_MUTE"}
    TX_MODELS: ClassVar[tuple[str, ...]] = ("QLXD2", "QLXD1")
    #: ULX-D device properties a single-channel QLXD4 has no use for
    _NOT_ON_QLXD: ClassVar[tuple[str, ...]] = (
        "AUDIO_SUMMING_MODE", "FREQUENCY_DIVERSITY_MODE", "HIGH_DENSITY",
    )

    def device_defaults(self) -> dict[str, str]:
        d = super().device_defaults()
        d["FW_VER"] = "2.3.8"
        for prop in self._NOT_ON_QLXD:
            del d[prop]
        return d

    def channel_defaults(self, n: int, name: str) -> dict[str, str]:
        d = super().channel_defaults(n, name)
        del d["AUDIO_MUTE"]
        return d
