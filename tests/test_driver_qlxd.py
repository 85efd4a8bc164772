"""QLX-D driver: ULX-D framing without audio mute, special values, commands, and the
QLXD4 simulator over real TCP."""

from __future__ import annotations

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
from micboardd.drivers.shure_qlxd import DRIVER, SIMULATOR, QLXDDriver, QLXDSimulator

# Frames in the shapes shure.md gives for ULX-D / QLX-D, plus the special values.
DOC_FRAMES = (
    b"< REP 1 CHAN_NAME {Vocal 1 } >"
    b"< REP FW_VER {2.3.8             } >"
    b"< REP DEVICE_ID {QLXD4   } >"
    b"< SAMPLE 1 ALL AX 079 034 >"
    b"< REP 1 TX_TYPE QLXD2 >"
    b"< REP 1 BATT_BARS 255 >"
    b"< REP 1 BATT_RUN_TIME 65535 >"
    b"< REP 1 BATT_RUN_TIME 65534 >"
    b"< REP 1 BATT_CHARGE 255 >"
    b"< REP 1 TX_OFFSET 255 >"
    b"< REP 1 BATT_TYPE UNKN >"
    b"< REP 1 FREQUENCY 000000 >"
    b"< REP 1 GROUP_CHAN --,-- >"
    b"< REP 1 AUDIO_GAIN 030 >"
    b"< REP 1 TX_MUTE_STATUS OFF >"
    b"< REP 1 TX_PWR_LOCK ON >"
    b"< REP 1 RF_INT_DET NONE >"
    b"< REP 1 ENCRYPTION_WARNING OFF >"
    b"< REP 1 BATT_BARS 003 >"
    b"< REP 1 FREQUENCY 578350 >"
    b"< REP ERR >"
)


def updates(events: list[Event]) -> dict[int, dict[str, object]]:
    merged: dict[int, dict[str, object]] = {}
    for e in events:
        if isinstance(e, ChannelUpdate):
            merged.setdefault(e.channel, {}).update(e.values)
    return merged


def test_package_exports_and_registry() -> None:
    assert DRIVER is QLXDDriver and SIMULATOR is QLXDSimulator
    assert driver_class("shure-qlxd") is QLXDDriver
    assert QLXDDriver.family == "shure-qlxd"


def test_doc_frames_any_split_same_events() -> None:
    events = assert_split_invariant(QLXDDriver, DOC_FRAMES)
    assert not [e for e in events if isinstance(e, ProtocolError)]
    ch = updates(events)[1]
    assert ch["name"] == "Vocal 1"
    assert ch["tx.model"] == "QLXD2" and ch["tx.present"] is True
    assert ch["tx.battery_bars"] == 3  # the last report wins over 255
    assert ch["tx.battery_minutes"] is None
    assert ch["tx.battery_minutes_state"] == "calculating"
    assert ch["tx.battery_percent"] is None
    assert ch["tx.battery_type"] is None
    assert ch["tx.offset_db"] is None
    assert ch["group_channel"] is None
    assert ch["frequency_khz"] == 578350
    assert ch["audio.gain_db"] == 12
    assert ch["tx.muted"] is False and ch["tx.power_lock"] is True
    assert ch["rf.interference"] is False and ch["rf.encryption_ok"] is True
    assert ch["rf.antennas"] == "A" and ch["audio.dbfs"] == -16
    assert "audio.muted" not in ch
    assert DeviceUpdate({"firmware": "2.3.8"}) in events
    assert DeviceUpdate({"device_name": "QLXD4"}) in events


def test_transmitter_off_is_all_unknowns() -> None:
    ev = feed(QLXDDriver(), [b"< REP 1 BATT_BARS 255 >< REP 1 BATT_RUN_TIME 65535 >"
                             b"< REP 1 TX_TYPE UNKN >"])
    assert updates(ev)[1] == {
        "tx.battery_bars": None,
        "tx.battery_minutes": None,
        "tx.battery_minutes_state": None,
        "tx.model": None,
        "tx.present": False,
    }


def test_audio_mute_is_not_a_qlxd_property() -> None:
    d = QLXDDriver()
    assert feed(d, [b"< REP 1 AUDIO_MUTE ON >"]) == []  # ignored like any unknown report
    assert d.stats.malformed == 0


def test_model_report_sets_channel_count() -> None:
    d = QLXDDriver(channels=2)
    ev = feed(d, [b"< REP MODEL {QLXD4                           } >"])
    assert ev == [DeviceUpdate({"model": "QLXD4", "channel_count": 1})]
    assert d.channels == 1


def test_sample_is_a_meter_update() -> None:
    (ev,) = feed(QLXDDriver(), [b"< SAMPLE 1 ALL XX 000 000 >"])
    assert isinstance(ev, ChannelUpdate) and ev.meter
    assert ev.values["rf.antennas"] == "" and ev.values["rf.level_pct"] == 0
    assert ev.values["audio.dbfs"] == -50 and ev.values["audio.peak"] is False


