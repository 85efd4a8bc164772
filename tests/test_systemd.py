"""The systemd unit is hardened and valid; the daemon speaks sd_notify."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sys
from pathlib import Path

import orjson
import pytest

UNIT = Path(__file__).parent.parent / "systemd" / "micboardd.service"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze not installed")


@needs_analyze
def test_security_exposure_is_at_most_2() -> None:
    import subprocess

    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr
    assert float(m.group(1)) <= 2.0


@needs_analyze
def test_unit_verifies_clean(tmp_path: Path) -> None:
    import subprocess

    # verify checks that ExecStart exists: point it at this checkout's installed entry point
    exe = Path(sys.executable).parent / "micboardd"
    text = UNIT.read_text().replace("/opt/micboardd/venv/bin/micboardd", str(exe))
    unit = tmp_path / "micboardd.service"
    unit.write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                       text=True, timeout=60)
    problems = [x for x in (r.stdout + r.stderr).splitlines() if "micboardd" in x]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr


async def test_ready_and_watchdog_notifications(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(sock_path))
    srv.setblocking(False)
    cfg = tmp_path / "c.json"
    cfg.write_bytes(orjson.dumps({"devices": [], "http": {"host": "127.0.0.1", "port": 0},
                                  "state_dir": str(tmp_path / "s")}))
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "200000"}
    env.pop("WATCHDOG_PID", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "micboardd.cli", "run", "--config", str(cfg), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    loop = asyncio.get_running_loop()
    got: list[str] = []
    try:
        while sum(1 for m in got if m == "WATCHDOG=1") < 3:
            data = await asyncio.wait_for(loop.sock_recv(srv, 4096), 20)
            got.extend(data.decode().split("\n"))
    finally:
        proc.terminate()
        await proc.wait()
        srv.close()
    assert "READY=1" in got
    assert got.index("READY=1") < got.index("WATCHDOG=1")
