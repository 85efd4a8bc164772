"""MQTT bridge against a real mosquitto: retained state, discovery, commands, restarts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from driverkit import simctl
from mqtt_helpers import (
    Broker,
    Watcher,
    get_json,
    get_text,
    make_config,
    metric,
    publish,
    retained_snapshot,
    running_broker,
    running_daemon,
    sim_device,
    wait_async,
    wait_for,
)

from micboardd.config import ConfigError, parse_config
from micboardd.drivers import ChannelUpdate
from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.mqtt import SENSORS, parse_command
from micboardd.mqtt.bridge import MqttBridge
from micboardd.mqtt.broker import broker_params
from micboardd.mqtt.publish import Publisher
from micboardd.mqtt.topics import Topics
from micboardd.state import Store
from micboardd.state.status import channel_meaning

P = "micboardd/venue"


@pytest.fixture
async def broker(tmp_path: Any) -> AsyncIterator[Broker]:
    async with running_broker(tmp_path) as b:
        yield b


@pytest.fixture
async def sim() -> AsyncIterator[ULXDSimulator]:
    s = await ULXDSimulator("127.0.0.1", 0, model="ULXD4Q", names=["VOX 1", "VOX 2"],
                            frozen=True, seed=1).start()
    yield s
    await s.stop()


@pytest.fixture
async def sim2() -> AsyncIterator[ULXDSimulator]:
    s = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", names=["BASS"], frozen=True,
                            seed=2).start()
    yield s
    await s.stop()


def mqtt_cfg(b: Broker, **kw: Any) -> dict[str, Any]:
    return {"url": b.url, "site": "venue", "meter_interval_s": 0.2, **kw}


def online(d: Any, *devices: str) -> bool:
    return all(d.store.devices.get(i, {}).get("link") == "online" for i in devices) and all(
        ch["status"] != "RX_OFFLINE" for ch in d.store.channels.values())


# -- configuration and parsing (no broker) -----------------------------------------------


def test_mqtt_config_is_validated() -> None:
    def cfg(**mqtt: Any) -> bytes:
        return orjson.dumps({"mqtt": mqtt})

    c = parse_config(cfg(url="mqtts://bob:s%40cret@broker.lan", site="stage-1"))
    assert c.mqtt is not None
    p = broker_params(c.mqtt)
    assert (p["hostname"], p["port"], p["username"], p["password"]) == (
        "broker.lan", 8883, "bob", "s@cret")
    assert p["tls_params"] is not None
    p = broker_params(parse_config(cfg(url="mqtt://h", username="u", password="p")).mqtt)  # type: ignore[arg-type]
    assert (p["port"], p["username"], p["password"], p["tls_params"]) == (1883, "u", "p", None)
    for bad, where in [
        ({"url": "http://h"}, "$.mqtt.url"),
        ({"url": "mqtt://h:99999"}, "$.mqtt.url"),
        ({"url": "mqtt://h", "topic_prefix": "a/#"}, "$.mqtt.topic_prefix"),
        ({"url": "mqtt://h", "site": "a/b"}, "$.mqtt.site"),
        ({"url": "mqtt://h", "site": "x", "remote_sites": ["x"]}, "$.mqtt"),
        ({"url": "mqtt://h", "remote_sites": ["a+"]}, "$.mqtt.remote_sites[0]"),
    ]:
        with pytest.raises(ConfigError) as e:
            parse_config(cfg(**bad))
        assert where in str(e.value), (bad, str(e.value))
    assert parse_config(b"{}").mqtt is None  # off by default


def test_command_payloads() -> None:
    assert parse_command("name", b"Lead Vox") == (None, "Lead Vox", None)
    assert parse_command("name", b'{"value": "A", "id": 7}') == (7, "A", None)
    assert parse_command("mute", b"ON") == (None, True, None)
    assert parse_command("mute", b"false") == (None, False, None)
    assert parse_command("mute", b'{"value": true}') == (None, True, None)
    assert parse_command("mute", b"maybe")[2] is not None
    assert parse_command("identify", b"PRESS") == (None, None, None)
    assert parse_command("name", b"\xff")[2] is not None
    assert parse_command("name", b"{nope")[2] is not None


# -- retained state ----------------------------------------------------------------------


async def test_retained_state_matches_api_state(broker: Broker, sim: ULXDSimulator,
                                                 sim2: ULXDSimulator, tmp_path: Any) -> None:
    cfg = make_config([sim_device("rx1", sim), sim_device("rx2", sim2)], mqtt=mqtt_cfg(broker))
    async with running_daemon(cfg, tmp_path / "state") as d:
        await wait_for(lambda: online(d, "rx1", "rx2"))

        async def matches() -> bool:
            state = await get_json(d, "/api/state")
            got = await retained_snapshot(broker, f"{P}/#")
            chans = {k: orjson.loads(v) for k, v in got.items()
                     if k.startswith(f"{P}/channel/") and k.endswith("/state")}
            want = {f"{P}/channel/{c['device']}/{c['number']}/state": c
                    for c in state["channels"].values()}
            assert len(want) == 6
            if chans != want:
                return False
            for dev_id, dev in state["devices"].items():
                # the retained topics arrive one by one: one not there yet is a retry
                if f"{P}/device/{dev_id}/availability" not in got:
                    return False
                pub = orjson.loads(got[f"{P}/device/{dev_id}/state"])
                # last_seen is a meter: it goes out at meter_interval_s
                pub.pop("last_seen"), dev.pop("last_seen")
                assert pub == dev
                assert got[f"{P}/device/{dev_id}/availability"] == b"online"
            return got.get(f"{P}/status") == b"online"

        await wait_async(matches)

        # a status change goes out at once, as retained state and as an event
        async with Watcher(broker, f"{P}/#") as w:
            await simctl(sim.host, sim.port, "2 CHAN_NAME {RENAMED}", "3 BATT_BARS 001",
                         "3 BATT_RUN_TIME 00012")
            await wait_for(lambda: (w.json(f"{P}/channel/rx1/2/state") or {}).get("name")
                           == "RENAMED")
            await wait_for(lambda: (w.json(f"{P}/channel/rx1/3/state") or {}).get("status")
                           == "CRITICAL")
            events = [orjson.loads(p) for t, p, r in w.log if t == f"{P}/events"]
            await wait_for(lambda: any(
                e.get("type") == "status" and e.get("channel") == "rx1/3"
                for e in (orjson.loads(p) for t, p, _ in w.log if t == f"{P}/events")))
            assert all(not r for t, _, r in w.log if t == f"{P}/events")
            events = [orjson.loads(p) for t, p, _ in w.log if t == f"{P}/events"]
            ev = next(e for e in events if e.get("channel") == "rx1/3")
            assert ev["status"] == "CRITICAL" and ev["site"] == "venue"
            assert (ev["severity"], ev["label"]) == ("critical", "CRITICAL")

        text = await get_text(d, "/metrics")
        assert metric(text, "mqtt_connected") == 1
        assert (metric(text, "mqtt_published_total") or 0) > 0
        assert metric(text, "mqtt_events_dropped_total") == 0

    # a clean stop says offline itself (the last will is for crashes)
    got = await retained_snapshot(broker, f"{P}/status")
    assert got[f"{P}/status"] == b"offline"


async def test_meters_wait_for_the_interval_other_changes_do_not(tmp_path: Any) -> None:
    """The store callback only sorts keys into sets: meters into the rate-limited one."""
    cfg = make_config([{"id": "rx1", "driver": "shure-ulxd", "host": "127.0.0.1",
                        "model": "ULXD4D"}], mqtt={"url": "mqtt://127.0.0.1:1"})
    from micboardd.daemon import Daemon

    d = Daemon(cfg)
    assert cfg.mqtt is not None
    b = MqttBridge(d.store, cfg.mqtt, d.run_command)
    pub = b.publisher
    b.connected = True
    b._on_patch(1, {"channels": {"rx1/1": {"rf": {"level_pct": 50}, "updated": 1.0}}}, True)
    b._on_patch(2, {"channels": {"rx1/2": {"audio": {"dbfs": -20}}}}, False)
    assert pub._meter_channels == {"rx1/1", "rx1/2"} and not pub._dirty_channels
    b._on_patch(3, {"channels": {"rx1/1": {"tx": {"battery_bars": 3}, "status": "REPLACE"}},
                    "devices": {"rx1": {"last_seen": 5.0}}}, False)
    assert pub._dirty_channels == {"rx1/1"} and pub._meter_channels == {"rx1/2"}
    assert pub._meter_devices == {"rx1"} and not pub._dirty_devices
    b._on_patch(4, {"devices": {"rx1": {"link": "offline", "link_hint": None}},
                    "alerts": {"rx1/1:battery": {"level": "warn"}}}, False)
    assert pub._dirty_devices == {"rx1"}
    types = [orjson.loads(e)["type"] for e in pub._events]
    assert types == ["status", "link", "alerts"]
    # remote sites' channels are never re-published
    b._on_patch(5, {"channels": {"stage:rx9/1": {"status": "GOOD"}}}, False)
    assert "stage:rx9/1" not in pub._dirty_channels


# -- Home Assistant discovery ------------------------------------------------------------

_OBJECT_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_PATH = re.compile(r"value_json((?:\.[a-z_]+)+)")


def _check_ha_config(topic: str, cfg: dict[str, Any], states: dict[str, Any]) -> None:
    """The keys Home Assistant's MQTT discovery needs for these components."""
    prefix, component, object_id, last = topic.split("/")
    assert prefix == "homeassistant" and last == "config"
    assert component in ("sensor", "binary_sensor", "text", "switch", "button"), topic
    assert _OBJECT_ID.match(object_id)
    assert isinstance(cfg["unique_id"], str) and cfg["unique_id"]
    assert isinstance(cfg["name"], str) and cfg["name"]
    dev = cfg["device"]
    assert isinstance(dev["identifiers"], list) and dev["identifiers"]
    for k in ("name", "model", "manufacturer"):
        assert isinstance(dev[k], str) and dev[k], k
    avail = cfg["availability"]
    assert isinstance(avail, list) and len(avail) == 2
    assert {a["topic"] for a in avail} == {f"{P}/status", f"{P}/device/{dev['name']}/availability"}
    assert cfg["availability_mode"] == "all"
    assert cfg["payload_available"] == "online" and cfg["payload_not_available"] == "offline"
    if component == "button":
        assert cfg["command_topic"].startswith(P + "/channel/")
        return
    state = states[cfg["state_topic"]]  # the topic exists and holds a channel object
    tmpl = cfg["value_template"]
    assert "{{" in tmpl or "{%" in tmpl
    for path in _PATH.findall(tmpl):
        node: Any = state
        for part in path.strip(".").split("."):
            if part in ("tx", "rf", "audio") or isinstance(node, dict):
                assert part in node, (topic, path)
                node = node[part]
    if component == "sensor" and cfg.get("device_class") == "enum":
        # the status, or its severity in the one vocabulary (state/status.py)
        severity = cfg["name"].endswith("Severity")
        assert (channel_meaning(state).severity if severity else state["status"]) \
            in cfg["options"]
    if component in ("switch", "text"):
        assert cfg["command_topic"].startswith(P + "/channel/")
        assert re.search(r"/set/(name|mute)$", cfg["command_topic"])


