"""EW-DX driver: SSC v1 datagrams, every special value and error reply, garbage,
subscriptions (renewal from tick, 310), commands, and the simulator over real UDP."""

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
    DeviceUpdate,
    ProtocolError,
)
from micboardd.drivers.sennheiser_ewdx import EWDXDriver, EWDXSimulator

# Payloads from the SSC Developer's guide for EW-DX (firmware 1.1.3), the section next to
# each; meter values inside the ranges of the EW-DX SSC 3.0.x method list (/m/rx1/rssi
# -107..0 dBm, rsqi 0..100 %, divi 0/1/2, af -138.5..0 dBFS).
GAUGE = b'{"mates":{"tx1":{"battery":{"gauge":65}}}}'  # 8.106
TX_WARNINGS = b'{"mates":{"tx1":{"warnings":["LowBattery","AfPeak"]}}}'  # 8.107
TX2_NO_WARNINGS = b'{"mates":{"tx2":{"warnings":[]}}}'  # 8.123
TX2_TYPE = b'{"mates":{"tx2":{"type":"SKM"}}}'  # 8.125
TX2_MUTE = b'{"mates":{"tx2":{"mute":true}}}'  # 8.129
TX2_BATTERY_TYPE = b'{"mates":{"tx2":{"battery":{"type":"Battery"}}}}'  # 8.120
# error replies: the /osc/error shape of the SSC guides (SpeechLine DW guide 11.4), with
# 424 for a transmitter that is not there (EW-DX guide 8.106) and 310 when a subscription
# ends (Digital 6000 guide 8.123)
TX1_ABSENT = (b'{"osc":{"error":[{"mates":{"tx1":{"battery":{"gauge":[424,'
              b'{"desc":"failed dependency"}]}}}}]}}')
METERS_ENDED = (b'{"osc":{"error":[{"m":{"rx1":{"rssi":[310,'
                b'{"desc":"subscription terminates"}]}}}]}}')


def fresh(**kw: Any) -> EWDXDriver:
    d = EWDXDriver(**kw)
    d.connection_made(0.0)
    d.datagrams_to_send()
    return d


def feed(d: EWDXDriver, *datagrams: bytes, now: float = 0.0) -> list[Any]:
    out: list[Any] = []
    for dg in datagrams:
        out.extend(d.receive_data(dg, now))
    return out


def js(obj: Any) -> bytes:
    return orjson.dumps(obj)


# ---------------------------------------------------------------------- incoming


def test_transmitter_values_from_the_guide() -> None:
    d = fresh()
    ev = feed(d, GAUGE, TX_WARNINGS, TX2_NO_WARNINGS, TX2_TYPE, TX2_MUTE, TX2_BATTERY_TYPE)
    assert not errors(ev)
    ch = merged(ev)
    assert ch[1] == {"tx.battery_percent": 65, "tx.battery_bars": 4, "tx.present": True,
                     "audio.peak": True}
    assert ch[2] == {"audio.peak": False, "tx.model": "SKM", "tx.present": True,
                     "tx.muted": True, "tx.battery_type": "Battery"}
    assert d.stats.frames == 6 and d.stats.malformed == 0


def test_receiver_values_and_device() -> None:
    d = fresh()
    ev = feed(d, js({"rx1": {"name": "VOX MARA", "mute": False, "gain": 9, "frequency": 518250,
                             "warnings": []},
                     "device": {"name": "RACK A", "identity": {"version": "3.0.0",
                                                               "product": "EW-DX EM 2"}}}))
    assert ev[0] == DeviceUpdate({"device_name": "RACK A", "firmware": "3.0.0",
                                  "model": "EW-DX EM 2", "channel_count": 2})
    assert ev[1] == ChannelUpdate(1, {"name": "VOX MARA", "audio.muted": False,
                                      "audio.gain_db": 9, "frequency_khz": 518250,
                                      "rf.encryption_ok": True, "audio.peak": False})


