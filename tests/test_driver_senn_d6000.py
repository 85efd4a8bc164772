"""Digital 6000 driver: the packed ``mm`` meters, skx battery strings, warnings, error
replies, garbage, commands, and the simulator over real UDP on a configurable port."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sennkit import Session, errors, has, merged, of_type, simctl

from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandDone,
    CommandFailed,
    CommandInvalid,
    CommandUnsupported,
    DeviceUpdate,
    ProtocolError,
)
from micboardd.drivers.sennheiser_d6000 import D6000Driver, D6000Simulator
from micboardd.drivers.sennheiser_d6000.driver import mm_values

# SSC Developer's guide for Digital 6000: 8.100 /mm (example), 8.27 /rx1/skx/battery,
# 8.46 /rx1/active_warnings, 8.103 /device/identity/product, 8.123 (310 shape)
MM = b'{"mm":[[0,0,0,0,0,0,0,0,0],[83,0,53,0,1,1,128,165,0]]}'
BATTERY_70 = b'{"rx1":{"skx":{"battery":["70%","5:12"]}}}'
BATTERY_LOW = b'{"rx1":{"skx":{"battery":["low","-:--"]}}}'
BATTERY_NONE = b'{"rx1":{"skx":{"battery":[]}}}'
WARNINGS = b'{"rx1":{"active_warnings":["RFPeak","AFPeak"]}}'
PRODUCT = b'{"device":{"identity":{"product":"EM6000-Dante"}}}'
MM_ENDED = b'{"osc":{"error":[{"mm":[310,{"desc":"subscription terminates"}]}]}}'

NO_TX = {"tx.present": False, "tx.model": None, "tx.battery_percent": None,
         "tx.battery_bars": None, "tx.battery_minutes": None, "tx.battery_type": None,
         "tx.muted": None}


def fresh(**kw: Any) -> D6000Driver:
    d = D6000Driver(**kw)
    d.connection_made(0.0)
    d.datagrams_to_send()
    return d


def feed(d: D6000Driver, *datagrams: bytes, now: float = 0.0) -> list[Any]:
    out: list[Any] = []
    for dg in datagrams:
        out.extend(d.receive_data(dg, now))
    return out


def test_mm_decodes_by_the_guide_formulas() -> None:
    ev = feed(fresh(), MM)
    assert ev == [
        # all zero: -127.5 dBm, no antenna flagged, LQI 0, -127.5 dBFS
        ChannelUpdate(1, {"rf.rssi_dbm": -127.5, "rf.level_pct": 0, "rf.antennas": "",
                          "rf.quality": 0, "audio.dbfs": -127.5, "audio.level_pct": 0,
                          "audio.peak": False}, meter=True),
        # RF1 83 -> -86 dBm, RF2 53 -> -101 dBm, both on: the stronger; LQI 128 -> 50 %;
        # AF 165 -> -45 dBFS
        ChannelUpdate(2, {"rf.rssi_dbm": -86.0, "rf.level_pct": 23, "rf.antennas": "AB",
                          "rf.quality": 3, "audio.dbfs": -45.0, "audio.level_pct": 10,
                          "audio.peak": False}, meter=True)]


def test_mm_antennas_quality_and_peak() -> None:
    only_b = mm_values([200, 0, 180, 1, 0, 1, 255, 254, 1])
    assert only_b["rf.antennas"] == "B" and only_b["rf.rssi_dbm"] == -37.5  # B, not A
    assert only_b["rf.quality"] == 5 and only_b["audio.peak"] is True
    assert only_b["audio.dbfs"] == -0.5 and only_b["audio.level_pct"] == 99


def test_skx_battery_strings() -> None:
    d = fresh()
    assert feed(d, BATTERY_70) == [ChannelUpdate(1, {
        "tx.battery_percent": 70, "tx.battery_bars": 4, "tx.battery_minutes": 312,
        "tx.present": True})]
    assert feed(d, BATTERY_LOW) == [ChannelUpdate(1, {
        "tx.battery_percent": 0, "tx.battery_bars": 0, "tx.battery_minutes": None,
        "tx.present": True})]
    assert feed(d, BATTERY_NONE) == [ChannelUpdate(1, NO_TX)]
    assert feed(d, BATTERY_NONE) == []  # still no transmitter: nothing new
    # either element may be absent (sennheiser.md section 4)
    assert feed(d, b'{"rx2":{"skx":{"battery":["30%"]}}}')[0].values["tx.battery_bars"] == 2
    assert feed(d, b'{"rx2":{"skx":{"battery":["1:05"]}}}')[0].values == {
        "tx.battery_percent": None, "tx.battery_bars": None, "tx.battery_minutes": 65,
        "tx.present": True}


def test_channel_paths_and_warnings() -> None:
    d = fresh()
    ev = feed(d, orjson.dumps({"rx2": {"name": "BV PRIYA", "carrier": 558250, "audio_mute": True,
                                       "skx": {"type": ["SKM 6000", 470, 558],
                                               "capsule": "MMD 935"}}}), WARNINGS)
    assert merged(ev)[2] == {"name": "BV PRIYA", "frequency_khz": 558250, "audio.muted": True,
                             "tx.model": "SKM 6000", "tx.present": True}
    assert ev[-1] == ChannelUpdate(1, {"rf.encryption_ok": True})  # AFPeak rides on mm
    ev = feed(d, b'{"rx1":{"active_warnings":["Aes256Error","NoLink"]}}')
    assert ev == [ChannelUpdate(1, {"rf.encryption_ok": False, **NO_TX})]
    assert feed(d, b'{"rx1":{"skx":{"type":""}}}') == [ChannelUpdate(1, {"tx.model": None})]


def test_product_and_d9000_channel_count() -> None:
    d = fresh()
    assert feed(d, PRODUCT) == [DeviceUpdate({"model": "EM6000-Dante", "channel_count": 2})]
    d = fresh()
    feed(d, b'{"device":{"identity":{"product":"EM9046"}}}')
    assert d.channels == 8 and any(b'"rx8"' in x for x in d.datagrams_to_send())
    d = fresh()  # an mm array with more channels than known grows them too
    feed(d, orjson.dumps({"mm": [[0] * 9] * 4}))
    assert d.channels == 4


BAD = [
    b"{", b"not json", b'{"mm":[[1,2,3]]}', b'{"mm":[[0,0,0,0,0,0,0,0,256]]}',
    b'{"mm":"x"}', b'{"mm":[[0,0,0,0,0,0,0,0,-1]]}',
    b'{"mm":[' + b",".join([b"[0,0,0,0,0,0,0,0,0]"] * 9) + b"]}",  # 9 channels: at most 8
    b'{"rx1":{"skx":{"battery":["70%","5:12","x"]}}}', b'{"rx1":{"skx":{"battery":["7O%"]}}}',
    b'{"rx1":{"skx":{"battery":"70%"}}}', b'{"rx1":{"skx":{"battery":["101%"]}}}',
    b'{"rx1":{"audio_mute":"on"}}', b'{"rx1":{"carrier":"558"}}',
    b'{"rx1":{"active_warnings":[1]}}', b'{"rx1":{"name":5}}',
]


@pytest.mark.parametrize("bad", BAD)
def test_malformed_datagram_is_one_protocol_error_and_changes_nothing(bad: bytes) -> None:
    d = fresh()
    ev = feed(d, bad)
    assert len(ev) == 1 and isinstance(ev[0], ProtocolError)
    assert d.stats.malformed == 1 and d.channels == 2
    assert feed(d, BATTERY_70)[0].values["tx.battery_percent"] == 70


def test_a_truncated_mm_datagram_changes_nothing() -> None:
    for k in range(1, len(MM)):
        d = fresh()
        ev = feed(d, MM[:k])
        assert len(ev) == 1 and isinstance(ev[0], ProtocolError), k


@settings(max_examples=300, deadline=None)
@given(meters=st.lists(st.lists(st.integers(-5, 300), min_size=8, max_size=10), max_size=3))
def test_any_mm_array_is_decoded_or_refused_whole(meters: list[list[int]]) -> None:
    d = fresh()
    ev = d.receive_data(orjson.dumps({"mm": meters}), 0.0)
    ok = all(len(m) == 9 and all(0 <= v <= 255 for v in m) for m in meters)
    if ok:
        assert len(ev) == len(meters) and not errors(ev)
        for e in ev:
            assert 0 <= e.values["rf.level_pct"] <= 100 and 0 <= e.values["rf.quality"] <= 5
    else:
        assert len(ev) == 1 and isinstance(ev[0], ProtocolError)


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200))
def test_any_bytes_never_raise_nor_spoil_the_next_datagram(junk: bytes) -> None:
    d = fresh()
    d.receive_data(junk, 0.0)
    assert d.receive_data(BATTERY_70, 0.0)[0].values["tx.battery_percent"] == 70


def test_handshake_subscriptions_and_renewal() -> None:
    d = D6000Driver(meter_rate_ms=480)
    d.connection_made(0.0)
    out = d.datagrams_to_send()
    # the guide's own subscription, at our meter rate (8.100)
    assert out[-1] == (b'{"osc":{"state":{"subscribe":[{"#":{"min":480,"max":480,'
                       b'"lifetime":20,"count":1000},"mm":null}]}}}')
    rx = orjson.loads(out[1])["osc"]["state"]["subscribe"][0]
    assert rx["rx2"] == {"name": None, "carrier": None, "audio_mute": None,
                         "active_warnings": None, "skx": {"battery": None, "type": None}}
    d.tick(11.9)
    assert d.datagrams_to_send() == [b'{"device":{"name":null}}']
    d.tick(12.0)  # 60 % of 20 s: both subscriptions (the ping went out 0.1 s ago)
    assert d.datagrams_to_send() == out[1:]
    assert feed(d, MM_ENDED, now=13.0) == []
    assert d.datagrams_to_send() == [out[-1]]
    assert D6000Driver.default_port == 45


@pytest.mark.parametrize(("cmd", "wire"), [
    (Command("name", 1, "Vox 2"), b'{"rx1":{"name":"Vox 2"}}'),
    (Command("mute", 2, False), b'{"rx2":{"audio_mute":false}}'),
    (Command("identify", 2), b'{"rx2":{"identify":null}}'),
    (Command("identify", None), b'{"rx1":{"identify":null},"rx2":{"identify":null}}'),
    (Command("frequency", 1, 470100), b'{"rx1":{"carrier":470100}}'),
])
def test_commands_encode(cmd: Command, wire: bytes) -> None:
    d = fresh()
    d.command(cmd)
    assert d.datagrams_to_send() == [wire]


@pytest.mark.parametrize("cmd", [
    Command("name", 1, "SAX_1"), Command("name", 1, "NINECHARS"), Command("name", 1, "A.B"),
    Command("frequency", 1, 713925), Command("frequency", 1, 470110), Command("mute", 1, 1),
])
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = fresh()
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.datagrams_to_send() == []


def test_no_receiver_gain_on_the_em6000() -> None:
    with pytest.raises(CommandUnsupported):
        fresh().command(Command("gain", 1, 6))


def test_reports_confirm_and_error_replies_refuse() -> None:
    d = fresh()
    ident = d.command(Command("identify", 1))
    name = d.command(Command("name", 2, "KEYS"))
    assert feed(d, b'{"rx1":{"identify":true}}') == [CommandDone(ident)]
    ev = feed(d, b'{"osc":{"error":[{"rx2":{"name":[406]}}]}}')
    assert ev == [CommandFailed(name, "device answered 406")]


# --------------------------------------------------------- against the simulator


@pytest.fixture
async def sim():
    s = await D6000Simulator("127.0.0.1", 0, names=["HOST", "GUEST 1"], frozen=True,
                             seed=5).start()
    yield s
    await s.stop()


def ready(events: list[Any]) -> bool:
    ch = merged(events)
    return all("name" in ch.get(n, {}) and "tx.battery_bars" in ch.get(n, {})
               and "rf.rssi_dbm" in ch.get(n, {}) for n in (1, 2))


async def test_em6000_against_the_simulator_on_a_free_port(sim: D6000Simulator) -> None:
    assert sim.port != 45
    sim.life[2].battery_pct = 60
    s = await Session.open(D6000Driver(), sim.port)
    try:
        ch = merged(await s.until(ready))
        assert ch[1]["name"] == "HOST" and ch[2]["name"] == "GUEST 1"
        assert ch[2]["tx.battery_percent"] == 70 and ch[2]["tx.battery_bars"] == 4
        assert ch[2]["tx.model"] == "SKM 6000" and ch[2]["rf.encryption_ok"] is True
        assert ch[1]["frequency_khz"] == sim.carrier[1]
        assert -100 < ch[1]["rf.rssi_dbm"] < -30 and ch[1]["rf.antennas"] in ("A", "B")
        assert s.driver.stats.malformed == 0
    finally:
        s.close()


async def test_commands_transmitter_and_warnings(sim: D6000Simulator) -> None:
    sim.life[1].battery_pct = 100  # far from the 20 % set below: that must be news
    s = await Session.open(D6000Driver(), sim.port)
    try:
        await s.until(ready)
        mark = s.mark()
        ids = [s.command(Command("name", 1, "DANA")), s.command(Command("mute", 2, True)),
               s.command(Command("identify", 2)), s.command(Command("frequency", 1, 600000))]
        await s.until(lambda ev: len(of_type(ev, CommandDone)) == 4, since=mark)
        assert {e.cmd_id for e in of_type(s.events[mark:], CommandDone)} == set(ids)
        assert sim.identifying == {2} and sim.carrier[1] == 600000
        await s.until(has(1, name="DANA", frequency_khz=600000), since=mark)
        await s.until(has(2, audio__muted=True), since=mark)
        await simctl(sim.port, "TX 2 OFF", "ENCERR 1 ON", "PEAK 1 ON")
        await s.until(has(2, tx__present=False, tx__battery_bars=None, rf__quality=0),
                      since=mark)
        await s.until(has(1, rf__encryption_ok=False, audio__peak=True), since=mark)
        await simctl(sim.port, "FAULT garbage", "BATTERY 1 20")
        await s.until(has(1, tx__battery_percent=30, tx__battery_bars=2), since=mark)
        assert s.driver.stats.malformed > 0
    finally:
        s.close()