async def test_home_assistant_discovery(broker: Broker, sim: ULXDSimulator,
                                        sim2: ULXDSimulator, tmp_path: Any) -> None:
    cfg = make_config([sim_device("rx1", sim), sim_device("rx2", sim2)],
                      mqtt=mqtt_cfg(broker, discovery=True, commands=True))
    per_channel = len(SENSORS) + 3  # + name text, mute switch, identify button
    async with running_daemon(cfg, tmp_path / "state") as d:
        await wait_for(lambda: online(d, "rx1", "rx2"))

        async def all_there() -> dict[str, bytes] | None:
            got = await retained_snapshot(broker, "homeassistant/#")
            return got if len(got) == 6 * per_channel else None

        disc = await wait_async(all_there)
        states = {t: orjson.loads(p)
                  for t, p in (await retained_snapshot(broker, f"{P}/channel/#")).items()}
        configs = {t: orjson.loads(p) for t, p in disc.items()}
        for topic, c in configs.items():
            _check_ha_config(topic, c, states)
        ids = [c["unique_id"] for c in configs.values()]
        assert len(set(ids)) == len(ids)
        # one HA device per receiver
        devices = {c["device"]["identifiers"][0]: c["device"] for c in configs.values()}
        assert len(devices) == 2
        assert {d_["name"] for d_ in devices.values()} == {"rx1", "rx2"}
        assert {d_["manufacturer"] for d_ in devices.values()} == {"Shure"}
        battery = [c for c in configs.values() if c.get("device_class") == "battery"]
        assert len(battery) == 6 and all(c["unit_of_measurement"] == "%" for c in battery)
        for c in configs.values():
            assert f"{P}/status" in {a["topic"] for a in c["availability"]}

        # a removed receiver disappears from HA: its config topics are emptied
        d.apply_config(cfg.model_copy(update={"devices": [cfg.devices[0]]}))

        async def rx2_gone() -> bool:
            got = await retained_snapshot(broker, "homeassistant/#")
            left = {orjson.loads(p)["device"]["name"] for p in got.values()}
            ch = await retained_snapshot(broker, f"{P}/#")
            return (len(got) == 4 * per_channel and left == {"rx1"}
                    and not any("/rx2/" in t for t in ch))

        await wait_async(rx2_gone)


