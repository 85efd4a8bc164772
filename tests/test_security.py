"""Closed by default (issue #16), against a real daemon and a real simulator: which pages
may write (Origin, Content-Type), which names the daemon answers to (Host, DNS
rebinding), malformed headers, token guessing over HTTP and /ws together, token hashes,
and the smaller points (a JSON true as channel, CSV formulas, IPv4-mapped loopback)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from daemonkit import make_config, running_daemon, wait_for
from structlog.testing import capture_logs
from websockets.exceptions import InvalidStatus

from micboardd.cli import main as cli
from micboardd.config import load_config
from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.server import auth as auth_module
from micboardd.server.auth import GUARD
from micboardd.server.origin import BadHeader, machine_names, split_host, split_origin
from micboardd.server.peers import is_loopback, peer_key
from micboardd.server.responses import csv_cell
from micboardd.server.throttle import DELAYS, FREE
from micboardd.server.tokens import make_token_hash, verify_token_hash

TOKEN = "Zq9V3d8hYtR2mX6kP4wN7sB1cF5gJ0aL"
MUTE = {"kind": "mute", "value": True}


@pytest.fixture
async def sim():
    s = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", names=["VOX", "BASS"],
                            frozen=True).start()
    yield s
    await s.stop()


def device(sim: ULXDSimulator) -> list[dict[str, Any]]:
    return [{"id": "rx", "driver": "shure-ulxd", "host": sim.host, "port": sim.port}]


@pytest.fixture
async def open_daemon(sim, tmp_path):
    """No token configured (the default): loopback may write, from the right pages."""
    cfg = make_config(device(sim), http={"origins": ["http://foh-mac.local:8058"],
                                         "hosts": ["micboard.venue.lan"]})
    async with running_daemon(cfg, tmp_path) as d:
        await wait_for(lambda: d.links["rx"].state == "online")
        audited: list[tuple[str, str]] = []
        d.audit_trail.sinks.append(lambda who, action, b, a: audited.append((who, action)))
        d.audited = audited  # type: ignore[attr-defined]
        yield d


async def send(d, method: str, path: str, body: bytes | None, headers: dict[str, str]
               ) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession(skip_auto_headers=("Content-Type",)) as s, s.request(
            method, f"http://127.0.0.1:{d.http_port}{path}", data=body,
            headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def raw_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """A GET written by hand: the headers exactly as given (a Host of our choosing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Connection": "close"}.items())
    writer.write(f"GET {path} HTTP/1.1\r\n{lines}\r\n".encode())
    data = await reader.read()
    writer.close()
    return int(data.split(b" ", 2)[1]), data


def sets(sim: ULXDSimulator) -> list[str]:
    """The control commands the simulator received (not the daemon's metering set-up)."""
    return [c for c in sim.commands_seen if c.startswith("SET") and "METER_RATE" not in c]


@pytest.mark.parametrize(("headers", "status"), [
    ({"Origin": "http://127.0.0.1:1"}, 403),             # another port on this machine
    ({"Origin": "http://evil.example"}, 403),
    ({"Origin": "null"}, 403),                            # a sandboxed frame, a file
    ({"Sec-Fetch-Site": "cross-site"}, 403),              # a page that hid its Origin
    ({"Origin": "http://127.0.0.1:18058.evil.com"}, 400),  # malformed: never a 500
    ({"Origin": "http://[::1"}, 400),
    ({"Origin": "{own}", "Content-Type": "text/plain"}, 415),  # a no-cors fetch's type
    ({"Origin": "{own}", "Content-Type": "application/x-www-form-urlencoded"}, 415),
])
async def test_writes_from_other_pages_are_refused_and_not_audited(open_daemon, sim, headers,
                                                                   status) -> None:
    d = open_daemon
    own = f"http://127.0.0.1:{d.http_port}"
    headers = {"Content-Type": "application/json",
               **{k: v.replace("{own}", own) for k, v in headers.items()}}
    before = sets(sim)
    code, body = await send(d, "POST", "/api/channels/rx/1/command", orjson.dumps(MUTE),
                            headers)
    assert code == status and body["error"]
    code, _ = await send(d, "PUT", "/api/slots", orjson.dumps({"slots": []}), headers)
    assert code == status
    assert sets(sim) == before and d.audited == []
    assert d.store.channels["rx/1"]["audio"]["muted"] is not True


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:{port}", "http://localhost:{port}", "http://foh-mac.local:8058", None])
async def test_own_pages_listed_origins_and_non_browsers_may_write(open_daemon, sim,
                                                                   origin) -> None:
    d = open_daemon
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if origin is not None:
        headers["Origin"] = origin.format(port=d.http_port)
    code, body = await send(d, "POST", "/api/channels/rx/2/command",
                            orjson.dumps({"kind": "name", "value": "KEYS"}), headers)
    assert code == 200, body
    assert "SET 2 CHAN_NAME KEYS" in sim.commands_seen
    assert d.audited == [("loopback", "command.name")]


@pytest.mark.parametrize(("host", "status"), [
    ("attacker.example", 400), ("attacker.example:{port}", 400),  # DNS rebinding
    ("127.0.0.1:99999", 400), ("exa mple", 400), ("[::1", 400), ("a@b", 400),
    ("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("10.1.2.3", 200),
    ("[::1]:{port}", 200), ("micboard.venue.lan", 200), ("foh-mac.local:8058", 200),
    ("MICBOARD.venue.lan.", 200),
])
async def test_host_names_are_checked_on_every_route(open_daemon, host, status) -> None:
    d = open_daemon
    host = host.format(port=d.http_port)
    for path in ("/api/state", "/healthz", "/", "/ws"):
        code, data = await raw_get(d.http_port, path, {"Host": host})
        assert b"Traceback" not in data
        if path == "/ws" and status == 200:
            assert b"Host" not in data  # refused for want of an Upgrade, not for its Host
        else:
            assert code == status, (path, data[:300])


async def test_machine_hostname_is_accepted(open_daemon) -> None:
    d = open_daemon
    for name in machine_names():
        code, _ = await send(d, "GET", "/healthz", None, {"Host": name})
        assert code == 200, name


async def test_websocket_door(open_daemon, sim) -> None:
    d = open_daemon
    url = f"ws://127.0.0.1:{d.http_port}/ws"
    for origin, status in (("http://evil.example", 403), ("http://127.0.0.1:1", 403),
                           ("http://127.0.0.1:18058.evil.com", 400)):
        with pytest.raises(InvalidStatus) as exc:
            await websockets.connect(url, origin=origin)
        assert exc.value.response.status_code == status
    # a rebound name: the attacker's Origin equals the Host, which is theirs
    handshake = {"Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Connection": "Upgrade"}
    code, data = await raw_get(d.http_port, "/ws", {
        "Host": "attacker.example:8058", "Origin": "http://attacker.example:8058", **handshake})
    assert code == 400 and b"Host" in data
    async with websockets.connect(url, origin=f"http://localhost:{d.http_port}") as ws:
        assert orjson.loads(await ws.recv())["type"] == "snapshot"
        # a JSON true is not channel 1
        await ws.send(orjson.dumps({"type": "command", "id": 1, "device": "rx",
                                    "channel": True, "kind": "mute", "value": True}).decode())
        while (msg := orjson.loads(await ws.recv()))["type"] != "result":
            pass
        assert msg["status"] == 400 and not msg["ok"]
    assert sets(sim) == [] and d.audited == []


async def test_guessing_is_capped_per_address_over_http_and_websocket(sim, tmp_path) -> None:
    """200 guesses a (virtual) second for a minute, over 20 parallel HTTP connections and
    4 websockets from one address: only the schedule's attempts are ever checked."""
    cfg = make_config(device(sim), http={"tokens": [{"name": "ops",
                                                     "hash": make_token_hash(TOKEN)}]})
    async with running_daemon(cfg, tmp_path) as d:
        guard = d.runner.app[GUARD]
        now = [1000.0]
        guard.throttle.clock = lambda: now[0]
        base = f"http://127.0.0.1:{d.http_port}/api/channels/rx/1/command"
        conn = aiohttp.TCPConnector(limit=20)
        statuses: list[int] = []
        url = f"ws://127.0.0.1:{d.http_port}/ws"
        sockets = [await websockets.connect(url) for _ in range(4)]
        for ws in sockets:
            await ws.recv()  # the snapshot

        async def http_guess(s: aiohttp.ClientSession, n: int) -> None:
            async with s.post(base, json=MUTE,
                              headers={"Authorization": f"Bearer guess-{n}"}) as r:
                statuses.append(r.status)

        async def ws_guess(ws: Any, n: int) -> None:
            await ws.send(orjson.dumps({"type": "command", "id": n, "device": "rx",
                                        "channel": 1, "kind": "mute", "value": True,
                                        "token": f"ws-guess-{n}"}).decode())
            while (msg := orjson.loads(await ws.recv()))["type"] != "result":
                pass
            statuses.append(msg["status"])

        with capture_logs() as logs:
            async with aiohttp.ClientSession(connector=conn) as s:
                for second in range(60):
                    await asyncio.gather(
                        *(http_guess(s, second * 1000 + i) for i in range(40)),
                        *(ws_guess(ws, second * 1000 + i) for i, ws in enumerate(sockets)))
                    now[0] += 1.0
        for ws in sockets:
            await ws.close()
        checked = statuses.count(401)
        assert checked == FREE + len(DELAYS) + 1 < 10
        assert statuses.count(429) == len(statuses) - checked
        assert [e["event"] for e in logs].count("auth_lockout") == 1
        assert sets(sim) == []
        # the right token, seen valid before the lock-out, is not locked out with them
        guard.throttle.succeeded("127.0.0.1")
        async with aiohttp.ClientSession() as s, s.post(
                base, json={"kind": "mute", "value": False},
                headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200


async def test_token_hashes_salted_checked_once_and_legacy_accepted(sim, tmp_path,
                                                                    monkeypatch) -> None:
    h1, h2 = make_token_hash(TOKEN), make_token_hash(TOKEN)
    assert h1 != h2 and h1.startswith("scrypt$16384$8$1$")  # a salt per hash
    legacy = "legacy-token-0123456789abcdef"
    cfg = make_config(device(sim), http={"tokens": [
        {"name": "ops", "hash": h1},
        {"name": "old", "sha256": hashlib.sha256(legacy.encode()).hexdigest()}]})
    calls: list[str] = []
    real = auth_module.verify_token_hash

    def counting(token: str, stored: str) -> bool:
        calls.append(token)
        return real(token, stored)

    monkeypatch.setattr(auth_module, "verify_token_hash", counting)
    with capture_logs() as logs:
        async with running_daemon(cfg, tmp_path) as d:
            base = f"http://127.0.0.1:{d.http_port}/api/channels/rx/1/command"
            async with aiohttp.ClientSession() as s:
                for token, n in ((TOKEN, 3), (legacy, 1)):
                    for _ in range(n):
                        async with s.post(base, json={"kind": "mute", "value": False},
                                          headers={"Authorization": f"Bearer {token}"}) as r:
                            assert r.status == 200
    warned = [e for e in logs if e["event"] == "token_hash_deprecated"]
    assert warned and warned[0]["tokens"] == ["old"]
    assert calls.count(TOKEN) == 1  # checked once, then found by its HMAC


def test_token_hash_format_is_validated() -> None:
    from micboardd.config import ConfigError, parse_config

    good = make_token_hash(TOKEN, n=2 ** 10)
    for bad in (good.replace("$1024$", "$1000$"), good.replace("$1024$", "$4194304$"),
                good[:-3], "sha256$abc"):
        with pytest.raises(ConfigError, match=r"tokens\[0\]"):
            parse_config(orjson.dumps({"http": {"tokens": [{"name": "x", "hash": bad}]}}))
    with pytest.raises(ConfigError, match="hash-token"):
        parse_config(orjson.dumps({"http": {"tokens": [{"name": "x"}]}}))
    cfg = parse_config(orjson.dumps({"http": {"tokens": [{"name": "x", "hash": good}]}}))
    assert good not in repr(cfg) and good not in str(cfg)


def test_smaller_points() -> None:
    assert is_loopback("::ffff:127.0.0.1") and is_loopback("127.9.9.9") and is_loopback("::1")
    assert not is_loopback("::ffff:10.0.0.1") and not is_loopback("localhost.evil")
    assert peer_key("::ffff:10.0.0.7") == "10.0.0.7"
    assert peer_key("2001:db8::1") == peer_key("2001:db8::ffff:1") == "2001:db8::/64"
    for cell, out in (("=1+2", "'=1+2"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
                      ("@SUM(A1)", "'@SUM(A1)"), ("-2+3", "'-2+3"), ("\t=1", "'\t=1"),
                      ("-12.5", "-12.5"), ("+3", "+3"), ("VOX", "VOX"), (-4, -4),
                      (None, "")):
        assert csv_cell(cell) == out
    assert split_host("[::1]:8058") == ("::1", 8058)
    assert split_origin("https://Stage.Example") == ("https", "stage.example", 443)
    for bad in ("", "a b", "x:port", "h/p", "[::1"):
        with pytest.raises(BadHeader):
            split_host(bad)
    for bad in ("http://h:99999", "http://", "http://h/path", "http://u:p@h"):
        with pytest.raises(BadHeader):
            split_origin(bad)


async def test_csv_exports_do_not_carry_formulas(sim, tmp_path) -> None:
    """A channel renamed ``=1+2`` (and a slot labelled so) reaches the show report's CSV
    as text a spreadsheet will not run."""
    cfg = make_config(device(sim), history={"sample_interval_s": 1, "flush_interval_s": 0.1},
                      slots=[{"slot": 1, "channel": "rx/1", "label_name": "@SUM(A1)"}])
    async with running_daemon(cfg, tmp_path) as d:
        await wait_for(lambda: d.links["rx"].state == "online")
        code, body = await send(d, "POST", "/api/channels/rx/1/command",
                                orjson.dumps({"kind": "name", "value": "=1+2"}),
                                {"Content-Type": "application/json"})
        assert code == 200, body
        base = f"http://127.0.0.1:{d.http_port}"
        report: list[dict[str, str]] = []

        async def fetch() -> None:
            await d.history.sync()
            async with aiohttp.ClientSession() as s, s.get(
                    f"{base}/api/report?format=csv&from=0") as r:
                report[:] = list(csv.DictReader(io.StringIO(await r.text())))

        for _ in range(100):
            await fetch()
            if any(row["channel"] == "rx/1" and row["name"] for row in report):
                break
            await asyncio.sleep(0.1)
        row = next(row for row in report if row["channel"] == "rx/1")
        assert row["name"] == "'=1+2" and row["label"] == "'@SUM(A1)"


def test_ipv4_mapped_peer_writes_as_loopback() -> None:
    """A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d."""
    guard = auth_module.Guard(make_config([]).http)
    who = asyncio.run(guard.check_write(None, "::ffff:127.0.0.1"))
    assert who.name == "loopback"
    with pytest.raises(auth_module.AuthError):
        asyncio.run(guard.check_write(None, "::ffff:192.0.2.1"))



def test_hash_token_refuses_weak_tokens_and_generates_strong_ones(capsys) -> None:
    for weak in ("stage-left-secret", "a" * 80, "abcd" * 40, "0123456789abcdef" * 1):
        assert cli(["hash-token", weak]) == 2
        out = capsys.readouterr()
        assert "refused" in out.err and "--generate" in out.err and out.out == ""
    assert cli(["hash-token", "--generate"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert len(lines["token"]) >= 43 and verify_token_hash(lines["token"], lines["hash"])
    assert cli(["hash-token", TOKEN]) == 0
    out = capsys.readouterr().out
    # standard output is the hash alone (hints go to standard error)
    assert TOKEN not in out and len(out.splitlines()) == 1
    assert verify_token_hash(TOKEN, out.strip())


async def test_a_configuration_with_token_hashes_readable_by_others_is_warned_of(
        sim, tmp_path) -> None:
    path = tmp_path / "micboardd.json"
    raw = {"devices": device(sim), "state_dir": str(tmp_path / "state"),
           "http": {"host": "127.0.0.1", "port": 0,
                    "tokens": [{"name": "ops", "hash": make_token_hash(TOKEN, n=2 ** 10)}]}}
    path.write_bytes(orjson.dumps(raw))
    for mode, warned in ((0o644, True), (0o640, False)):
        path.chmod(mode)
        with capture_logs() as logs:
            async with running_daemon(load_config(path), config_path=path):
                pass
        found = [e for e in logs if e["event"] == "config_readable_by_others"]
        assert bool(found) == warned, mode
        if warned:
            assert "chmod o-rwx" in found[0]["problem"]
