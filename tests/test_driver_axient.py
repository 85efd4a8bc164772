"""Axient Digital driver: framing, indexed properties, SAMPLE layouts, commands, and the
simulator over real TCP (AD4D and AD4Q, quadversity)."""

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
from micboardd.drivers.shure_axient import AxientDriver, AxientSimulator

# Frames as ../shared/protocols/shure.md gives them, plus Axient's special values and the
# indexed (slot, antenna) properties.
DOC_FRAMES = (
    b"< REP MODEL {AD4Q                            } >"
    b"< REP FW_VER {1.2.19.0                } >"
    b"< REP DEVICE_ID {Rack A                         } >"
    b"< REP 1 CHAN_NAME {Lead Vocal With A Long Name     } >"
    b"< SAMPLE 1 ALL 255 000 005 033 XX 00 011 00 012 >"
    b"< REP 1 SLOT_BATT_BARS 8 255 >"
    b"< REP 1 SLOT_STATUS 3 LINKED.INACTIVE >"
    b"< REP 1 SLOT_TX_DEVICE_ID 2 {        } >"
    b"< REP 1 RSSI 2 012 >"
    b"< REP 1 FREQUENCY 0596075 >"
    b"< REP 1 GROUP_CHANNEL --,-- >"
    b"< REP 1 TX_MUTE_MODE_STATUS ON >"
    b"< REP 1 TX_OFFSET 015 >"
    b"< REP 1 ENCRYPTION_STATUS ERROR >"
    b"< REP 1 INTERFERENCE_STATUS DETECTED >"
    b"< REP 1 CHAN_QUALITY 004 >"
    b"< REP 1 TX_LOCK POWER >"
    b"< REP 1 TX_BATT_CHARGE_PERCENT 080 >"
    b"< REP 1 TX_BATT_TYPE LION >"
    b"< REP 1 TX_BATT_MINS 65534 >"
    b"< REP 2 TX_MODEL UNKNOWN >"
    b"< REP 2 TX_BATT_BARS 255 >"
    b"< REP 2 TX_BATT_MINS 65535 >"
    b"< REP 2 TX_OFFSET 255 >"
    b"< REP 2 TX_MUTE_MODE_STATUS MUTE >"
    b"< REP 2 TX_BATT_CHARGE_PERCENT 255 >"
    b"< REP 2 CHAN_QUALITY 255 >"
    b"< REP 2 FREQUENCY 0000000 >"
    b"< REP 3 TX_MODEL ADX2FD >"
    b"< REP 3 TX_BATT_BARS 003 >"
    # antenna status in the LED colour form shure.md now gives (was the letter form AXCX)
    b"< SAMPLE 4 ALL 005 135 110 100 BXBX 05 071 00 009 04 080 00 010 >"
    b"< REP ERR >"
)


def updates(events: list) -> dict[int, dict]:
    merged: dict[int, dict] = {}
    for e in events:
        if isinstance(e, ChannelUpdate):
            merged.setdefault(e.channel, {}).update(e.values)
    return merged


def device(events: list) -> dict:
    merged: dict = {}
    for e in events:
        if isinstance(e, DeviceUpdate):
            merged.update(e.values)
    return merged


def test_doc_frames_any_split_same_events() -> None:
    events = assert_split_invariant(AxientDriver, DOC_FRAMES)
    assert not [e for e in events if isinstance(e, ProtocolError)]
    assert device(events) == {"model": "AD4Q", "channel_count": 4, "firmware": "1.2.19.0",
                              "device_name": "Rack A"}
    ch = updates(events)
    assert ch[1]["name"] == "Lead Vocal With A Long Name"
    assert ch[1]["frequency_khz"] == 596075
    assert ch[1]["group_channel"] is None
    assert ch[1]["tx.muted"] is False  # ON means unmuted
    assert ch[1]["tx.offset_db"] == 3
    assert ch[1]["rf.encryption_ok"] is False
    assert ch[1]["rf.interference"] is True
    assert ch[1]["rf.quality"] == 4
    assert ch[1]["tx.power_lock"] is True
    assert ch[1]["tx.battery_percent"] == 80
    assert ch[1]["tx.battery_type"] == "LION"
    assert ch[1]["tx.battery_minutes"] is None
    assert ch[1]["tx.battery_minutes_state"] == "calculating"
    # RSSI 2 012 -> -108 dBm; no ANTENNA_STATUS known yet, so the reported antenna counts
    assert ch[1]["rf.rssi_dbm"] == -108
    assert ch[2] == {
        "tx.model": None,
        "tx.present": False,
        "tx.battery_bars": None,
        "tx.battery_minutes": None,
        "tx.battery_minutes_state": None,
        "tx.offset_db": None,
        "tx.muted": True,
        "tx.battery_percent": None,
        "rf.quality": None,
        "frequency_khz": None,
    }
    assert ch[3] == {"tx.model": "ADX2FD", "tx.present": True, "tx.battery_bars": 3}
    # quadversity sample: A and C active; C (080 -> -40 dBm) is the strongest
    assert ch[4] == {
        "rf.quality": 5,
        "rf.antennas": "AC",
        "rf.antenna_warning": False,
        "rf.rssi_dbm": -40,
        "rf.level_pct": 100,
        "audio.dbfs": -20,
        "audio.level_pct": 60,
        "audio.peak_dbfs": -10,
        "audio.peak": True,  # 135 has the top bit set
    }


