"""Reply forms seen from real receivers and other people's code (shure.md section 2b and
the corrected Axient antenna rows), driver by driver, sans-IO: bytes in, events and
outgoing frames out. ``test_frames_shure.py`` replays such frames through the daemon."""

from __future__ import annotations

import pytest
from driverkit import assert_split_invariant, feed

from micboardd.drivers.base import ChannelUpdate, DeviceUpdate, Driver, Event, ProtocolError
from micboardd.drivers.shure_axient import AxientDriver
from micboardd.drivers.shure_psm1000 import PSM1000Driver
from micboardd.drivers.shure_qlxd import QLXDDriver
from micboardd.drivers.shure_slxd import SLXDDriver
from micboardd.drivers.shure_uhfr import UHFRDriver
from micboardd.drivers.shure_ulxd import ULXDDriver


def merged(events: list[Event], channel: int = 1) -> dict[str, object]:
    out: dict[str, object] = {}
    for e in events:
        if isinstance(e, ChannelUpdate) and e.channel == channel:
            out.update(e.values)
    return out


def connected(cls: type[Driver], **kw: int) -> Driver:
    d = cls(**kw)
    d.connection_made(0.0)
    d.data_to_send()
    return d


# ------------------------------------------------------------ GET 0 ALL, no answer


@pytest.mark.parametrize(
    ("cls", "kw", "asked"),
    [
        (QLXDDriver, {}, b"< GET 1 ALL >"),
        (ULXDDriver, {"channels": 4}, b"< GET 1 ALL >< GET 2 ALL >< GET 3 ALL >< GET 4 ALL >"),
        (AxientDriver, {}, b"< GET 1 ALL >< GET 2 ALL >"),
    ],
)
def test_unanswered_get_all_falls_back_after_a_second(cls: type[Driver], kw: dict[str, int],
                                                      asked: bytes) -> None:
    d = connected(cls, meter_rate_ms=0, **kw)
    d.tick(0.9)
    assert d.data_to_send() == b""
    d.tick(1.0)
    assert d.data_to_send() == asked
    d.tick(1.5)
    assert d.data_to_send() == b"", "asked once, not at every tick"


def test_the_fallback_covers_every_channel_of_the_reported_model() -> None:
    d = connected(SLXDDriver, meter_rate_ms=0)
    feed(d, [b"< REP MODEL {SLXD4Q+                         } >"])
    d.tick(1.25)
    assert d.data_to_send() == b"< GET 1 ALL >< GET 2 ALL >< GET 3 ALL >< GET 4 ALL >"


def test_the_echo_of_our_meter_rate_does_not_count_as_an_answer() -> None:
    d = connected(QLXDDriver)
    feed(d, [b"< REP 1 METER_RATE 00100 >"])
    d.tick(1.0)
    assert d.data_to_send() == b"< GET 1 ALL >"


def test_a_channel_report_within_the_second_is_the_answer() -> None:
    d = connected(ULXDDriver, channels=2, meter_rate_ms=0)
    feed(d, [b"< REP FW_VER {2.4.23} >"])  # a device property does not answer it
    feed(d, [b"< REP 1 CHAN_NAME {Vox} >"], now=0.4)
    d.tick(1.0)
    d.tick(1.9)
    assert d.data_to_send() == b""


def test_a_resent_handshake_starts_its_second_at_the_next_tick() -> None:
    d = connected(QLXDDriver, meter_rate_ms=0)
    feed(d, [b"< REP 1 CHAN_NAME {a} >"])
    d.resend_handshake()
    d.data_to_send()
    d.tick(10.0)  # the clock starts here
    assert b"GET 1 ALL" not in d.data_to_send()
    d.tick(11.0)
    assert b"< GET 1 ALL >" in d.data_to_send()


# ------------------------------------------------- channels the model reveals later


def test_meter_rate_sent_before_the_model_reply_reaches_channel_two() -> None:
    d = connected(SLXDDriver)
    feed(d, [b"< REP MODEL {SLXD4D                          } >"])
    assert d.data_to_send() == b"< SET 2 METER_RATE 00100 >"


