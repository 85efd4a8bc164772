"""ULX-D driver: framing, special values, commands, and a real simulator over TCP."""

from __future__ import annotations

import asyncio

import pytest
from driverkit import (
    assert_split_invariant,
    feed,
    metered,
    named,
    sim_session,
    simctl,
    without_errors,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandDone,
    CommandFailed,
    CommandInvalid,
    DeviceUpdate,
    ProtocolError,
)
from micboardd.drivers.shure_ulxd import ULXDDriver, ULXDSimulator

# Frames as ../shared/protocols/shure.md gives them, plus the ULX-D special values.
DOC_FRAMES = (
    b"< REP 1 CHAN_NAME {Vocal 1                        } >"
    b"< REP FW_VER {2.4.23            } >"
    b"< SAMPLE 1 ALL AX 079 034 >"
    b"< REP 2 BATT_BARS 255 >"
    b"< REP 2 BATT_RUN_TIME 65535 >"
    b"< REP 2 TX_TYPE UNKN >"
    b"< REP 1 BATT_RUN_TIME 65534 >"
    b"< REP 1 BATT_RUN_TIME 65533 >"
    b"< REP 1 FREQUENCY 000000 >"
    b"< REP 1 GROUP_CHAN --,-- >"
    b"< REP 1 TX_OFFSET 255 >"
    b"< REP 1 BATT_CHARGE 255 >"
    b"< REP 1 BATT_BARS 004 >"
    b"< REP 1 FREQUENCY 578350 >"
    b"< REP ERR >"
)


def updates(events: list) -> dict[int, dict]:
    merged: dict[int, dict] = {}
    for e in events:
        if isinstance(e, ChannelUpdate):
            merged.setdefault(e.channel, {}).update(e.values)
    return merged


def test_doc_frames_any_split_same_events() -> None:
    events = assert_split_invariant(ULXDDriver, DOC_FRAMES)
    assert not [e for e in events if isinstance(e, ProtocolError)]
    ch = updates(events)
    assert ch[1]["name"] == "Vocal 1"
    assert ch[1]["frequency_khz"] == 578350  # the last report wins over 000000
    assert ch[1]["group_channel"] is None
    assert ch[1]["tx.offset_db"] is None
    assert ch[1]["tx.battery_percent"] is None
    assert ch[1]["tx.battery_bars"] == 4
    assert ch[1]["tx.battery_minutes"] is None
    assert ch[1]["tx.battery_minutes_state"] == "comm_warning"
    assert ch[1]["rf.antennas"] == "A"
    assert ch[1]["audio.dbfs"] == -16
    assert ch[2] == {
        "tx.battery_bars": None,
        "tx.battery_minutes": None,
        "tx.battery_minutes_state": None,
        "tx.model": None,
        "tx.present": False,
    }
    assert DeviceUpdate({"firmware": "2.4.23"}) in events


def test_calculating_runtime_is_a_state_not_a_number() -> None:
    ev = feed(ULXDDriver(), [b"< REP 1 BATT_RUN_TIME 65534 >"])
    assert ev == [
        ChannelUpdate(1, {"tx.battery_minutes": None, "tx.battery_minutes_state": "calculating"})
    ]


def test_sample_is_a_meter_update() -> None:
    (ev,) = feed(ULXDDriver(), [b"< SAMPLE 1 ALL XB 115 050 >"])
    assert isinstance(ev, ChannelUpdate) and ev.meter
    assert ev.values == {
        "rf.level_pct": 100,
        "rf.rssi_dbm": -13,
        "rf.antennas": "B",
        "audio.level_pct": 100,
        "audio.dbfs": 0,
        "audio.peak": True,
    }


