"""ULX-D receiver simulator (ULXD4, ULXD4D, ULXD4Q) on TCP 2202."""

from __future__ import annotations

from typing import ClassVar

from micboardd.drivers._shure.ulx_sim import UlxSimulator


class ULXDSimulator(UlxSimulator):
    family = "shure-ulxd"
    models: ClassVar[dict[str, int]] = {"ULXD4": 1, "ULXD4D": 2, "ULXD4Q": 4}
    default_model = "ULXD4Q"
