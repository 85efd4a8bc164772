"""Past one process: two daemons, each with its own fleet, federated through mosquitto and
shown on one dashboard.

    .venv/bin/python bench/federation.py --channels-per-site 2500 --clients 10 \\
        --seconds 20 --warmup 5 --json out.json
    .venv/bin/python bench/federation.py --smoke   # what tests/test_bench_smoke.py runs

Every part runs in its own process, on loopback (Debian's mosquitto must be installed):

1. mosquitto on a free port (no persistence);
2. site ``a``: a simulated fleet (bench/_fleet.py) and ``micboardd run`` publishing its
   state to the broker (``mqtt.site: "a"``, the default ``meter_interval_s``);
3. site ``b``: its own fleet and daemon, also publishing as ``b``, with
   ``mqtt.remote_sites: ["a"]``: its dashboard shows both sites' channels;
4. ``--clients`` websocket clients (bench/_wsclients.py) on site ``b``'s dashboard.

Markers (a rename or a battery step, bench/venue.py) are injected into both fleets. A
marker of site ``b`` travels receiver -> daemon b -> browser; one of site ``a`` travels
receiver -> daemon a -> mosquitto -> daemon b -> browser. The table gives the latency of
each path as the browsers see it, lost changes, and the CPU of each daemon, of mosquitto,
of the fleets and of the clients. Both daemons run the default configuration (history
and alerts on). Figures and what they mean for splitting a site: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from _vkit import fleet_devices, loadavg, machine, pick_net, proc_status_kb
from venue import (
    PY,
    BenchError,
    Procs,
    cpu_of,
    daemon_source,
    http_get,
    inject_markers,
    metric_sums,
    pct,
    r2,
    score_markers,
    start_daemon,
    wait_files,
)

HERE = Path(__file__).resolve().parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SITES = ("a", "b")
FAMILIES = ["ulxd", "axient", "slxd", "qlxd", "uhfr"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_broker(procs: Procs, tmp: Path) -> int:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "log_dest stderr\nlog_type error\nlog_type warning\n")
    procs.start("mosquitto", [MOSQUITTO, "-c", str(conf)])
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return port
        except OSError:
            procs.check("mosquitto")
            if time.monotonic() > deadline:
                raise BenchError("mosquitto did not start listening") from None
            await asyncio.sleep(0.05)


def site_config(site: str, devices: list[dict[str, Any]], broker: int, tmp: Path
                ) -> Path:
    mqtt: dict[str, Any] = {"url": f"mqtt://127.0.0.1:{broker}", "site": site}
    if site == "b":
        mqtt["remote_sites"] = ["a"]
    cfg = {"devices": devices, "http": {"host": "127.0.0.1", "port": 0}, "mqtt": mqtt,
           "state_dir": str(tmp / f"state-{site}")}
    path = tmp / f"site-{site}.json"
    path.write_bytes(orjson.dumps(cfg, option=orjson.OPT_INDENT_2))
    return path


async def wait_remote(port: int, want: int, procs: Procs, limit: float) -> float:
    """Seconds until the dashboard daemon's state holds ``want`` channels."""
    t0 = time.monotonic()
    while True:
        procs.check("daemon-a", "daemon-b")
        state = orjson.loads(http_get(port, "/api/state", timeout=30))
        n = len(state.get("channels", {}))
        if n >= want:
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            raise BenchError(f"site b's dashboard shows {n} of {want} channels")
        await asyncio.sleep(1.0)