def test_meters_use_the_shure_display_scales() -> None:
    d = fresh()
    ev = feed(d, js({"m": {"rx1": {"rssi": -70.5, "rsqi": 80, "divi": 2, "af": -25.0},
                           "rx2": {"rssi": -107, "rsqi": 100, "divi": 0, "af": -138.5}}}))
    assert ev == [
        ChannelUpdate(1, {"rf.rssi_dbm": -70.5, "rf.level_pct": 49, "rf.quality": 4,
                          "rf.antennas": "B", "audio.dbfs": -25.0, "audio.level_pct": 50},
                      meter=True),
        ChannelUpdate(2, {"rf.rssi_dbm": -107.0, "rf.level_pct": 0, "rf.quality": 5,
                          "rf.antennas": "", "audio.dbfs": -138.5, "audio.level_pct": 0},
                      meter=True)]


NO_TX = {"tx.present": False, "tx.model": None, "tx.battery_percent": None,
         "tx.battery_bars": None, "tx.battery_minutes": None, "tx.battery_type": None,
         "tx.muted": None}


def test_424_means_no_transmitter_not_a_fault() -> None:
    d = fresh()
    assert feed(d, TX1_ABSENT) == [ChannelUpdate(1, NO_TX)]
    assert d.stats.malformed == 0
    assert feed(d, TX1_ABSENT) == []  # still absent: nothing new
    assert feed(d, GAUGE)[0].values["tx.present"] is True


def test_rsqi_zero_means_the_transmitter_went_and_its_return_refreshes_it() -> None:
    d = fresh()
    ev = feed(d, js({"m": {"rx1": {"rsqi": 0}}}))
    assert ev == [ChannelUpdate(1, NO_TX), ChannelUpdate(1, {"rf.quality": 0}, meter=True)]
    assert feed(d, js({"m": {"rx1": {"rsqi": 0}}})) == [
        ChannelUpdate(1, {"rf.quality": 0}, meter=True)]
    assert d.datagrams_to_send() == []
    feed(d, js({"m": {"rx1": {"rsqi": 60}}}))
    (resub,) = d.datagrams_to_send()  # fresh transmitter values at once
    assert b'"mates":{"tx1":{"battery"' in resub and b'"subscribe"' in resub


def test_warnings_map_into_the_contract() -> None:
    d = fresh()
    ev = feed(d, js({"rx1": {"warnings": ["Aes256Error", "AfPeak", "LowSignal"]}}))
    assert ev == [ChannelUpdate(1, {"rf.encryption_ok": False, "audio.peak": True})]
    ev = feed(d, js({"rx1": {"warnings": []}}), js({"mates": {"tx1": {"warnings": ["AfPeak"]}}}))
    assert merged(ev)[1] == {"rf.encryption_ok": True, "audio.peak": True}  # tx's AfPeak
    ev = feed(d, js({"mates": {"tx1": {"warnings": ["LowBattery"]}}}))
    assert ev == [ChannelUpdate(1, {"audio.peak": False})]
    ev = feed(d, js({"rx2": {"warnings": ["NoLink"]}}))
    assert ev == [ChannelUpdate(2, {"rf.encryption_ok": True, "audio.peak": False, **NO_TX})]


@pytest.mark.parametrize(("raw", "values"), [
    ({"rx1": {"name": ""}}, {"name": None}),
    ({"rx1": {"frequency": 0}}, {"frequency_khz": None}),
    ({"mates": {"tx1": {"battery": {"lifetime": -1}}}}, {"tx.battery_minutes": None}),
    ({"mates": {"tx1": {"battery": {"lifetime": 312}}}}, {"tx.battery_minutes": 312}),
    ({"mates": {"tx1": {"type": "unknown"}}}, {"tx.model": None}),
    ({"mates": {"tx1": {"battery": {"gauge": 0}}}},
     {"tx.battery_percent": 0, "tx.battery_bars": 0, "tx.present": True}),
])
def test_special_values_are_unknown_not_numbers(raw: Any, values: dict[str, Any]) -> None:
    assert feed(fresh(), js(raw)) == [ChannelUpdate(1, values)]