async def test_stale_retained_devices_of_an_earlier_run_are_cleared(
        broker: Broker, sim: ULXDSimulator, tmp_path: Any) -> None:
    old = {"id": "gone", "channels": ["gone/1", "gone/2"], "link": "online"}
    await publish(broker, f"{P}/device/gone/state", orjson.dumps(old), retain=True)
    await publish(broker, f"{P}/channel/gone/1/state", b"{}", retain=True)
    await publish(broker, "homeassistant/sensor/micboardd_venue_gone_1_battery/config",
                  b"{}", retain=True)
    cfg = make_config([sim_device("rx1", sim)], mqtt=mqtt_cfg(broker, discovery=True))
    async with running_daemon(cfg, tmp_path / "state"):
        async def cleared() -> bool:
            got = await retained_snapshot(broker, "#")
            return not any("gone" in t for t in got) and f"{P}/device/rx1/state" in got

        await wait_async(cleared)


# -- never in the way --------------------------------------------------------------------


async def test_broker_restart_reconnects_and_republishes(broker: Broker, sim: ULXDSimulator,
                                                         tmp_path: Any) -> None:
    cfg = make_config([sim_device("rx1", sim)], mqtt=mqtt_cfg(broker, discovery=True))
    async with running_daemon(cfg, tmp_path / "state") as d:
        await wait_for(lambda: online(d, "rx1"))

        async def published(name: str) -> bool:
            got = await retained_snapshot(broker, f"{P}/#")
            ch = got.get(f"{P}/channel/rx1/2/state")
            return bool(ch) and orjson.loads(ch)["name"] == name and \
                got.get(f"{P}/status") == b"online"

        await wait_async(lambda: published("VOX 2"))
        await broker.stop()
        # the dashboard goes on: state changes still reach /api/state
        await simctl(sim.host, sim.port, "2 CHAN_NAME {DURING}")
        await wait_async(lambda: _api_name(d, "rx1/2", "DURING"))
        await wait_async(lambda: _metric_is(d, "mqtt_connected", 0))
        await broker.start()  # same port, empty: no persistence
        await wait_async(lambda: published("DURING"))
        disc = await retained_snapshot(broker, "homeassistant/#")
        assert len(disc) == 4 * len(SENSORS)
        text = await get_text(d, "/metrics")
        assert (metric(text, "mqtt_connects_total") or 0) >= 2
        assert (metric(text, "mqtt_updates_while_disconnected_total") or 0) >= 1


