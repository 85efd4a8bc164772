"""Venue-scale benchmark: a simulated fleet, the real daemon, many websocket clients.

    .venv/bin/python bench/venue.py --channels 1000 --clients 100 --seconds 30 \\
        --warmup 5 --json out.json [--families ulxd,axient,slxd,qlxd,uhfr]
    .venv/bin/python bench/venue.py --smoke          # 13 channels, 3 clients, 3 s

Every part runs in its own process, all on loopback:

1. the fleet (bench/_fleet.py, 1 or 2 processes): the project's simulators on
   127.0.<net+i//250>.<1+i%250>:2202 (a free block), families taken in turn, 4 channels
   per receiver where the family allows, meter rate 100 ms; each counts what it sends;
2. the floor (bench/floor.py): connects to the same receivers with the same handshake
   and only splits the incoming bytes into frames. It runs FIRST, alone, for
   ``--floor-seconds``; then it stops and
3. the daemon (``micboardd run --config GENERATED.json``: the default configuration,
   history and alerts on, ``--no-history`` for history off; HTTP on a free loopback
   port learnt through MICBOARDD_PORT_FILE) connects to the same fleet, and
4. ``--clients`` websocket clients (bench/_wsclients.py, ``--client-procs`` processes)
   follow snapshot + patches: by default one full mirror per process (every meter
   merged) and light clients for the rest (seq chain, names, batteries; ``--mirror``).

After ``--warmup`` seconds the run measures for ``--seconds``: daemon CPU (utime+stime
from /proc/<pid>/stat, as a percentage of one core and as a multiple of the floor's),
meter frames parsed per second (``micboardd_frames_parsed_total`` from /metrics), peak
RSS (VmHWM), websocket bytes per client per second, and the latency of markers: a
channel renamed to a unique name or a battery step, injected at random moments
(``--marker-rate`` a second) through the simulators' SIMCTL verb; each client records
when it sees each one. A marker a client never sees is lost; renames of one channel seen
in another order than injected are out of order; a patch gap makes the client resync
(gaps count as losses too; every snapshot after the first counts as a resync).

Prints the machine, one table, and writes the same as JSON with ``--json``.
``--profile DIR`` also records the daemon with py-spy during the window (this slows the
daemon: use a separate run for the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
from _vkit import (
    BATTERY_PROP,
    FAMILIES,
    UDP_DRIVERS,
    counter_now,
    fleet_devices,
    loadavg,
    machine,
    machine_busy_seconds,
    pick_net,
    preexec_child,
    proc_cpu_seconds,
    proc_cpu_split,
    proc_status_kb,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
PROFILE_RATE = 100  # py-spy samples a second

# the keys --json always writes (tests/test_bench_smoke.py checks them)
RESULT_KEYS = (
    "channels", "devices", "clients", "seconds", "frames_per_s", "expected_frames_per_s",
    "fleet_frames_per_s", "daemon_cpu_pct", "floor_cpu_pct", "cpu_ratio_to_floor",
    "peak_rss_mb", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms",
    "markers", "marker_observations", "lost", "missed", "out_of_order", "gaps", "resyncs",
    "ws_bytes_per_client_per_s", "ws_messages_per_client_per_s",
)


class BenchError(Exception):
    pass


# -- child processes ------------------------------------------------------------------


class Procs:
    """Every child runs in its own session; stop() ends the whole process group."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              ) -> subprocess.Popen[bytes]:
        out = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
        try:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                 env={**os.environ, **(env or {})},
                                 preexec_fn=preexec_child)
        finally:
            out.close()
        self.running[name] = p
        return p

    def check(self, *names: str) -> None:
        for n in names or tuple(self.running):
            p = self.running.get(n)
            if p is not None and p.poll() is not None:
                log = (self.tmp / f"{n}.log").read_text(errors="replace")[-2000:]
                raise BenchError(f"{n} exited with {p.returncode}:\n{log}")

    def stop(self, name: str, timeout: float = 10.0) -> int | None:
        p = self.running.pop(name, None)
        if p is None:
            return None
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)  # anything the child left behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(5)
        return p.returncode

    def stop_all(self) -> None:
        for name in list(reversed(self.running)):  # clients, daemon, then the fleet
            self.stop(name, timeout=3.0)


async def wait_files(paths: list[Path], limit: float, procs: Procs, what: str,
                     names: tuple[str, ...] = ()) -> None:
    deadline = time.monotonic() + limit
    while not all(p.exists() for p in paths):
        procs.check(*names)
        if time.monotonic() > deadline:
            missing = [p.name for p in paths if not p.exists()]
            raise BenchError(f"{what} not ready within {limit:.0f} s ({missing})")
        await asyncio.sleep(0.1)