@pytest.mark.parametrize(
    "bad",
    [
        b"garbage",
        b"< SAMPLE 1 ALL AX seven 034 >",
        b"< REP 1 BATT_BARS 009 >",
        b"< REP 9 CHAN_NAME {x} >",
        b"< WHAT 1 2 3 >",
        b"< REP 1 CHAN_NAME {unterminated >",
        b"<< REP 1 BATT_BARS 003 >",
        b"< >",
    ],
)
def test_malformed_is_counted_and_the_next_frame_survives(bad: bytes) -> None:
    d = ULXDDriver()
    events = feed(d, [bad + b"< REP 1 BATT_BARS 002 >"])
    assert any(isinstance(e, ProtocolError) for e in events)
    assert d.stats.malformed >= 1
    assert events[-1] == ChannelUpdate(1, {"tx.battery_bars": 2})


def test_overlong_frame_is_dropped_not_buffered_forever() -> None:
    d = ULXDDriver()
    feed(d, [b"< REP 1 CHAN_NAME {" + b"x" * 5000])
    assert d.stats.malformed == 1
    assert feed(d, [b"< REP 1 BATT_BARS 001 >"]) == [ChannelUpdate(1, {"tx.battery_bars": 1})]


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200), seed=st.integers(0, 10))
def test_arbitrary_bytes_never_raise_nor_swallow_the_next_frame(junk: bytes, seed: int) -> None:
    d = ULXDDriver()
    d.receive_data(junk, 0)
    # a '>' ends anything the junk left open; the valid frame that follows must survive
    events = d.receive_data(b">< REP 3 BATT_BARS 003 >", 0)
    assert ChannelUpdate(3, {"tx.battery_bars": 3}) in events


def test_handshake_meter_and_clean_close() -> None:
    d = ULXDDriver(meter_rate_ms=250, channels=2)
    d.connection_made(0.0)
    assert d.data_to_send() == (
        b"< GET FW_VER >< GET DEVICE_ID >< GET 0 ALL >"
        b"< SET 1 METER_RATE 00250 >< SET 2 METER_RATE 00250 >"
    )
    d.close()
    assert d.data_to_send() == b"< SET 1 METER_RATE 00000 >< SET 2 METER_RATE 00000 >"


def test_get_all_refused_falls_back_per_channel() -> None:
    d = ULXDDriver(channels=2, meter_rate_ms=0)
    d.connection_made(0.0)
    d.data_to_send()
    assert feed(d, [b"< REP ERR >"]) == []
    assert d.data_to_send() == b"< GET 1 ALL >< GET 2 ALL >"


def test_channel_seen_in_get_all_gets_metered() -> None:
    d = ULXDDriver()
    d.connection_made(0.0)
    d.data_to_send()
    feed(d, [b"< REP 4 CHAN_NAME {Bass} >"])
    assert d.data_to_send() == b"< SET 4 METER_RATE 00100 >"


def test_keepalive_is_periodic() -> None:
    d = ULXDDriver()
    d.connection_made(0.0)
    d.data_to_send()
    feed(d, [b"< REP 1 CHAN_NAME {x} >"])  # GET 0 ALL answered (else: fallback at 1 s)
    d.tick(1.0)
    assert d.data_to_send() == b""
    d.tick(2.5)
    assert d.data_to_send() == b"< GET DEVICE_ID >"


@pytest.mark.parametrize(
    ("cmd", "wire"),
    [
        (Command("name", 1, "HH01"), b"< SET 1 CHAN_NAME {HH01} >"),
        (Command("mute", 2, True), b"< SET 2 AUDIO_MUTE ON >"),
        (Command("gain", 1, -18), b"< SET 1 AUDIO_GAIN 000 >"),
        (Command("gain", 1, 42), b"< SET 1 AUDIO_GAIN 060 >"),
        (Command("identify", None), b"< SET FLASH ON >"),
        (Command("frequency", 1, 578350), b"< SET 1 FREQUENCY 578350 >"),
    ],
)
def test_commands_encode(cmd: Command, wire: bytes) -> None:
    d = ULXDDriver(channels=4)
    d.command(cmd)
    assert d.data_to_send() == wire


