"""How hard the dashboard works with 100 tiles at 10 Hz.

Starts ``micboardd demo`` with a generated configuration of 25 four-channel ULX-D
simulated receivers (100 channels, 100 slots), opens the dashboard in headless chromium
(Debian's /usr/bin/chromium; nothing is downloaded) and, after a warm-up, measures for a
while:

- main-thread busy fraction: CDP ``Performance.getMetrics`` TaskDuration over wall time
- long tasks (> 50 ms) from a PerformanceObserver
- frames from a requestAnimationFrame loop: frames seen, dropped frames (gaps of more than
  one frame interval), the worst frame
- patches received, tile updates and DOM writes the page made, live charts drawn (each
  tile's RF and audio of the last minute, twice a second; ``--no-charts`` turns them
  off in every group, to see what they cost)

It prints figures; it asserts nothing about speed.

    .venv/bin/python bench/dashboard.py [--seconds 10] [--view desk|tv] [--no-charts] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MICBOARDD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

PROBE = """() => {
  const probe = { frames: [], longtasks: [], running: true };
  window.__bench = probe;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.longtasks.push(e.duration);
  }).observe({ type: "longtask", buffered: false });
  const loop = (t) => {
    if (!probe.running) return;
    probe.frames.push(t);
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  const s = window.micboard;
  probe.start = { patches: s.conn.stats.patches, bytes: s.conn.stats.bytes,
    tileUpdates: s.board.stats.tileUpdates, domWrites: s.board.stats.domWrites,
    frames: s.board.stats.frames, chartDraws: s.board.stats.chartDraws };
}"""

COLLECT = """() => {
  const p = window.__bench;
  p.running = false;
  const s = window.micboard;
  return { frames: p.frames, longtasks: p.longtasks,
    patches: s.conn.stats.patches - p.start.patches,
    bytes: s.conn.stats.bytes - p.start.bytes,
    tileUpdates: s.board.stats.tileUpdates - p.start.tileUpdates,
    domWrites: s.board.stats.domWrites - p.start.domWrites,
    drawn: s.board.stats.frames - p.start.frames,
    chartDraws: s.board.stats.chartDraws - p.start.chartDraws,
    tiles: document.querySelectorAll(".tile").length,
    conn: document.body.dataset.conn };
}"""


def bench_config(devices: int, charts: bool = True) -> dict[str, Any]:
    devs, slots = [], []
    for i in range(1, devices + 1):
        dev_id = f"rx-{i:02d}"
        names = [f"CH {i:02d}-{n}" for n in range(1, 5)]
        devs.append({"id": dev_id, "driver": "shure-ulxd", "host": "127.0.0.1",
                     "model": "ULXD4Q",
                     "simulate": {"model": "ULXD4Q", "names": names}})
        for n in range(1, 5):
            k = len(slots) + 1
            slots.append({"slot": k, "channel": f"{dev_id}/{n}", "label_id": f"HH{k:03d}",
                          "label_name": f"Talent {k}", "group": f"Stage {1 + (k - 1) // 25}"})
    groups = [{"name": f"Stage {g}", "key": str(g), "charts": charts}
              for g in range(1, 1 + (len(slots) + 24) // 25)]
    return {"devices": devs, "slots": slots, "groups": groups}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def micboardd() -> list[str]:
    exe = Path(sys.executable).with_name("micboardd")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("micboardd")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from micboardd.cli import main; sys.exit(main())"]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.loads(r.read())


def start_daemon(tmp: Path, devices: int, charts: bool = True
                 ) -> tuple[subprocess.Popen[bytes], str]:
    cfg = tmp / "bench.json"
    cfg.write_text(json.dumps(bench_config(devices, charts)))
    port = free_port()
    log = open(tmp / "daemon.log", "wb")  # noqa: SIM115 (lives as long as the daemon)
    proc = subprocess.Popen(
        [*micboardd(), "demo", "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
         "--state-dir", str(tmp / "state")], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"micboardd exited: {(tmp / 'daemon.log').read_text()[-2000:]}")
        with contextlib.suppress(OSError, ValueError):
            if get_json(f"{url}/healthz")["online"] >= devices:
                return proc, url
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"the daemon did not bring {devices} receivers online within 30 s")


def summarize(raw: dict[str, Any], metrics: dict[str, float], wall: float) -> dict[str, Any]:
    frames = raw["frames"]
    deltas = [b - a for a, b in itertools.pairwise(frames)]
    interval = sorted(deltas)[len(deltas) // 2] if deltas else 1000 / 60
    interval = max(interval, 1000 / 240)
    dropped = sum(max(0, round(d / interval) - 1) for d in deltas)
    expected = len(deltas) + dropped
    return {
        "seconds": round(wall, 2),
        "tiles": raw["tiles"],
        "connection": raw["conn"],
        "patches_per_s": round(raw["patches"] / wall, 1),
        "kib_per_s": round(raw["bytes"] / 1024 / wall, 1),
        "tile_updates_per_s": round(raw["tileUpdates"] / wall, 1),
        "dom_writes_per_s": round(raw["domWrites"] / wall, 1),
        "redraws_per_s": round(raw["drawn"] / wall, 1),
        "chart_draws_per_s": round(raw.get("chartDraws", 0) / wall, 1),
        "busy_fraction": round(metrics["TaskDuration"] / wall, 3),
        "script_fraction": round(metrics["ScriptDuration"] / wall, 3),
        "layout_style_fraction": round(
            (metrics["LayoutDuration"] + metrics["RecalcStyleDuration"]) / wall, 3),
        "longtasks": len(raw["longtasks"]),
        "longtask_ms_total": round(sum(raw["longtasks"]), 1),
        "frame_interval_ms": round(interval, 2),
        "frames": len(deltas),
        "dropped_frames": dropped,
        "dropped_fraction": round(dropped / expected, 4) if expected else 0.0,
        "worst_frame_ms": round(max(deltas), 1) if deltas else None,
    }


def cdp_metrics(cdp: Any) -> dict[str, float]:
    return {m["name"]: float(m["value"]) for m in cdp.send("Performance.getMetrics")["metrics"]}


def run(seconds: float, warmup: float, view: str, devices: int, charts: bool = True
        ) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="micboardd-bench-") as tmpdir:
        tmp = Path(tmpdir)
        proc, url = start_daemon(tmp, devices, charts)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1920, "height": 1080})
                page.goto(f"{url}/?view={view}")
                page.wait_for_function(
                    "n => document.body.dataset.conn === 'live'"
                    " && document.querySelectorAll('.tile').length === n",
                    arg=devices * 4, timeout=30_000)
                page.wait_for_timeout(warmup * 1000)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
                page.evaluate(PROBE)
                before = cdp_metrics(cdp)
                t0 = time.monotonic()
                page.wait_for_timeout(seconds * 1000)
                after = cdp_metrics(cdp)
                raw = page.evaluate(COLLECT)
                wall = time.monotonic() - t0
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    return summarize(raw, delta, wall)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring time (10)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring (2)")
    ap.add_argument("--view", choices=("desk", "tv"), default="desk")
    ap.add_argument("--devices", type=int, default=25, help="four-channel receivers (25)")
    ap.add_argument("--no-charts", action="store_true", help="live charts off in every group")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"no chromium at {CHROMIUM} (set MICBOARDD_CHROMIUM)", file=sys.stderr)
        return 2
    result = run(args.seconds, args.warmup, args.view, args.devices, not args.no_charts)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"dashboard, {result['tiles']} tiles, {args.view} view, "
              f"{result['seconds']} s measured (chromium headless, 1920x1080)")
        for k, v in result.items():
            print(f"  {k:24} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