async def run(args: argparse.Namespace, tmp: Path, procs: Procs) -> dict[str, Any]:
    mach = machine()
    mach["daemon_commit"] = daemon_source()
    print(f"machine: {mach['cpu_model']}, {mach['cores']} cores, {mach['implementation']} "
          f"{mach['python']}, {mach['loop']}; daemon at {mach['daemon_commit']}; "
          f"load {' '.join(map(str, loadavg()))}", flush=True)
    broker = await start_broker(procs, tmp)
    n = args.channels_per_site
    n_dev = len(fleet_devices(n, FAMILIES))
    net_a = pick_net(n_dev)
    net_b = net_a + (n_dev + 249) // 250
    if net_b + (n_dev + 249) // 250 > 255:
        net_b = pick_net(n_dev, seed=1)
    devices = {"a": fleet_devices(n, FAMILIES, net=net_a),
               "b": fleet_devices(n, FAMILIES, net=net_b)}
    cfgs = {s: site_config(s, devices[s], broker, tmp) for s in SITES}
    print(f"broker: mosquitto on 127.0.0.1:{broker}; sites a and b: {n} channels on "
          f"{n_dev} receivers each", flush=True)
    for s in SITES:
        procs.start(f"fleet-{s}", [PY, str(HERE / "_fleet.py"), "--config", str(cfgs[s]),
                                   "--stats", str(tmp / f"fleet-{s}.stats"),
                                   "--ready", str(tmp / f"fleet-{s}.ready")])
    await wait_files([tmp / f"fleet-{s}.ready" for s in SITES], 30 + n_dev / 25, procs,
                     "fleets", ("fleet-a", "fleet-b"))
    dps: dict[str, Any] = {}
    ports: dict[str, int] = {}
    for s in SITES:
        dps[s], ports[s] = await start_daemon(args, tmp, procs, cfgs[s], n_dev,
                                              name=f"daemon-{s}")
    took = await wait_remote(ports["b"], 2 * n, procs, 60 + n / 20)
    print(f"site b's dashboard shows both sites' {2 * n} channels ({took:.1f} s)", flush=True)

    n_procs = max(1, min(args.client_procs, args.clients))
    c_names = tuple(f"clients{k}" for k in range(n_procs))
    first = 0
    for k in range(n_procs):
        count = args.clients // n_procs + (1 if k < args.clients % n_procs else 0)
        procs.start(c_names[k], [PY, str(HERE / "_wsclients.py"),
                                 "--url", f"ws://127.0.0.1:{ports['b']}/ws",
                                 "--count", str(count), "--first", str(first),
                                 "--ready", str(tmp / f"{c_names[k]}.ready"),
                                 "--results", str(tmp / f"{c_names[k]}.json"),
                                 "--full", str(1 if k == 0 else 0)])
        first += count
    await wait_files([tmp / f"{c}.ready" for c in c_names], 60 + args.clients * n / 1000,
                     procs, "clients", (*c_names, "daemon-b"))
    print(f"clients: {args.clients} on site b's dashboard; warming up {args.warmup:g} s",
          flush=True)
    await asyncio.sleep(args.warmup)

    watched = {"daemon-a": [dps["a"].pid], "daemon-b": [dps["b"].pid],
               "mosquitto": [procs.running["mosquitto"].pid],
               "fleets": [procs.running[f"fleet-{s}"].pid for s in SITES],
               "clients": [procs.running[c].pid for c in c_names]}
    load0 = loadavg()
    m0 = {s: metric_sums(http_get(ports[s], "/metrics").decode()) for s in SITES}
    c0 = {k: cpu_of(v) for k, v in watched.items()}
    t0 = time.time()
    # markers on both fleets; site a's channels are "a:<device>/<n>" on b's dashboard
    marked = [{**d, "id": f"a:{d['id']}"} for d in devices["a"]] + devices["b"]
    markers = await inject_markers(marked, args.marker_rate, t0 + args.seconds,
                                   args.marker_channels, args.seed)
    await asyncio.sleep(max(0.0, t0 + args.seconds - time.time()))
    dt = time.time() - t0
    c1 = {k: cpu_of(v) for k, v in watched.items()}
    m1 = {s: metric_sums(http_get(ports[s], "/metrics").decode()) for s in SITES}
    load1 = loadavg()
    for s in SITES:
        procs.check(f"daemon-{s}")
    await asyncio.sleep(args.grace)
    hwm = {s: proc_status_kb(dps[s].pid, "VmHWM") for s in SITES}
    for c in c_names:
        procs.stop(c, timeout=30)
    clients: list[dict[str, Any]] = []
    for c in c_names:
        clients.extend(orjson.loads((tmp / f"{c}.json").read_bytes())["clients"])

    by_site = {s: [m for m in markers if m["key"].startswith("a:") == (s == "a")]
               for s in SITES}
    paths = {"a": "receiver -> daemon a -> mosquitto -> daemon b -> browser",
             "b": "receiver -> daemon b -> browser"}
    res: dict[str, Any] = {"channels_per_site": n, "dashboard_channels": 2 * n,
                           "clients": args.clients, "seconds": round(dt, 2),
                           "machine": mach, "load": {"window_start": load0,
                                                     "window_end": load1},
                           "cpu_pct": {k: round((c1[k] - c0[k]) / dt * 100, 1)
                                       for k in watched},
                           "peak_rss_mb": {s: round((hwm[s] or 0) / 1024, 1) for s in SITES},
                           "gaps": sum(c["gaps"] for c in clients),
                           "resyncs": sum(max(0, c["snapshots"] - 1) for c in clients),
                           "client_errors": [e for c in clients for e in c["errors"]][:10],
                           "paths": {}}
    for s in SITES:
        sc = score_markers(by_site[s], clients)
        lat = sc["latencies_ms"]
        res["paths"][s] = {
            "path": paths[s], "markers": sc["injected_ok"], "seen": len(lat),
            "lost": sc["lost"] + sc["out_of_order"], "p50_ms": r2(pct(lat, 0.5)),
            "p95_ms": r2(pct(lat, 0.95)), "p99_ms": r2(pct(lat, 0.99)),
            "max_ms": r2(lat[-1] if lat else None),
            "frames_per_s": round((m1[s]["micboardd_frames_parsed_total"]
                                   - m0[s]["micboardd_frames_parsed_total"]) / dt, 1)}
    res["lost"] = sum(p["lost"] for p in res["paths"].values()) + res["gaps"]
    return res


