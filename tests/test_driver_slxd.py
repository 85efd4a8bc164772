"""SLX-D / SLX-D+ driver: its own SAMPLE order, null-not-zero fields, 6 and 7 digit
frequencies, slots, commands, and both simulators over real TCP (the SLX-D+ one refuses
``GET 0 ALL``, so the per-channel fallback runs for real)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from driverkit import assert_split_invariant, connect, feed, run_until, simctl
from hypothesis import given, settings
from hypothesis import strategies as st

from micboardd.drivers import driver_class
from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandDone,
    CommandInvalid,
    CommandUnsupported,
    DeviceUpdate,
    Event,
    ProtocolError,
)
from micboardd.drivers.shure_slxd import (
    DRIVER,
    SIMULATOR,
    SLXDDriver,
    SLXDPlusSimulator,
    SLXDSimulator,
)

NAME31 = b"{Vocal 1" + b" " * 24 + b"}"

# SLX-D frames: shure.md's sample and shapes, the special values, both TX model spellings.
SLXD_FRAMES = (
    b"< REP MODEL {SLXD4D                          } >"
    b"< REP FW_VER {1.2.10.0                } >"
    b"< REP DEVICE_ID {Rack B" + b" " * 25 + b"} >"
    b"< REP RF_BAND {G58     } >"
    b"< REP LOCK_STATUS MENU >"
    b"< REP 1 CHAN_NAME " + NAME31 + b" >"
    b"< SAMPLE 1 ALL 102 102 086 >"
    b"< REP 1 TX_TYPE SLXD2 >"
    b"< REP 1 TX_BATT_BARS 004 >"
    b"< REP 1 TX_BATT_MINS 00215 >"
    b"< REP 1 FREQUENCY 578350 >"
    b"< REP 1 GROUP_CHANNEL 01,04 >"
    b"< REP 1 AUDIO_GAIN 024 >"
    b"< REP 1 AUDIO_OUT_LVL_SWITCH LINE >"
    b"< REP 1 RSSI 080 >"
    b"< REP 1 AUDIO_LEVEL_PEAK 110 >"
    b"< REP 1 AUDIO_LEVEL_RMS 095 >"
    b"< REP 2 TX_MODEL UNKNOWN >"
    b"< REP 2 TX_BATT_BARS 255 >"
    b"< REP 2 TX_BATT_MINS 65535 >"
    b"< REP 2 TX_BATT_MINS 65533 >"
    b"< REP 2 FREQUENCY 000000 >"
    b"< REP 2 GROUP_CHANNEL --,-- >"
    b"< REP ERR >"
)

# SLX-D+ additions: 7-digit frequency, antenna/interference/encryption, two slots.
PLUS_FRAMES = (
    b"< REP MODEL {SLXD4D+                         } >"
    b"< REP FW_VER {2.0.38.9                } >"
    b"< REP ENCRYPTION_MODE AUTO >"
    b"< REP 1 FREQUENCY 0596075 >"
    b"< REP 1 TX_MODEL SLXD2+ >"
    b"< REP 1 ANTENNA_STATUS AX >"
    b"< REP 1 INTERFERENCE_STATUS DETECTED >"
    b"< REP 1 ENCRYPTION_STATUS ERROR >"
    b"< REP 1 LINK_STATUS 1 online >"
    b"< REP 1 LINK_STATUS 2 offline >"
    b"< REP 1 SLOT_TX_MODEL 1 SLXD2+ >"
    b"< REP 1 SLOT_TX_MODEL 2 UNKNOWN >"
    b"< REP 1 REM_PAIR OFF >"
    b"< REP 1 RSSI 1 075 >"
    b"< REP 2 TX_MODEL UNKNOWN >< REP 2 TX_BATT_BARS 255 >< REP 2 TX_BATT_MINS 65535 >"
    b"< REP 2 LINK_STATUS 1 offline >< REP 2 SLOT_TX_MODEL 1 UNKNOWN >"
)

#: fields SLX-D has no data for: they must stay null, so they are never emitted
NEVER_ON_SLXD = {"rf.antennas", "rf.quality", "tx.offset_db", "tx.power_lock"}


def updates(events: list[Event]) -> dict[int, dict[str, object]]:
    merged: dict[int, dict[str, object]] = {}
    for e in events:
        if isinstance(e, ChannelUpdate):
            merged.setdefault(e.channel, {}).update(e.values)
    return merged


def emitted_keys(events: list[Event]) -> set[str]:
    return {k for e in events if isinstance(e, ChannelUpdate) for k in e.values}


def test_package_exports_and_registry() -> None:
    assert DRIVER is SLXDDriver and SIMULATOR is SLXDSimulator
    assert driver_class("shure-slxd") is SLXDDriver
    assert SLXDDriver.family == "shure-slxd"
    assert SLXDDriver.silent_hint == (
        "connected, no replies: is Controller Access enabled on the receiver?"
    )


def test_slxd_frames_any_split_same_events() -> None:
    events = assert_split_invariant(SLXDDriver, SLXD_FRAMES)
    assert not [e for e in events if isinstance(e, ProtocolError)]
    assert DeviceUpdate({"model": "SLXD4D", "channel_count": 2}) in events
    assert DeviceUpdate({"firmware": "1.2.10.0"}) in events
    assert DeviceUpdate({"device_name": "Rack B"}) in events
    ch = updates(events)
    assert ch[1]["name"] == "Vocal 1"  # 31-wide padding stripped
    assert ch[1]["tx.model"] == "SLXD2" and ch[1]["tx.present"] is True
    assert ch[1]["tx.battery_bars"] == 4 and ch[1]["tx.battery_minutes"] == 215
    assert ch[1]["frequency_khz"] == 578350 and ch[1]["group_channel"] == "01,04"
    assert ch[1]["audio.gain_db"] == 6
    assert ch[1]["rf.rssi_dbm"] == -40 and ch[1]["rf.level_pct"] == 100
    assert ch[1]["audio.peak_dbfs"] == -10 and ch[1]["audio.peak"] is False
    assert ch[1]["audio.dbfs"] == -25 and ch[1]["audio.level_pct"] == 50
    assert ch[2] == {
        "tx.model": None,
        "tx.present": False,
        "tx.battery_bars": None,
        "tx.battery_minutes": None,
        "tx.battery_minutes_state": "comm_warning",
        "frequency_khz": None,
        "group_channel": None,
    }
    assert not emitted_keys(events) & NEVER_ON_SLXD


def test_plus_frames_any_split_same_events() -> None:
    events = assert_split_invariant(SLXDDriver, PLUS_FRAMES)
    assert not [e for e in events if isinstance(e, ProtocolError)]
    assert DeviceUpdate({"model": "SLXD4D+", "channel_count": 2}) in events
    ch = updates(events)
    assert ch[1]["frequency_khz"] == 596075
    assert ch[1]["rf.antennas"] == "A"
    assert ch[1]["rf.interference"] is True
    assert ch[1]["rf.encryption_ok"] is False
    assert ch[1]["rf.rssi_dbm"] == -45  # Axient-style `RSSI a vvv` tolerated
    assert ch[2] == {
        "tx.model": None,
        "tx.present": False,
        "tx.battery_bars": None,
        "tx.battery_minutes": None,
        "tx.battery_minutes_state": None,
    }


def test_sample_field_order_is_peak_rms_rssi() -> None:
    (ev,) = feed(SLXDDriver(), [b"< SAMPLE 1 ALL 120 090 040 >"])
    assert isinstance(ev, ChannelUpdate) and ev.meter
    assert ev.values == {
        "audio.peak_dbfs": 0,
        "audio.peak": True,
        "audio.dbfs": -30,
        "audio.level_pct": 40,
        "rf.rssi_dbm": -80,
        "rf.level_pct": 33,
    }
    assert not set(ev.values) & NEVER_ON_SLXD


def test_meter_reports_are_meters() -> None:
    events = feed(SLXDDriver(), [b"< REP 1 RSSI 050 >< REP 1 AUDIO_LEVEL_RMS 070 >"
                                 b"< REP 1 ANTENNA_STATUS XX >< REP 1 TX_BATT_BARS 002 >"])
    assert [e.meter for e in events if isinstance(e, ChannelUpdate)] == [True, True, True, False]


def test_frequency_width_follows_the_model_or_the_reports() -> None:
    d = SLXDDriver(channels=2)
    d.command(Command("frequency", 1, 596075))
    assert d.data_to_send() == b"< SET 1 FREQUENCY 596075 >"
    feed(d, [b"< REP MODEL {SLXD4+} >"])
    d.command(Command("frequency", 1, 596075))
    assert d.data_to_send() == b"< SET 1 FREQUENCY 0596075 >"
    feed(d, [b"< REP MODEL {SLXD4D} >"])
    assert d.freq_digits == 6
    feed(d, [b"< REP 2 FREQUENCY 0470125 >"])  # a '+' receiver whatever its model says
    assert d.freq_digits == 7


@pytest.mark.parametrize(
    "bad",
    [
        b"\r\nnoise",
        b"< SAMPLE 1 ALL 102 102 >",
        b"< SAMPLE 1 ALL 121 102 086 >",
        b"< SAMPLE 1 ALL AB 102 086 >",
        b"< SAMPLE 1 102 102 086 >",
        b"< REP 1 TX_BATT_BARS 007 >",
        b"< REP 1 TX_BATT_MINS soon >",
        b"< REP 1 LINK_STATUS one online >",
        b"< REP 1 SLOT_TX_MODEL 1 >",
        b"< REP 1 RSSI -40 >",
        b"< REP 9 TX_MODEL SLXD2 >",
        b"< SET 1 CHAN_NAME {x} >",
    ],
)
def test_malformed_is_counted_and_the_next_frame_survives(bad: bytes) -> None:
    d = SLXDDriver()
    events = feed(d, [bad + b"< REP 1 TX_BATT_BARS 002 >"])
    assert any(isinstance(e, ProtocolError) for e in events)
    assert d.stats.malformed >= 1
    assert events[-1] == ChannelUpdate(1, {"tx.battery_bars": 2})


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_nor_swallow_the_next_frame(junk: bytes) -> None:
    d = SLXDDriver()
    d.receive_data(junk, 0)
    events = d.receive_data(b">< SAMPLE 2 ALL 100 080 060 >", 0)
    assert any(isinstance(e, ChannelUpdate) and e.channel == 2 and e.meter
               and e.values["rf.rssi_dbm"] == -60 for e in events)


def test_handshake_asks_model_first() -> None:
    d = SLXDDriver()
    d.connection_made(0.0)
    assert d.data_to_send() == (
        b"< GET MODEL >< GET FW_VER >< GET DEVICE_ID >< GET 0 ALL >"
        b"< SET 1 METER_RATE 00100 >"
    )


def test_refused_get_all_falls_back_per_channel_for_the_reported_model() -> None:
    d = SLXDDriver(meter_rate_ms=0)
    d.connection_made(0.0)
    d.data_to_send()
    feed(d, [b"< REP MODEL {SLXD4D+} >< REP FW_VER {2.0.38.9} >< REP DEVICE_ID {x} >"
             b"< REP ERR >"])
    assert d.data_to_send() == b"< GET 1 ALL >< GET 2 ALL >"


@pytest.mark.parametrize(
    ("cmd", "wire"),
    [
        (Command("name", 2, "HH01"), b"< SET 2 CHAN_NAME {HH01} >"),
        (Command("name", 1, "EIGHT CH"), b"< SET 1 CHAN_NAME {EIGHT CH} >"),
        (Command("gain", 1, -18), b"< SET 1 AUDIO_GAIN 000 >"),
        (Command("gain", 2, 42), b"< SET 2 AUDIO_GAIN 060 >"),
        (Command("identify", None), b"< SET FLASH ON >"),
        (Command("frequency", 2, 562125), b"< SET 2 FREQUENCY 562125 >"),
    ],
)
def test_commands_encode(cmd: Command, wire: bytes) -> None:
    d = SLXDDriver(channels=2)
    d.command(cmd)
    assert d.data_to_send() == wire


@pytest.mark.parametrize(
    "cmd",
    [
        Command("name", 1, "NINE CHRS"),  # reports are 31 wide, SET takes 8
        Command("name", 1, "  "),
        Command("name", 1, "tab\there"),
        Command("gain", 1, 43),
        Command("gain", 1, "0"),
        Command("frequency", 1, 469975),
        Command("frequency", 1, 562130),
        Command("identify", 3),
        Command("gain", 3, 0),
    ],
)
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = SLXDDriver(channels=2)
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.data_to_send() == b""


def test_mute_is_unsupported() -> None:
    d = SLXDDriver()
    with pytest.raises(CommandUnsupported):
        d.command(Command("mute", 1, True))
    assert d.data_to_send() == b""


def test_sim_model_picks_the_flavour() -> None:
    assert type(SLXDSimulator(model="SLXD4")) is SLXDSimulator
    plus = SLXDSimulator(model="SLXD4D+")
    assert isinstance(plus, SLXDPlusSimulator) and plus.ACCEPTS_ALL_ZERO is False
    assert len(plus.channels[1]["FREQUENCY"]) == 7
    with pytest.raises(ValueError):
        SLXDPlusSimulator(model="SLXD4")


# ------------------------------------------------------------- against the simulator





def metered(channels: set[int]) -> Callable[[list[Event]], bool]:
    def done(ev: list[Event]) -> bool:
        seen = {e.channel for e in ev if isinstance(e, ChannelUpdate) and e.meter}
        return channels <= seen
    return done


async def test_slxd_against_simulator_over_tcp() -> None:
    async with SLXDSimulator("127.0.0.1", 0, model="SLXD4D", names=["Lead vocal", "Bkg"],
                             seed=2, frozen=True) as sim:
        sim.set_tx(2, False)
        d = SLXDDriver()
        reader, writer = await connect(d, sim.port)
        try:
            events = await run_until(d, reader, writer, metered({1, 2}))
            assert d.stats.malformed == 0 and d.channels == 2
            assert DeviceUpdate({"model": "SLXD4D", "channel_count": 2}) in events
            ch = updates(events)
            assert ch[1]["name"] == "Lead vocal" and ch[2]["name"] == "Bkg"
            assert ch[1]["tx.model"] in ("SLXD1", "SLXD2") and ch[1]["tx.present"] is True
            assert ch[2]["tx.present"] is False and ch[2]["tx.battery_bars"] is None
            assert ch[2]["tx.battery_minutes"] is None
            assert isinstance(ch[1]["rf.rssi_dbm"], int) and ch[1]["rf.rssi_dbm"] < 0
            assert not emitted_keys(events) & NEVER_ON_SLXD
            assert "GET 0 ALL" in sim.commands_seen and "GET 1 ALL" not in sim.commands_seen

            await simctl("127.0.0.1", sim.port, "1 TX_BATT_BARS 001")
            want = ChannelUpdate(1, {"tx.battery_bars": 1})
            assert want in await run_until(d, reader, writer, lambda ev: want in ev)
        finally:
            writer.close()


async def test_slxd_plus_refuses_get_all_and_the_driver_falls_back() -> None:
    async with SLXDSimulator("127.0.0.1", 0, model="SLXD4D+", names=["IEM talk"],
                             seed=5, frozen=True) as sim:
        sim.set_tx(2, False)  # unpaired
        d = SLXDDriver()
        reader, writer = await connect(d, sim.port)
        try:
            def done(ev: list[Event]) -> bool:
                return metered({1, 2})(ev) and "tx.present" in updates(ev).get(2, {})

            events = await run_until(d, reader, writer, done)
            seen = sim.commands_seen
            assert seen.index("GET 0 ALL") < seen.index("GET 1 ALL") < seen.index("GET 2 ALL")
            assert d.stats.malformed == 0
            ch = updates(events)
            assert ch[1]["name"] == "IEM talk"
            assert ch[1]["tx.model"] in ("SLXD1+", "SLXD2+", "SLXD3+")
            assert ch[1]["rf.antennas"] == "AB" and ch[1]["rf.interference"] is False
            assert ch[1]["rf.encryption_ok"] is True
            assert isinstance(ch[1]["frequency_khz"], int)
            assert ch[2] == {  # the unpaired channel: exactly its unknowns (+ meters)
                **ch[2],
                "tx.model": None, "tx.present": False,
                "tx.battery_bars": None, "tx.battery_minutes": None,
                "tx.battery_minutes_state": None,
            }
            assert "name" not in ch[2]
            assert d.freq_digits == 7

            ok = d.command(Command("frequency", 1, 596075))
            writer.write(d.data_to_send())
            events = await run_until(d, reader, writer, lambda ev: CommandDone(ok) in ev)
            assert ChannelUpdate(1, {"frequency_khz": 596075}) in events
            assert sim.channels[1]["FREQUENCY"] == "0596075"
        finally:
            writer.close()


async def test_silent_receiver_sends_nothing() -> None:
    # Controller Access off: the connection opens and nothing ever comes back
    async with SLXDSimulator("127.0.0.1", 0, model="SLXD4", frozen=True) as sim:
        sim.set_fault("silent")
        d = SLXDDriver()
        reader, writer = await connect(d, sim.port)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.read(65536), 0.3)
        finally:
            writer.close()