def test_null_leaves_and_subscribe_acknowledgements_carry_no_values() -> None:
    d = fresh()
    ack = {"osc": {"state": {"subscribe": [{"#": {"lifetime": 10}, "rx1": {"name": None}}]},
                   "xid": 7}}
    assert feed(d, js(ack), js({"rx1": {"name": None}})) == []
    bundled = {"osc": {"state": {"subscribe": [{"#": {}, "rx1": {"name": "GTR LEO"}}]}}}
    assert feed(d, js(bundled)) == [ChannelUpdate(1, {"name": "GTR LEO"})]
    assert d.stats.malformed == 0


BAD = [
    b"", b"garbage", b'{"rx1":{"name":"VOX', b"\x00\xff\xfe", b"[1,2,3", b'"rx1"', b"[]",
    b'{"rx1":{"name":"A"}}{"rx1":{"name":"B"}}',
    b'{"mates":{"tx1":{"battery":{"gauge":"65"}}}}', b'{"mates":{"tx1":{"battery":{"gauge":101}}}}',
    b'{"mates":{"tx1":{"battery":{"gauge":6.5}}}}', b'{"rx1":{"mute":"yes"}}',
    b'{"rx1":{"gain":5.5}}', b'{"rx1":{"gain":99}}', b'{"m":{"rx1":{"rssi":"x"}}}',
    b'{"m":{"rx1":{"divi":3}}}', b'{"m":{"rx1":{"rsqi":-1}}}', b'{"rx1":{"warnings":"AfPeak"}}',
    b'{"rx9":{"name":"X"}}', b'{"osc":"x"}', b'{"osc":{"error":"x"}}',
    b'{"osc":{"error":[{"rx1":{"gain":"x"}}]}}', b'{"osc":{"state":{"subscribe":"x"}}}',
    b'{"m":{"rx1":{"af":1e999}}}',
]


@pytest.mark.parametrize("bad", BAD)
def test_malformed_datagram_is_one_protocol_error_and_changes_nothing(bad: bytes) -> None:
    d = fresh()
    ev = feed(d, bad)
    assert len(ev) == 1 and isinstance(ev[0], ProtocolError)
    assert d.stats.malformed == 1
    assert feed(d, GAUGE)[0].values["tx.battery_percent"] == 65  # and the next one works


def test_a_message_split_over_datagrams_is_never_reassembled() -> None:
    # one datagram is one message: no split of one can produce a value
    message = js({"rx1": {"name": "VOX MARA"}, "mates": {"tx1": {"battery": {"gauge": 65}}}})
    for k in range(1, len(message)):
        d = fresh()
        ev = feed(d, message[:k], message[k:])
        assert not [e for e in ev if not isinstance(e, ProtocolError)], k
        assert d.stats.malformed == 2, k


def test_a_datagram_is_applied_whole_or_not_at_all() -> None:
    d = fresh()
    cmd = d.command(Command("name", 1, "NEW"))
    d.datagrams_to_send()
    ev = feed(d, js({"rx1": {"name": "NEW"}, "mates": {"tx1": {"battery": {"gauge": "x"}}}}))
    assert ev == [ProtocolError(ev[0].reason, ev[0].frame)]  # no name, no CommandDone
    assert feed(d, js({"rx1": {"name": "NEW"}})) == [ChannelUpdate(1, {"name": "NEW"}),
                                                    CommandDone(cmd)]


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=300))
def test_any_bytes_never_raise_nor_spoil_the_next_datagram(junk: bytes) -> None:
    d = fresh()
    d.receive_data(junk, 0.0)
    assert ChannelUpdate(1, {"tx.battery_percent": 65, "tx.battery_bars": 4,
                             "tx.present": True}) in d.receive_data(GAUGE, 0.0)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["rx1", "rx2", "m", "mates", "tx1", "osc",
                                                       "error", "state", "subscribe", "name",
                                                       "gauge", "battery", "warnings", "rsqi",
                                                       "device", "identity", "product"]),
                                      inner, max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(obj=JSON)
