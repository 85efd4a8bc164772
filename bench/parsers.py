"""Parser throughput: frames per second per driver family on one core.

Feeds each driver a realistic stream (mostly SAMPLE meter frames, some REP reports) in
4 KiB reads, as a socket would deliver it, and prints frames/s. The Sennheiser families
take one message per datagram, so they get one message per call (a frame is a datagram:
an SSC JSON message, or a whole G3/G4 cyclic block). Pure parsing: no store, no I/O.

    .venv/bin/python bench/parsers.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from micboardd.drivers import FAMILIES, driver_class

REPS = {
    "shure-ulxd": [b"< REP 1 BATT_BARS 004 >", b"< REP 2 CHAN_NAME {VOX 2   } >",
                   b"< REP 3 BATT_RUN_TIME 00412 >"],
    "shure-qlxd": [b"< REP 1 BATT_BARS 004 >", b"< REP 1 CHAN_NAME {VOX 2   } >"],
    "shure-slxd": [b"< REP 1 TX_BATT_BARS 004 >", b"< REP 2 CHAN_NAME {VOX 2} >"],
    "shure-axient": [b"< REP 1 TX_BATT_BARS 004 >", b"< REP 2 CHAN_NAME {HOST} >",
                     b"< REP 1 SLOT_BATT_BARS 8 255 >"],
    "shure-psm1000": [b"< REP 1 CHAN_NAME {IEM 1} >"],
    "shure-uhfr": [b"* REPORT 1 TX_BAT 4 *", b"* REPORT 2 CHAN_NAME VOX 2 *"],
    "sennheiser-ewdx": [b'{"mates":{"tx1":{"battery":{"gauge":65,"lifetime":312}}}}',
                        b'{"rx2":{"name":"VOX 2"}}'],
    "sennheiser-d6000": [b'{"rx1":{"skx":{"battery":["70%","5:12"]}}}',
                         b'{"rx2":{"name":"VOX 2"}}'],
    "sennheiser-g4": [b"Name VOX 2\r", b"Frequency 822000 0 0\r"],
}
SAMPLES: dict[str, Callable[[int], bytes]] = {
    "shure-ulxd": lambda n: b"< SAMPLE %d ALL AB %03d %03d >" % (n % 4 + 1, n % 115, n % 50),
    "shure-qlxd": lambda n: b"< SAMPLE 1 ALL AX %03d %03d >" % (n % 115, n % 50),
    "shure-slxd": lambda n: b"< SAMPLE %d ALL %03d %03d %03d >" % (n % 2 + 1, n % 120,
                                                                   n % 110, n % 100),
    "shure-axient": lambda n: b"< SAMPLE %d ALL 005 %03d %03d %03d AB 00 %03d 00 %03d >" % (
        n % 4 + 1, 128 if n % 50 == 0 else 0, n % 120, n % 110, n % 100, (n + 7) % 100),
    "shure-psm1000": lambda n: b"< REP %d AUDIO_IN_LVL_L %07d >\r\n" % (n % 2 + 1,
                                                                       (n * 7919) % 2600000),
    "shure-uhfr": lambda n: b"* SAMPLE %d ALL AB %03d %03d 4 %03d *" % (
        n % 2 + 1, 20 + n % 80, 20 + (n + 5) % 80, (1 << (n % 8)) - 1),
    "sennheiser-ewdx": lambda n: b'{"m":{"rx%d":{"rssi":%d,"rsqi":%d,"divi":%d,"af":%d}}}' % (
        n % 2 + 1, -40 - n % 60, n % 101, n % 3, -(n % 60)),
    "sennheiser-d6000": lambda n: b'{"mm":[[%d,0,%d,0,1,1,%d,%d,0],[%d,0,%d,0,1,0,%d,%d,%d]]}' % (
        100 + n % 100, 90 + n % 90, n % 256, 150 + n % 100, 120 + n % 80, 60 + n % 60,
        255 - n % 256, 160 + n % 90, n % 2),
    "sennheiser-g4": lambda n: (
        b"RF1 %d %d 1\rRF2 %d %d 0\rStates 0 1\rRF %d 1 1\rAF %d %d 0\rBat 70\rMsg OK\r"
        b"Config 7\r" % (n % 50, 50 + n % 50, n % 40, 40 + n % 60, n % 100, n % 90, 90)),
}
#: families that take one message per datagram (fed one message per call)
DATAGRAMS = {"sennheiser-ewdx", "sennheiser-d6000", "sennheiser-g4"}
CHANNELS = {"shure-ulxd": 4, "shure-axient": 4, "sennheiser-g4": 1}


def messages(family: str, frames: int = 20000) -> list[bytes]:
    reps = REPS[family]
    sample = SAMPLES[family]
    return [reps[i % len(reps)] if i % 20 == 0 else sample(i) for i in range(frames)]


def stream(family: str, frames: int = 20000) -> tuple[bytes, int]:
    return b"".join(messages(family, frames)), frames


def bench(family: str, seconds: float) -> float:
    if family in DATAGRAMS:
        chunks = messages(family)
    else:
        data, _ = stream(family)
        chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    cls = driver_class(family)
    total = 0
    t0 = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        d = cls(channels=CHANNELS.get(family, 2))
        d.connection_made(0.0)
        for c in chunks:
            d.receive_data(c, 0.0)
        assert d.stats.malformed == 0, (family, d.stats.last_error)
        total += d.stats.frames
        elapsed = time.perf_counter() - t0
    return total / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    results = {}
    print(f"{'family':<16}{'frames/s (one core)':>22}")
    for family in FAMILIES:
        fps = bench(family, args.seconds)
        results[family] = round(fps)
        print(f"{family:<16}{fps:>22,.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
