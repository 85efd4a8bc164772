"""Helpers for the browser tests: run ``micboardd demo`` as a subprocess, steer its
simulators, find tiles. Chromium is Debian's /usr/bin/chromium (nothing is downloaded)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "config" / "demo.json"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("MICBOARDD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def micboardd_command() -> list[str]:
    exe = Path(sys.executable).with_name("micboardd")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("micboardd")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from micboardd.cli import main; sys.exit(main())"]


def http_json(url: str, method: str = "GET", body: Any = None,
              headers: dict[str, str] | None = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(
            out.get(k), dict) else v
    return out


def demo_config(path: Path, extra: dict[str, Any]) -> Path:
    """A copy of the demo configuration with ``extra`` merged in (for ``--config``)."""
    config = deep_merge(json.loads(DEMO_CONFIG.read_text()), extra)
    path.write_text(json.dumps(config, indent=2))
    return path


class DemoDaemon:
    """``micboardd demo`` on a free port with its own state directory."""

    def __init__(self, state_dir: Path, config: Path | None = None, frozen: bool = True,
                 port: int | None = None) -> None:
        self.state_dir = state_dir
        self.config = config
        self.frozen = frozen
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "daemon.log"
        self.online_at = 0.0  # monotonic: when start() saw every steered receiver online

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_online: bool = True) -> DemoDaemon:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cmd = [*micboardd_command(), "demo", "--host", "127.0.0.1", "--port", str(self.port),
               "--state-dir", str(self.state_dir)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        if self.frozen:
            cmd.append("--frozen")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"micboardd demo exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError, ValueError):
                health = http_json(f"{self.url}/healthz", timeout=1)
                if not wait_online or (health["online"] >= 1 and self.devices_online()):
                    self.online_at = time.monotonic()
                    return self
            if time.monotonic() > deadline:
                tail = self.log.read_text()[-2000:]
                raise RuntimeError(f"micboardd demo did not come up: {tail}")
            time.sleep(0.05)

    def devices(self) -> dict[str, dict[str, Any]]:
        return {d["id"]: d for d in http_json(f"{self.url}/api/devices")}

    def devices_online(self, driver: str = "shure-ulxd") -> bool:
        """Every device of ``driver`` (the one tests steer) is online."""
        devs = [d for d in self.devices().values() if d["driver"] == driver]
        return bool(devs) and all(d["link"] == "online" for d in devs)

    def settle(self) -> None:
        """Wait out the daemon's first seconds after its receivers connected: a
        transmitter that goes then went "how is not known" (status.RECONNECT_S), so a
        test that switches one off and expects "switched off" calls this first."""
        from micboardd.state.status import RECONNECT_S

        time.sleep(max(0.0, self.online_at + RECONNECT_S + 0.5 - time.monotonic()))

    def sim(self, device_id: str) -> tuple[str, int]:
        d = self.devices()[device_id]
        return d["host"], int(d["port"])

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def simctl(addr: tuple[str, int], *commands: str) -> None:
    """Steer a TCP simulator with its test-only SIMCTL verb (see drivers/_shure/sim.py)."""
    with socket.create_connection(addr, timeout=5) as s:
        buf = b""
        for c in commands:
            s.sendall(f"< SIMCTL {c} >".encode())
            while True:  # the connection also receives the device's REP broadcasts
                end = buf.find(b">")
                if end < 0:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise AssertionError(f"simulator closed the connection after {c!r}")
                    buf += chunk
                    continue
                frame, buf = buf[: end + 1], buf[end + 1 :]
                frame = frame[frame.find(b"<") :].strip()
                if frame.startswith(b"< SIMCTL"):
                    break
            assert frame == b"< SIMCTL OK >", (c, frame)


def tile(page: Any, slot: int) -> Any:
    return page.locator(f'.tile[data-slot="{slot}"]')


def wait_live(page: Any, tiles: int | None = None, timeout: float = 10_000) -> None:
    """Wait until the page is in step with the daemon (and shows ``tiles`` tiles)."""
    from playwright.sync_api import expect

    expect(page.locator("body")).to_have_attribute("data-conn", "live", timeout=timeout)
    if tiles is not None:
        expect(page.locator(".tile")).to_have_count(tiles, timeout=timeout)
