"""The OpenAPI document matches the server: every route is documented, every documented
path is served, and schemathesis finds no server error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from daemonkit import make_config, running_daemon, wait_for

from micboardd.config import SlotConfig
from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.server.auth import hash_token

TOKEN = "schemathesis-operator-token"

UNDOCUMENTED = {"/", "/ws", "/{filename}"}  # the dashboard files and the websocket


@pytest.fixture
async def daemon(tmp_path):
    sim = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", frozen=True).start()
    cfg = make_config([{"id": "rx", "driver": "shure-ulxd", "host": sim.host, "port": sim.port}],
                      http={"tokens": [{"name": "fuzz", "sha256": hash_token(TOKEN)}]})
    async with running_daemon(cfg, tmp_path) as d:
        await wait_for(lambda: d.links["rx"].state == "online")
        yield d
    await sim.stop()


async def test_routes_and_document_agree(daemon) -> None:
    async with aiohttp.ClientSession() as s, s.get(
            f"http://127.0.0.1:{daemon.http_port}/api/openapi.json") as r:
        doc = await r.json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items()
                  for method in ops}
    served = set()
    for route in daemon.runner.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix", "")
        if route.method == "HEAD" or path in UNDOCUMENTED or "prefix" in info:
            continue
        served.add((re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path), route.method))
    assert served == documented


def test_schemathesis_finds_no_server_errors(tmp_path: Path) -> None:
    """Runs the schemathesis CLI against a daemon in another process (it drives its own
    event loop)."""
    import asyncio
    import threading

    ready = threading.Event()
    box: dict[str, object] = {}

    def serve() -> None:
        async def main() -> None:
            sim = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", frozen=True).start()
            # with a valid operator token the fuzzer reaches the handlers instead of
            # the (deliberately slowed-down) refusals
            cfg = make_config([{"id": "rx", "driver": "shure-ulxd", "host": sim.host,
                                "port": sim.port}],
                              http={"tokens": [{"name": "fuzz", "sha256": hash_token(TOKEN)}]})
            async with running_daemon(cfg, tmp_path) as d:
                box["port"] = d.http_port
                stop = asyncio.Event()
                box["stop"] = (asyncio.get_running_loop(), stop)
                ready.set()
                await stop.wait()
            await sim.stop()

        asyncio.run(main())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(30)
    exe = Path(sys.executable).parent / "schemathesis"
    try:
        r = subprocess.run(
            [str(exe), "run", f"http://127.0.0.1:{box['port']}/api/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "25", "--seed", "1",
             "--request-timeout", "10", "-H", f"Authorization: Bearer {TOKEN}"],
            capture_output=True, text=True, timeout=300)
    finally:
        loop, stop = box["stop"]  # type: ignore[misc]
        loop.call_soon_threadsafe(stop.set)
        t.join(30)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


async def test_document_is_generated_from_the_models(daemon) -> None:
    async with aiohttp.ClientSession() as s, s.get(
            f"http://127.0.0.1:{daemon.http_port}/api/openapi.json") as r:
        doc = await r.json()
    schemas = doc["components"]["schemas"]
    # the slot's channel pattern is the configuration model's, not a copy of it
    model = SlotConfig.model_json_schema()["properties"]["channel"]
    assert schemas["SlotConfig"]["properties"]["channel"] == model
    # every CSV endpoint documents its text/csv answer; times are documented with the
    # forms the server reads
    for path in ("/api/history/{device}/{number}", "/api/events", "/api/audit", "/api/report"):
        op = doc["paths"][path]["get"]
        assert "text/csv" in op["responses"]["200"]["content"], path
        times = [p for p in op["parameters"] if p["name"] in ("from", "to", "since", "until")]
        assert times and all("anyOf" in p["schema"] for p in times), path
    state = schemas["State"]["properties"]
    channel_ref = {"$ref": "#/components/schemas/ChannelState"}
    assert state["channels"]["additionalProperties"] == channel_ref
    assert "GOOD" in schemas["ChannelState"]["properties"]["status"]["enum"]


async def test_wrong_method_says_what_is_allowed(daemon) -> None:
    base = f"http://127.0.0.1:{daemon.http_port}"
    async with aiohttp.ClientSession() as s:
        async with s.delete(f"{base}/api/slots") as r:
            assert r.status == 405 and r.headers["Allow"] == "PUT"
        async with s.get(f"{base}/api/channels/rx/1/command") as r:
            assert r.status == 405 and r.headers["Allow"] == "POST"
        async with s.get(f"{base}/api/nothing-here") as r:
            assert r.status == 404 and (await r.json())["error"]
        # not found whatever the method: no 405 with an empty Allow (the dashboard's
        # catch-all GET is not the API's)
        for method in ("DELETE", "POST", "PUT"):
            async with s.request(method, f"{base}/api/nothing-here/1") as r:
                assert r.status == 404 and "Allow" not in r.headers, (method, r.status)


async def test_bodies_are_checked_by_their_models(daemon) -> None:
    base = f"http://127.0.0.1:{daemon.http_port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as s:
        async with s.put(f"{base}/api/slots", headers=headers,
                         json={"slots": [{"slot": 1, "channel": "rx/9", "hots": 1}]}) as r:
            body = await r.json()
        assert r.status == 400
        assert {(p["path"], p["problem"]) for p in body["problems"]} >= {
            ("$.slots[0].hots", "unknown key (check the spelling)")}
        assert any(p["path"] == "$.slots[0].channel" for p in body["problems"])
        async with s.post(f"{base}/api/devices/rx/command", headers=headers,
                          json={"kind": "mute", "value": True}) as r:
            body = await r.json()
        assert r.status == 400 and body["problems"][0]["path"] == "$.kind"
