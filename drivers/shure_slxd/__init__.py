"""Shure SLX-D and SLX-D+: SLXD4, SLXD4D, SLXD4+ and SLXD4D+ receivers."""

from micboardd.drivers.shure_slxd.driver import SLXDDriver
from micboardd.drivers.shure_slxd.sim import SLXDPlusSimulator, SLXDSimulator

DRIVER = SLXDDriver
SIMULATOR = SLXDSimulator

__all__ = ["DRIVER", "SIMULATOR", "SLXDDriver", "SLXDPlusSimulator", "SLXDSimulator"]
