"""The files that ship inside the package are found through the package, and in this
editable install they are the checkout's own (edit a JavaScript file, reload the page)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from micboardd.resources import SHIPPED, find, shipped_dir
from micboardd.server import static

ROOT = Path(__file__).resolve().parents[1]


def test_editable_install_serves_the_checkouts_files() -> None:
    assert shipped_dir("web") == ROOT / "web"
    assert static.WEB_ROOT == ROOT / "web"
    assert find("demo.json") == ROOT / "config" / "demo.json"
    assert find("venue.example.json") == ROOT / "config" / "venue.example.json"
    assert find("micboardd.service") == ROOT / "systemd" / "micboardd.service"


def test_only_what_ships_is_found() -> None:
    assert SHIPPED == ("web", "examples", "systemd")
    for name in ("pyproject.toml", "../pyproject.toml", "config/demo.json", "nothing.json"):
        assert find(name) is None, name


def test_path_command() -> None:
    exe = [sys.executable, "-m", "micboardd", "path"]
    r = subprocess.run([*exe, "micboardd.service"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and Path(r.stdout.strip()) == ROOT / "systemd" / "micboardd.service"
    r = subprocess.run([*exe, "nothing.json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 66 and "nothing called 'nothing.json'" in r.stderr