def test_any_json_in_the_address_space_never_raises(obj: Any) -> None:
    d = fresh()
    try:
        data = orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        return
    for e in d.receive_data(data, 0.0):
        assert isinstance(e, ChannelUpdate | DeviceUpdate | ProtocolError | CommandDone
                          | CommandFailed)
    assert d.receive_data(GAUGE, 0.0)[-1].values["tx.battery_percent"] == 65


# ---------------------------------------------------------------------- outgoing


def test_handshake_reads_the_device_and_subscribes() -> None:
    d = EWDXDriver(meter_rate_ms=250)
    d.connection_made(0.0)
    out = d.datagrams_to_send()
    assert out[0] == b'{"device":{"name":null,"identity":{"product":null,"version":null}}}'
    subs = [orjson.loads(x)["osc"]["state"]["subscribe"][0] for x in out[1:]]
    assert [s["#"] for s in subs] == [{"min": 0, "max": 0, "lifetime": 10, "count": 1000}] * 3 \
        + [{"min": 250, "max": 250, "lifetime": 10, "count": 1000}]
    assert sorted(subs[0]) == ["#", "rx1", "rx2"]
    assert subs[0]["rx1"] == {"name": None, "mute": None, "gain": None, "frequency": None,
                              "warnings": None}
    assert list(subs[1]["mates"]) == ["tx1"] and list(subs[2]["mates"]) == ["tx2"]
    assert subs[3]["m"]["rx2"] == {"rssi": None, "rsqi": None, "divi": None, "af": None}
    d = EWDXDriver(meter_rate_ms=0)
    d.connection_made(0.0)
    assert not [x for x in d.datagrams_to_send() if b'"m":' in x]


def test_keepalive_and_renewal_come_from_tick_with_the_time_given() -> None:
    d = fresh()
    ping = b'{"device":{"name":null}}'
    d.tick(0.5)
    assert d.datagrams_to_send() == []
    d.tick(1.0)
    assert d.datagrams_to_send() == [ping]
    feed(d, GAUGE, now=5.0)  # data does not renew anything
    assert d.datagrams_to_send() == []
    d.tick(6.0)  # 60 % of the 10 s lifetime
    out = d.datagrams_to_send()
    assert out[0] == ping and len(out) == 5 and all(b'"subscribe"' in x for x in out[1:])
    d.tick(6.5)
    assert d.datagrams_to_send() == []


def test_310_re_subscribes_at_once() -> None:
    d = fresh()
    assert feed(d, METERS_ENDED, now=3.0) == []
    (again,) = d.datagrams_to_send()
    assert b'"m":{"rx1"' in again and b'"min":100' in again
    assert feed(d, b'[310,{"desc":"subscription terminates"}]', now=3.5) == []
    assert len(d.datagrams_to_send()) == 4  # an error for no address: all of them
    assert d.stats.malformed == 0


def test_an_em4_grows_to_four_channels_and_subscribes_them() -> None:
    d = fresh()
    ev = feed(d, js({"device": {"identity": {"product": "EW-DX EM 4 Dante"}}}))
    assert ev == [DeviceUpdate({"model": "EW-DX EM 4 Dante", "channel_count": 4})]
    out = d.datagrams_to_send()
    assert d.channels == 4
    assert any(b'"rx4":{"name"' in x for x in out) and any(b'"tx4"' in x for x in out)
    assert any(b'"m":{"rx1"' in x and b'"rx4"' in x for x in out)
    assert not any(b'"mates":{"tx1"' in x for x in out)  # unchanged: not resent


@pytest.mark.parametrize(("cmd", "wire"), [
    (Command("name", 1, "vox mara"), b'{"rx1":{"name":"VOX MARA"}}'),
    (Command("mute", 2, True), b'{"rx2":{"mute":true}}'),
    (Command("identify", None), b'{"device":{"identification":{"visual":true}}}'),
    (Command("identify", 2), b'{"rx2":{"identification":{"visual":true}}}'),
    (Command("gain", 1, -3), b'{"rx1":{"gain":-3}}'),
    (Command("gain", 1, 42), b'{"rx1":{"gain":42}}'),
    (Command("frequency", 1, 518250), b'{"rx1":{"frequency":518250}}'),
])
def test_commands_encode(cmd: Command, wire: bytes) -> None:
    d = fresh()
    d.command(cmd)
    assert d.datagrams_to_send() == [wire]


