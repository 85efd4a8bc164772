"""No secret reaches a log line, a page, a metric or the audit trail (issue #16): a real
``micboardd run`` configured with an MQTT password (in the URL and in the field), a
scrypt and a legacy token hash, driven through every GET endpoint, writes with right
and wrong tokens over HTTP and /ws, and a reload that changes the password; then every
line it logged and every answer it gave is searched for each secret."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import websockets
from daemonkit import wait_for

from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.server.tokens import make_token_hash

TOKEN = "Rk2vQ9xW4mZ7pL1sD8fH3jN6bT0cY5aE"
WRONG = "Wrong-guess-7Hq2Lm9Zx4Kp1Vb8Nc3R"
LEGACY = "legacy-operator-token-31415926535"
URL_PASSWORD = "Url-Pa55word-x9"
PASSWORD = "Field-Pa55word-q7"
NEW_PASSWORD = "Reloaded-Pa55word-k3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(path: Path, sim: ULXDSimulator, port: int, password: str,
                 hashes: list[dict[str, str]]) -> None:
    path.write_bytes(orjson.dumps({
        "devices": [{"id": "rx", "driver": "shure-ulxd", "host": sim.host, "port": sim.port}],
        "http": {"host": "127.0.0.1", "port": port, "tokens": hashes},
        # nobody listens there: the bridge logs its connection failures
        "mqtt": {"url": f"mqtt://micboard:{URL_PASSWORD}@127.0.0.1:{free_port()}",
                 "password": password, "keepalive_s": 5},
        "history": {"flush_interval_s": 0.1},
        "state_dir": str(path.parent / "state"),
    }))
    path.chmod(0o600)


async def test_no_secret_in_logs_pages_metrics_or_audit(tmp_path) -> None:
    sim = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", frozen=True).start()
    scrypt_hash = make_token_hash(TOKEN)
    legacy_hash = hashlib.sha256(LEGACY.encode()).hexdigest()
    hashes = [{"name": "ops", "hash": scrypt_hash},
              {"name": "old", "sha256": legacy_hash}]
    secrets = [URL_PASSWORD, PASSWORD, NEW_PASSWORD, TOKEN, WRONG, LEGACY, legacy_hash,
               scrypt_hash, *scrypt_hash.split("$")[-2:]]
    port = free_port()
    path = tmp_path / "micboardd.json"
    write_config(path, sim, port, PASSWORD, hashes)
    log = tmp_path / "daemon.log"
    out = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "micboardd.cli", "run", "--config", str(path),
            "--log-level", "debug", stdout=out, stderr=out,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        os.close(out)
    seen: list[str] = []  # every answer the daemon gave
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as s:
            async def get(p: str) -> Any:
                async with s.get(base + p) as r:
                    text = await r.text()
                    seen.append(text)
                    return r.status, text

            async def healthy() -> bool:
                try:
                    return (await get("/healthz"))[0] == 200
                except aiohttp.ClientError:
                    return False

            for _ in range(200):
                if await healthy():
                    break
                await asyncio.sleep(0.05)
            await write_and_reload(s, base, seen, path, sim, port, hashes, proc.pid)
            await wait_for(lambda: b"mqtt_connect_failed" in log.read_bytes(), timeout=15)
            _, doc = await get("/api/openapi.json")
            for p in orjson.loads(doc)["paths"]:
                p = p.replace("{device}", "rx").replace("{number}", "1").replace("{id}", "x")
                await get(p)
                await get(p + "?format=csv&from=0")
            await get("/metrics")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
        await sim.stop()
    lines = log.read_text().splitlines()
    assert any('"mqtt_bridge_started"' in line for line in lines)
    assert any('"config_applied"' in line for line in lines)
    assert any("audit" in text and "config.apply" in text for text in seen)
    for secret in secrets:
        assert not [line for line in lines if secret in line], secret
        assert not [text[:200] for text in seen if secret in text], secret


async def write_and_reload(s: aiohttp.ClientSession, base: str, seen: list[str], path: Path,
                           sim: ULXDSimulator, port: int, hashes: list[dict[str, str]],
                           pid: int) -> None:
    """Writes with each token (right, legacy, wrong) over HTTP and /ws, then a reload
    that changes the MQTT password (audited as a configuration change)."""
    url = f"{base}/api/channels/rx/1/command"
    for token in (TOKEN, LEGACY, WRONG):
        async with s.post(url, json={"kind": "mute", "value": False},
                          headers={"Authorization": f"Bearer {token}"}) as r:
            seen.append(await r.text())
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        seen.append(str(await ws.recv()))
        for token in (TOKEN, WRONG):
            await ws.send(orjson.dumps({"type": "command", "id": 1, "device": "rx",
                                        "channel": 1, "kind": "identify",
                                        "token": token}).decode())
            while (msg := orjson.loads(await ws.recv()))["type"] != "result":
                pass
            seen.append(orjson.dumps(msg).decode())
    write_config(path, sim, port, NEW_PASSWORD, hashes)
    os.kill(pid, signal.SIGHUP)
    for _ in range(100):
        async with s.get(f"{base}/api/audit?since=0") as r:
            text = await r.text()
        seen.append(text)
        if "config.apply" in text:
            return
        await asyncio.sleep(0.1)