@pytest.mark.parametrize("model", [b"SLXD4Q+", b"SLXD4QDAN+"])
def test_four_channel_slxd_plus_is_asked_for_all_four_after_rep_err(model: bytes) -> None:
    d = connected(SLXDDriver)
    feed(d, [b"< REP MODEL {" + model + b"} >< REP FW_VER {2.0.38.9} >< REP ERR >"])
    assert d.data_to_send() == (
        b"< SET 2 METER_RATE 00100 >< SET 3 METER_RATE 00100 >< SET 4 METER_RATE 00100 >"
        b"< GET 1 ALL >< GET 2 ALL >< GET 3 ALL >< GET 4 ALL >"
    )
    assert d.channels == 4


def test_an_unlisted_slxd_model_is_counted_by_its_shape() -> None:
    d = SLXDDriver()
    assert DeviceUpdate({"model": "SLXD4QXX+", "channel_count": 4}) in feed(
        d, [b"< REP MODEL {SLXD4QXX+} >"])
    assert d.model_channels("SLXD4DXX") == 2
    assert d.model_channels("SLXD4XX") == 1
    assert d.model_channels("AD4Q") is None


def test_a_model_known_after_the_fallback_gets_its_new_channels_asked() -> None:
    d = connected(SLXDDriver, meter_rate_ms=0)
    d.tick(1.0)
    assert d.data_to_send() == b"< GET 1 ALL >"
    feed(d, [b"< REP MODEL {SLXD4D} >"])
    assert d.data_to_send() == b"< GET 2 ALL >"


# ------------------------------------------------------------ keepalive


def test_a_device_that_ignores_the_keepalive_is_kept_alive_by_channel_queries() -> None:
    d = connected(QLXDDriver, meter_rate_ms=0)
    feed(d, [b"< REP 1 CHAN_NAME {a} >"])
    d.tick(2.0)
    assert d.data_to_send() == b"< GET DEVICE_ID >"
    d.tick(2.25)
    assert d.data_to_send() == b""
    d.tick(2.5)  # no answer within half a second
    assert d.data_to_send() == b"< GET 1 CHAN_NAME >"
    d.tick(4.0)
    assert d.data_to_send() == b"< GET 1 CHAN_NAME >"
    assert merged(feed(d, [b"< REP 1 CHAN_NAME {a} >"])) == {"name": "a"}, \
        "the channel keepalive's answer is an event: the link sees life"


def test_an_answered_keepalive_stays_device_level() -> None:
    d = connected(PSM1000Driver, meter_rate_ms=0)
    d.tick(2.0)
    assert d.data_to_send() == b"< GET DEVICE_NAME >\r\n"
    feed(d, [b"< REP DEVICE_NAME {P10T} >"], now=2.1)
    d.tick(3.0)
    d.tick(4.0)
    assert d.data_to_send() == b"< GET DEVICE_NAME >\r\n"


# ------------------------------------------------------------ strings


NAME_FRAMES = (
    b"< REP 1 CHAN_NAME {<VOX> L&R            } >"
    b"< REP 2 CHAN_NAME {A>B                            } >"
    b"< REP 3 CHAN_NAME Choir L >"
    b"< REP 4 CHAN_NAME   Choir    R   >"
    b"< REP DEVICE_ID {Rack <A>} >"
)


@pytest.mark.parametrize("cls", [ULXDDriver, SLXDDriver, AxientDriver])
def test_braced_names_hold_angle_brackets_and_bare_names_hold_spaces(cls: type[Driver]) -> None:
    events = assert_split_invariant(cls, NAME_FRAMES)
    assert not [e for e in events if isinstance(e, ProtocolError)]
    assert merged(events, 1)["name"] == "<VOX> L&R"
    assert merged(events, 2)["name"] == "A>B"
    assert merged(events, 3)["name"] == "Choir L"
    assert merged(events, 4)["name"] == "Choir R"  # tokens joined by single spaces
    assert DeviceUpdate({"device_name": "Rack <A>"}) in events


def test_uhfr_names_are_the_rest_of_the_frame_in_single_spaces() -> None:
    ev = feed(UHFRDriver(), [b"* REPORT 1 CHAN_NAME  Choir   L  *"])
    assert merged(ev) == {"name": "Choir L"}