async def _api_name(d: Any, key: str, name: str) -> bool:
    state = await get_json(d, "/api/state")
    return bool(state["channels"][key]["name"] == name)


async def _metric_is(d: Any, name: str, value: float) -> bool:
    return metric(await get_text(d, "/metrics"), name) == value


async def test_broker_down_at_start_then_up(sim: ULXDSimulator, tmp_path: Any) -> None:
    b = Broker(tmp_path)  # not started yet
    cfg = make_config([sim_device("rx1", sim)], mqtt=mqtt_cfg(b))
    try:
        async with running_daemon(cfg, tmp_path / "state") as d:
            await wait_for(lambda: online(d, "rx1"))
            state = await get_json(d, "/api/state")
            assert state["channels"]["rx1/1"]["name"] == "VOX 1"
            assert metric(await get_text(d, "/metrics"), "mqtt_connected") == 0
            await b.start()
            await wait_async(lambda: _metric_is(d, "mqtt_connected", 1))

            async def there() -> bool:
                got = await retained_snapshot(b, f"{P}/channel/#")
                return len(got) == 4

            await wait_async(there)
    finally:
        await b.stop()


async def test_hung_broker_does_not_block_the_dashboard(broker: Broker, sim: ULXDSimulator,
                                                        tmp_path: Any) -> None:
    cfg = make_config([sim_device("rx1", sim)], mqtt=mqtt_cfg(broker))
    async with running_daemon(cfg, tmp_path / "state") as d:
        await wait_for(lambda: online(d, "rx1"))
        await wait_async(lambda: _metric_is(d, "mqtt_connected", 1))
        broker.pause()
        try:
            for i in range(5):
                await simctl(sim.host, sim.port, f"1 CHAN_NAME {{HUNG{i}}}")
                await wait_async(lambda i=i: _api_name(d, "rx1/1", f"HUNG{i}"))
        finally:
            broker.resume()

        async def caught_up() -> bool:
            got = await retained_snapshot(broker, f"{P}/channel/rx1/1/state")
            p = got.get(f"{P}/channel/rx1/1/state")
            return bool(p) and orjson.loads(p)["name"] == "HUNG4"

        await wait_async(caught_up)


