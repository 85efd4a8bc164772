"""History figures: database growth, writer throughput, time to answer a day of history.

1. Growth: N channels metered at 10 Hz for H simulated hours go through the real path
   (Store -> Recorder -> Writer -> SQLite) on a fake clock, with a battery step every
   20 minutes and a transmitter off/on every hour per channel. Reports bytes per
   channel-hour after a checkpoint, the rows that made it, and what the store subscriber
   costs per patch on the event loop.
2. Writer throughput: sample and event rows submitted in batches as fast as the writer
   takes them; rows committed per second.
3. Query: 64 channels x 24 h of samples, then one channel's 24 h answered the way the API
   does it (fresh read connection, query, orjson encoding), at the default ~1000 points
   and at full resolution, plus the channel's events and the show report.

It prints figures; it asserts nothing about speed.

    .venv/bin/python bench/history.py [--channels 16] [--hours 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from micboardd.config import HistoryConfig, parse_config  # noqa: E402
from micboardd.drivers import ChannelUpdate  # noqa: E402
from micboardd.history import (  # noqa: E402
    T_EVENT,
    T_SAMPLE,
    Recorder,
    Writer,
    choose_step,
    query_events,
    query_history,
    query_report,
    read,
    resolve_metrics,
)
from micboardd.state import Store  # noqa: E402


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def db_bytes(path: Path) -> int:
    return sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}"))


def checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# ---------------------------------------------------------------------------- growth


async def growth(tmp: Path, channels: int, hours: float) -> dict[str, Any]:
    per_dev = 4
    n_dev = (channels + per_dev - 1) // per_dev
    cfg = parse_config(orjson.dumps({"devices": [
        {"id": f"rx-stage-{d:02d}", "driver": "shure-ulxd", "host": "127.0.0.1",
         "channels": per_dev} for d in range(n_dev)]}))
    path = tmp / "growth.db"
    clock = Clock(1_700_000_000.0)
    store = Store(cfg, clock=clock)
    writer = Writer(path)
    writer.start()
    writer.ready.wait()
    await writer.sync()
    checkpoint(path)
    empty = db_bytes(path)
    rec = Recorder(store, writer, HistoryConfig(), clock=clock)
    spent = 0.0
    calls = 0
    orig = rec.on_patch

    def timed(seq: int, patch: dict[str, Any], meter_only: bool) -> None:
        nonlocal spent, calls
        t0 = time.perf_counter()
        orig(seq, patch, meter_only)
        spent += time.perf_counter() - t0
        calls += 1

    assert rec._unsubscribe is not None
    rec._unsubscribe()
    rec._unsubscribe = store.subscribe(timed)
    for d in range(n_dev):
        store.set_link(f"rx-stage-{d:02d}", "online")
    for d in range(n_dev):
        store.apply(f"rx-stage-{d:02d}", [ChannelUpdate(n, {"tx.present": True, "tx.model": "ULXD2",
                                                 "tx.battery_bars": 5,
                                                 "tx.battery_minutes": 480})
                               for n in range(1, per_dev + 1)])
    store.flush()
    ticks = int(hours * 3600 * 10)
    minutes = 480.0
    t_start = time.perf_counter()
    for i in range(ticks):
        clock.t += 0.1
        for d in range(n_dev):
            dev = f"rx-stage-{d:02d}"
            evs = []
            for n in range(1, per_dev + 1):
                k = i + 7 * n + 13 * d
                evs.append(ChannelUpdate(n, {
                    "rf.level_pct": 60 + (k * 7) % 35, "rf.rssi_dbm": -40 - (k * 3) % 30,
                    "rf.antennas": "AB", "audio.level_pct": (k * 11) % 90,
                    "audio.peak_dbfs": -40 + (k * 5) % 38}, meter=True))
            store.apply(dev, evs)
        if i % 600 == 0:  # battery minutes every minute, bars every 20 minutes
            minutes -= 1
            for d in range(n_dev):
                store.apply(f"rx-stage-{d:02d}", [ChannelUpdate(n, {
                    "tx.battery_minutes": int(minutes),
                    "tx.battery_bars": max(1, min(5, int(minutes // 96) + 1))})
                    for n in range(1, per_dev + 1)])
        if i % 36000 == 18000:  # every transmitter off and on again once an hour
            for d in range(n_dev):
                store.apply(f"rx-stage-{d:02d}", [ChannelUpdate(n, {"tx.present": False})
                                       for n in range(1, per_dev + 1)])
        if i % 36000 == 18050:
            for d in range(n_dev):
                store.apply(f"rx-stage-{d:02d}", [ChannelUpdate(n, {"tx.present": True})
                                       for n in range(1, per_dev + 1)])
        store.flush()
        if clock.t >= rec.bucket_start + rec.interval:
            rec.close_buckets()
        if i % 10 == 0:
            rec.flush()
            await asyncio.sleep(0)  # let the store's scheduled callbacks run
    took = time.perf_counter() - t_start
    rec.close_buckets()
    rec.flush()
    await writer.sync()
    writer.close()
    checkpoint(path)
    size = db_bytes(path) - empty
    conn = sqlite3.connect(path)
    samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    ch_hours = channels * hours
    return {
        "channels": channels, "hours": hours, "meter_updates": ticks * n_dev * per_dev,
        "patches": calls, "sample_rows": samples, "event_rows": events,
        "bytes": size, "bytes_per_channel_hour": round(size / ch_hours),
        "subscriber_us_per_patch": round(spent / max(1, calls) * 1e6, 1),
        "subscriber_us_per_channel_update": round(spent / max(1, ticks * channels) * 1e6, 2),
        "simulation_s": round(took, 1),
    }


# ------------------------------------------------------------------------ throughput


def written(w: Writer) -> None:
    """Block until everything submitted to ``w`` so far is committed."""
    done = threading.Event()
    w.call(lambda _: done.set())
    done.wait()


def throughput(tmp: Path, rows: int) -> dict[str, Any]:
    path = tmp / "throughput.db"
    w = Writer(path, max_queue_rows=200_000)
    w.start()
    w.ready.wait()
    batch = 5000
    t0 = time.perf_counter()
    i = 0
    while i < rows:
        chunk = []
        for _ in range(batch):
            dev = f"rx-stage-{i % 16:02d}"
            key = f"{dev}/{i // 16 % 4 + 1}"
            if i % 10 == 9:
                chunk.append((T_EVENT, (1_700_000_000.0 + i / 10, key, dev, "battery",
                                        '{"from":5,"to":4}', f"{i:x}")))
            else:
                chunk.append((T_SAMPLE, (1_700_000_000 + i, key, 10.0, 4, 300, None, 70.0,
                                         80.5, -50.0, 5, 40.0, -12.0, 10.0)))
            i += 1
        while w.queued_rows > 100_000:
            time.sleep(0.001)
        w.submit(chunk)
    written(w)
    took = time.perf_counter() - t0
    st = w.stats
    w.close()
    return {"rows": st.rows_written, "seconds": round(took, 2),
            "rows_per_s": round(st.rows_written / took), "transactions": st.batches,
            "rows_per_transaction": round(st.rows_written / max(1, st.batches)),
            "dropped": sum(st.dropped)}


# ----------------------------------------------------------------------------- query


def query(tmp: Path, channels: int = 64, runs: int = 20) -> dict[str, Any]:
    path = tmp / "query.db"
    w = Writer(path, max_queue_rows=500_000)
    w.start()
    w.ready.wait()
    t_end = 1_700_086_400
    t_begin = t_end - 86400
    for c in range(channels):
        dev = f"rx-stage-{c // 4:02d}"
        key = f"{dev}/{c % 4 + 1}"
        rows = [(T_SAMPLE, (ts, key, 10.0, 5 - (ts - t_begin) // 20000,
                            480 - (ts - t_begin) // 200, None, 60.0 + ts % 30, 75.0, -55.0, 5,
                            40.0, -10.0, 10.0)) for ts in range(t_begin, t_end, 10)]
        rows += [(T_EVENT, (float(ts), key, dev, "status",
                            '{"from":"GOOD","to":"REPLACE"}', f"{ts}"))
                 for ts in range(t_begin, t_end, 600)]
        while w.queued_rows > 300_000:
            time.sleep(0.01)
        w.submit(rows)
    written(w)
    w.close()
    checkpoint(path)
    metrics = resolve_metrics(None)
    out: dict[str, Any] = {"channels": channels, "rows": channels * 8640,
                           "db_mb": round(db_bytes(path) / 1e6, 1)}

    def timed(fn: Any) -> tuple[float, Any]:
        samples = []
        res = None
        for _ in range(runs):
            t0 = time.perf_counter()
            res = fn()
            samples.append(time.perf_counter() - t0)
        return round(statistics.median(samples) * 1000, 2), res

    step = choose_step(t_begin, t_end, 10, None)
    key = "rx-stage-05/2"
    ms, res = timed(lambda: orjson.dumps(read(path, query_history, key, metrics, t_begin,
                                              t_end, step, 10)))
    out["day_default_ms"] = ms
    out["day_default_points"] = len(orjson.loads(res)["t"])
    out["day_default_bytes"] = len(res)
    ms, res = timed(lambda: orjson.dumps(read(path, query_history, key, metrics, t_begin,
                                              t_end, 10, 10)))
    out["day_full_ms"] = ms
    out["day_full_points"] = len(orjson.loads(res)["t"])
    ms, res = timed(lambda: orjson.dumps(read(path, query_events, channel=key,
                                              since=t_begin, until=t_end, limit=1000)))
    out["day_events_ms"] = ms
    ms, _ = timed(lambda: orjson.dumps(read(path, query_report, t_begin, t_end)))
    out["report_day_all_channels_ms"] = ms
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for the throughput test")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="micboardd-bench-") as d:
        tmp = Path(d)
        result = {
            "sqlite": sqlite3.sqlite_version,
            "growth": await growth(tmp, args.channels, args.hours),
            "throughput": throughput(tmp, args.rows),
            "query": query(tmp),
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    g, t, q = result["growth"], result["throughput"], result["query"]
    print(f"SQLite {result['sqlite']}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"growth: {g['channels']} channels x {g['hours']} h at 10 Hz "
          f"({g['meter_updates']} meter updates, {g['patches']} patches) -> "
          f"{g['sample_rows']} sample rows, {g['event_rows']} events, {g['bytes']} bytes = "
          f"{g['bytes_per_channel_hour']} bytes per channel-hour")
    print(f"  store subscriber: {g['subscriber_us_per_patch']} us per patch "
          f"({g['subscriber_us_per_channel_update']} us per channel update)")
    print(f"writer: {t['rows']} rows in {t['seconds']} s = {t['rows_per_s']} rows/s "
          f"({t['transactions']} transactions, {t['rows_per_transaction']} rows each, "
          f"{t['dropped']} dropped)")
    print(f"query: {q['channels']} channels x 24 h ({q['rows']} sample rows, {q['db_mb']} MB)")
    print(f"  one channel, 24 h, default step: {q['day_default_ms']} ms "
          f"({q['day_default_points']} points, {q['day_default_bytes']} bytes of JSON)")
    print(f"  one channel, 24 h, every sample: {q['day_full_ms']} ms "
          f"({q['day_full_points']} points)")
    print(f"  one channel's events over 24 h: {q['day_events_ms']} ms")
    print(f"  show report, all channels, 24 h: {q['report_day_all_channels_ms']} ms")


if __name__ == "__main__":
    asyncio.run(main())