def http_get(port: int, path: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        data: bytes = r.read()
        return data


def metric_sums(text: str) -> dict[str, float]:
    """micboardd_* samples summed over their labels."""
    out: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name = re.split(r"[{ ]", line, maxsplit=1)[0]
        with contextlib.suppress(ValueError):
            out[name] += float(line.rsplit(" ", 1)[1])
    return out


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += proc_cpu_seconds(pid)
    return total


def fleet_frames(stats: list[Path]) -> tuple[float, int]:
    """(time, frames sent by the whole fleet so far)."""
    ts, total = [], 0
    for s in stats:
        c = counter_now(s)
        if c is None:
            raise BenchError(f"no counter in {s}")
        ts.append(c[0])
        total += c[1]
    return sum(ts) / len(ts), total


# -- markers --------------------------------------------------------------------------


class _UdpReply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if b"SIMCTL" in data and not self.fut.done():
            self.fut.set_result(data)


async def simctl(host: str, port: int, driver: str, body: str) -> tuple[float, bool, str]:
    """Send one SIMCTL to a simulator; returns (time.time() just before the write, ok,
    detail). TCP: a fresh connection per marker, as a second client of the receiver."""
    if driver in UDP_DRIVERS:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(
            _UdpReply, remote_addr=(host, port))
        try:
            t = time.time()
            transport.sendto(f"* {body} *".encode())
            reply = await asyncio.wait_for(proto.fut, 2.0)
        finally:
            transport.close()
        return t, b"SIMCTL OK" in reply, reply.decode(errors="replace").strip()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
    try:
        t = time.time()
        writer.write(f"< {body} >".encode())
        buf = b""
        async with asyncio.timeout(2.0):
            while b"SIMCTL OK" not in buf and b"SIMCTL ERR" not in buf:
                data = await reader.read(4096)
                if not data:
                    break
                buf += data
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return t, b"SIMCTL OK" in buf, "" if b"SIMCTL OK" in buf else buf[-200:].decode()


async def inject_markers(devices: list[dict[str, Any]], rate: float, t_end: float,
                         n_channels: int, seed: int) -> list[dict[str, Any]]:
    """Rename a channel / step its battery at random moments (mean ``rate`` a second)
    until ``t_end``. The marked channels are a random sample visited in turn, kinds
    alternating, so each sees several markers spaced ``n_channels / rate`` seconds."""
    rng = random.Random(seed)
    chans = [(d, n) for d in devices for n in range(1, len(d["simulate"]["names"]) + 1)]
    picked = rng.sample(chans, min(n_channels, len(chans)))
    last_bars: dict[str, int] = {}
    markers: list[dict[str, Any]] = []
    i = 0
    while True:
        delay = rng.uniform(0.5, 1.5) / rate
        if time.time() + delay >= t_end:
            break
        await asyncio.sleep(delay)
        pos = i % len(picked)
        d, n = picked[pos]
        key = f"{d['id']}/{n}"
        bat = BATTERY_PROP[d["driver"]]
        kind = "name" if bat is None or (i // len(picked) + pos) % 2 == 0 else "battery"
        if kind == "name":
            value: Any = f"MK{i:05d}"
            text = value if d["driver"] in UDP_DRIVERS else "{" + value + "}"
            body = f"SIMCTL {n} CHAN_NAME {text}"
        else:
            assert bat is not None
            value = 1 if last_bars.get(key) == 2 else 2  # life keeps 3..5: always a step
            last_bars[key] = value
            body = f"SIMCTL {n} {bat[0]} {bat[1].format(value)}"
        m: dict[str, Any] = {"i": i, "kind": kind, "key": key, "value": value,
                             "driver": d["driver"]}
        try:
            t, ok, detail = await simctl(d["host"], d["port"], d["driver"], body)
            m.update(t=t, ok=ok, error=None if ok else detail,
                     ack_ms=round((time.time() - t) * 1000, 2))
        except (OSError, TimeoutError) as exc:
            m.update(t=time.time(), ok=False, error=f"{type(exc).__name__}: {exc}")
        markers.append(m)
        i += 1
    return markers


def score_markers(markers: list[dict[str, Any]], clients: list[dict[str, Any]]
                  ) -> dict[str, Any]:
    """Match every (marker, client) pair to the client's first observation of that
    value on that channel after the injection (and before the channel's next marker of
    the same kind)."""
    ok = [m for m in markers if m["ok"]]
    nxt: dict[int, float] = {}
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for m in ok:  # injection order
        prev = last.get((m["kind"], m["key"]))
        if prev is not None:
            nxt[prev["i"]] = m["t"]
        last[(m["kind"], m["key"])] = m
    by_name = {m["value"]: m["i"] for m in ok if m["kind"] == "name"}
    lat: list[float] = []
    per_marker: dict[int, list[float]] = defaultdict(list)
    per_group: dict[str, list[float]] = defaultdict(list)
    by_mirror: dict[str, list[float]] = defaultdict(list)
    lost = 0
    lost_detail: Counter[str] = Counter()
    out_of_order = 0
    for c in clients:
        seen: dict[tuple[str, str, Any], list[float]] = defaultdict(list)
        order: dict[str, list[int]] = defaultdict(list)
        for kind, key, value, t in c["obs"]:
            k = "name" if kind == 0 else "battery"
            seen[(k, key, value)].append(t)
            if k == "name" and value in by_name:
                order[key].append(by_name[value])
        for m in ok:
            limit = nxt.get(m["i"], math.inf)
            ts = [t for t in seen.get((m["kind"], m["key"], m["value"]), ()) if
                  m["t"] <= t < limit]
            if ts:
                ms = (ts[0] - m["t"]) * 1000
                lat.append(ms)
                per_marker[m["i"]].append(ms)
                per_group[f"{m['kind']}@{m['driver']}"].append(ms)
                by_mirror["full" if c.get("full") else "light"].append(ms)
            else:
                lost += 1
                lost_detail[f"{m['kind']}@{m['driver']}"] += 1
        for seq in order.values():
            out_of_order += sum(1 for a, b in itertools.pairwise(seq) if b <= a)
    lat.sort()
    worst = sorted(ok, key=lambda m: -max(per_marker.get(m["i"], [0.0])))[:5]
    groups = {g: {"n": len(v), "p50_ms": round(statistics.median(v), 2),
                  "max_ms": round(max(v), 2)} for g, v in sorted(per_group.items())}
    first = sorted(min(v) for v in per_marker.values())
    spread = sorted(max(v) - min(v) for v in per_marker.values())

    def dist(v: list[float]) -> dict[str, Any]:
        v = sorted(v)
        return {"n": len(v), "p50_ms": r2(pct(v, 0.5)), "p95_ms": r2(pct(v, 0.95)),
                "p99_ms": r2(pct(v, 0.99)), "max_ms": r2(v[-1] if v else None)}

    return {
        # the first client to see each marker: the daemon's path without the fan-out
        "first_client": dist(first),
        # last minus first client per marker: fan-out to every client plus the time the
        # client processes take to get to it
        "spread": dist(spread),
        "by_mirror": {k: dist(v) for k, v in sorted(by_mirror.items())},
        "by_kind": groups,
        "worst": [{"i": m["i"], "kind": m["kind"], "key": m["key"], "driver": m["driver"],
                   "t": m["t"], "ack_ms": m.get("ack_ms"),
                   "max_ms": round(max(per_marker.get(m["i"], [0.0])), 2),
                   "min_ms": round(min(per_marker.get(m["i"], [0.0])), 2)} for m in worst],
        "latencies_ms": lat, "lost": lost, "lost_detail": dict(lost_detail),
        "out_of_order": out_of_order, "injected": len(markers), "injected_ok": len(ok),
        "inject_errors": [m["error"] for m in markers if not m["ok"]][:10],
        # the simulator itself answered late: the fleet process was starved of CPU
        "slow_acks_over_50ms": sum(1 for m in ok if (m.get("ack_ms") or 0) > 50),
    }


def r2(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def pct(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[min(k, len(sorted_values) - 1)]


# -- profile --------------------------------------------------------------------------


def summarize_collapsed(path: Path, top: int = 25) -> list[tuple[str, int, int, float,
                                                                 float]]:
    """Top functions by self time from a py-spy ``--format raw`` (collapsed stacks)
    file: (function, self samples, total samples, self %, total %)."""
    self_s: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        self_s[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    return [(f, n, incl[f], 100 * n / max(1, total), 100 * incl[f] / max(1, total))
            for f, n in self_s.most_common(top)]


# -- the run --------------------------------------------------------------------------


def expected_frames_per_s(devices: list[dict[str, Any]], meter_rate_ms: int) -> float:
    """Meter frames a second the fleet should send (PSM1000s send none)."""
    expected = 0.0
    for d in devices:
        n = len(d["simulate"]["names"])
        if d["driver"] == "shure-uhfr":  # METER interval in 30 ms units
            expected += n * 1000 / (30 * max(1, round(meter_rate_ms / 30)))
        elif d["driver"] != "shure-psm1000":
            expected += n * 1000 / meter_rate_ms
    return expected


async def measure_floor(args: argparse.Namespace, procs: Procs, cfg_path: Path,
                        n_devices: int, fleet_stats: list[Path], fleet_pids: list[int]
                        ) -> dict[str, Any]:
    """The floor alone: a loop that only reads the same sockets and splits frames."""
    tmp = cfg_path.parent
    floor: dict[str, Any] = {"mode": "sequential (floor first, alone; then the daemon)"}
    if args.floor_seconds > 0:
        f_stats, f_ready = tmp / "floor.stats", tmp / "floor.ready"
        fp = procs.start("floor", [PY, str(HERE / "floor.py"), "--config", str(cfg_path),
                                   "--stats", str(f_stats), "--ready", str(f_ready)])
        await wait_files([f_ready], 30 + n_devices / 20, procs, "floor", ("floor",))
        await asyncio.sleep(min(args.warmup, 2.0))
        c0, fl0, fr0 = cpu_of([fp.pid]), counter_now(f_stats), fleet_frames(fleet_stats)
        fc0 = cpu_of(fleet_pids)
        await asyncio.sleep(args.floor_seconds)
        c1, fl1, fr1 = cpu_of([fp.pid]), counter_now(f_stats), fleet_frames(fleet_stats)
        fc1 = cpu_of(fleet_pids)
        procs.check("floor")
        assert fl0 is not None and fl1 is not None
        dt = fl1[0] - fl0[0]
        floor.update(
            seconds=round(dt, 2),
            cpu_pct=round((c1 - c0) / dt * 100, 2),
            frames_per_s=round((fl1[1] - fl0[1]) / dt, 1),
            fleet_frames_per_s=round((fr1[1] - fr0[1]) / (fr1[0] - fr0[0]), 1),
            fleet_cpu_pct=round((fc1 - fc0) / dt * 100, 1),
        )
        procs.stop("floor")
        print(f"floor: {floor['cpu_pct']} % CPU for {floor['frames_per_s']:.0f} frames/s "
              f"(fleet sent {floor['fleet_frames_per_s']:.0f}/s at "
              f"{floor['fleet_cpu_pct']} % CPU)", flush=True)
        await asyncio.sleep(0.5)
    return floor


async def start_daemon(args: argparse.Namespace, tmp: Path, procs: Procs, cfg_path: Path,
                       n_devices: int, name: str = "daemon"
                       ) -> tuple[subprocess.Popen[bytes], int]:
    """The daemon under test, once every link is online: (process, HTTP port)."""
    port_file = tmp / f"{name}.port"
    if args.daemon_cmd:
        dcmd = shlex.split(args.daemon_cmd)
    elif (Path(PY).parent / "micboardd").exists():
        dcmd = [str(Path(PY).parent / "micboardd")]
    else:
        dcmd = [PY, "-m", "micboardd.cli"]
    dp = procs.start(name, [*dcmd, "run", "--config", str(cfg_path)],
                     env={"MICBOARDD_PORT_FILE": str(port_file)})
    await wait_files([port_file], 60, procs, name, (name,))
    port = int(port_file.read_text())
    deadline = time.monotonic() + 30 + n_devices / 20
    while True:
        procs.check(name)
        m = metric_sums(http_get(port, "/metrics").decode())
        if m.get("micboardd_link_up", 0) >= n_devices:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"only {m.get('micboardd_link_up', 0):.0f} of {n_devices} "
                             "links online")
        await asyncio.sleep(0.5)
    print(f"{name}: pid {dp.pid}, http 127.0.0.1:{port}, {n_devices} links online",
          flush=True)
    return dp, port


def read_daemon_log(path: Path) -> tuple[str | None, Counter[str], Counter[str]]:
    """(event loop in use, lines per level, warnings and errors per event)."""
    daemon_loop = None
    log_levels: Counter[str] = Counter()
    log_events: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            rec = orjson.loads(line)
            lvl = rec.get("level", "?")
            if rec.get("event") == "starting":
                daemon_loop = rec.get("loop")
            log_levels[lvl] += 1
            if lvl in ("warning", "error", "critical"):
                log_events[f"{lvl}:{rec.get('event')}"] += 1
    return daemon_loop, log_levels, log_events


async def run(args: argparse.Namespace, tmp: Path, procs: Procs) -> dict[str, Any]:
    mach = machine()
    mach["daemon_commit"] = daemon_source()
    load_start = loadavg()
    print(f"machine: {mach['cpu_model']}, {mach['cores']} cores, "
          f"{mach['memory_mb']} MB, Linux {mach['kernel']}, "
          f"{mach['implementation']} {mach['python']}, {mach['loop']}; "
          f"daemon at {mach['daemon_commit']}; "
          f"load {' '.join(map(str, load_start))}", flush=True)
    fams = [f.strip() for f in args.families.split(",") if f.strip()]
    for f in fams:
        if f not in FAMILIES:
            raise BenchError(f"unknown family {f!r}; known: {', '.join(FAMILIES)}")
    n_dev = len(fleet_devices(args.channels, fams))
    net = args.net if args.net is not None else pick_net(n_dev)
    devices = fleet_devices(args.channels, fams, net=net, meter_rate_ms=args.meter_rate_ms)
    by_family = Counter(d["driver"].removeprefix("shure-") for d in devices)
    expected = expected_frames_per_s(devices, args.meter_rate_ms)
    config = {
        "devices": devices,
        "http": {"host": "127.0.0.1", "port": 0,
                 "meter_interval_ms": args.meter_interval_ms,
                 # the default cap (512) is below the 1,000-client rows; every client
                 # connects from an address of its own (bench/_wsclients.py)
                 **({"max_connections": args.clients + 64} if args.clients > 400 else {})},
        "history": {"enabled": args.history},
        "state_dir": str(tmp / "state"),
    }
    cfg_path = tmp / "venue.json"
    cfg_path.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    fleet_procs = args.fleet_procs or (1 if args.channels <= 1000 else 2)
    print(f"fleet: {args.channels} channels on {len(devices)} receivers "
          f"({', '.join(f'{k} {v}' for k, v in by_family.items())}), "
          f"{fleet_procs} process(es), 127.0.{net}.1 and up; config {cfg_path}", flush=True)

    # 1. fleet
    fleet_stats = [tmp / f"fleet{k}.stats" for k in range(fleet_procs)]
    fleet_ready = [tmp / f"fleet{k}.ready" for k in range(fleet_procs)]
    fleet_names = tuple(f"fleet{k}" for k in range(fleet_procs))
    for k in range(fleet_procs):
        procs.start(fleet_names[k], [PY, str(HERE / "_fleet.py"), "--config", str(cfg_path),
                                     "--part", f"{k}/{fleet_procs}",
                                     "--stats", str(fleet_stats[k]),
                                     "--ready", str(fleet_ready[k])])
    await wait_files(fleet_ready, 30 + len(devices) / 50, procs, "fleet", fleet_names)
    fleet_pids = [procs.running[n].pid for n in fleet_names]

    # 2. floor, alone
    floor = await measure_floor(args, procs, cfg_path, len(devices), fleet_stats, fleet_pids)

    # 3. daemon
    dp, port = await start_daemon(args, tmp, procs, cfg_path, len(devices))

    # 4. clients
    n_procs = max(1, min(args.client_procs, args.clients))
    c_ready = [tmp / f"clients{k}.ready" for k in range(n_procs)]
    c_results = [tmp / f"clients{k}.json" for k in range(n_procs)]
    c_names = tuple(f"clients{k}" for k in range(n_procs))
    first = 0
    for k in range(n_procs):
        count = args.clients // n_procs + (1 if k < args.clients % n_procs else 0)
        procs.start(c_names[k], [PY, str(HERE / "_wsclients.py"),
                                 "--url", f"ws://127.0.0.1:{port}/ws",
                                 "--count", str(count), "--first", str(first),
                                 "--ready", str(c_ready[k]), "--results", str(c_results[k]),
                                 "--full", str(full_per_proc(args, count, k))])
        first += count
    await wait_files(c_ready, 60 + args.clients * args.channels / 2000, procs, "clients",
                     (*c_names, "daemon"))
    client_pids = [procs.running[n].pid for n in c_names]
    print(f"clients: {args.clients} connected in {n_procs} process(es); warming up "
          f"{args.warmup:g} s", flush=True)
    await asyncio.sleep(args.warmup)

    # 5. the measured window
    load_t0 = loadavg()
    m0 = metric_sums(http_get(port, "/metrics").decode())
    t0 = time.time()
    d0, fr0 = cpu_of([dp.pid]), fleet_frames(fleet_stats)
    du0, ds0 = proc_cpu_split(dp.pid)
    fc0, cc0 = cpu_of(fleet_pids), cpu_of(client_pids)
    (busy0, irq0), me0 = machine_busy_seconds(), cpu_of([os.getpid()])
    prof = None
    if args.profile:
        spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
        args.profile.mkdir(parents=True, exist_ok=True)
        prof = procs.start("pyspy", [spy, "record", "--pid", str(dp.pid), "--duration",
                                     str(int(args.seconds)), "--rate", str(PROFILE_RATE),
                                     "--format", "raw", "-o",
                                     str(args.profile / "daemon.collapsed"),
                                     # only the thread holding the GIL: the history
                                     # writer and executor threads idle in C otherwise
                                     # count as busy
                                     "--gil",
                                     *(["--native"] if args.profile_native else [])])
    markers = await inject_markers(devices, args.marker_rate, t0 + args.seconds,
                                   args.marker_channels, args.seed)
    await asyncio.sleep(max(0.0, t0 + args.seconds - time.time()))
    t1 = time.time()
    d1, fr1 = cpu_of([dp.pid]), fleet_frames(fleet_stats)
    du1, ds1 = proc_cpu_split(dp.pid)
    fc1, cc1 = cpu_of(fleet_pids), cpu_of(client_pids)
    (busy1, irq1), me1 = machine_busy_seconds(), cpu_of([os.getpid()])
    m1 = metric_sums(http_get(port, "/metrics").decode())
    load_t1 = loadavg()
    dt = t1 - t0
    procs.check("daemon", *fleet_names, *c_names)
    await asyncio.sleep(args.grace)  # late markers still count (as late)
    hwm = proc_status_kb(dp.pid, "VmHWM")
    rss = proc_status_kb(dp.pid, "VmRSS")
    if prof is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            prof.wait(30)
        procs.stop("pyspy")

    for n in c_names:
        procs.stop(n, timeout=30)
    clients: list[dict[str, Any]] = []
    for r in c_results:
        if not r.exists():
            raise BenchError(f"client results missing: {r}")
        clients.extend(orjson.loads(r.read_bytes())["clients"])
    procs.stop("daemon")
    daemon_loop, log_levels, log_events = read_daemon_log(tmp / "daemon.log")

    # 6. figures
    score = score_markers(markers, clients)
    lat = score["latencies_ms"]
    lo, hi = int(t0 * 10), int(t1 * 10)
    per_client_bytes = [sum(v for b, v in c["buckets"].items() if lo <= int(b) < hi)
                        for c in clients]
    per_client_msgs = [sum(v for b, v in c["mbuckets"].items() if lo <= int(b) < hi)
                       for c in clients]
    gaps = sum(c["gaps"] for c in clients)
    resyncs = sum(max(0, c["snapshots"] - 1) for c in clients)
    errors = [e for c in clients for e in c["errors"]]
    frames = m1["micboardd_frames_parsed_total"] - m0["micboardd_frames_parsed_total"]
    daemon_cpu = (d1 - d0) / dt * 100
    floor_cpu = floor.get("cpu_pct")

    def r(x: float | None, nd: int = 2) -> float | None:
        return None if x is None else round(x, nd)

    res: dict[str, Any] = {
        "channels": args.channels,
        "devices": len(devices),
        "clients": args.clients,
        "seconds": round(dt, 2),
        "frames_per_s": round(frames / dt, 1),
        "expected_frames_per_s": round(expected, 1),
        "fleet_frames_per_s": round((fr1[1] - fr0[1]) / (fr1[0] - fr0[0]), 1),
        "daemon_cpu_pct": round(daemon_cpu, 2),
        "floor_cpu_pct": floor_cpu,
        "cpu_ratio_to_floor": r(daemon_cpu / floor_cpu) if floor_cpu else None,
        "peak_rss_mb": r(hwm / 1024 if hwm else None, 1),
        "latency_p50_ms": r(pct(lat, 0.50)),
        "latency_p95_ms": r(pct(lat, 0.95)),
        "latency_p99_ms": r(pct(lat, 0.99)),
        "latency_max_ms": r(lat[-1] if lat else None),
        "markers": score["injected_ok"],
        "marker_observations": len(lat),
        "lost": score["lost"] + score["out_of_order"] + gaps,
        "missed": score["lost"],
        "out_of_order": score["out_of_order"],
        "gaps": gaps,
        "resyncs": resyncs,
        "ws_bytes_per_client_per_s": round(sum(per_client_bytes) / len(clients) / dt, 1),
        "ws_messages_per_client_per_s": round(sum(per_client_msgs) / len(clients) / dt, 1),
        "machine": mach,
        "load": {"start": load_start, "window_start": load_t0, "window_end": load_t1,
                 # CPU of the whole machine during the window, and what was not ours
                 # (other users' work disturbs the figures: re-run when this is high)
                 "machine_busy_pct": round((busy1 - busy0) / dt * 100, 1),
                 "irq_pct": round((irq1 - irq0) / dt * 100, 1),
                 "others_pct": round(((busy1 - busy0) - (irq1 - irq0) - (d1 - d0)
                                      - (fc1 - fc0) - (cc1 - cc0) - (me1 - me0))
                                     / dt * 100, 1)},
        "config": {
            "families": fams, "by_family": dict(by_family), "meter_rate_ms": args.meter_rate_ms,
            "meter_interval_ms": args.meter_interval_ms, "history": args.history,
            "warmup": args.warmup, "fleet_procs": fleet_procs, "client_procs": n_procs,
            "mirror": args.mirror, "full_mirrors": sum(1 for c in clients if c["full"]),
            "marker_rate": args.marker_rate,
            "marker_channels": args.marker_channels, "grace": args.grace,
            "argv": sys.argv[1:],
        },
        "floor": floor,
        "daemon": {
            "loop": daemon_loop, "peak_rss_kb": hwm, "rss_end_kb": rss,
            "user_cpu_pct": round((du1 - du0) / dt * 100, 2),
            "system_cpu_pct": round((ds1 - ds0) / dt * 100, 2),
            "patches_per_s": round((m1["micboardd_patches_total"]
                                    - m0["micboardd_patches_total"]) / dt, 1),
            "ws_bytes_sent_per_s": round((m1["micboardd_websocket_bytes_sent_total"]
                                          - m0["micboardd_websocket_bytes_sent_total"]) / dt),
            "queue_drops": m1.get("micboardd_websocket_queue_drops_total", 0)
            - m0.get("micboardd_websocket_queue_drops_total", 0),
            "coalesced": m1.get("micboardd_websocket_coalesced_total", 0)
            - m0.get("micboardd_websocket_coalesced_total", 0),
            "malformed": m1.get("micboardd_frames_malformed_total", 0),
            "reconnects": m1.get("micboardd_reconnects_total", 0),
            "log_levels": dict(log_levels), "log_problems": dict(log_events),
        },
        "fleet": {"cpu_pct": round((fc1 - fc0) / dt * 100, 1), "procs": fleet_procs},
        "client_side": {
            "cpu_pct": round((cc1 - cc0) / dt * 100, 1),
            "errors": errors[:10], "error_count": len(errors),
            "bytes_per_s_min": round(min(per_client_bytes) / dt, 1),
            "bytes_per_s_max": round(max(per_client_bytes) / dt, 1),
            "messages_total": sum(c["messages"] for c in clients),
            "unknown_messages": sum(c["unknown"] for c in clients),
        },
        "markers_detail": {k: v for k, v in score.items() if k != "latencies_ms"},
    }
    if args.profile:
        col = args.profile / "daemon.collapsed"
        if col.exists():
            # py-spy drops idle samples: self_pct is a share of the busy samples,
            # core_pct a share of one core over the window
            wall = PROFILE_RATE * int(args.seconds)
            res["profile"] = [{"function": f, "self_samples": s, "total_samples": t,
                               "self_pct": round(sp, 1), "total_pct": round(tp, 1),
                               "self_core_pct": round(100 * s / wall, 2),
                               "total_core_pct": round(100 * t / wall, 2)}
                              for f, s, t, sp, tp in summarize_collapsed(col, 40)]
    return res


def full_per_proc(args: argparse.Namespace, count: int, k: int) -> int:
    """Full mirrors in client process ``k``: --full-mirrors in all (spread one per
    process), else by --mirror."""
    if args.full_mirrors is not None:
        n_procs = max(1, min(args.client_procs, args.clients))
        return min(count, args.full_mirrors // n_procs + (k < args.full_mirrors % n_procs))
    return {"full": count, "light": 0, "mixed": min(1, count)}[args.mirror]


def daemon_source() -> str | None:
    """Which micboardd the children import: this checkout (its commit), or another tree
    put first on PYTHONPATH (e.g. a ``git archive`` of one commit, with a COMMIT file)."""
    import importlib.util

    spec = importlib.util.find_spec("micboardd")
    if spec is None or spec.origin is None:
        return None
    tree = Path(spec.origin).resolve().parent.parent
    if tree == ROOT:
        return git_describe()
    stamp = tree / "COMMIT"
    return f"{stamp.read_text().strip() if stamp.exists() else '?'} (tree {tree})"


def git_describe() -> str | None:
    """The daemon's checkout: commit, plus "+dirty" when micboardd/ or drivers/ differ."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "micboardd", "drivers"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty.strip() else "")) or None


def print_table(res: dict[str, Any]) -> None:
    def f(x: Any, unit: str = "", nd: int = 1) -> str:
        if x is None:
            return "n/a"
        if isinstance(x, float):
            return f"{x:,.{nd}f}{unit}"
        return f"{x:,}{unit}"

    fl = res["floor"]
    d = res["daemon"]
    rows = [
        ("channels", f"{res['channels']:,} on {res['devices']:,} receivers, "
                     f"{res['clients']} ws clients ({res['config']['full_mirrors']} full "
                     f"mirrors), {res['seconds']:.1f} s measured"),
        ("meter frames/s ingested", f"{f(res['frames_per_s'], '', 0)} (expected "
                                    f"{f(res['expected_frames_per_s'], '', 0)}; fleet sent "
                                    f"{f(res['fleet_frames_per_s'], '', 0)}/s)"),
        ("daemon CPU, % of one core", f"{f(res['daemon_cpu_pct'], ' %')} (user "
                                      f"{f(d['user_cpu_pct'], ' %')}, system "
                                      f"{f(d['system_cpu_pct'], ' %')})"),
        ("floor CPU, % of one core", f"{f(res['floor_cpu_pct'], ' %')} "
                                     f"({f(fl.get('frames_per_s'), ' frames/s', 0)})"),
        ("daemon / floor", f(res["cpu_ratio_to_floor"], " x", 2)),
        ("daemon peak RSS (VmHWM)", f(res["peak_rss_mb"], " MB")),
        ("marker latency p50", f(res["latency_p50_ms"], " ms")),
        ("marker latency p95", f(res["latency_p95_ms"], " ms")),
        ("marker latency p99", f(res["latency_p99_ms"], " ms")),
        ("marker latency max", f(res["latency_max_ms"], " ms")),
        ("markers x clients", f"{res['markers']} x {res['clients']} = "
                              f"{res['marker_observations']:,} seen"),
        ("lost or out of order", f"{res['lost']} (missed {res['missed']}, out of order "
                                 f"{res['out_of_order']}, gaps {res['gaps']})"),
        ("resyncs (snapshots after the first)", f(res["resyncs"])),
        ("ws bytes per client per s", f(res["ws_bytes_per_client_per_s"] / 1000, " kB/s")),
        ("daemon patches/s", f(d["patches_per_s"])),
        ("fleet CPU / client CPU", f"{f(res['fleet']['cpu_pct'], ' %')} / "
                                   f"{f(res['client_side']['cpu_pct'], ' %')}"),
        ("machine busy / irq / not ours", f"{f(res['load']['machine_busy_pct'], ' %')} / "
                                          f"{f(res['load']['irq_pct'], ' %')} / "
                                          f"{f(res['load']['others_pct'], ' %')} of one core "
                                          f"(load {res['load']['window_end'][0]})"),
    ]
    w = max(len(k) for k, _ in rows)
    print()
    print(f"{'metric':<{w}}  value")
    print(f"{'-' * w}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    problems = res["daemon"]["log_problems"]
    if problems:
        print(f"daemon log warnings/errors: {problems}")
    if res["client_side"]["error_count"]:
        print(f"client errors: {res['client_side']['errors']}")
    if res["markers_detail"]["inject_errors"]:
        print(f"marker injection errors: {res['markers_detail']['inject_errors']}")
    md = res["markers_detail"]
    print(f"first client to see a marker: p50 {md['first_client']['p50_ms']} ms, p99 "
          f"{md['first_client']['p99_ms']} ms; last minus first: p50 "
          f"{md['spread']['p50_ms']} ms, p99 {md['spread']['p99_ms']} ms; "
          f"simulator acks over 50 ms: {md['slow_acks_over_50ms']}")
    if res["missed"]:
        print(f"missed markers by kind: {res['markers_detail']['lost_detail']}")
    if "profile" in res:
        print("\npy-spy, daemon, top functions by self time:")
        print("(share of busy samples; in brackets: % of one core over the window)")
        print(f"{'self %':>7} {'(core)':>7} {'total %':>8}  function")
        for p in res["profile"][:30]:
            print(f"{p['self_pct']:7.1f} {p['self_core_pct']:7.2f} {p['total_pct']:8.1f}  "
                  f"{p['function']}")
    sys.stdout.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channels", type=int, default=1000)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--seconds", type=float, default=30.0, help="measured window")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--floor-seconds", type=float, default=None,
                   help="floor measurement (default: min(--seconds, 15); 0 skips it)")
    p.add_argument("--families", default="ulxd,axient,slxd,qlxd,uhfr",
                   help=f"taken in turn, one receiver each; from {','.join(FAMILIES)}")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--smoke", action="store_true",
                   help="13 channels, 3 clients, 3 s, 1 s warmup, 2 s floor")
    p.add_argument("--meter-rate-ms", type=int, default=100)
    p.add_argument("--meter-interval-ms", type=int, default=100,
                   help="the daemon's http.meter_interval_ms")
    p.add_argument("--history", action=argparse.BooleanOptionalAction, default=True,
                   help="the daemon's history (on by default, like the daemon's own "
                        "default; --no-history switches it off)")
    p.add_argument("--fleet-procs", type=int, default=0,
                   help="simulator processes (default 1 up to 1000 channels, else 2)")
    p.add_argument("--client-procs", type=int, default=4)
    p.add_argument("--mirror", choices=("mixed", "full", "light"), default="mixed",
                   help="full: every client merges every meter value into its mirror; "
                        "light: clients follow seq, names and batteries only; mixed "
                        "(default): one full mirror per client process, the rest light")
    p.add_argument("--full-mirrors", type=int, default=None, metavar="N",
                   help="N full mirrors in all, the other clients light (overrides "
                        "--mirror): at thousands of channels a full mirror costs the "
                        "shared machine more than the daemon does")
    p.add_argument("--marker-rate", type=float, default=4.0, help="markers per second")
    p.add_argument("--marker-channels", type=int, default=32,
                   help="channels the markers visit in turn")
    p.add_argument("--grace", type=float, default=2.0,
                   help="seconds after the window for the last markers to arrive")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--net", type=int, help="receivers on 127.0.<net + i // 250>.<1 + i %% 250> "
                                         "(default: a free block picked at random)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="py-spy record the daemon during the window into DIR")
    p.add_argument("--profile-native", action="store_true",
                   help="py-spy --native: show time in C (uvloop, orjson, the kernel calls)")
    p.add_argument("--daemon-cmd", help="run this instead of .venv/bin/micboardd (it gets "
                                        "'run --config FILE' appended), e.g. a wrapper "
                                        "with diagnostics or another checkout")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if args.smoke:
        # 13 channels: one receiver of each default family (4+4+2+1+2), UDP included
        args.channels, args.clients, args.seconds, args.warmup = 13, 3, 3.0, 1.0
        args.client_procs = 2  # two full mirrors and one light client
        if args.floor_seconds is None:
            args.floor_seconds = 2.0
        args.grace = min(args.grace, 1.0)
    if args.floor_seconds is None:
        args.floor_seconds = min(args.seconds, 15.0)
    if args.channels < 1 or args.clients < 1 or args.seconds <= 0:
        p.error("--channels, --clients and --seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="micboardd-venue-"))
    procs = Procs(tmp)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # a hard bound on the whole run, whatever hangs
    budget = int(120 + args.warmup + args.seconds + args.floor_seconds
                 + args.channels / 20 + args.clients * args.channels / 2000)
    signal.signal(signal.SIGALRM, lambda s, f: (_ for _ in ()).throw(
        BenchError(f"benchmark exceeded its {budget} s budget")))
    signal.alarm(budget)
    try:
        res = asyncio.run(run(args, tmp, procs))
    except BenchError as exc:
        print(f"venue benchmark failed: {exc}\n(logs in {tmp})", file=sys.stderr)
        args.keep = True
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(res)
    if args.json:
        args.json.write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