def print_table(res: dict[str, Any]) -> None:
    print()
    print(f"two sites of {res['channels_per_site']:,} channels, one dashboard of "
          f"{res['dashboard_channels']:,}, {res['clients']} clients, "
          f"{res['seconds']:.1f} s measured (load {res['load']['window_end'][0]})")
    for s in SITES:
        p = res["paths"][s]
        print(f"  site {s} markers ({p['path']}): {p['seen']} seen of "
              f"{p['markers']} x {res['clients']}, lost {p['lost']}; p50 {p['p50_ms']} ms, "
              f"p95 {p['p95_ms']} ms, p99 {p['p99_ms']} ms, max {p['max_ms']} ms; "
              f"{p['frames_per_s']:,.0f} frames/s")
    cpu = res["cpu_pct"]
    print(f"  CPU, % of one core: daemon a {cpu['daemon-a']}, daemon b {cpu['daemon-b']}, "
          f"mosquitto {cpu['mosquitto']}, fleets {cpu['fleets']}, clients {cpu['clients']}")
    print(f"  peak RSS: daemon a {res['peak_rss_mb']['a']} MB, daemon b "
          f"{res['peak_rss_mb']['b']} MB; gaps {res['gaps']}, resyncs {res['resyncs']}, "
          f"lost in all {res['lost']}")
    if res["client_errors"]:
        print(f"  client errors: {res['client_errors']}")
    sys.stdout.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channels-per-site", type=int, default=2500)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--client-procs", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--marker-rate", type=float, default=4.0)
    p.add_argument("--marker-channels", type=int, default=32)
    p.add_argument("--grace", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--daemon-cmd", help="run this instead of .venv/bin/micboardd")
    p.add_argument("--json", type=Path)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--smoke", action="store_true", help="13 channels a site, 2 clients, 3 s")
    args = p.parse_args(argv)
    if args.smoke:
        args.channels_per_site, args.clients, args.seconds, args.warmup = 13, 2, 3.0, 1.0
        args.grace = 2.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(MOSQUITTO).exists():
        print("federation benchmark: mosquitto is not installed (apt install mosquitto)",
              file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="micboardd-federation-"))
    procs = Procs(tmp)
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    budget = int(180 + args.warmup + args.seconds + args.channels_per_site / 10
                 + args.clients * args.channels_per_site / 1000)
    signal.signal(signal.SIGALRM, lambda s, f: (_ for _ in ()).throw(
        BenchError(f"benchmark exceeded its {budget} s budget")))
    signal.alarm(budget)
    try:
        res = asyncio.run(run(args, tmp, procs))
    except BenchError as exc:
        print(f"federation benchmark failed: {exc}\n(logs in {tmp})", file=sys.stderr)
        args.keep = True
        return 1
    except KeyboardInterrupt:
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
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
