"""The meter fast path (Driver.collect_meters, Store taking the meters once per interval)
means exactly what the events did: same latest values per channel, same peaks, same
frame and malformed counts, same other events, whatever the reads look like.

Frames are the documented ones of tests/frames_shure.py (sources named there), replayed
with repeats (real receivers send the same SAMPLE again while nothing moves), a value
changed on the way, a malformed SAMPLE, and cut at random points into reads."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from frames_shure import CASES, Case

from micboardd.config import parse_config
from micboardd.drivers import ChannelUpdate, Driver, ProtocolError, driver_class
from micboardd.state import Store

#: a SAMPLE that parses as the usual form but whose fields are not (count or range)
BAD_SAMPLE = {
    "shure-ulxd": b"< SAMPLE 1 ALL AX 0x5 040 >",
    "shure-qlxd": b"< SAMPLE 1 ALL AX 050 >",
    "shure-slxd": b"< SAMPLE 1 ALL 102 102 >",
    "shure-axient": b"< SAMPLE 1 ALL 005 031 102 102 BB 31 186 31 065 >",
    "shure-uhfr": b"* SAMPLE 1 ALL AX 020 100 4 999 *",
}
METERED = [c for c in CASES if any(b"SAMPLE" in f.wire for f in c.stream)]


def stream_of(case: Case, rng: random.Random) -> list[bytes]:
    frames = [f for f in case.wire(case.stream) if b"SAMPLE" in f]
    out: list[bytes] = []
    for i in range(60):
        f = rng.choice(frames)
        out.extend([f] * rng.randint(1, 4))  # repeats byte for byte
        if i == 20:
            out.append(BAD_SAMPLE[case.driver])
        if i == 30:  # a value moved (the first number that is not the channel)
            parts = f.split(b" ")
            k = next(j for j, p in enumerate(parts) if p.isdigit() and j > 2)
            parts[k] = b"%03d" % ((int(parts[k]) + 7) % 100)
            out.append(b" ".join(parts))
        if i == 40 and not case.udp:
            out.append(b"< REP 1 CHAN_NAME {X} >")
    return out


def reads(data: list[bytes], udp: bool, rng: random.Random) -> list[bytes]:
    if udp:
        return data  # one frame per datagram
    blob = b"".join(data)
    cuts = sorted(rng.sample(range(1, len(blob)), len(blob) // 40))
    return [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=True)]


def run(cls: type[Driver], chunks: list[bytes], fast: bool) -> dict[str, Any]:
    d = cls(channels=4 if cls.family != "shure-uhfr" else 2)
    if fast:
        d.collect_meters()
    d.connection_made(0.0)
    latest: dict[int, dict[str, Any]] = {}
    peaked: set[int] = set()
    other: list[Any] = []
    for chunk in chunks:
        for ev in d.receive_data(chunk, 0.0):
            if isinstance(ev, ChannelUpdate) and ev.meter:
                latest.setdefault(ev.channel, {}).update(ev.values)
                if ev.values.get("audio.peak"):
                    peaked.add(ev.channel)
            else:
                other.append(type(ev).__name__ if isinstance(ev, ProtocolError) else ev)
        if fast:
            meters, p = d.take_meters()
            for ch, values in meters.items():
                latest.setdefault(ch, {}).update(values)
            peaked |= p
    return {"latest": latest, "peaked": peaked, "other": other, "frames": d.stats.frames,
            "malformed": d.stats.malformed}


@pytest.mark.parametrize("case", METERED, ids=lambda c: c.id)
@pytest.mark.parametrize("seed", range(4))
def test_the_fast_path_means_what_the_events_meant(case: Case, seed: int) -> None:
    rng = random.Random(seed)
    chunks = reads(stream_of(case, rng), case.udp, rng)
    cls = driver_class(case.driver)
    slow, fast = run(cls, chunks, False), run(cls, chunks, True)
    assert fast == slow
    assert slow["malformed"] >= 1 and slow["latest"]


def test_a_repeated_sample_is_skipped_but_counted_and_a_peak_stays_lit() -> None:
    d = driver_class("shure-ulxd")(channels=1)
    d.collect_meters()
    d.connection_made(0.0)
    loud = b"< SAMPLE 1 ALL AX 050 048 >"  # audio 48 of 50: a peak (ulx.py PEAK_AUDIO)
    assert d.receive_data(loud, 0.0) == []
    meters, peaked = d.take_meters()
    assert meters[1]["audio.peak"] is True and peaked == {1}
    assert d.receive_data(loud * 3, 0.0) == []
    assert d.take_meters() == ({}, {1})  # nothing new to fold, the peak still lit
    assert d.stats.frames == 4
    d.forget_meters()  # the link went offline: the same frame is news again
    d.receive_data(loud, 0.0)
    assert d.take_meters()[0][1]["audio.level_pct"] == 96


CONFIG = parse_config(orjson.dumps({"devices": [
    {"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1", "channels": 2}],
    "http": {"meter_interval_ms": 100}}))


async def test_the_store_takes_collected_meters_once_per_interval() -> None:
    s = Store(CONFIG)
    d = driver_class("shure-ulxd")(channels=2)
    d.collect_meters()
    d.connection_made(0.0)
    s.add_meter_source("rx", d)
    s.set_link("rx", "online")
    s.apply("rx", [ChannelUpdate(2, {"tx.present": True, "tx.battery_bars": 5})])
    s.flush()
    patches: list[tuple[dict[str, Any], bool]] = []
    s.subscribe(lambda seq, p, meter: patches.append((p, meter)))
    for rf in (80, 81, 82):
        assert d.receive_data(b"< SAMPLE 2 ALL AX %03d 048 >" % rf, 0.0) == []
    assert patches == [] and d.meters  # they wait in the driver
    s.flush()
    [(p, meter)] = patches
    assert meter is True
    assert p["channels"]["rx/2"]["rf"]["rssi_dbm"] == 82 - 128  # the latest won
    assert s.channels["rx/2"]["status"] == "AUDIO_PEAK"  # the peak lit the status
    assert not d.meters
    # the same SAMPLE again moves nothing; one field moved is one field in the patch
    d.receive_data(b"< SAMPLE 2 ALL AX 082 048 >< SAMPLE 2 ALL AX 082 030 >", 0.0)
    s.flush()
    assert patches[-1][0]["channels"]["rx/2"]["audio"] == {
        "level_pct": 60, "dbfs": -20, "peak": False}
    assert "rf" not in patches[-1][0]["channels"]["rx/2"]
    # a link that goes offline clears its meters and drops what was waiting
    d.receive_data(b"< SAMPLE 2 ALL AX 090 010 >", 0.0)
    s.set_link("rx", "offline")
    s.flush()
    assert s.channels["rx/2"]["rf"]["rssi_dbm"] is None
    # back online, the SAMPLE it sent before is news again (its values had been cleared)
    s.set_link("rx", "online")
    d.receive_data(b"< SAMPLE 2 ALL AX 082 030 >", 0.0)
    s.flush()
    assert s.channels["rx/2"]["rf"]["rssi_dbm"] == 82 - 128
    s.remove_meter_source("rx", d)