@pytest.mark.parametrize("cmd", [
    Command("name", 1, "TOO LONG!"), Command("name", 1, ""), Command("name", 1, "VÖX"),
    Command("name", 1, 7), Command("mute", 1, "yes"), Command("gain", 1, 4),
    Command("gain", 1, 45), Command("frequency", 1, 518260), Command("frequency", 1, 400000),
    Command("name", 3, "X"), Command("mute", None, True),
])
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = fresh()
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.datagrams_to_send() == []


def test_only_a_report_of_the_value_written_confirms() -> None:
    d = fresh()
    cmd = d.command(Command("gain", 2, 12))
    # a subscription notification crossing the write still carries the old value
    assert feed(d, js({"rx2": {"gain": 9}})) == [ChannelUpdate(2, {"audio.gain_db": 9})]
    assert feed(d, js({"rx2": {"gain": 12}}))[-1] == CommandDone(cmd)


def test_reports_confirm_and_error_replies_refuse() -> None:
    d = fresh()
    name = d.command(Command("name", 1, "BASS"))
    gain = d.command(Command("gain", 1, 6))
    mute = d.command(Command("mute", 2, True))
    ev = feed(d, js({"osc": {"error": [{"rx1": {"gain": [406, {"desc": "Not accepted"}]}}]}}))
    assert ev == [CommandFailed(gain, "device answered 406 (Not accepted)")]
    assert feed(d, js({"rx1": {"name": "BASS"}}))[-1] == CommandDone(name)
    assert feed(d, js({"osc": {"error": [400, {"desc": "not understood"}]}})) == [
        CommandFailed(mute, "device answered 400 (not understood)")]


# --------------------------------------------------------- against the simulator


class QuickRenewal(EWDXDriver):
    """Subscriptions of 2 s (renewed every 1.2 s), so lifetimes run out within a test."""

    LIFETIME_S = 2


@pytest.fixture
async def sim():
    s = await EWDXSimulator("127.0.0.1", 0, names=["VOX MARA", "BV JONAH"], frozen=True,
                            seed=3).start()
    yield s
    await s.stop()


def ready(events: list[Any]) -> bool:
    ch = merged(events)
    return all("name" in ch.get(n, {}) and "tx.battery_percent" in ch.get(n, {})
               and "rf.rssi_dbm" in ch.get(n, {}) for n in (1, 2))


async def test_em2_against_the_simulator(sim: EWDXSimulator) -> None:
    sim.life[1].battery_pct = 64
    s = await Session.open(EWDXDriver(), sim.port)
    try:
        ev = await s.until(ready)
        ch = merged(ev)
        assert ch[1]["name"] == "VOX MARA" and ch[2]["name"] == "BV JONAH"
        assert (ch[1]["tx.battery_percent"], ch[1]["tx.battery_bars"]) == (64, 4)
        assert ch[1]["tx.present"] is True and ch[1]["tx.model"] == "SKM"
        assert ch[1]["rf.encryption_ok"] is True and ch[1]["audio.muted"] is False
        dev = [e for e in ev if isinstance(e, DeviceUpdate) and "model" in e.values]
        assert dev[0].values["model"] == "EW-DX EM 2" and dev[0].values["channel_count"] == 2
        assert s.driver.stats.malformed == 0
    finally:
        s.close()


