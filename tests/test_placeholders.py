"""Placeholder slots (issue #18): BLANK spacers and manual slots (a pack that is not on
the network) in the layout, in the state every client gets, never raising an alert; and a
layout saved twice unchanged is one change, audited once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from daemonkit import running_daemon

from micboardd.alerts import AlertEngine
from micboardd.config import ConfigError, load_config, parse_config
from micboardd.drivers import ChannelUpdate
from micboardd.state import Store

DEVICE = {"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1", "port": 9, "channels": 2}
PLACEHOLDERS: list[dict[str, Any]] = [
    {"slot": 1, "channel": "rx/1", "label_id": "HH01", "label_name": "Mara"},
    {"slot": 2, "kind": "blank", "group": "Storage"},
    {"slot": 3, "kind": "manual", "label_id": "W01", "label_name": "Wired spare",
     "group": "Storage", "note": "in the rack drawer"},
]


def test_old_slots_are_receiver_slots_and_placeholders_have_no_channel(tmp_path: Path) -> None:
    cfg = parse_config(orjson.dumps({"devices": [DEVICE], "slots": [{"slot": 1,
                                                                      "channel": "rx/1"}]}))
    assert cfg.slots[0].kind == "rx" and cfg.slots[0].note is None
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"devices": [DEVICE], "slots": [
        {"slot": 1, "kind": "manual", "channel": "rx/1"}]}))
    with pytest.raises(ConfigError) as exc:
        load_config(bad)
    [(where, problem)] = exc.value.problems
    assert where == "$.slots[0]" and "manual slot has no channel" in problem
    with pytest.raises(ConfigError):
        parse_config(orjson.dumps({"slots": [{"slot": 1, "kind": "spacer"}]}))


async def test_the_state_carries_kind_and_note() -> None:
    store = Store(parse_config(orjson.dumps({"devices": [DEVICE], "slots": PLACEHOLDERS})))
    assert [(s["slot"], s["kind"], s["channel"], s["note"]) for s in store.slots] == [
        (1, "rx", "rx/1", None), (2, "blank", None, None),
        (3, "manual", None, "in the rack drawer")]
    # a slot handed over as JSON without the new keys reads as a receiver slot
    store.set_slots([{"slot": 5, "channel": "rx/2"}])
    assert store.slots == [{"slot": 5, "channel": "rx/2", "label_id": None, "label_name": None,
                            "group": None, "active": True, "kind": "rx", "note": None}]


@pytest.mark.parametrize("kind", ["rx", "manual", "blank"])
async def test_only_a_receiver_slot_raises_transmitter_off(kind: str) -> None:
    t = [1_700_000_000.0]
    cfg = parse_config(orjson.dumps({"devices": [DEVICE], "alerts": {"default": {
        "tx_off_for_s": 0}}}))
    store = Store(cfg, clock=lambda: t[0])
    # as a slot list from elsewhere could say it (the configuration refuses a channel on
    # a placeholder): the engine still never alerts for a placeholder
    store.set_slots([{"slot": 1, "channel": "rx/1", "kind": kind}])
    engine = AlertEngine(store, cfg.alerts, clock=lambda: t[0])
    engine.attach()
    store.set_link("rx", "online")
    store.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": 5})])
    store.flush()
    t[0] += 5
    store.apply("rx", [ChannelUpdate(1, {"tx.present": False})])
    store.flush()
    for _ in range(4):
        t[0] += 1
        engine.tick()
    rules = {a["rule"] for a in store.sections.get("alerts", {}).values()}
    assert ("tx_off" in rules) == (kind == "rx"), rules


async def _put(base: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.put(f"{base}/api/slots", json=body) as r:
        return r.status, await r.json()


async def test_placeholders_saved_from_the_page_and_an_unchanged_save_is_no_change(
        tmp_path: Path) -> None:
    path = tmp_path / "venue.json"
    path.write_bytes(orjson.dumps({"devices": [DEVICE], "http": {"host": "127.0.0.1",
                                                                 "port": 0},
                                   "state_dir": str(tmp_path / "state")}))
    async with running_daemon(load_config(path), config_path=path) as d:
        base = f"http://127.0.0.1:{d.http_port}"
        body = {"slots": PLACEHOLDERS, "groups": [{"name": "Storage", "key": "s"}]}
        status, saved = await _put(base, body)
        assert status == 200, saved
        assert [s["kind"] for s in saved["slots"]] == ["rx", "blank", "manual"]
        assert [s["kind"] for s in d.store.slots] == ["rx", "blank", "manual"]
        reloads = d.reloads
        layout = (tmp_path / "state" / "layout.json").read_bytes()
        # the same layout again (in another order): saved as it is, nothing applied
        status, again = await _put(base, {**body, "slots": PLACEHOLDERS[::-1]})
        assert status == 200 and again == saved
        assert d.reloads == reloads
        assert (tmp_path / "state" / "layout.json").read_bytes() == layout
        await d.history.writer.sync()
        async with aiohttp.ClientSession() as s, s.get(f"{base}/api/audit") as r:
            actions = [e["action"] for e in (await r.json())["audit"]]
        assert actions.count("layout") == 1, actions
        # a channel on a manual slot is refused with its JSON path
        status, refused = await _put(base, {"slots": [{"slot": 1, "kind": "manual",
                                                       "channel": "rx/1"}]})
        assert status == 400 and refused["problems"][0]["path"] == "$.slots[0]"
