"""Venue benchmark child: run a slice of the simulated receiver fleet.

    python bench/_fleet.py --config GENERATED.json --part 0/2 --stats FILE --ready FILE

Starts the project's own simulators (``micboardd.simulate.start_fleet``, the same code
as ``micboardd simulate``) for every ``--part``-th device of the configuration, on the
devices' own addresses, and counts every frame they send (meter SAMPLEs, REPs, replies)
so the benchmark can show the rate the fleet really achieved. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from _vkit import CounterFile, use_uvloop

from micboardd.config import load_config
from micboardd.simulate import start_fleet


def count_frames(sims: list[Any], counter: list[int]) -> None:
    """Wrap each simulator's single send function (TCP ``_write``, UDP ``_send``) with a
    counter. The instance attribute shadows the method; the simulators are unchanged."""
    for rs in sims:
        sim = rs.sim
        name = "_send" if rs.family == "shure-uhfr" else "_write"
        orig = getattr(sim, name)

        def wrapped(a: Any, data: bytes, _orig: Any = orig) -> None:
            counter[0] += 1
            _orig(a, data)

        setattr(sim, name, wrapped)


async def main(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    k, n = (int(x) for x in args.part.split("/"))
    devices = [d for i, d in enumerate(config.devices) if i % n == k]
    config = config.model_copy(update={"devices": devices})
    _, sims = await start_fleet(config)
    counter = [0]
    count_frames(sims, counter)
    stats = CounterFile(args.stats)
    stats.publish(0, len(sims))
    Path(args.ready).write_text(f"{len(sims)}\n")  # noqa: ASYNC240
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set)
    while not stop.is_set():
        stats.publish(counter[0], len(sims))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
    for rs in sims:
        await rs.sim.stop()
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", required=True)
    p.add_argument("--part", default="0/1", help="k/n: every n-th device starting at k")
    p.add_argument("--stats", required=True)
    p.add_argument("--ready", required=True)
    use_uvloop()
    sys.exit(asyncio.run(main(p.parse_args())))