@pytest.mark.parametrize(
    "bad",
    [
        b"junk",
        b"< SAMPLE 1 ALL AX 079 >",
        b"< SAMPLE 1 ALL AX 079 x34 >",
        b"< REP 1 BATT_BARS 006 >",
        b"< REP 1 BATT_CHARGE 101 >",
        b"< REP 1 >",
        b"< REP 12 CHAN_NAME {x} >",
        b"< GET 1 CHAN_NAME >",
        b"< REP 1 CHAN_NAME {open >",
        b"<< REP 1 BATT_BARS 004 >",
    ],
)
def test_malformed_is_counted_and_the_next_frame_survives(bad: bytes) -> None:
    d = QLXDDriver()
    events = feed(d, [bad + b"< REP 1 BATT_BARS 002 >"])
    assert any(isinstance(e, ProtocolError) for e in events)
    assert d.stats.malformed >= 1
    assert events[-1] == ChannelUpdate(1, {"tx.battery_bars": 2})


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_nor_swallow_the_next_frame(junk: bytes) -> None:
    d = QLXDDriver()
    d.receive_data(junk, 0)
    events = d.receive_data(b">< REP 1 TX_TYPE QLXD1 >", 0)
    assert ChannelUpdate(1, {"tx.model": "QLXD1", "tx.present": True}) in events


def test_handshake_and_meter_stop_on_close() -> None:
    d = QLXDDriver()
    d.connection_made(0.0)
    assert d.data_to_send() == (
        b"< GET FW_VER >< GET DEVICE_ID >< GET 0 ALL >< SET 1 METER_RATE 00100 >"
    )
    d.close()  # QLX-D 2.2.11+ locks up if a metered client just drops
    assert d.data_to_send() == b"< SET 1 METER_RATE 00000 >"


@pytest.mark.parametrize(
    ("cmd", "wire"),
    [
        (Command("name", 1, "HH01"), b"< SET 1 CHAN_NAME {HH01} >"),
        (Command("gain", 1, -18), b"< SET 1 AUDIO_GAIN 000 >"),
        (Command("gain", 1, 42), b"< SET 1 AUDIO_GAIN 060 >"),
        (Command("identify", None), b"< SET FLASH ON >"),
        (Command("frequency", 1, 578350), b"< SET 1 FREQUENCY 578350 >"),
    ],
)
def test_commands_encode(cmd: Command, wire: bytes) -> None:
    d = QLXDDriver()
    d.command(cmd)
    assert d.data_to_send() == wire


@pytest.mark.parametrize(
    "cmd",
    [
        Command("name", 1, "NINE CHRS"),
        Command("name", 1, "a<b"),
        Command("gain", 1, -19),
        Command("gain", 1, 1.5),
        Command("frequency", 1, 578360),
        Command("frequency", 1, "578350"),
        Command("name", 2, "X"),  # a QLXD4 has one channel
        Command("gain", None, 0),
    ],
)
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = QLXDDriver()
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.data_to_send() == b""


@pytest.mark.parametrize("value", [True, False])
def test_mute_is_unsupported(value: bool) -> None:
    d = QLXDDriver()
    with pytest.raises(CommandUnsupported):
        d.command(Command("mute", 1, value))
    assert d.data_to_send() == b""


# ------------------------------------------------------------- against the simulator





async def test_against_simulator_over_tcp() -> None:
    async with QLXDSimulator("127.0.0.1", 0, names=["LEAD VOX"], seed=3, frozen=True) as sim:
        d = QLXDDriver()
        reader, writer = await connect(d, sim.port)
        try:
            def done(ev: list[Event]) -> bool:
                return "name" in updates(ev).get(1, {}) and any(
                    isinstance(e, ChannelUpdate) and e.meter for e in ev)

            events = await run_until(d, reader, writer, done)
            ch = updates(events)[1]
            assert ch["name"] == "LEAD VOX"
            assert ch["tx.model"] in ("QLXD1", "QLXD2") and ch["tx.present"] is True
            bars = ch["tx.battery_bars"]
            assert isinstance(bars, int) and 0 <= bars <= 5
            assert ch["tx.battery_percent"] is None  # BATT_CHARGE 255
            assert "audio.muted" not in ch
            meter = next(e for e in events if isinstance(e, ChannelUpdate) and e.meter)
            assert set(meter.values) >= {"rf.level_pct", "audio.level_pct", "rf.antennas"}
            assert DeviceUpdate({"firmware": "2.3.8"}) in events
            assert d.stats.malformed == 0 and d.channels == 1

            # the transmitter goes off: special values, reported unsolicited
            await simctl("127.0.0.1", sim.port, "TX 1 OFF")
            events = await run_until(
                d, reader, writer, lambda ev: "tx.present" in updates(ev).get(1, {}))
            ch = updates(events)[1]
            assert ch["tx.present"] is False and ch["tx.model"] is None
            assert ch["tx.battery_bars"] is None and ch["tx.battery_minutes"] is None
        finally:
            writer.close()


async def test_simctl_change_and_commands_over_tcp() -> None:
    async with QLXDSimulator("127.0.0.1", 0, frozen=True) as sim:
        d = QLXDDriver(meter_rate_ms=0)
        reader, writer = await connect(d, sim.port)
        try:
            await run_until(d, reader, writer, lambda ev: "name" in updates(ev).get(1, {}))
            await simctl("127.0.0.1", sim.port, "1 BATT_BARS 001")
            events = await run_until(
                d, reader, writer, lambda ev: ChannelUpdate(1, {"tx.battery_bars": 1}) in ev)
            assert ChannelUpdate(1, {"tx.battery_bars": 1}) in events

            ok = d.command(Command("name", 1, "BASS"))
            writer.write(d.data_to_send() + b"< SET 1 AUDIO_MUTE ON >")  # refused: REP ERR
            events = await run_until(d, reader, writer, lambda ev: CommandDone(ok) in ev)
            assert ChannelUpdate(1, {"name": "BASS"}) in events
            assert d.stats.malformed == 0
            assert sim.channels[1]["CHAN_NAME"] == "BASS"
            assert "AUDIO_MUTE" not in sim.channels[1]
        finally:
            writer.close()