def test_doc_sample_with_no_active_antenna() -> None:
    (ev,) = feed(AxientDriver(), [b"< SAMPLE 1 ALL 255 000 005 033 XX 00 011 00 012 >"])
    assert isinstance(ev, ChannelUpdate) and ev.meter
    assert ev.values == {
        "rf.quality": None,
        "rf.antennas": "",
        "rf.antenna_warning": False,
        "rf.rssi_dbm": None,  # inactive antennas' readings are noise, not signal
        "rf.level_pct": 0,
        "audio.dbfs": -87,
        "audio.level_pct": 0,
        "audio.peak_dbfs": -115,
        "audio.peak": False,
    }


def test_diversity_sample_strongest_active_antenna() -> None:
    (ev,) = feed(AxientDriver(), [b"< SAMPLE 2 ALL 003 007 090 084 AB 03 050 04 061 >"])
    assert isinstance(ev, ChannelUpdate)
    assert ev.values["rf.rssi_dbm"] == -59
    assert ev.values["rf.antennas"] == "AB"
    assert ev.values["rf.level_pct"] == 68
    assert ev.values["audio.peak"] is False


def test_rssi_reps_follow_antenna_status() -> None:
    d = AxientDriver()
    feed(d, [b"< REP 1 ANTENNA_STATUS BX >"])  # LED colours: only A active
    ev = feed(d, [b"< REP 1 RSSI 1 050 >< REP 1 RSSI 2 070 >"])
    # B is inactive: its stronger reading is ignored
    assert ev[-1] == ChannelUpdate(1, {"rf.rssi_dbm": -70, "rf.level_pct": 50}, meter=True)
    ev = feed(d, [b"< REP 1 ANTENNA_STATUS XB >"])
    assert ev == [ChannelUpdate(1, {"rf.antennas": "B", "rf.antenna_warning": False,
                                    "rf.rssi_dbm": -50, "rf.level_pct": 83}, meter=True)]


def test_model_sets_channel_count_even_with_a_suffix() -> None:
    d = AxientDriver()
    assert d.channels == 2
    ev = feed(d, [b"< REP MODEL {AD4Q-A                          } >"])
    assert ev == [DeviceUpdate({"model": "AD4Q-A", "channel_count": 4})]
    assert d.channels == 4


@pytest.mark.parametrize(
    "bad",
    [
        b"garbage",
        b"< SAMPLE 1 ALL 255 000 005 033 XX 00 011 00 >",  # 8 fields
        b"< SAMPLE 1 ALL 255 000 005 033 XQ 00 011 00 012 >",  # bad antenna char
        b"< SAMPLE 1 ALL 009 000 005 033 AB 00 011 00 012 >",  # quality 9
        b"< SAMPLE 1 ALL 005 000 005 121 AB 00 011 00 012 >",  # rms 121
        b"< SAMPLE 1 ALL 005 000 005 033 ABC 00 011 00 012 >",  # C without a pair
        b"< REP 1 SLOT_BATT_BARS 9 255 >",  # slot 9
        b"< REP 1 SLOT_BATT_BARS 8 >",
        b"< REP 1 RSSI 5 012 >",
        b"< REP 1 TX_BATT_BARS 009 >",
        b"< REP 9 CHAN_NAME {x} >",
        b"< REP 1 CHAN_NAME {unterminated >",
        b"<< REP 1 TX_BATT_BARS 003 >",
        b"< >",
    ],
)
def test_malformed_is_counted_and_the_next_frame_survives(bad: bytes) -> None:
    d = AxientDriver()
    events = feed(d, [bad + b"< REP 1 TX_BATT_BARS 002 >"])
    assert any(isinstance(e, ProtocolError) for e in events)
    assert d.stats.malformed >= 1
    assert events[-1] == ChannelUpdate(1, {"tx.battery_bars": 2})


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200), seed=st.integers(0, 10))
def test_arbitrary_bytes_never_raise_nor_swallow_the_next_frame(junk: bytes, seed: int) -> None:
    d = AxientDriver()
    d.receive_data(junk, 0)
    events = d.receive_data(b">< REP 3 TX_BATT_BARS 003 >", 0)
    assert ChannelUpdate(3, {"tx.battery_bars": 3}) in events


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(st.sampled_from(["000", "120", "255", "AB", "ABCD", "XX", "R", "-1",
                                        "05", "x"]), max_size=14))
