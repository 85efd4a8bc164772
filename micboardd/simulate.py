"""Start receiver simulators: the fleet behind demo mode, tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from micboardd.config import Config, DeviceConfig
from micboardd.config.models import SimulateBlock
from micboardd.drivers import driver_class, family_module


@dataclass(slots=True)
class RunningSim:
    device_id: str
    family: str
    sim: Any  # the family's simulator instance (has .host, .port, .stop())


async def start_simulator(d: DeviceConfig, *, host: str | None = None, port: int | None = None,
                          frozen: bool = False, seed: int | None = None) -> RunningSim:
    """Start the simulator described by a device's ``simulate`` block (model, names,
    speed, habits, script, chaos) on ``host:port`` (defaults: the device's own address)."""
    opts: SimulateBlock = d.simulate or {}
    cls = family_module(d.driver).SIMULATOR
    sim = cls(
        host or d.host,
        d.port if port is None and d.port is not None else (port or 0),
        model=opts.get("model") or d.model,
        names=opts.get("names", ()),
        seed=opts.get("seed", seed),
        speed=float(opts.get("speed", 1.0)),
        frozen=bool(opts.get("frozen", frozen)),
        habits=opts.get("habits", ()),
        script=opts.get("script", ()),
        chaos=bool(opts.get("chaos", False)),
    )
    await sim.start()
    return RunningSim(d.id, d.driver, sim)


async def start_fleet(config: Config, *, loopback_any_port: bool = False,
                      frozen: bool = False) -> tuple[Config, list[RunningSim]]:
    """Start a simulator for every device that has a ``simulate`` block.

    With ``loopback_any_port`` each simulator binds 127.0.0.1 on a free port and the
    returned configuration points the device there (demo mode: nothing to collide with;
    a family that needs a shared local port, EW G3/G4, takes any free one too, since a
    simulator answers whatever port asked).
    """
    sims: list[RunningSim] = []
    devices: list[DeviceConfig] = []
    try:
        for i, d in enumerate(config.devices):
            if d.simulate is None:
                devices.append(d)
                continue
            if loopback_any_port:
                rs = await start_simulator(d, host="127.0.0.1", port=0, frozen=frozen, seed=i)
                update: dict[str, object] = {"host": "127.0.0.1", "port": rs.sim.port}
                if driver_class(d.driver).shared_local_port is not None:
                    update["local_port"] = 0
                d = d.model_copy(update=update)
            else:
                rs = await start_simulator(d, frozen=frozen, seed=i)
            sims.append(rs)
            devices.append(d)
    except BaseException:
        for rs in sims:
            await rs.sim.stop()
        raise
    return config.model_copy(update={"devices": devices}), sims
