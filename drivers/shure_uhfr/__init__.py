"""Shure UHF-R: UR4S and UR4D receivers over UDP."""

from micboardd.drivers.shure_uhfr.driver import UHFRDriver
from micboardd.drivers.shure_uhfr.sim import UHFRSimulator

DRIVER = UHFRDriver
SIMULATOR = UHFRSimulator

__all__ = ["DRIVER", "SIMULATOR", "UHFRDriver", "UHFRSimulator"]
