"""Receiver drivers, one package per family, each exposing ``DRIVER`` (the sans-IO
protocol class) and ``SIMULATOR`` (a real-socket simulator of the device)."""

from __future__ import annotations

import importlib
from types import ModuleType

from micboardd.drivers.base import (
    COMMAND_KINDS,
    ChannelUpdate,
    Command,
    CommandDone,
    CommandFailed,
    CommandInvalid,
    CommandUnsupported,
    DeviceUpdate,
    Driver,
    DriverError,
    Event,
    ProtocolError,
)

#: driver id used in configuration -> package
FAMILIES: dict[str, str] = {
    "shure-ulxd": "micboardd.drivers.shure_ulxd",
    "shure-qlxd": "micboardd.drivers.shure_qlxd",
    "shure-slxd": "micboardd.drivers.shure_slxd",
    "shure-axient": "micboardd.drivers.shure_axient",
    "shure-uhfr": "micboardd.drivers.shure_uhfr",
    "shure-psm1000": "micboardd.drivers.shure_psm1000",
    "sennheiser-ewdx": "micboardd.drivers.sennheiser_ewdx",
    "sennheiser-d6000": "micboardd.drivers.sennheiser_d6000",
    "sennheiser-g4": "micboardd.drivers.sennheiser_g4",
}


def family_module(family: str) -> ModuleType:
    """The package of a driver family; KeyError names the known ones."""
    try:
        return importlib.import_module(FAMILIES[family])
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise KeyError(f"unknown driver {family!r}; known drivers: {known}") from None


def driver_class(family: str) -> type[Driver]:
    cls: type[Driver] = family_module(family).DRIVER
    return cls


__all__ = [
    "COMMAND_KINDS",
    "FAMILIES",
    "ChannelUpdate",
    "Command",
    "CommandDone",
    "CommandFailed",
    "CommandInvalid",
    "CommandUnsupported",
    "DeviceUpdate",
    "Driver",
    "DriverError",
    "Event",
    "ProtocolError",
    "driver_class",
    "family_module",
]