def test_a_string_cut_off_by_the_next_frame_does_not_swallow_it() -> None:
    d = ULXDDriver()
    events = feed(d, [b"< REP 1 CHAN_NAME {Vox 1 >< REP 1 BATT_BARS 003 >"])
    assert isinstance(events[0], ProtocolError)
    assert events[-1] == ChannelUpdate(1, {"tx.battery_bars": 3})


def test_an_unclosed_brace_in_garbage_waits_at_most_a_string_length() -> None:
    d = ULXDDriver()
    junk = b"<\x00{" + b"x" * 10
    frames = b"< REP 1 BATT_BARS 003 >" * 8  # no brace: the junk's '{' is no string
    events = feed(d, [junk, frames])
    assert events.count(ChannelUpdate(1, {"tx.battery_bars": 3})) == 8
    assert d.stats.malformed == 1


# ------------------------------------------------------------ SLX-D


def test_slxd_per_antenna_rssi_shows_the_strongest() -> None:
    d = SLXDDriver()
    ev = feed(d, [b"< REP 1 RSSI 1 083 >< REP 1 RSSI 2 064 >"])
    assert merged(ev)["rf.rssi_dbm"] == -37
    ev = feed(d, [b"< REP 1 RSSI 1 050 >"])  # A fades: B (-56) is now the strongest
    assert merged(ev)["rf.rssi_dbm"] == -56
    assert merged(feed(SLXDDriver(), [b"< REP 2 RSSI 068 >"]), 2)["rf.rssi_dbm"] == -52


@pytest.mark.parametrize("frame", [b"< REP 1 GROUP_CHAN 06,100 >",
                                   b"< REP 1 GROUP_CHANNEL {06,100} >"])
@pytest.mark.parametrize("cls", [SLXDDriver, ULXDDriver, AxientDriver])
def test_group_channel_in_either_spelling(cls: type[Driver], frame: bytes) -> None:
    assert merged(feed(cls(), [frame]))["group_channel"] == "06,100"


def test_a_channel_without_tx_model_takes_the_online_slots_model() -> None:
    d = SLXDDriver(channels=4)
    ev = feed(d, [b"< REP 4 LINK_STATUS 1 offline  >< REP 4 SLOT_TX_MODEL 1 {          } >"
                  b"< REP 4 LINK_STATUS 2 online  >< REP 4 SLOT_TX_MODEL 2 {SLXD2+    } >"])
    assert merged(ev, 4) == {"tx.model": "SLXD2+", "tx.present": True}
    # a channel that reports its own TX_MODEL keeps it; slot lines do not override it
    ev = feed(d, [b"< REP 1 TX_MODEL SLXD1+ >< REP 1 LINK_STATUS 1 offline >"
                  b"< REP 1 SLOT_TX_MODEL 2 {SLXD2+    } >< REP 1 LINK_STATUS 2 online >"])
    assert merged(ev, 1) == {"tx.model": "SLXD1+", "tx.present": True}


def test_link_tx_batt_mins_is_the_channel_runtime() -> None:
    ev = feed(SLXDDriver(), [b"< REP 1 LINK_TX_BATT_MINS 1 00494 >"])
    assert merged(ev)["tx.battery_minutes"] == 494


# ------------------------------------------------------------ Axient Digital