def test_arbitrary_sample_fields_never_raise(fields: list[str]) -> None:
    d = AxientDriver()
    d.receive_data(f"< SAMPLE 1 ALL {' '.join(fields)} >".encode(), 0)
    assert d.receive_data(b"< REP 1 TX_BATT_BARS 001 >", 0) == [
        ChannelUpdate(1, {"tx.battery_bars": 1})
    ]


def test_handshake_asks_model_and_meters_every_channel() -> None:
    d = AxientDriver(meter_rate_ms=250)
    d.connection_made(0.0)
    assert d.data_to_send() == (
        b"< GET MODEL >< GET FW_VER >< GET DEVICE_ID >< GET 0 ALL >"
        b"< SET 1 METER_RATE 00250 >< SET 2 METER_RATE 00250 >"
    )
    # an AD4Q reports channels 3 and 4 in the GET ALL answer: they get metered too
    feed(d, [b"< REP MODEL {AD4Q} >< REP 3 CHAN_NAME {C} >< REP 4 CHAN_NAME {D} >"])
    assert d.data_to_send() == b"< SET 3 METER_RATE 00250 >< SET 4 METER_RATE 00250 >"
    d.close()
    assert d.data_to_send() == (
        b"< SET 1 METER_RATE 00000 >< SET 2 METER_RATE 00000 >"
        b"< SET 3 METER_RATE 00000 >< SET 4 METER_RATE 00000 >"
    )


def test_keepalive_is_periodic() -> None:
    d = AxientDriver()
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
        (Command("name", 4, "8 chars!"), b"< SET 4 CHAN_NAME {8 chars!} >"),
        (Command("mute", 2, True), b"< SET 2 AUDIO_MUTE ON >"),
        (Command("mute", 2, False), b"< SET 2 AUDIO_MUTE OFF >"),
        (Command("gain", 1, -18), b"< SET 1 AUDIO_GAIN 000 >"),
        (Command("gain", 1, 42), b"< SET 1 AUDIO_GAIN 060 >"),
        (Command("identify", None), b"< SET FLASH ON >"),
        (Command("identify", 3), b"< SET 3 FLASH ON >"),
        (Command("frequency", 1, 596075), b"< SET 1 FREQUENCY 0596075 >"),
        (Command("frequency", 1, 1240000), b"< SET 1 FREQUENCY 1240000 >"),
    ],
)
def test_commands_encode(cmd: Command, wire: bytes) -> None:
    d = AxientDriver(channels=4)
    d.command(cmd)
    assert d.data_to_send() == wire


@pytest.mark.parametrize(
    "cmd",
    [
        Command("name", 1, "NINE CHRS"),
        Command("name", 1, "br{ce"),
        Command("name", 1, ""),
        Command("name", 1, 5),
        Command("mute", 1, "yes"),
        Command("gain", 1, 43),
        Command("gain", 1, -19),
        Command("gain", 1, True),
        Command("gain", 1, 1.5),
        Command("frequency", 1, 596076),
        Command("frequency", 1, 100000),
        Command("frequency", 1, "596075"),
        Command("name", 5, "X"),
        Command("name", None, "X"),
        Command("identify", 5),
    ],
)
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = AxientDriver(channels=4)
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.data_to_send() == b""


def test_command_confirmed_by_report_or_refused_by_err() -> None:
    d = AxientDriver(channels=2)
    a = d.command(Command("name", 1, "LEAD"))
    b = d.command(Command("identify", 2))
    c = d.command(Command("gain", 2, 0))
    events = feed(d, [b"< REP 1 CHAN_NAME {LEAD                           } >"
                      b"< REP 2 FLASH ON >< REP ERR >"])
    assert CommandDone(a) in events
    assert CommandDone(b) in events
    assert CommandFailed(c, "device answered REP ERR") in events


# ------------------------------------------------------------------ simulator (TCP)


