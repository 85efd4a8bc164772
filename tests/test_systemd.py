"""The systemd unit is hardened and valid; the daemon speaks sd_notify."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_unit_raises_the_descriptor_limit_and_keeps_etc_read_only() -> None:
    text = UNIT.read_text()
    m = re.search(r"^LimitNOFILE=(\d+)(?::(\d+))?$", text, re.M)
    assert m and int(m.group(1)) >= 8192, "one socket per receiver and browser: 1024 is few"
    assert "ReadWritePaths" not in text  # ProtectSystem=strict: /etc stays read-only
    assert "StateDirectory=micboardd" in text


# ------------------------------------------- the daemon as the unit runs it: unprivileged


def _wait_for_file(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}: "
                                 f"{proc.stderr.read().decode() if proc.stderr else ''}")
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def _http(method: str, url: str, body: object = None) -> tuple[int, Any]:
    data = None if body is None else orjson.dumps(body)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


@contextlib.contextmanager
def _as_nobody(config: Path, state: Path) -> Iterator[str]:
    """The daemon run as the unit runs it: an unprivileged user, $STATE_DIRECTORY."""
    port_file = state / "port"
    port_file.unlink(missing_ok=True)
    env = {**os.environ, "STATE_DIRECTORY": str(state), "MICBOARDD_PORT_FILE": str(port_file),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
         sys.executable, "-m", "micboardd", "run", "--config", str(config)],
        env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield f"http://127.0.0.1:{_wait_for_file(port_file, proc)}"
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root (as CI runs) and setpriv to run the daemon as nobody")
def test_unprivileged_daemon_saves_layout_beside_a_read_only_config() -> None:
    base = Path(tempfile.mkdtemp(prefix="micboardd-unit-"))
    try:
        base.chmod(0o755)
        etc = base / "etc"
        etc.mkdir(mode=0o755)
        config = etc / "micboardd.json"
        config.write_bytes(orjson.dumps({
            "devices": [{"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1", "port": 9,
                         "channels": 2}],
            "slots": [{"slot": 1, "channel": "rx/1", "label_name": "FROM FILE"}],
            "http": {"host": "127.0.0.1", "port": 0}}))
        config.chmod(0o644)
        original = config.read_bytes()
        state = base / "state"  # what StateDirectory= makes: owned by the service's user
        state.mkdir(mode=0o700)
        os.chown(state, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
        layout = {"slots": [{"slot": 1, "channel": "rx/2", "label_name": "PASTOR MIKE"}],
                  "groups": [{"name": "Talk"}]}
        with _as_nobody(config, state) as url:
            status, body = _http("PUT", f"{url}/api/slots", layout)
            assert status == 200, body
            deadline = time.monotonic() + 10
            while "layout" not in [e["action"] for e in _http("GET", f"{url}/api/audit")[1]
                                   ["audit"]]:
                assert time.monotonic() < deadline, "the layout edit was not audited"
                time.sleep(0.05)
        saved = state / "layout.json"
        assert saved.stat().st_uid == pwd.getpwnam("nobody").pw_uid
        assert config.read_bytes() == original and config.stat().st_uid == 0
        with _as_nobody(config, state) as url:  # a restart keeps the tech's edit
            _, st = _http("GET", f"{url}/api/state")
            assert [(s["channel"], s["label_name"]) for s in st["slots"]] == [
                ("rx/2", "PASTOR MIKE")]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unit_documents_an_environment_file_whose_examples_are_valid(tmp_path: Path) -> None:
    """The unit reads an optional EnvironmentFile; the variables its comments show are
    real configuration values (or the command line's own), taken by the daemon."""
    from micboardd.config import env_overrides, parse_config

    text = UNIT.read_text()
    assert re.search(r"^EnvironmentFile=-/etc/micboardd/\S+$", text, re.M)
    examples = dict(re.findall(r"^#\s+(MICBOARDD_\w+)=(\S+)$", text, re.M))
    assert len(examples) >= 3 and "MICBOARDD_HTTP__PORT" in examples
    applied = {o.name for o in env_overrides(examples)}
    assert applied | {"MICBOARDD_LOG_LEVEL"} == set(examples)
    cfg = parse_config(b"{}", "unit", examples)
    assert cfg.http.port == int(examples["MICBOARDD_HTTP__PORT"])
    assert cfg.history.enabled is False
    # what `check-config` says about them, as systemd would hand them over
    path = tmp_path / "c.json"
    path.write_text("{}")
    r = subprocess.run([sys.executable, "-m", "micboardd", "check-config", str(path)],
                       env={**os.environ, **examples}, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    for name in applied:
        assert f"from the environment ({name})" in r.stdout
