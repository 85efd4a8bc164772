"""Issue #16 in a real browser: a page from another origin (a second HTTP server on another
loopback port, as any site the kiosk browser opens could be) tries to rename and mute a
channel of the demo daemon (no token configured: loopback may write) with no-cors
fetches, a form and a websocket command. Nothing changes and nothing is audited as done.
The daemon's own page keeps writing, from 127.0.0.1 and from localhost alike."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dashkit import DemoDaemon, http_json, wait_live

CHANNEL = "rx-band-a/1"

ATTACK = """<!doctype html><meta charset="utf-8"><title>a page from elsewhere</title>
<form id="f" method="POST" enctype="text/plain" target="sink"
      action="{daemon}/api/channels/rx-band-a/1/command">
  <input name='{{"kind": "name", "value": "CSRF3", "x": "' value='"}}'>
</form><iframe name="sink"></iframe>
<script>
const api = "{daemon}/api/channels/rx-band-a/1/command";
window.results = {{}};
async function attempt(name, fn) {{
  try {{ window.results[name] = await fn(); }} catch (e) {{ window.results[name] = "threw"; }}
}}
(async () => {{
  await attempt("no-cors rename", () => fetch(api, {{method: "POST", mode: "no-cors",
    body: JSON.stringify({{kind: "name", value: "CSRF1"}})}}).then((r) => r.type));
  await attempt("no-cors mute", () => fetch(api, {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "text/plain"}},
    body: JSON.stringify({{kind: "mute", value: true}})}}).then((r) => r.type));
  await attempt("cors json rename", () => fetch(api, {{method: "POST",
    headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{kind: "name", value: "CSRF2"}})}}).then((r) => r.status));
  await attempt("beacon mute", () => navigator.sendBeacon(api,
    JSON.stringify({{kind: "mute", value: true}})));
  document.getElementById("f").submit();
  window.results["websocket"] = await new Promise((resolve) => {{
    const ws = new WebSocket("{ws}/ws");
    ws.onopen = () => ws.send(JSON.stringify({{type: "command", id: 1, device: "rx-band-a",
      channel: 1, kind: "mute", value: true}}));
    ws.onmessage = (ev) => {{ if (JSON.parse(ev.data).type === "result") resolve(ev.data); }};
    ws.onerror = () => resolve("error");
    ws.onclose = () => resolve("closed");
  }});
  window.done = true;
}})();
</script>"""


class _Attacker(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def victim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDaemon]:
    d = DemoDaemon(tmp_path_factory.mktemp("csrf-state")).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def attacker(victim: DemoDaemon) -> Iterator[str]:
    page = ATTACK.format(daemon=victim.url, ws=victim.url.replace("http:", "ws:"))
    handler = type("Handler", (_Attacker,), {"page": page.encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def channel(d: DemoDaemon) -> dict[str, Any]:
    state: dict[str, Any] = http_json(f"{d.url}/api/state")["channels"][CHANNEL]
    return state


def refused_origins(d: DemoDaemon) -> float:
    with urllib.request.urlopen(f"{d.url}/metrics", timeout=5) as r:
        text = r.read().decode()
    return float(re.search(r"^micboardd_http_bad_origin_total (\S+)$", text, re.M)[1])


def commands_audited(d: DemoDaemon) -> list[dict[str, Any]]:
    rows = http_json(f"{d.url}/api/audit?since=0")
    rows = rows["audit"] if isinstance(rows, dict) else rows
    return [r for r in rows if str(r["action"]).startswith("command.")]


def test_a_page_from_another_origin_cannot_write(victim: DemoDaemon, attacker: str,
                                                 open_page: Any) -> None:
    before = channel(victim)
    refused_before = refused_origins(victim)
    page = open_page(attacker)
    page.wait_for_function("window.done === true", timeout=15_000)
    results = page.evaluate("window.results")
    assert results["no-cors rename"] == results["no-cors mute"] == "opaque"  # they were sent
    assert results["cors json rename"] == "threw"  # the preflight gets no CORS answer
    assert results["websocket"] in ("error", "closed")  # the handshake is refused
    # the form and the beacon have no callback: wait until the daemon has refused all five
    # writes (two fetches, the beacon, the form, the websocket)
    deadline = time.monotonic() + 10
    while refused_origins(victim) - refused_before < 5:
        assert time.monotonic() < deadline, refused_origins(victim) - refused_before
        time.sleep(0.05)
    after = channel(victim)
    assert after["name"] == before["name"] and not after["name"].startswith("CSRF")
    assert after["audio"]["muted"] == before["audio"]["muted"]
    assert commands_audited(victim) == []
    log = Path(victim.log).read_text()
    assert log.count('"request_refused"') >= 1 and attacker.rstrip("/") in log


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_daemons_own_page_still_writes(victim: DemoDaemon, open_page: Any,
                                           host: str) -> None:
    page = open_page(f"http://{host}:{victim.port}/")
    wait_live(page)
    name = f"OWN{host[:2].upper()}"
    status = page.evaluate("""async ([name]) => (await fetch(
        "/api/channels/rx-band-a/2/command", {method: "POST",
         headers: {"Content-Type": "application/json"},
         body: JSON.stringify({kind: "name", value: name})})).status""", [name])
    assert status == 200
    assert http_json(f"{victim.url}/api/state")["channels"]["rx-band-a/2"]["name"] == name
    assert any(r["action"] == "command.name" and r["who"] == "loopback"
               for r in commands_audited(victim))
