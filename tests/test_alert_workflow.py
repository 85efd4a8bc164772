"""The alert workflow against a real daemon, a real simulator over TCP and a real
database: acknowledging a group's alerts or all of them with a note, credited to the
token's name in the episode, the audit trail and the history; asking twice writes one
acknowledgement; an acknowledged alert that gets worse re-opens, and a restart keeps
what the last acknowledgement or re-opening said."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from daemonkit import make_config, running_daemon, wait_for

from micboardd.config import Config
from micboardd.daemon import Daemon
from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.server.tokens import make_token_hash

TOKEN = "Xq7s9V2mKp4LwR8tYz3NcB6hJd1FgH5eUa0iOoQrTsW"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VOX, GTR = "rx/1", "rx/2"


def config(sim: ULXDSimulator) -> Config:
    return make_config(
        [{"id": "rx", "driver": "shure-ulxd", "host": sim.host, "port": sim.port}],
        http={"tokens": [{"name": "foh", "hash": make_token_hash(TOKEN, n=2 ** 10)}]},
        slots=[{"slot": 1, "channel": VOX, "label_name": "Lead vocal", "group": "Band"},
               {"slot": 2, "channel": GTR, "label_name": "Guitar", "group": "Talk"}],
        history={"flush_interval_s": 0.1},
        # Band alerts at 120 min left: 100 min (2 bars) is a warning ("replace soon"),
        # 20 min (1 bar) critical
        alerts={"default": {"tx_off_for_s": 0.2},
                "groups": {"Band": {"minutes_at_or_below": 120}}},
    )


@pytest.fixture
async def sim():
    s = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", names=["VOX", "GTR"],
                            frozen=True, seed=3).start()
    yield s
    await s.stop()


def alerts(d: Daemon) -> dict[str, dict[str, Any]]:
    return {a["channel"]: a for a in d.store.sections.get("alerts", {}).values()}


async def ack(d: Daemon, body: Any, headers: dict[str, str] | None = AUTH
              ) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(
            f"http://127.0.0.1:{d.http_port}/api/alerts/ack", json=body,
            headers=headers) as r:
        return r.status, await r.json()


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_bulk_acknowledgement_reopening_and_restart(sim: ULXDSimulator,
                                                          tmp_path: Path) -> None:
    cfg = config(sim)
    async with running_daemon(cfg, tmp_path) as d:
        await wait_for(lambda: d.store.channels.get(VOX, {}).get("tx", {}).get(
            "battery_bars") is not None)
        sim.set_battery_minutes(1, 100)
        sim.set_tx(2, False)
        await wait_for(lambda: {VOX, GTR} <= set(alerts(d)))
        vox, gtr = alerts(d)[VOX], alerts(d)[GTR]
        assert vox["severity"] == "warning"

        # -- one selection at a time, an operator's token
        for bad in ({}, {"all": True, "group": "Band"}, {"ids": ["a"], "all": True},
                    {"group": ""}, {"all": True, "note": "x" * 257}, {"all": False}):
            status, body = await ack(d, bad)
            assert status == 400, bad
        assert (await ack(d, {"all": True}, headers=None))[0] == 401

        # -- a group's alerts, with a note, credited to the token's name
        status, body = await ack(d, {"group": "Band", "note": "spare at side stage"})
        assert status == 200
        assert [a["id"] for a in body["acknowledged"]] == [vox["id"]]
        assert body["already"] == body["unknown"] == body["resolved"] == []
        now = alerts(d)[VOX]
        assert (now["state"], now["acked_by"], now["ack_note"]) == (
            "acknowledged", "foh", "spare at side stage")
        assert alerts(d)[GTR]["state"] == "open"  # another group's

        # -- again, and "all": the acknowledged one is left as it is
        status, body = await ack(d, {"ids": [vox["id"], "nope"], "note": "again"})
        assert (body["acknowledged"], body["already"], body["unknown"]) == (
            [], [vox["id"]], ["nope"])
        status, body = await ack(d, {"all": True})
        assert [a["id"] for a in body["acknowledged"]] == [gtr["id"]]
        assert alerts(d)[VOX]["ack_note"] == "spare at side stage"

        # -- worse: the battery goes critical, the acknowledged alert opens again
        sim.set_battery_minutes(1, 20)
        await wait_for(lambda: alerts(d)[VOX]["state"] == "open")
        reopened = alerts(d)[VOX]
        assert reopened["severity"] == "critical" and reopened["reopened"] is not None
        assert reopened["previous_ack"]["acked_by"] == "foh"
        assert reopened["previous_ack"]["ack_note"] == "spare at side stage"
        h = d.history
        assert h is not None
        await h.sync()
        db = h.path
        async with aiohttp.ClientSession() as s, s.get(
                f"http://127.0.0.1:{d.http_port}/api/alerts",
                params={"from": "0", "to": str(reopened["reopened"] + 3600)}) as r:
            told = {a["channel"]: a for a in (await r.json())["alerts"]}
        # re-opened and not acknowledged since: the history does not say "acked by foh"
        assert told[VOX]["acked"] is None and told[VOX]["reopened"] is not None
        assert told[VOX]["previous_ack"] == {"acked_by": "foh"}
    # the audit trail and the history: one acknowledgement each, by name, with the note
    audit = rows(db, "SELECT who, target, after FROM audit WHERE action = 'alert.ack' "
                     "ORDER BY id")
    assert [(who, target) for who, target, _ in audit] == [("foh", vox["id"]),
                                                           ("foh", gtr["id"])]
    assert orjson.loads(audit[0][2])["ack_note"] == "spare at side stage"
    events = [(kind, orjson.loads(detail)) for kind, detail in rows(
        db, "SELECT kind, detail FROM events WHERE kind LIKE 'alert_%' AND channel = "
            f"'{VOX}' ORDER BY id")]
    assert [k for k, _ in events] == ["alert_open", "alert_ack", "alert_reopen"]
    assert events[1][1]["by"] == "foh" and events[1][1]["note"] == "spare at side stage"
    assert events[2][1]["after_ack_by"] == "foh"
    assert rows(db, f"SELECT acked_by FROM alerts WHERE id = '{vox['id']}'") == [("foh",)]

    # -- a restart takes the re-opened episode up open, the other one acknowledged
    async with running_daemon(cfg, tmp_path) as d:
        await wait_for(lambda: {VOX, GTR} <= set(alerts(d)))
        assert alerts(d)[VOX]["state"] == "open"
        assert alerts(d)[VOX]["previous_ack"] == {"acked_by": "foh"}
        assert alerts(d)[GTR]["state"] == "acknowledged"
        status, body = await ack(d, {"all": True, "note": "changed the pack"})
        assert [a["id"] for a in body["acknowledged"]] == [vox["id"]]
        h = d.history
        assert h is not None
        await h.sync()
    async with running_daemon(cfg, tmp_path) as d:
        await wait_for(lambda: VOX in alerts(d))
        restored = alerts(d)[VOX]
        assert (restored["state"], restored["acked_by"], restored["ack_note"]) == (
            "acknowledged", "foh", "changed the pack")
        # the history view tells the acknowledgement as it stands, not the first one
        async with aiohttp.ClientSession() as s, s.get(
                f"http://127.0.0.1:{d.http_port}/api/alerts",
                params={"from": "0", "to": str(restored["opened"] + 3600)}) as r:
            assert r.status == 200
            told = {a["channel"]: a for a in (await r.json())["alerts"]}
        assert (told[VOX]["acked_by"], told[VOX]["ack_note"]) == ("foh", "changed the pack")
        assert told[VOX]["acked"] > told[VOX]["opened"] and "reopened" not in told[VOX]
        assert told[GTR]["acked_by"] == "foh" and told[GTR]["ack_note"] is None
