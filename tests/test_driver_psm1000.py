"""PSM1000 (P10T) driver: per-property handshake, AUDIO_IN_LVL meter buckets, RF mute as
the transmitter state, CR LF framing, commands, and the simulator over real TCP."""

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
from micboardd.drivers.shure_psm1000 import DRIVER, SIMULATOR, PSM1000Driver, PSM1000Simulator

# The properties shure.md lists for the P10T, CR LF after each frame as peers send them.
DOC_FRAMES = (
    b"< REP DEVICE_NAME {Rack A  } >\r\n"
    b"< REP 1 CHAN_NAME {IEM 1   } >\r\n"
    b"< REP 2 CHAN_NAME {Drums   } >\r\n"
    b"< REP 1 GROUP_CHAN 02,07 >\r\n"
    b"< REP 2 GROUP_CHAN --,-- >\r\n"
    b"< REP 1 FREQUENCY 518250 >\r\n"
    b"< REP 2 FREQUENCY 000000 >\r\n"
    b"< REP 1 RF_TX_LVL 50 >\r\n"
    b"< REP 1 RF_MUTE 0 >\r\n"
    b"< REP 2 RF_MUTE 1 >\r\n"
    b"< REP 1 AUDIO_TX_MODE 3 >\r\n"
    b"< REP 1 AUDIO_IN_LINE_LVL 1 >\r\n"
    b"< REP 1 METER_RATE 00100 >\r\n"
    b"< REP 1 AUDIO_IN_LVL_L 85488 >\r\n"
    b"< REP 1 AUDIO_IN_LVL_R 300 >\r\n"
    b"< REP 2 AUDIO_IN_LVL_L 2502970 >\r\n"
    b"< REP ERR >\r\n"
)

BATTERY_KEYS = {"tx.battery_bars", "tx.battery_percent", "tx.battery_minutes",
                "tx.battery_minutes_state", "tx.battery_type"}


def updates(events: list[Event]) -> dict[int, dict[str, object]]:
    merged: dict[int, dict[str, object]] = {}
    for e in events:
        if isinstance(e, ChannelUpdate):
            merged.setdefault(e.channel, {}).update(e.values)
    return merged


def emitted_keys(events: list[Event]) -> set[str]:
    return {k for e in events if isinstance(e, ChannelUpdate) for k in e.values}


def test_package_exports_and_registry() -> None:
    assert DRIVER is PSM1000Driver and SIMULATOR is PSM1000Simulator
    assert driver_class("shure-psm1000") is PSM1000Driver
    assert PSM1000Driver.family == "shure-psm1000"
    assert PSM1000Driver().channels == 2


def test_doc_frames_any_split_same_events() -> None:
    events = assert_split_invariant(PSM1000Driver, DOC_FRAMES)
    assert not [e for e in events if isinstance(e, ProtocolError)]
    assert DeviceUpdate({"device_name": "Rack A"}) in events
    ch = updates(events)
    assert ch[1]["name"] == "IEM 1" and ch[2]["name"] == "Drums"
    assert ch[1]["group_channel"] == "02,07" and ch[2]["group_channel"] is None
    assert ch[1]["frequency_khz"] == 518250 and ch[2]["frequency_khz"] is None
    assert ch[1]["tx.present"] is True and ch[1]["tx.muted"] is False
    assert ch[2]["tx.present"] is False and ch[2]["tx.muted"] is True
    assert ch[1]["audio.level_pct"] == 37  # L in bucket 3 beats R in bucket 0
    assert ch[2]["audio.level_pct"] == 100 and ch[2]["audio.peak"] is True
    keys = emitted_keys(events)
    assert not keys & BATTERY_KEYS
    assert not any(k.startswith("rf.") for k in keys)
    assert "audio.dbfs" not in keys  # the meter scale has no known dBFS relation


@pytest.mark.parametrize(
    ("raw", "pct"),
    [
        (0, 0), (10271, 0), (10272, 12), (23727, 12), (23728, 25), (85488, 37),
        (246260, 50), (641928, 62), (1588744, 75), (2157767, 87), (2502969, 87),
        (2502970, 100), (99999999, 100),
    ],
)
def test_meter_buckets(raw: int, pct: int) -> None:
    (ev,) = feed(PSM1000Driver(), [b"< REP 2 AUDIO_IN_LVL_R %d >" % raw])
    assert ev == ChannelUpdate(2, {"audio.level_pct": pct, "audio.peak": pct == 100},
                               meter=True)