async def test_ad4q_against_simulator_over_tcp() -> None:
    async with AxientSimulator("127.0.0.1", 0, model="AD4Q",
                               names=["Lead Vocal Main", "VOX 2"], seed=1, frozen=True) as sim:
        sim.set_tx(3, False)
        d = AxientDriver()
        events = await sim_session(d, "127.0.0.1", sim.port, metered(1, 2, 3, 4))
        assert d.stats.malformed == 0
        assert d.channels == 4
        assert device(events)["model"] == "AD4Q"
        assert device(events)["channel_count"] == 4
        ch = updates(events)
        assert ch[1]["name"] == "Lead Vocal Main" and ch[2]["name"] == "VOX 2"
        assert 0 <= ch[1]["tx.battery_bars"] <= 5
        assert ch[1]["tx.present"] is True and ch[1]["tx.model"] == "ADX2"
        assert 400000 < ch[1]["frequency_khz"] < 700000
        assert ch[1]["tx.muted"] is False
        assert ch[1]["tx.offset_db"] == 0
        assert ch[1]["rf.encryption_ok"] is True and ch[1]["rf.interference"] is False
        # transmitter off: special values become None, never numbers
        assert ch[3]["tx.battery_bars"] is None
        assert ch[3]["tx.battery_minutes"] is None
        assert ch[3]["tx.battery_percent"] is None
        assert ch[3]["tx.present"] is False and ch[3]["tx.model"] is None
        assert ch[3]["rf.quality"] is None and ch[3]["rf.rssi_dbm"] is None
        meters = [e for e in events if isinstance(e, ChannelUpdate) and e.meter
                  and "audio.peak" in e.values]
        assert {e.channel for e in meters} == {1, 2, 3, 4}  # every channel was metered
        one = next(e for e in meters if e.channel == 1).values
        assert one["rf.antennas"] == "AB"  # diversity: two antennas
        assert -100 < one["rf.rssi_dbm"] < -40
        assert one["rf.quality"] == 5


async def test_quadversity_samples_carry_four_antennas() -> None:
    async with AxientSimulator("127.0.0.1", 0, model="AD4Q", seed=2, frozen=True) as sim:
        await simctl("127.0.0.1", sim.port, "QUADVERSITY_MODE ON")
        d = AxientDriver()
        events = await sim_session(d, "127.0.0.1", sim.port, metered(1, 2, 3, 4))
        assert d.stats.malformed == 0
        samples = [e for e in events if isinstance(e, ChannelUpdate) and e.meter
                   and "audio.peak" in e.values]
        assert samples
        assert all(e.values["rf.antennas"] == "ABCD" for e in samples)
        # the GET ALL answer holds four RSSI lines per channel as well
        assert any(isinstance(e, ChannelUpdate) and e.values.get("rf.antennas") == "ABCD"
                   and "audio.peak" not in e.values for e in events)


async def test_ad4d_slots_and_unsolicited_simctl_change() -> None:
    async with AxientSimulator("127.0.0.1", 0, model="AD4D", frozen=True) as sim:
        d = AxientDriver(meter_rate_ms=0)
        r, w = await asyncio.open_connection("127.0.0.1", sim.port)
        d.connection_made(0)
        w.write(d.data_to_send())
        # every frame of the handshake answered: 3 device GETs and the GET 0 ALL dump,
        # which holds 8 slots x 8 slot properties per channel
        expected = 3 + len(sim.all_reps(0))
        assert expected > 2 * 8 * 8
        while d.stats.frames < expected:
            d.receive_data(await asyncio.wait_for(r.read(65536), 10), 0)
        assert d.channels == 2 and d.stats.malformed == 0
        assert sum(1 for c in sim.commands_seen if c == "GET 0 ALL") == 1
        ok = d.command(Command("name", 2, "BASS"))
        w.write(d.data_to_send() + b"< SET 1 AUDIO_GAIN 099 >")
        await simctl("127.0.0.1", sim.port, "1 TX_BATT_BARS 001", "2 SLOT_BATT_BARS 4 002",
                     "1 TX_MUTE_MODE_STATUS MUTE")
        events: list = []
        while not (ChannelUpdate(1, {"tx.muted": True}) in events
                   and CommandDone(ok) in events):
            events += d.receive_data(await asyncio.wait_for(r.read(65536), 10), 0)
        w.close()
        assert ChannelUpdate(2, {"name": "BASS"}) in events
        assert ChannelUpdate(1, {"tx.battery_bars": 1}) in events
        assert d.stats.malformed == 0
        assert "SET 1 AUDIO_GAIN 099" in sim.commands_seen


async def test_simulator_split_and_garbage_faults() -> None:
    async with AxientSimulator("127.0.0.1", 0, model="AD4D", names=["SPLIT"],
                               frozen=True) as sim:
        sim.set_fault("split")
        d = AxientDriver(meter_rate_ms=0)
        events = await sim_session(d, "127.0.0.1", sim.port, named(1, "SPLIT"))
        assert updates(without_errors(events))[1]["name"] == "SPLIT"
        assert d.stats.malformed == 0
        sim.set_fault("garbage")
        d = AxientDriver(meter_rate_ms=0)
        events = await sim_session(d, "127.0.0.1", sim.port, named(1, "SPLIT"))
        assert d.stats.malformed > 0
        assert updates(events)[1]["name"] == "SPLIT"