@pytest.mark.parametrize(
    ("fields", "antennas", "rssi", "warning"),
    [
        (b"005 031 102 102 BB 31 086 31 065", "AB", -34, False),
        (b"005 031 102 102 BX 31 080 00 065", "A", -40, False),
        (b"005 031 102 102 XB 00 086 31 065", "B", -55, False),
        (b"005 031 102 102 BBBB 31 083 31 068 31 069 31 072", "ABCD", -37, False),
        (b"005 031 102 102 BRXB 31 083 31 090 31 099 31 072", "ABD", -30, True),
        # frequency diversity combined: two groups, the strongest active of either
        (b"005 031 102 102 BB 31 082 31 060 BB 31 082 31 060", "AB", -38, False),
        (b"005 031 102 102 BX 31 050 00 100 XB 00 110 31 070", "AB", -50, False),
        (b"005 031 102 102 BBBB 31 083 31 068 31 069 31 072"
         b" BBBX 31 090 31 068 31 069 31 110", "ABCD", -30, False),
    ],
)
def test_axient_antenna_colours_and_layouts(fields: bytes, antennas: str, rssi: int,
                                            warning: bool) -> None:
    (ev,) = feed(AxientDriver(), [b"< SAMPLE 1 ALL " + fields + b" >"])
    assert isinstance(ev, ChannelUpdate) and ev.meter
    assert ev.values["rf.antennas"] == antennas
    assert ev.values["rf.rssi_dbm"] == rssi
    assert ev.values["rf.antenna_warning"] is warning


@pytest.mark.parametrize(
    "fields",
    [
        b"005 031 102 102 BB 31 082 31 060 BB 31 082",  # second group short
        b"005 031 102 102 BB 31 082 31 060 BBBB 31 082 31 060 31 082 31 060",  # sizes differ
        b"005 031 102 102 BB 31 082 31 060 31",
        b"005 031 102 102 BQ 31 082 31 060",
        b"005 031 102 102 BB 31 082 31 060 BB 31 082 31 060 BB 31 082 31 060",
    ],
)
def test_axient_layouts_that_are_none_are_malformed(fields: bytes) -> None:
    d = AxientDriver()
    (ev,) = feed(d, [b"< SAMPLE 1 ALL " + fields + b" >"])
    assert isinstance(ev, ProtocolError)


def test_axient_antenna_status_rep_is_read_as_colours() -> None:
    d = AxientDriver()
    ev = feed(d, [b"< REP 1 RSSI 1 080 >< REP 1 RSSI 2 090 >< REP 1 ANTENNA_STATUS BX >"])
    assert merged(ev) == {"rf.antennas": "A", "rf.antenna_warning": False,
                          "rf.rssi_dbm": -40, "rf.level_pct": 100}
    ev = feed(d, [b"< REP 1 ANTENNA_STATUS RB >"])
    assert merged(ev)["rf.antenna_warning"] is True
    assert merged(ev)["rf.rssi_dbm"] == -30


# ------------------------------------------------------------ ULX-D / QLX-D peak


@pytest.mark.parametrize(("audio", "peak"), [(b"039", False), (b"040", True), (b"050", True)])
@pytest.mark.parametrize("cls", [ULXDDriver, QLXDDriver])
def test_ulx_audio_at_minus_ten_dbfs_is_a_peak(cls: type[Driver], audio: bytes,
                                               peak: bool) -> None:
    (ev,) = feed(cls(), [b"< SAMPLE 1 ALL AB 080 " + audio + b" >"])
    assert isinstance(ev, ChannelUpdate) and ev.values["audio.peak"] is peak
    assert merged(feed(cls(), [b"< REP 1 AUDIO_LVL " + audio + b" >"]))["audio.peak"] is peak


# ------------------------------------------------------------ garbage is not life


@pytest.mark.parametrize(
    ("cls", "bad"),
    [
        (ULXDDriver, b"< REP 5 BATT_BARS 009 >"),
        (ULXDDriver, b"< SAMPLE 6 ALL AQ 080 030 >"),
        (SLXDDriver, b"< REP 3 RSSI 3 050 >"),
        (SLXDDriver, b"< REP 4 LINK_STATUS 1 maybe >"),
        (AxientDriver, b"< SAMPLE 4 ALL 005 031 102 102 BB 31 082 >"),
        (PSM1000Driver, b"< REP 5 AUDIO_IN_LVL_L loud >"),
    ],
)
def test_a_malformed_frame_is_a_protocol_error_and_nothing_else(cls: type[Driver],
                                                                bad: bytes) -> None:
    d = connected(cls, meter_rate_ms=100)
    channels = d.channels
    (ev,) = feed(d, [bad])
    assert isinstance(ev, ProtocolError)
    assert d.data_to_send() == b"", "nothing learnt from a bad frame: no channel metered"
    assert d.channels == channels