def test_meter_shows_the_louder_side_per_channel() -> None:
    d = PSM1000Driver()
    levels = [e.values["audio.level_pct"] for e in feed(d, [
        b"< REP 1 AUDIO_IN_LVL_L 246260 >",   # L 4
        b"< REP 1 AUDIO_IN_LVL_R 2157767 >",  # R 7
        b"< REP 2 AUDIO_IN_LVL_L 0 >",        # channel 2 is separate
        b"< REP 1 AUDIO_IN_LVL_R 0 >",        # R 0: L 4 shows again
        b"< REP 1 AUDIO_IN_LVL_L 0 >",
    ]) if isinstance(e, ChannelUpdate)]
    assert levels == [50, 87, 0, 50, 0]
    d.connection_made(1.0)  # a new connection forgets the old levels
    (ev,) = feed(d, [b"< REP 1 AUDIO_IN_LVL_R 10272 >"])
    assert isinstance(ev, ChannelUpdate) and ev.values["audio.level_pct"] == 12


def test_report_verb_bare_names_and_dotted_frequency_tolerated() -> None:
    events = feed(PSM1000Driver(), [
        b"< REPORT 1 CHAN_NAME GUITAR 2 >\r\n< REPORT 1 AUDIO_IN_LVL_L 641928 >\r\n"
        b"< REP 2 FREQUENCY 518.250 >< REP DEVICE_NAME IEM RACK >"
    ])
    assert events == [
        ChannelUpdate(1, {"name": "GUITAR 2"}),
        ChannelUpdate(1, {"audio.level_pct": 62, "audio.peak": False}, meter=True),
        ChannelUpdate(2, {"frequency_khz": 518250}),
        DeviceUpdate({"device_name": "IEM RACK"}),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        b"stray text\r\n",
        b"< REP 1 AUDIO_IN_LVL_L loud >",
        b"< REP 0 AUDIO_IN_LVL_L 100 >",
        b"< REP 9 AUDIO_IN_LVL_R 100 >",
        b"< REP 1 RF_MUTE 2 >",
        b"< REP 1 FREQUENCY .25 >",
        b"< SAMPLE 1 ALL 100 100 100 >",  # the P10T has no SAMPLE
        b"< GET 1 RF_MUTE >",
        b"< REP 1 CHAN_NAME {open >",
    ],
)
def test_malformed_is_counted_and_the_next_frame_survives(bad: bytes) -> None:
    d = PSM1000Driver()
    events = feed(d, [bad + b"< REP 1 RF_MUTE 1 >\r\n"])
    assert any(isinstance(e, ProtocolError) for e in events)
    assert d.stats.malformed >= 1
    assert events[-1] == ChannelUpdate(1, {"tx.muted": True, "tx.present": False})


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_nor_swallow_the_next_frame(junk: bytes) -> None:
    d = PSM1000Driver()
    d.receive_data(junk, 0)
    events = d.receive_data(b">\r\n< REP 2 AUDIO_IN_LVL_L 23728 >\r\n", 0)
    assert ChannelUpdate(2, {"audio.level_pct": 25, "audio.peak": False}, meter=True) in events


def test_handshake_gets_each_property_and_ends_frames_with_crlf() -> None:
    d = PSM1000Driver()
    d.connection_made(0.0)
    sent = d.data_to_send()
    assert b"ALL" not in sent
    assert sent == b"".join(
        b"< " + f + b" >\r\n" for f in (
            b"GET DEVICE_NAME",
            b"GET 1 CHAN_NAME", b"GET 1 GROUP_CHAN", b"GET 1 FREQUENCY", b"GET 1 RF_MUTE",
            b"GET 2 CHAN_NAME", b"GET 2 GROUP_CHAN", b"GET 2 FREQUENCY", b"GET 2 RF_MUTE",
            b"SET 1 METER_RATE 00100", b"SET 2 METER_RATE 00100",
        )
    )
    d.tick(5.0)
    assert d.data_to_send() == b"< GET DEVICE_NAME >\r\n"
    d.close()
    assert d.data_to_send() == (
        b"< SET 1 METER_RATE 00000 >\r\n< SET 2 METER_RATE 00000 >\r\n"
    )


def test_no_metering_when_rate_is_zero() -> None:
    d = PSM1000Driver(meter_rate_ms=0)
    d.connection_made(0.0)
    assert b"METER_RATE" not in d.data_to_send()
    d.close()
    assert d.data_to_send() == b""


