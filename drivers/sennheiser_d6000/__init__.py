"""Sennheiser Digital 6000 receivers (EM 6000, EM 6000 Dante; D 9000 where the same):
SSC v1, JSON over UDP (default port 45)."""

from micboardd.drivers.sennheiser_d6000.driver import D6000Driver
from micboardd.drivers.sennheiser_d6000.sim import D6000Simulator

DRIVER = D6000Driver
SIMULATOR = D6000Simulator

__all__ = ["DRIVER", "SIMULATOR", "D6000Driver", "D6000Simulator"]