@pytest.mark.parametrize(
    "cmd",
    [
        Command("name", 1, "MUCH TOO LONG"),
        Command("name", 1, "br{ce"),
        Command("name", 1, ""),
        Command("mute", 1, "yes"),
        Command("gain", 1, 43),
        Command("gain", 1, True),
        Command("frequency", 1, 578351),
        Command("name", 5, "X"),
        Command("name", None, "X"),
    ],
)
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = ULXDDriver(channels=4)
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.data_to_send() == b""


def test_command_confirmed_by_report_or_refused_by_err() -> None:
    d = ULXDDriver(channels=2)
    a = d.command(Command("name", 1, "LEAD"))
    b = d.command(Command("gain", 2, 0))
    events = feed(d, [b"< REP 1 CHAN_NAME {LEAD    } >< REP ERR >"])
    assert CommandDone(a) in events
    assert CommandFailed(b, "device answered REP ERR") in events


async def test_against_simulator_over_tcp() -> None:
    async with ULXDSimulator("127.0.0.1", 0, model="ULXD4Q", names=["VOX 1", "VOX 2"],
                             seed=1, frozen=True) as sim:
        sim.set_tx(3, False)
        d = ULXDDriver()
        events = await sim_session(d, "127.0.0.1", sim.port, metered(1, 2, 3, 4))
        assert d.stats.malformed == 0
        assert d.channels == 4
        ch = updates(events)
        assert ch[1]["name"] == "VOX 1" and ch[2]["name"] == "VOX 2"
        assert ch[3]["tx.battery_bars"] is None and ch[3]["tx.present"] is False
        assert 0 <= ch[1]["tx.battery_bars"] <= 5
        meters = [e for e in events if isinstance(e, ChannelUpdate) and e.meter]
        assert {e.channel for e in meters} == {1, 2, 3, 4}  # every channel was metered
        assert any(isinstance(e, DeviceUpdate) and e.values.get("firmware") == "2.4.23"
                   for e in events)


async def test_simulator_reports_changes_and_refuses_bad_sets() -> None:
    async with ULXDSimulator("127.0.0.1", 0, model="ULXD4D", frozen=True) as sim:
        d = ULXDDriver(meter_rate_ms=0)
        r, w = await asyncio.open_connection("127.0.0.1", sim.port)
        d.connection_made(0)
        w.write(d.data_to_send())
        await asyncio.sleep(0.2)
        d.receive_data(await r.read(65536), 0)
        ok = d.command(Command("name", 2, "BASS"))
        w.write(d.data_to_send() + b"< SET 1 AUDIO_GAIN 099 >")
        await simctl("127.0.0.1", sim.port, "1 BATT_BARS 001")
        await asyncio.sleep(0.2)
        events = d.receive_data(await r.read(65536), 0)
        w.close()
        assert CommandDone(ok) in events
        assert ChannelUpdate(2, {"name": "BASS"}) in events
        assert ChannelUpdate(1, {"tx.battery_bars": 1}) in events
        # the bad SET was answered REP ERR; no command of ours was pending
        assert d.stats.malformed == 0
        assert "SET 1 AUDIO_GAIN 099" in sim.commands_seen


async def test_simulator_split_and_garbage_faults() -> None:
    async with ULXDSimulator("127.0.0.1", 0, model="ULXD4", names=["SPLIT"],
                             frozen=True) as sim:
        sim.set_fault("split")
        d = ULXDDriver(meter_rate_ms=0)
        events = await sim_session(d, "127.0.0.1", sim.port, named(1, "SPLIT"))
        assert updates(without_errors(events))[1]["name"] == "SPLIT"
        assert d.stats.malformed == 0
        sim.set_fault("garbage")
        d = ULXDDriver(meter_rate_ms=0)
        events = await sim_session(d, "127.0.0.1", sim.port, named(1, "SPLIT"))
        assert d.stats.malformed > 0
        assert updates(events)[1]["name"] == "SPLIT"