async def test_commands_are_confirmed_or_refused_by_the_device(sim: EWDXSimulator) -> None:
    s = await Session.open(EWDXDriver(), sim.port)
    try:
        await s.until(ready)
        ids = [s.command(Command("name", 2, "drums")), s.command(Command("mute", 1, True)),
               s.command(Command("identify", 1)), s.command(Command("gain", 2, 21)),
               s.command(Command("frequency", 1, 520000))]
        mark = s.mark()
        await s.until(lambda ev: len(of_type(ev, CommandDone)) == 5, since=mark)
        assert {e.cmd_id for e in of_type(s.events[mark:], CommandDone)} == set(ids)
        await s.until(has(2, name="DRUMS", audio__gain_db=21), since=mark)
        assert sim.rx[1].mute and sim.rx[1].identify and sim.rx[1].frequency == 520000
        # outside the simulated unit's band: the device refuses, the command fails
        refused = s.command(Command("frequency", 1, 600000))
        await s.until(lambda ev: any(isinstance(e, CommandFailed) and e.cmd_id == refused
                                     for e in ev), since=mark)
    finally:
        s.close()


async def test_transmitter_off_warnings_and_back(sim: EWDXSimulator) -> None:
    s = await Session.open(EWDXDriver(), sim.port)
    try:
        await s.until(ready)
        await simctl(sim.port, "TX 1 OFF")
        await s.until(has(1, tx__present=False, tx__battery_percent=None, rf__quality=0))
        await simctl(sim.port, "ENCERR 2 ON", "PEAK 2 ON", "BATTERY 2 15")
        await s.until(has(2, rf__encryption_ok=False, audio__peak=True,
                          tx__battery_bars=1), since=s.mark())
        await simctl(sim.port, "TX 1 ON")
        await s.until(has(1, tx__present=True, tx__model="SKM"), since=s.mark())
        assert s.driver.stats.malformed == 0
    finally:
        s.close()


class LongLife(EWDXDriver):
    """Subscriptions of 60 s: no renewal falls within a test (the safety net is 30 s)."""

    LIFETIME_S = 60


async def test_ended_subscriptions_are_re_established_at_once(sim: EWDXSimulator) -> None:
    s = await Session.open(LongLife(), sim.port)
    try:
        await s.until(ready)
        sent = len(s.sent)
        await simctl(sim.port, "FAULT expire")  # every subscription ends with 310
        await s.until(lambda ev: sum(b'"subscribe"' in x for x in s.sent[sent:]) == 4)
        await s.until(lambda ev: len(sim.subs) == 4)
        mark = s.mark()
        await simctl(sim.port, "BATTERY 1 33")
        await s.until(has(1, tx__battery_percent=33), since=mark)
        assert len(sim.subs) == 4
    finally:
        s.close()


async def test_renewal_keeps_values_flowing_past_the_lifetime(sim: EWDXSimulator) -> None:
    s = await Session.open(QuickRenewal(), sim.port)
    try:
        await s.until(ready)
        subscribes = sum(b'"subscribe"' in x for x in s.sent)
        # three lifetimes later, the device still has every subscription
        end = s.now() + 6
        await s.until(lambda ev: s.now() > end)
        assert sum(b'"subscribe"' in x for x in s.sent) >= subscribes + 12
        assert len(sim.subs) == 4
        mark = s.mark()
        await simctl(sim.port, "BATTERY 2 90")
        await s.until(has(2, tx__battery_percent=90), since=mark)
    finally:
        s.close()


async def test_garbage_is_counted_and_reboots_are_survived(sim: EWDXSimulator) -> None:
    s = await Session.open(QuickRenewal(), sim.port)
    try:
        await s.until(ready)
        await simctl(sim.port, "FAULT garbage")
        await s.until(lambda ev: s.driver.stats.malformed >= 3)
        mark = s.mark()
        await simctl(sim.port, "BATTERY 1 50")
        await s.until(has(1, tx__battery_percent=50), since=mark)
        await simctl(sim.port, "FAULT none", "FAULT reboot 0.5")
        await s.until(lambda ev: not sim.subs)  # the device forgot every subscription
        await s.until(lambda ev: len(sim.subs) == 4)  # renewals re-establish them
        mark = s.mark()
        await simctl(sim.port, "NAME 1 SPARE")
        await s.until(has(1, name="SPARE"), since=mark)
    finally:
        s.close()
