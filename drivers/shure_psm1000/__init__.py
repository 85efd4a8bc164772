"""Shure PSM1000: P10T in-ear monitor transmitter (two channels)."""

from micboardd.drivers.shure_psm1000.driver import PSM1000Driver
from micboardd.drivers.shure_psm1000.sim import PSM1000Simulator

DRIVER = PSM1000Driver
SIMULATOR = PSM1000Simulator

__all__ = ["DRIVER", "SIMULATOR", "PSM1000Driver", "PSM1000Simulator"]
