"""Sennheiser EW G3 / G4 / 2000 series receivers and IEM transmitters: the Media Control
Protocol, plain text over UDP 53212."""

from micboardd.drivers.sennheiser_g4.driver import G4Driver
from micboardd.drivers.sennheiser_g4.sim import G4Simulator

DRIVER = G4Driver
SIMULATOR = G4Simulator

__all__ = ["DRIVER", "SIMULATOR", "G4Driver", "G4Simulator"]
