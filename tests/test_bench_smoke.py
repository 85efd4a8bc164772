"""The venue benchmark runs end to end at toy scale (no speed asserts: figures depend on
the machine; see docs/benchmarks.md for the real runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENUE = ROOT / "bench" / "venue.py"


def test_venue_smoke(tmp_path: Path) -> None:
    sys.path.insert(0, str(VENUE.parent))
    try:
        from venue import RESULT_KEYS
    finally:
        sys.path.remove(str(VENUE.parent))
    out = tmp_path / "venue.json"
    proc = subprocess.run(
        [sys.executable, str(VENUE), "--smoke", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    for row in ("machine:", "meter frames/s ingested", "daemon CPU, % of one core",
                "daemon / floor", "daemon peak RSS", "marker latency p99",
                "lost or out of order", "ws bytes per client per s"):
        assert row in text, text
    res = json.loads(out.read_text())
    missing = [k for k in RESULT_KEYS if k not in res]
    assert not missing, missing
    assert res["channels"] == 13 and res["clients"] == 3
    assert res["markers"] > 0
    assert res["marker_observations"] == res["markers"] * res["clients"]
    assert res["lost"] == 0, res["markers_detail"]
    assert res["missed"] == 0 and res["out_of_order"] == 0 and res["gaps"] == 0
    assert res["frames_per_s"] > 0 and res["floor_cpu_pct"] is not None
    assert res["client_side"]["error_count"] == 0, res["client_side"]["errors"]
    for k in ("cpu_model", "cores", "python", "loop"):
        assert res["machine"][k]


def test_federation_smoke(tmp_path: Path) -> None:
    out = tmp_path / "federation.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "federation.py"), "--smoke", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in ("site a markers (receiver -> daemon a -> mosquitto -> daemon b -> browser)",
                "site b markers (receiver -> daemon b -> browser)", "CPU, % of one core"):
        assert row in proc.stdout, proc.stdout
    res = json.loads(out.read_text())
    assert res["dashboard_channels"] == 26
    for site in ("a", "b"):
        path = res["paths"][site]
        assert path["markers"] > 0 and path["seen"] == path["markers"] * res["clients"]
        assert path["lost"] == 0
    assert res["gaps"] == 0 and not res["client_errors"]
    assert set(res["cpu_pct"]) == {"daemon-a", "daemon-b", "mosquitto", "fleets", "clients"}


def test_parsers_smoke() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "parsers.py"), "--seconds",
                           "0.05"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for family in ("shure-ulxd", "shure-axient", "shure-uhfr", "sennheiser-g4"):
        line = next(x for x in proc.stdout.splitlines() if x.startswith(family))
        assert int(line.split()[-1].replace(",", "")) > 0
