"""Shure Axient Digital: AD4D and AD4Q receivers (AD and ADX transmitters)."""

from micboardd.drivers.shure_axient.driver import AxientDriver
from micboardd.drivers.shure_axient.sim import AxientSimulator

DRIVER = AxientDriver
SIMULATOR = AxientSimulator

__all__ = ["DRIVER", "SIMULATOR", "AxientDriver", "AxientSimulator"]