@pytest.mark.parametrize(
    ("cmd", "wire"),
    [
        (Command("name", 2, "DRUMS"), b"< SET 2 CHAN_NAME {DRUMS} >\r\n"),
        (Command("mute", 1, True), b"< SET 1 RF_MUTE 1 >\r\n"),
        (Command("mute", 2, False), b"< SET 2 RF_MUTE 0 >\r\n"),
        (Command("frequency", 1, 518250), b"< SET 1 FREQUENCY 518250 >\r\n"),
    ],
)
def test_commands_encode(cmd: Command, wire: bytes) -> None:
    d = PSM1000Driver()
    d.command(cmd)
    assert d.data_to_send() == wire


@pytest.mark.parametrize(
    "cmd",
    [
        Command("name", 1, "TOO LONG!"),
        Command("name", 1, "x>y"),
        Command("mute", 1, 1),
        Command("mute", None, True),
        Command("frequency", 1, 518260),
        Command("frequency", 3, 518250),
    ],
)
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = PSM1000Driver()
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.data_to_send() == b""


@pytest.mark.parametrize("cmd", [Command("identify", None), Command("gain", 1, 0)])
def test_identify_and_gain_are_unsupported(cmd: Command) -> None:
    d = PSM1000Driver()
    with pytest.raises(CommandUnsupported):
        d.command(cmd)
    assert d.data_to_send() == b""


# ------------------------------------------------------------- against the simulator





async def test_against_simulator_over_tcp() -> None:
    async with PSM1000Simulator("127.0.0.1", 0, names=["Vox mix", "Band"],
                                seed=4, frozen=True) as sim:
        sim.set_tx(2, False)  # channel 2's RF is muted
        d = PSM1000Driver()
        reader, writer = await connect(d, sim.port)
        try:
            def done(ev: list[Event]) -> bool:
                ch = updates(ev)
                meters = {e.channel for e in ev if isinstance(e, ChannelUpdate) and e.meter}
                return meters == {1, 2} and all(
                    "tx.present" in ch.get(n, {}) for n in (1, 2))

            events = await run_until(d, reader, writer, done)
            assert d.stats.malformed == 0
            assert DeviceUpdate({"device_name": "P10T"}) in events
            ch = updates(events)
            assert ch[1]["name"] == "Vox mix" and ch[2]["name"] == "Band"
            assert ch[1]["tx.present"] is True and ch[1]["tx.muted"] is False
            assert ch[2]["tx.present"] is False and ch[2]["tx.muted"] is True
            assert isinstance(ch[1]["frequency_khz"], int)
            assert ch[1]["group_channel"] == "01,01"
            level = ch[1]["audio.level_pct"]
            assert isinstance(level, int) and 0 <= level <= 100
            assert not emitted_keys(events) & BATTERY_KEYS
            assert not [c for c in sim.commands_seen if c.endswith(" ALL")]

            await simctl("127.0.0.1", sim.port, "1 RF_MUTE 1")
            want = ChannelUpdate(1, {"tx.muted": True, "tx.present": False})
            assert want in await run_until(d, reader, writer, lambda ev: want in ev)
        finally:
            writer.close()


async def test_commands_over_tcp_and_frequency_reports_group_chan() -> None:
    async with PSM1000Simulator("127.0.0.1", 0, frozen=True) as sim:
        d = PSM1000Driver(meter_rate_ms=0)
        reader, writer = await connect(d, sim.port)
        try:
            await run_until(d, reader, writer, lambda ev: "tx.present" in updates(ev).get(2, {}))
            freq = d.command(Command("frequency", 2, 606000))
            mute = d.command(Command("mute", 1, True))
            writer.write(d.data_to_send() + b"< SET 1 RF_MUTE 7 >\r\n")  # REP ERR
            events = await run_until(
                d, reader, writer,
                lambda ev: CommandDone(freq) in ev and CommandDone(mute) in ev
                and "group_channel" in updates(ev).get(2, {}))
            ch = updates(events)
            assert ch[2]["frequency_khz"] == 606000 and ch[2]["group_channel"] is None
            assert ch[1]["tx.muted"] is True
            assert sim.life[1].tx_on is False  # the simulator's channel life follows RF_MUTE
            assert d.stats.malformed == 0
        finally:
            writer.close()
