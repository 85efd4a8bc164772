"""The history API against a real daemon, real simulators over TCP and a real database:
history, events, CSV, the show report, alerts with acknowledgement, the audit trail,
metrics, and a restart that neither duplicates nor forgets."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemonkit import make_config, running_daemon, wait_for

from micboardd.config import Config
from micboardd.daemon import Daemon
from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.history import HistoryPart
from micboardd.server.auth import hash_token
from micboardd.server.params import parse_time

TOKEN = "history-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEY = "rx-band-a/1"


def config(sim: ULXDSimulator, **extra: Any) -> Config:
    return make_config(
        [{"id": "rx-band-a", "driver": "shure-ulxd", "host": sim.host, "port": sim.port}],
        http={"tokens": [{"name": "ops", "sha256": hash_token(TOKEN)}]},
        slots=[{"slot": 1, "channel": KEY, "label_name": "Lead vocal", "group": "Band"},
               {"slot": 2, "channel": "rx-band-a/2", "label_name": "Guitar"}],
        history={"sample_interval_s": 1, "flush_interval_s": 0.1},
        alerts={"default": {"tx_off_for_s": 0.2, "clear_after_s": 1}},
        **extra,
    )


@pytest.fixture
async def sim():
    s = await ULXDSimulator("127.0.0.1", 0, model="ULXD4Q", names=["VOX", "GTR"],
                            frozen=True, seed=3).start()
    yield s
    await s.stop()


class Api:
    def __init__(self, d: Daemon, session: aiohttp.ClientSession) -> None:
        self.base = f"http://127.0.0.1:{d.http_port}"
        self.s = session

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.s.get(self.base + path, **kw) as r:
            if r.content_type == "text/csv":
                return r.status, await r.text()
            return r.status, await r.json(content_type=None)

    async def send(self, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.s.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)


async def until(check: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def online(d: Daemon) -> HistoryPart:
    await wait_for(lambda: KEY in d.store.channels
                   and d.store.channels[KEY]["status"] not in ("RX_OFFLINE", "TX_OFF")
                   and d.store.channels[KEY]["tx"]["battery_bars"] is not None)
    h = d.history
    assert h is not None
    return h


def db_count(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


async def test_history_events_report_alerts_audit(sim: ULXDSimulator, tmp_path: Path) -> None:
    async with running_daemon(config(sim), tmp_path) as d, aiohttp.ClientSession() as s:
        api = Api(d, s)
        h = await online(d)
        assert h.path == tmp_path / "state" / "history.db"
        bars_before = d.store.channels[KEY]["tx"]["battery_bars"]
        sim.set_battery_minutes(1, 25)  # one bar left, 25 min: critical
        sim.set_tx(2, False)
        status, _ = await api.send("POST", f"/api/channels/{KEY}/command",
                                   {"kind": "name", "value": "LEAD"}, AUTH)
        assert status == 200

        # -- alerts: pushed into the state, acknowledged with the operator token
        await wait_for(lambda: len(d.store.sections.get("alerts", {})) >= 2)
        _, body = await api.get("/api/alerts")
        by_rule = {a["rule"]: a for a in body["alerts"]}
        assert by_rule["battery"]["channel"] == KEY
        assert by_rule["battery"]["label"] == "Lead vocal"
        assert by_rule["tx_off"]["channel"] == "rx-band-a/2"
        aid = by_rule["battery"]["id"]
        status, _ = await api.send("POST", f"/api/alerts/{aid}/ack")
        assert status == 401
        status, body = await api.send("POST", f"/api/alerts/{aid}/ack", {"note": "swap at "
                                                                         "the break"}, AUTH)
        assert status == 200 and body["alert"]["state"] == "acknowledged"
        assert body["alert"]["acked_by"] == "ops"
        assert d.store.sections["alerts"][aid]["state"] == "acknowledged"
        assert (await api.send("POST", "/api/alerts/nope/ack", None, AUTH))[0] == 404

        # -- history: wait until the downsampled rows show the new battery level (an hour
        # in about a thousand points: 4 s steps)
        async def battery_history() -> Any:
            await h.sync()
            _, b = await api.get(f"/api/history/{KEY}?metric=battery,rf_min&from=-1h")
            # the new battery level, and a full interval of RF metering
            return b if 1 in b["series"]["battery_bars"] and any(
                v is not None for v in b["series"]["rf_min"]) else None

        hist = await until(battery_history)
        assert hist["channel"] == KEY and hist["step"] == 4 and hist["label"] == "Lead vocal"
        assert hist["metrics"] == ["battery_bars", "battery_minutes", "battery_percent",
                                   "rf_min"]
        assert len(hist["t"]) == len(hist["series"]["rf_min"]) >= 1
        assert hist["t"] == sorted(hist["t"])
        status, text = await api.get(f"/api/history/{KEY}?metric=battery&from=-1h&format=csv")
        rows = list(csv.reader(io.StringIO(text)))
        assert status == 200
        assert rows[0] == ["ts", "time", "battery_bars", "battery_minutes", "battery_percent"]
        assert len(rows) >= 2 and rows[1][2] != ""
        # a coarse step aggregates (about a thousand points over a day by default)
        _, day = await api.get(f"/api/history/{KEY}?from=-24h")
        assert day["step"] == 87 and set(day["metrics"]) >= {"rf_avg", "audio_max"}

        # -- events
        _, ev = await api.get(f"/api/events?channel={KEY}&since=-1h")
        kinds = [e["kind"] for e in ev["events"]]
        assert {"battery", "name", "alert_open", "alert_ack"} <= set(kinds)
        battery = next(e for e in ev["events"] if e["kind"] == "battery")
        assert battery["detail"]["from"] == bars_before and battery["detail"]["to"] == 1
        assert next(e for e in ev["events"] if e["kind"] == "name")["detail"] == {
            "from": "VOX", "to": "LEAD"}
        _, only = await api.get("/api/events?kind=tx_off,rx_up")
        assert {e["kind"] for e in only["events"]} == {"tx_off", "rx_up"}
        assert next(e for e in only["events"] if e["kind"] == "rx_up")["channel"] is None
        status, text = await api.get(f"/api/events?channel={KEY}",
                                     headers={"Accept": "text/csv"})
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["id", "ts", "time", "channel", "device", "kind", "detail"]
        assert {r[5] for r in rows[1:]} >= {"battery", "name"}
        _, newest = await api.get(f"/api/events?channel={KEY}&order=desc&limit=2")
        assert len(newest["events"]) == 2 and newest["truncated"] is True
        assert newest["events"][0]["ts"] >= newest["events"][1]["ts"]

        # -- audit: the command and the acknowledgement, with who and what
        _, au = await api.get("/api/audit?who=ops")
        actions = {a["action"]: a for a in au["audit"]}
        assert actions["command.name"]["target"] == KEY
        assert actions["command.name"]["after"]["value"] == "LEAD"
        assert actions["command.name"]["after"]["outcome"] == "ok"
        assert actions["alert.ack"]["after"]["ack_note"] == "swap at the break"
        assert actions["alert.ack"]["before"]["state"] == "open"

        # -- the show report
        _, rep = await api.get("/api/report?from=-1h")
        ch1 = next(c for c in rep["channels"] if c["channel"] == KEY)
        assert ch1["label"] == "Lead vocal" and ch1["name"] == "LEAD"
        assert ch1["battery"]["end_bars"] == 1
        assert ch1["on_air_s"] > 0
        assert ch1["rf"]["worst_pct"] is not None
        assert ch1["alerts"]["by_rule"]["battery"] == 1
        assert ch1["alerts"]["episodes"][0]["acked_by"] == "ops"
        status, text = await api.get("/api/report?from=-1h&format=csv")
        assert status == 200 and text.startswith("channel,name,slot,label")

        # -- errors are answers, not crashes
        for bad in ("/api/history/rx-band-a/1?from=yesterday", "/api/history/rx-band-a/1?"
                    "metric=volume", "/api/events?limit=0", "/api/report?from=now&to=-1h",
                    "/api/events?format=xml", "/api/history/rx-band-a/1?step=-5",
                    "/api/events?since=1e300"):
            status, body = await api.get(bad)
            assert status == 400, bad
            assert body["error"]

        # -- metrics
        async with s.get(api.base + "/metrics") as r:
            text = await r.text()
        assert "micboardd_history_rows_written_total" in text
        assert "micboardd_history_rows_dropped_total 0" in text
        assert "micboardd_alerts_open 2" in text


async def test_restart_neither_duplicates_nor_forgets(sim: ULXDSimulator,
                                                      tmp_path: Path) -> None:
    cfg = config(sim)
    async with running_daemon(cfg, tmp_path) as d:
        h = await online(d)
        sim.set_battery_minutes(1, 40)
        await wait_for(lambda: any(a["rule"] == "battery"
                                   for a in d.store.sections.get("alerts", {}).values()))
        aid = next(iter(d.store.sections["alerts"]))
        engine = d.alerts.engine
        assert engine is not None
        engine.ack(aid, "ops")
        await h.sync()
        path = h.path
    events = db_count(path, "SELECT count(*) FROM events")
    assert db_count(path, "SELECT count(*) FROM alerts") == 1
    async with running_daemon(cfg, tmp_path) as d:
        await online(d)
        engine = d.alerts.engine
        assert engine is not None
        assert [a["id"] for a in engine.current()] == [aid]  # taken up, not raised again
        assert engine.current()[0]["state"] == "acknowledged"
        h2 = d.history
        assert h2 is not None
        await h2.sync()
    assert db_count(path, "SELECT count(*) FROM alerts") == 1
    assert db_count(path, "SELECT count(*) FROM events WHERE kind = 'alert_open'") == 1
    assert db_count(path, "SELECT count(*) FROM events") >= events
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


async def test_layout_changes_are_audited_and_pruning_runs(sim: ULXDSimulator,
                                                           tmp_path: Path) -> None:
    async with running_daemon(config(sim), tmp_path) as d, aiohttp.ClientSession() as s:
        api = Api(d, s)
        h = await online(d)
        slots = [{"slot": 1, "channel": KEY, "label_name": "Lead vocal (Mara)",
                  "group": "Band"}]
        status, _ = await api.send("PUT", "/api/slots", {"slots": slots}, AUTH)
        assert status == 200
        await h.sync()
        _, au = await api.get("/api/audit")
        by_action = {a["action"]: a for a in au["audit"]}
        assert by_action["layout"]["who"] == "ops"
        change = by_action["config.apply"]
        assert change["after"]["slots[1]"]["label_name"] == "Lead vocal (Mara)"
        assert change["before"]["slots[2]"]["label_name"] == "Guitar"
        assert change["after"]["slots[2]"] is None
        # retention: an old row goes, the recent ones stay
        h.recorder.event(time.time() - 400 * 86400, "status", {"from": "GOOD", "to": "x"},
                         KEY)
        await h.sync()
        assert (await h.prune_now(dry_run=True))["events"] == 1
        assert (await h.prune_now())["events"] == 1
        assert (await h.prune_now(dry_run=True))["events"] == 0


async def test_history_disabled(sim: ULXDSimulator, tmp_path: Path) -> None:
    cfg = config(sim).model_copy(update={"history": config(sim).history.model_copy(
        update={"enabled": False})})
    async with running_daemon(cfg, tmp_path) as d, aiohttp.ClientSession() as s:
        api = Api(d, s)
        await wait_for(lambda: d.links["rx-band-a"].state == "online")
        status, body = await api.get(f"/api/history/{KEY}")
        assert status == 503 and "not enabled" in body["error"]
        status, body = await api.get("/api/alerts")
        assert status == 200  # alerts work without a database
        assert not (tmp_path / "state" / "history.db").exists()


def test_parse_time() -> None:
    now = 1_800_000_000.0
    assert parse_time("now", now) == now
    assert parse_time("6h", now) == parse_time("-6h", now) == now - 6 * 3600
    assert parse_time("1700000000", now) == 1_700_000_000
    assert parse_time("1700000000000", now) == 1_700_000_000  # milliseconds
    assert parse_time("2023-11-14T22:13:20Z", now) == 1_700_000_000
    assert parse_time(None, now, 5.0) == 5.0
    for bad in ("yesterday", "1e300", "nan", "-5", "9999-01-01T00:00:00Z"):
        with pytest.raises(ValueError):
            parse_time(bad, now)
