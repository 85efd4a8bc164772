"""Shure ULX-D: ULXD4, ULXD4D and ULXD4Q receivers."""

from micboardd.drivers.shure_ulxd.driver import ULXDDriver
from micboardd.drivers.shure_ulxd.sim import ULXDSimulator

DRIVER = ULXDDriver
SIMULATOR = ULXDSimulator

__all__ = ["DRIVER", "SIMULATOR", "ULXDDriver", "ULXDSimulator"]