# -- commands ------------------------------------------------------------------------------


async def test_commands_over_mqtt_reach_the_receiver(broker: Broker, sim: ULXDSimulator,
                                                     tmp_path: Any) -> None:
    cfg = make_config([sim_device("rx1", sim)], mqtt=mqtt_cfg(broker, commands=True))
    async with running_daemon(cfg, tmp_path / "state") as d:
        audits: list[tuple[str, str, Any, Any]] = []
        d.audit_trail.sinks.append(lambda *a: audits.append(a))
        await wait_for(lambda: online(d, "rx1"))
        await wait_async(lambda: _metric_is(d, "mqtt_connected", 1))
        async with Watcher(broker, f"{P}/#") as w:
            base = f"{P}/channel/rx1/2/set"
            await publish(broker, f"{base}/name", b'{"value": "NEWNAME", "id": "r1"}')
            await wait_for(lambda: w.json(f"{base}/name/result"))
            res = w.json(f"{base}/name/result")
            assert res["ok"] is True and res["id"] == "r1" and res["status"] == 200
            assert res["state"]["name"] == "NEWNAME"
            assert any("CHAN_NAME" in c and "NEWNAME" in c for c in sim.commands_seen)
            await wait_for(lambda: (w.json(f"{P}/channel/rx1/2/state") or {}).get("name")
                           == "NEWNAME")
            assert d.store.channels["rx1/2"]["name"] == "NEWNAME"

            await publish(broker, f"{base}/mute", b"ON")
            await wait_for(lambda: w.json(f"{base}/mute/result"))
            assert w.json(f"{base}/mute/result")["ok"] is True
            assert any(c == "SET 2 AUDIO_MUTE ON" for c in sim.commands_seen), sim.commands_seen
            assert d.store.channels["rx1/2"]["audio"]["muted"] is True

            await publish(broker, f"{P}/device/rx1/set/identify", b"")
            await wait_for(lambda: w.json(f"{P}/device/rx1/set/identify/result"))
            assert w.json(f"{P}/device/rx1/set/identify/result")["ok"] is True
            assert any("FLASH ON" in c for c in sim.commands_seen)

            # the same validation as the REST API
            await publish(broker, f"{P}/channel/rx1/1/set/mute", b"sometimes")
            await publish(broker, f"{P}/channel/nope/1/set/name", b"X")
            await publish(broker, f"{P}/channel/rx1/1/set/name", b"FAR TOO LONG A NAME")
            await publish(broker, f"{P}/channel/rx1/1/set/frequency", b"{\"value\": 1}")
            for topic, status in [(f"{P}/channel/rx1/1/set/mute/result", 400),
                                  (f"{P}/channel/nope/1/set/name/result", 404),
                                  (f"{P}/channel/rx1/1/set/name/result", 422),
                                  (f"{P}/channel/rx1/1/set/frequency/result", 400)]:
                await wait_for(lambda t=topic: w.json(t))
                r = w.json(topic)
                assert r["ok"] is False and r["status"] == status, (topic, r)
                assert r["error"]
            results = [(t, r) for t, _, r in w.log if t.endswith("/result")]
            assert results and not any(r for _, r in results)  # results are not retained

        # audited like REST commands, with the same shape
        actions = [(who, action, after["outcome"]) for who, action, _, after in audits]
        assert ("mqtt", "command.name", "ok") in actions
        assert ("mqtt", "command.mute", "ok") in actions
        assert ("mqtt", "command.identify", "ok") in actions
        assert ("mqtt", "command.name", "invalid") in actions
        before = next(b for _, a, b, _ in audits if a == "command.name")
        assert before["name"] == "VOX 2"


