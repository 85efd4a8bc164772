"""Shure QLX-D: QLXD4 receiver (one channel)."""

from micboardd.drivers.shure_qlxd.driver import QLXDDriver
from micboardd.drivers.shure_qlxd.sim import QLXDSimulator

DRIVER = QLXDDriver
SIMULATOR = QLXDSimulator

__all__ = ["DRIVER", "SIMULATOR", "QLXDDriver", "QLXDSimulator"]
