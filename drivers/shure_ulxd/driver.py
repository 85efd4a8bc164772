"""Shure ULX-D (ULXD4, ULXD4D, ULXD4Q): TCP 2202, ``< ... >`` frames, the ULX-D
parameter list (:mod:`micboardd.drivers._shure.ulx`)."""

from __future__ import annotations

from typing import ClassVar

from micboardd.drivers._shure.ulx import UlxDriver


class ULXDDriver(UlxDriver):
    family = "shure-ulxd"
    MODELS: ClassVar[dict[str, int]] = {"ULXD4": 1, "ULXD4D": 2, "ULXD4Q": 4}