async def test_commands_are_off_unless_enabled(broker: Broker, sim: ULXDSimulator,
                                               tmp_path: Any) -> None:
    cfg = make_config([sim_device("rx1", sim)], mqtt=mqtt_cfg(broker))
    async with running_daemon(cfg, tmp_path / "state") as d:
        await wait_for(lambda: online(d, "rx1"))
        await wait_async(lambda: _metric_is(d, "mqtt_connected", 1))
        async with Watcher(broker, f"{P}/#") as w:
            await publish(broker, f"{P}/channel/rx1/1/set/name", b"HACKED")
            # a change made after the command went out shows the bridge saw that moment
            await simctl(sim.host, sim.port, "3 CHAN_NAME {LATER}")
            await wait_for(lambda: (w.json(f"{P}/channel/rx1/3/state") or {}).get("name")
                           == "LATER")
            assert not any(t.endswith("/result") for t in w.latest)
        assert d.store.channels["rx1/1"]["name"] == "VOX 1"
        assert not any("HACKED" in c for c in sim.commands_seen)
        assert metric(await get_text(d, "/metrics"), "mqtt_commands_total") == 0


async def test_reload_turns_the_bridge_off_and_on(broker: Broker, sim: ULXDSimulator,
                                                  tmp_path: Any) -> None:
    cfg = make_config([sim_device("rx1", sim)])  # no mqtt section: off
    async with running_daemon(cfg, tmp_path / "state") as d:
        await wait_for(lambda: online(d, "rx1"))
        assert metric(await get_text(d, "/metrics"), "mqtt_connected") is None
        on = cfg.model_copy(update={"mqtt": parse_config(orjson.dumps(
            {"mqtt": mqtt_cfg(broker)})).mqtt})
        d.apply_config(on)

        async def status(value: bytes) -> bool:
            got = await retained_snapshot(broker, f"{P}/#")
            return got.get(f"{P}/status") == value and f"{P}/channel/rx1/4/state" in got

        await wait_async(lambda: status(b"online"))
        d.apply_config(cfg)
        await wait_async(lambda: status(b"offline"))
        assert metric(await get_text(d, "/metrics"), "mqtt_connected") is None


async def test_meters_wait_behind_nothing_and_never_carry_an_older_name() -> None:
    cfg = parse_config(orjson.dumps({
        "devices": [{"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1", "channels": 2}],
        "mqtt": {"url": "mqtt://127.0.0.1:1", "site": "s"}}))
    assert cfg.mqtt is not None
    store = Store(cfg)
    pub = Publisher(store, cfg.mqtt, Topics(cfg.mqtt.topic_prefix, cfg.mqtt.site,
                                            cfg.mqtt.discovery_prefix))
    pub.connected = True
    store.subscribe(pub.on_patch)
    store.set_link("rx", "online")
    store.flush()
    pub.collect(True)
    store.apply("rx", [ChannelUpdate(1, {"rf.level_pct": 50}, meter=True),
                       ChannelUpdate(2, {"rf.level_pct": 60}, meter=True)])
    store.flush()
    urgent, metered = pub.collect_split(True)
    # (the device's last_seen is owed too)
    assert urgent == [] and {(False, "rx/1"), (False, "rx/2")} <= set(metered)
    # a rename between the collection and the sending of the meters goes first, and
    # the meters, made when they are sent, carry the new name
    store.apply("rx", [ChannelUpdate(1, {"name": "LEAD"})])
    store.flush()
    urgent, _ = pub.collect_split(False)
    assert [orjson.loads(p)["name"] for _, p, _, _ in urgent] == ["LEAD"]
    names = {orjson.loads(p)["number"]: orjson.loads(p)["name"] for t, p, _, _ in
             pub.states(metered) if "/channel/" in t}
    assert names[1] == "LEAD"
