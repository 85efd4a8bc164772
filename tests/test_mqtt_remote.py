"""Many venues: one micboardd shows another's channels through the broker."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from driverkit import simctl
from mqtt_helpers import (
    Broker,
    CuttableLink,
    Watcher,
    bridge_conf,
    get_json,
    make_config,
    publish,
    retained_snapshot,
    running_broker,
    running_daemon,
    sim_device,
    wait_async,
    wait_for,
)

from micboardd.config import parse_config
from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.mqtt.remote import RemoteSites
from micboardd.state import (
    Store,
    empty_channel,
    merge_into,
    put_remote,
    put_remote_channel,
    put_remote_device,
)


@pytest.fixture
async def broker(tmp_path: Any) -> AsyncIterator[Broker]:
    async with running_broker(tmp_path) as b:
        yield b


@pytest.fixture
async def sims() -> AsyncIterator[tuple[ULXDSimulator, ULXDSimulator]]:
    a = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", names=["STAGE V1", "STAGE V2"],
                            frozen=True, seed=3).start()
    b = await ULXDSimulator("127.0.0.1", 0, model="ULXD4", names=["FOH TB"], frozen=True,
                            seed=4).start()
    yield a, b
    await a.stop()
    await b.stop()


def no_idx(ch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ch.items() if k != "idx"}


def remote_view(ch: dict[str, Any], site: str) -> dict[str, Any]:
    out = copy.deepcopy(ch)
    out["key"] = f"{site}:{ch['key']}"
    out["device"] = f"{site}:{ch['device']}"
    return out


# -- the store side, no broker --------------------------------------------------------------


class StoreMirror:
    """A client's copy of the state, built from the store's merge patches only."""

    def __init__(self, store: Store) -> None:
        self.state = copy.deepcopy(store.state())
        store.subscribe(self.on_patch)

    def on_patch(self, seq: int, patch: dict[str, Any], meter_only: bool) -> None:
        merge_into(self.state, copy.deepcopy(patch))


def without_nulls(o: Any) -> Any:
    """Merge patches cannot carry a null value (null deletes): clients read absent as null."""
    if isinstance(o, dict):
        return {k: without_nulls(v) for k, v in o.items() if v is not None}
    return o


async def test_remote_sites_keep_the_contract_of_the_state() -> None:
    store = Store(parse_config(b"{}"))
    mirror = StoreMirror(store)
    rs = RemoteSites(store, "mb", ["s2"], clock=lambda: 100.0)
    rs.broker_connected()

    def msg(topic: str, payload: Any) -> None:
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        assert rs.handle(f"mb/s2/{topic}", raw)

    async def settle() -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        store.flush()  # remote meters travel at the meter interval, as local ones do
        assert without_nulls(mirror.state) == without_nulls(store.state())

    ch1 = empty_channel("rx", 1) | {"name": "A", "status": "GOOD"}
    ch1["rf"] = ch1["rf"] | {"level_pct": 70}
    # a channel before its device: held until the device is known
    msg("channel/rx/1/state", ch1)
    await settle()
    assert "s2:rx/1" not in store.channels
    msg("status", b"online")
    msg("device/rx/state", {"id": "rx", "driver": "shure-ulxd", "link": "online",
                            "channels": ["rx/1", "rx/2"], "bogus": {"deep": 1}})
    msg("channel/rx/2/state", empty_channel("rx", 2) | {"status": "TX_OFF", "junk": [1]})
    await settle()
    dev = store.devices["s2:rx"]
    assert dev["channels"] == ["s2:rx/1", "s2:rx/2"] and "bogus" not in dev
    assert dev["link"] == "online"
    local = dict(store.channels["s2:rx/1"])
    assert isinstance(local.pop("idx"), int)  # this process's own idx, not the remote's
    assert local == remote_view(ch1, "s2")
    assert "junk" not in store.channels["s2:rx/2"]
    assert store.sections["sites"]["s2"]["status"] == "online"
    assert store.sections["sites"]["s2"]["devices"] == ["s2:rx"]

    # the site goes away (its last will): RX_OFFLINE and no meters, as a local link drop
    msg("status", b"offline")
    await settle()
    assert store.devices["s2:rx"]["link"] == "offline"
    assert store.channels["s2:rx/1"]["status"] == "RX_OFFLINE"
    assert store.channels["s2:rx/1"]["rf"]["level_pct"] is None
    assert store.channels["s2:rx/1"]["name"] == "A"
    assert store.sections["sites"]["s2"]["status"] == "offline"
    msg("status", b"online")
    await settle()
    assert store.channels["s2:rx/1"]["rf"]["level_pct"] == 70

    # the bridge between brokers reports its link down: same
    msg("bridge", b"0")
    await settle()
    assert "link" in store.sections["sites"]["s2"]["reason"]
    assert store.devices["s2:rx"]["link"] == "offline"
    msg("bridge", b"1")
    await settle()
    assert store.devices["s2:rx"]["link"] == "online"

    # garbage is refused, counted, and changes nothing
    before = copy.deepcopy(store.state())
    msg("channel/rx/1/state", b"{not json")
    msg("channel/rx/x/state", ch1)
    msg("device/rx/state", b"[1, 2]")
    await settle()
    assert rs.stats.rejected == 3
    assert store.state() == before

    # a channel and then a device removed (empty retained payloads)
    msg("channel/rx/2/state", b"")
    await settle()
    assert "s2:rx/2" not in store.channels
    assert store.devices["s2:rx"]["channels"] == ["s2:rx/1"]
    msg("device/rx/state", b"")
    await settle()
    assert "s2:rx" not in store.devices and "s2:rx/1" not in store.channels

    # other sites and other prefixes are not ours
    assert not rs.handle("mb/s3/status", b"online")
    assert not rs.handle("other/s2/status", b"online")
    rs.close()
    await settle()
    assert "s2" not in store.sections["sites"]


async def test_put_remote_diffs_into_merge_patches() -> None:
    store = Store(parse_config(b"{}"))
    patches: list[dict[str, Any]] = []
    store.subscribe(lambda seq, p, m: patches.append(copy.deepcopy(p)))
    ch = empty_channel("x:d", 1)
    put_remote(store, "x:d", {"id": "x:d", "link": "online"}, {"x:d/1": ch})
    await asyncio.sleep(0)
    assert patches[-1]["devices"]["x:d"]["channels"] == ["x:d/1"]
    ch2 = copy.deepcopy(ch)
    ch2["tx"]["battery_bars"] = 4
    put_remote(store, "x:d", {"id": "x:d", "link": "online"}, {"x:d/1": ch2})
    await asyncio.sleep(0)
    assert patches[-1] == {"channels": {"x:d/1": {"tx": {"battery_bars": 4}}}}
    put_remote(store, "x:d", {"id": "x:d", "link": "online"}, {"x:d/1": ch2})
    await asyncio.sleep(0)
    assert len(patches) == 2  # nothing changed: no patch
    put_remote(store, "x:d", None, {})
    await asyncio.sleep(0)
    assert patches[-1] == {"devices": {"x:d": None}, "channels": {"x:d/1": None}}


async def test_one_remote_channel_moves_alone_and_its_meters_at_the_meter_pace() -> None:
    store = Store(parse_config(b"{}"))
    patches: list[tuple[dict[str, Any], bool]] = []
    store.subscribe(lambda seq, p, m: patches.append((copy.deepcopy(p), m)))
    chans = {f"x:d/{n}": empty_channel("x:d", n) for n in (1, 2)}
    put_remote(store, "x:d", {"id": "x:d", "link": "online"}, chans)
    store.flush()
    patches.clear()
    ch = copy.deepcopy(chans["x:d/2"])
    ch["name"] = "VOX"
    ch["rf"]["level_pct"] = 61
    assert put_remote_channel(store, "x:d", "x:d/2", ch)
    await asyncio.sleep(0)
    # the name at once, as its own patch; the meter waits for the meter interval
    assert patches == [({"channels": {"x:d/2": {"name": "VOX"}}}, False)]
    store.flush()
    assert patches[-1] == ({"channels": {"x:d/2": {"rf": {"level_pct": 61}}}}, True)
    assert not put_remote_channel(store, "x:d", "x:d/3", ch)  # unknown: the whole device
    # the device's message of every second: its fields alone, last_seen with the meters
    patches.clear()
    assert put_remote_device(store, "x:d", {"id": "x:d", "link": "online", "last_seen": 5.5})
    await asyncio.sleep(0)
    assert patches == []
    store.flush()
    assert patches == [({"devices": {"x:d": {"last_seen": 5.5}}}, True)]
    assert store.devices["x:d"]["channels"] == ["x:d/1", "x:d/2"]
    assert not put_remote_device(store, "x:e", {"id": "x:e"})


# -- two daemons through a real broker ---------------------------------------------------------


async def test_one_daemon_shows_the_other_sites_channels(
        broker: Broker, sims: tuple[ULXDSimulator, ULXDSimulator], tmp_path: Any) -> None:
    stage_sim, foh_sim = sims
    stage_cfg = make_config([sim_device("rx", stage_sim)],
                            mqtt={"url": broker.url, "site": "stage", "meter_interval_s": 0.2})
    foh_cfg = make_config([sim_device("rx", foh_sim)],
                          mqtt={"url": broker.url, "site": "foh", "meter_interval_s": 0.2,
                                "remote_sites": ["stage"]},
                          slots=[{"slot": 1, "channel": "rx/1"},
                                 {"slot": 2, "channel": "stage:rx/1"}])
    async with running_daemon(foh_cfg, tmp_path / "foh") as foh:
        # the stage is not there yet: its site shows offline, nothing else breaks
        await wait_for(lambda: foh.store.sections.get("sites", {}).get("stage"))
        assert foh.store.sections["sites"]["stage"]["status"] == "offline"
        async with running_daemon(stage_cfg, tmp_path / "stage") as stage:
            await wait_for(lambda: stage.store.devices["rx"]["link"] == "online"
                           and stage.store.channels["rx/2"]["status"] != "RX_OFFLINE")

            async def same() -> bool:
                here = await get_json(foh, "/api/state")
                there = await get_json(stage, "/api/state")
                # equal but for idx, which each process numbers its own channels with
                want = {f"stage:{k}": no_idx(remote_view(c, "stage"))
                        for k, c in there["channels"].items()}
                got = {k: no_idx(c) for k, c in here["channels"].items()
                       if k.startswith("stage:")}
                if got != want:
                    return False
                dev = here["devices"]["stage:rx"]
                assert dev["link"] == "online"
                assert dev["channels"] == ["stage:rx/1", "stage:rx/2"]
                assert here["channels"]["rx/1"]["name"] == "FOH TB"  # its own, untouched
                assert here["sites"]["stage"]["status"] == "online"
                return True

            await wait_async(same)
            # changes at the stage reach the FOH dashboard
            await simctl(stage_sim.host, stage_sim.port, "2 CHAN_NAME {CHANGED}",
                         "2 BATT_BARS 001", "2 BATT_RUN_TIME 00012")
            await wait_for(lambda: foh.store.channels["stage:rx/2"]["name"] == "CHANGED"
                           and foh.store.channels["stage:rx/2"]["status"] == "CRITICAL")
            # the FOH does not re-publish what it got from the stage
            got = await retained_snapshot(broker, "micboardd/foh/#")
            assert got and not any("stage" in t for t in got)
            assert "micboardd/foh/channel/rx/1/state" in got
        # the stage daemon stopped: its channels stay listed, as offline
        await wait_for(lambda: foh.store.sections["sites"]["stage"]["status"] == "offline")
        assert foh.store.devices["stage:rx"]["link"] == "offline"
        assert foh.store.channels["stage:rx/2"]["status"] == "RX_OFFLINE"
        assert foh.store.channels["stage:rx/2"]["name"] == "CHANGED"

        # a reload keeps the remote devices (Store.reconfigure drops unknown devices)
        foh.apply_config(foh_cfg.model_copy(update={"slots": foh_cfg.slots[:1]}))
        await asyncio.sleep(0.05)
        assert "stage:rx" in foh.store.devices and "stage:rx/2" in foh.store.channels

        # the site's daemon is back as if after a crash: last will then reconnect
        await publish(broker, "micboardd/stage/status", b"online", retain=True)
        await wait_for(lambda: foh.store.devices["stage:rx"]["link"] == "online")
    # stopping the FOH daemon removes nothing from the broker but its own status
    got = await retained_snapshot(broker, "micboardd/+/status")
    assert got == {"micboardd/foh/status": b"offline", "micboardd/stage/status": b"online"}


async def test_remote_state_in_the_websocket_snapshot(
        broker: Broker, sims: tuple[ULXDSimulator, ULXDSimulator], tmp_path: Any) -> None:
    """The dashboard gets remote channels like local ones (snapshot, then patches)."""
    websockets = pytest.importorskip("websockets")
    stage_sim, _ = sims
    stage_cfg = make_config([sim_device("rx", stage_sim)],
                            mqtt={"url": broker.url, "site": "stage"})
    foh_cfg = make_config([], mqtt={"url": broker.url, "site": "foh",
                                    "remote_sites": ["stage"]})
    async with running_daemon(stage_cfg, tmp_path / "stage"), \
            running_daemon(foh_cfg, tmp_path / "foh") as foh:
        await wait_for(lambda: foh.store.channels.get("stage:rx/1", {}).get("name")
                       == "STAGE V1")
        async with websockets.connect(f"ws://127.0.0.1:{foh.http_port}/ws") as ws:
            snap = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
            assert snap["type"] == "snapshot"
            assert snap["state"]["channels"]["stage:rx/1"]["name"] == "STAGE V1"
            assert snap["state"]["sites"]["stage"]["status"] == "online"
            await simctl(stage_sim.host, stage_sim.port, "1 CHAN_NAME {NEW}")
            while True:
                m = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
                ch = m.get("patch", {}).get("channels", {}).get("stage:rx/1", {})
                if ch.get("name") == "NEW":
                    break


async def test_festival_link_between_sites_fails_and_recovers(
        sims: tuple[ULXDSimulator, ULXDSimulator], tmp_path: Any) -> None:
    """Stage broker bridged to the central broker through a link that breaks: the
    central dashboard shows the stage offline, and fresh again once the link is back."""
    stage_sim, _ = sims
    central = await Broker(tmp_path).start()
    link = await CuttableLink(central.port).start()
    stage_broker = await Broker(tmp_path, extra=bridge_conf("stage1", link.port)).start()
    try:
        stage_cfg = make_config([sim_device("rx", stage_sim)],
                                mqtt={"url": stage_broker.url, "site": "stage1",
                                      "commands": True})
        central_cfg = make_config([], mqtt={"url": central.url, "site": "office",
                                            "remote_sites": ["stage1"]})
        async with running_daemon(stage_cfg, tmp_path / "stage") as stage, \
                running_daemon(central_cfg, tmp_path / "central") as office:
            audits: list[Any] = []
            stage.audit_trail.sinks.append(lambda *a: audits.append(a))
            await wait_for(lambda: office.store.channels.get("stage:rx/1") is None
                           and office.store.channels.get("stage1:rx/1", {}).get("status")
                           not in (None, "RX_OFFLINE"))
            assert office.store.sections["sites"]["stage1"]["status"] == "online"

            await link.cut()
            await wait_for(lambda: office.store.sections["sites"]["stage1"]["status"]
                           == "offline")
            assert "link" in office.store.sections["sites"]["stage1"]["reason"]
            assert office.store.channels["stage1:rx/1"]["status"] == "RX_OFFLINE"
            assert office.store.devices["stage1:rx"]["link"] == "offline"
            # the stage itself carries on, and changes while the link is down ...
            await simctl(stage_sim.host, stage_sim.port, "1 CHAN_NAME {OUTAGE}")
            await wait_for(lambda: stage.store.channels["rx/1"]["name"] == "OUTAGE")

            await link.restore()
            # ... reach the office once it is back (the stage republishes on bridge up)
            await wait_for(lambda: office.store.sections["sites"]["stage1"]["status"]
                           == "online"
                           and office.store.channels["stage1:rx/1"]["name"] == "OUTAGE")
            assert office.store.channels["stage1:rx/1"]["status"] != "RX_OFFLINE"

            # a command published at the central broker reaches the stage once
            async with Watcher(central, "micboardd/stage1/#") as w:
                topic = "micboardd/stage1/channel/rx/2/set/name"
                await publish(central, topic, b'{"value": "VIA HQ", "id": 1}')
                await wait_for(lambda: w.json(topic + "/result"))
                assert w.json(topic + "/result")["ok"] is True
                await wait_for(lambda: office.store.channels["stage1:rx/2"]["name"]
                               == "VIA HQ")
            sets = [c for c in stage_sim.commands_seen if "CHAN_NAME" in c and "VIA HQ" in c]
            assert len(sets) == 1, sets
            assert [a[1] for a in audits] == ["command.name"]
    finally:
        await stage_broker.stop()
        await link.cut()
        await central.stop()
