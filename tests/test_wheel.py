"""The product as a new user gets it: the sdist and the wheel built from it (what
``python -m build`` does), the wheel installed into a fresh venv and run from an empty
directory, so nothing can come from this checkout. ``micboardd demo`` must serve the whole
dashboard and bring every simulated receiver of the shipped demo online.

One test, the slowest of the suite (two isolated builds, a venv, pip): pip's cache is
shared with every other install on the machine, so only the first run downloads."""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import orjson

from micboardd import __version__

ROOT = Path(__file__).resolve().parents[1]
#: what a new user's environment would not have
FOREIGN_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MICBOARDD_WEB_ROOT",
               "MICBOARDD_PORT_FILE", "STATE_DIRECTORY")


def run(cmd: list[str | Path], cwd: Path, timeout: float = 300,
        env: dict[str, str] | None = None) -> str:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd}: {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def copy_of_the_source(dest: Path) -> Path:
    """The files git knows (tracked, or new and not ignored): what a release is built from,
    without this checkout's .venv, caches and state."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, out.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def scripts_of(page: str, base: str) -> list[str]:
    """The JavaScript a page loads: its <script src>, then every module they import."""
    todo = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page)
    seen: list[str] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        status, ctype, body = get(base + path)
        assert status == 200 and "javascript" in ctype and body, (path, status, ctype)
        for dep in re.findall(r'^\s*import\s[^;]*?from\s+"\./([^"]+)"', body.decode(), re.M):
            todo.append("/" + dep)
    return seen


def test_built_wheel_in_a_fresh_venv_runs_the_demo(tmp_path: Path) -> None:
    src = copy_of_the_source(tmp_path / "src")
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--outdir", dist, src], cwd=tmp_path, timeout=600)
    sdist = next(dist.glob("micboardd-*.tar.gz"))
    wheel = next(dist.glob("micboardd-*.whl"))

    # the sdist holds what the wheel is built from, and the release notes
    with tarfile.open(sdist) as tar:
        in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "web/index.html",
            "web/app.js", "config/demo.json", "config/venue.example.json",
            "systemd/micboardd.service", "drivers/base.py"} <= in_sdist
    # the wheel is the product: code, drivers, dashboard, configurations, unit, py.typed
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
        meta_name = next(n for n in in_wheel if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(zf.read(meta_name).decode())
    web = {f"micboardd/web/{p.name}" for p in (ROOT / "web").iterdir() if p.is_file()}
    assert web <= in_wheel
    assert {"micboardd/__main__.py", "micboardd/py.typed", "micboardd/examples/demo.json",
            "micboardd/examples/venue.example.json", "micboardd/systemd/micboardd.service",
            "micboardd/drivers/shure_ulxd/driver.py"} <= in_wheel
    assert meta["Version"] == __version__ and wheel.name.startswith(f"micboardd-{__version__}-")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=tmp_path,
        env=env, timeout=600)

    empty = tmp_path / "empty"  # a new user's current directory: no checkout in sight
    empty.mkdir()
    assert run([venv / "bin" / "micboardd", "--version"], empty, env=env).split() == [
        "micboardd", __version__]
    assert run([venv / "bin" / "python", "-m", "micboardd", "--version"], empty,
               env=env).split() == ["micboardd", __version__]
    site = run([venv / "bin" / "python", "-c", "import micboardd; print(micboardd.__file__)"],
               empty, env=env).strip()
    assert site.startswith(str(venv)), site
    for name in ("web", "demo.json", "micboardd.service"):
        where = run([venv / "bin" / "micboardd", "path", name], empty, env=env).strip()
        assert where.startswith(str(Path(site).parent)), (name, where)

    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [venv / "bin" / "micboardd", "demo", "--port", "0"], cwd=empty,
        env={**env, "MICBOARDD_PORT_FILE": str(port_file)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the demo did not start within 60 s"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text().strip()}"

        status, ctype, page = get(base + "/")
        assert status == 200 and ctype.startswith("text/html")
        assert page == (ROOT / "web" / "index.html").read_bytes()
        loaded = scripts_of(page.decode(), base)
        assert "/app.js" in loaded and len(loaded) >= 5, loaded
        # the QR code's library is loaded on demand (web/qr.js): it ships, with its licence
        for vendored in ("/vendor/qrcode-generator/qrcode.js",
                         "/vendor/qrcode-generator/LICENSE"):
            status, ctype, body = get(base + vendored)
            assert status == 200 and body == (ROOT / "web" / vendored[1:]).read_bytes()
            assert "javascript" in ctype or not vendored.endswith(".js"), ctype

        demo = orjson.loads((ROOT / "config" / "demo.json").read_bytes())
        wanted = {d["id"] for d in demo["devices"]}
        assert len(wanted) >= 7  # every family's simulator, Shure and Sennheiser
        links: dict[str, str] = {}
        while set(links) != wanted or set(links.values()) != {"online"}:
            assert time.monotonic() < deadline + 60, f"not all online: {links}"
            time.sleep(0.2)
            state = orjson.loads(get(base + "/api/state")[2])
            links = {k: d["link"] for k, d in state["devices"].items()}
        assert (empty / "state" / "demo" / "history.db").exists()  # it runs where it was started
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stdout:
            proc.stdout.close()
