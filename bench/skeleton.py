"""The daemon with its drivers' parsing taken out: a diagnostic for bench/venue.py.

    .venv/bin/python bench/venue.py --channels 1000 --clients 1 \\
        --daemon-cmd ".venv/bin/python bench/skeleton.py"

Runs ``micboardd`` as usual (links, health, store, hub, history, alerts, HTTP) except
that every driver only counts the frames in what it receives and returns no events: the
links stay online, nothing is parsed, no meter reaches the store. The difference
between this and the floor (bench/floor.py) is what the daemon's own machinery costs
per read (the event loop's callbacks, the links' health, timers); the difference
between the real daemon and this is the data path (parse, store, encode, fan-out).
docs/benchmarks.md uses it to say where the daemon's CPU goes.
"""

from __future__ import annotations

import sys

from micboardd.cli import main
from micboardd.drivers import Driver, Event


def _count_only(self: Driver, data: bytes, now: float) -> list[Event]:
    self.stats.frames += data.count(b">") + data.count(b"*") // 2
    return []


Driver.receive_data = _count_only  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
