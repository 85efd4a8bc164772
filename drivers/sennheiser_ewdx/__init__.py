"""Sennheiser EW-DX EM 2 / EM 4 (and EW-D EM) receivers: SSC v1, JSON over UDP 45."""

from micboardd.drivers.sennheiser_ewdx.driver import EWDXDriver
from micboardd.drivers.sennheiser_ewdx.sim import EWDXSimulator

DRIVER = EWDXDriver
SIMULATOR = EWDXSimulator

__all__ = ["DRIVER", "SIMULATOR", "EWDXDriver", "EWDXSimulator"]
