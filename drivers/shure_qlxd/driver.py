"""Shure QLX-D (QLXD4): TCP 2202, ``< ... >`` frames.

QLX-D speaks the ULX-D parameter list (shared/protocols/shure.md section 4) and the same
``SAMPLE n ALL ant rf audio`` metering, so this driver is the shared ULX-D one with what the
QLXD4 lacks taken away: it has no ``AUDIO_MUTE`` (``audio.muted`` stays null and a mute
command is :class:`CommandUnsupported`). Transmitters report ``TX_TYPE`` QLXD1 / QLXD2.
Gain (000..060, dB = v - 18) and 6-digit frequencies are encoded by the ULX-D code.
"""

from __future__ import annotations

from typing import ClassVar

from micboardd.drivers._shure.protocol import PropHandler
from micboardd.drivers._shure.ulx import CHANNEL_PROPS as ULX_CHANNEL_PROPS
from micboardd.drivers._shure.ulx import UlxDriver

CHANNEL_PROPS: dict[str, PropHandler] = {
    prop: handler for prop, handler in ULX_CHANNEL_PROPS.items() if prop != "AUDIO_MUTE"
}


class QLXDDriver(UlxDriver):
    family = "shure-qlxd"
    default_channels = 1
    CHANNEL_PROPS = CHANNEL_PROPS
    MODELS: ClassVar[dict[str, int]] = {"QLXD4": 1}
    HAS_MUTE: ClassVar[bool] = False
