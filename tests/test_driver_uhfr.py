"""UHF-R driver: star framing, special values, datagram output, commands, and the
simulator over real UDP (UR4D and UR4S), faults included."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import pytest
from driverkit import assert_split_invariant, feed
from hypothesis import given, settings
from hypothesis import strategies as st

from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandDone,
    CommandFailed,
    CommandInvalid,
    CommandUnsupported,
    Event,
    ProtocolError,
)
from micboardd.drivers.shure_uhfr import UHFRDriver, UHFRSimulator

HOST = "127.0.0.1"

# Frames in the shapes of ../shared/protocols/shure.md section 6, special values included.
DOC_FRAMES = (
    b"* REPORT 1 CHAN_NAME Lead Vox     *"
    b"* REPORT 1 TX_BAT 4 *"
    b"* REPORT 1 TX_BAT_MINS 00245 *"
    b"* REPORT 1 TX_TYPE UR2 *"
    b"* REPORT 1 GROUP_CHAN 03 12 *\r\n"
    b"* REPORT 1 FREQUENCY 578350 *"
    b"* REPORT 1 AUDIO_GAIN 16 *"
    b"* SAMPLE 1 ALL AB 035 042 4 063 *"
    b"* REPORT 2 TX_BAT U *"
    b"* REPORT 2 TX_BAT_MINS 65535 *"
    b"* REPORT 2 TX_TYPE UNKN *"
    b"* REPORT 2 GROUP_CHAN -- -- *"
    b"* REPORT 2 FREQUENCY 000000 *"
    b"* SAMPLE 2 ALL XX 100 100 U 000 *"
    b"* SAMPLE 1 ALL XB 090 020 5 255 *"
    b"* REPORT 1 TX_BAT_MINS 65534 *"
    b"* REPORT ERR *"
)


def updates(events: list[Event]) -> dict[int, dict]:
    merged: dict[int, dict] = {}
    for e in events:
        if isinstance(e, ChannelUpdate):
            merged.setdefault(e.channel, {}).update(e.values)
    return merged


def meters(events: list[Event]) -> list[ChannelUpdate]:
    return [e for e in events if isinstance(e, ChannelUpdate) and e.meter]


# ------------------------------------------------------------------- UDP helpers


class UdpClient(asyncio.DatagramProtocol):
    """One UDP socket "connected" to a simulator, as the link opens it: the driver's
    datagrams go out one per frame, every datagram received is fed to the driver."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.datagrams = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # NB: not an isinstance check: neither asyncio's selector UDP transport (3.11)
        # nor uvloop's subclasses asyncio.DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(data)

    @classmethod
    async def open(cls, host: str, port: int) -> UdpClient:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(cls, remote_addr=(host, port))
        return proto

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def flush(self, driver: UHFRDriver) -> int:
        assert self.transport is not None
        frames = driver.datagrams_to_send()
        for d in frames:
            self.transport.sendto(d)
        return len(frames)

    def send_raw(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data)

    async def run(self, driver: UHFRDriver, *, until: float = 10.0,
                  done: Callable[[list[Event]], bool] | None = None) -> list[Event]:
        """Feed the driver (ticking it and sending what it queues) until ``done(events)``
        or, without ``done``, for ``until`` seconds. With ``done`` the time is only a
        safety net: running out of it fails the test."""
        loop = asyncio.get_running_loop()
        events: list[Event] = []
        deadline = loop.time() + until
        while True:
            if done is not None and done(events):
                return events
            left = deadline - loop.time()
            if left <= 0:
                assert done is None, "condition not met in time"
                return events
            try:
                data = await asyncio.wait_for(self.queue.get(), min(left, 0.1))
            except TimeoutError:
                data = b""
            now = loop.time()
            if data:
                self.datagrams += 1
                events.extend(driver.receive_data(data, now))
            driver.tick(now)
            self.flush(driver)


async def udp_session(driver: UHFRDriver, host: str, port: int, *, until: float = 10.0,
                      done: Callable[[list[Event]], bool] | None = None) -> list[Event]:
    client = await UdpClient.open(host, port)
    try:
        driver.connection_made(asyncio.get_running_loop().time())
        client.flush(driver)
        return await client.run(driver, until=until, done=done)
    finally:
        client.close()


async def udp_simctl(host: str, port: int, *commands: str) -> None:
    """Steer the simulator through ``* SIMCTL ... *`` from a socket of its own."""
    client = await UdpClient.open(host, port)
    try:
        for c in commands:
            client.send_raw(f"* SIMCTL {c} *".encode())
            # the reply may come with junk or in pieces when a fault is on
            buf = b""
            while b"* SIMCTL OK *" not in buf:
                assert b"* SIMCTL ERR *" not in buf, c
                buf += await asyncio.wait_for(client.queue.get(), 5)
    finally:
        client.close()


def has(ch: int, values: dict) -> Callable[[list[Event]], bool]:
    want = ChannelUpdate(ch, values)
    return lambda events: want in events


# ------------------------------------------------------------------------ parsing


def test_doc_frames_any_split_same_events() -> None:
    events = assert_split_invariant(UHFRDriver, DOC_FRAMES)
    assert not [e for e in events if isinstance(e, ProtocolError)]
    ch = updates(events)
    assert ch[1]["name"] == "Lead Vox"
    assert ch[1]["tx.model"] == "UR2" and ch[1]["tx.present"] is True
    assert ch[1]["tx.battery_bars"] == 5  # the last sample's battery
    assert ch[1]["tx.battery_minutes"] is None
    assert ch[1]["tx.battery_minutes_state"] == "calculating"
    assert ch[1]["group_channel"] == "03,12"
    assert ch[1]["frequency_khz"] == 578350
    assert ch[1]["audio.gain_db"] == 16
    assert ch[2] == {
        "tx.battery_bars": None,
        "tx.battery_minutes": None,
        "tx.battery_minutes_state": None,
        "tx.model": None,
        "tx.present": False,
        "group_channel": None,
        "frequency_khz": None,
        "rf.antennas": "",
        "rf.level_pct": 0,
        "audio.level_pct": 0,
        "audio.peak": False,
    }


def test_samples_are_meters_and_battery_is_a_status_update() -> None:
    d = UHFRDriver()
    ev = feed(d, [b"* SAMPLE 1 ALL AB 035 042 4 063 *"])
    assert ev == [
        ChannelUpdate(1, {"rf.antennas": "AB", "rf.level_pct": 81, "audio.level_pct": 75,
                          "audio.peak": False}, meter=True),
        ChannelUpdate(1, {"tx.battery_bars": 4}),
    ]
    # same battery: no second status update; the strongest active antenna is B here
    ev = feed(d, [b"* SAMPLE 1 ALL XB 090 020 4 255 *"])
    assert ev == [
        ChannelUpdate(1, {"rf.antennas": "B", "rf.level_pct": 100, "audio.level_pct": 100,
                          "audio.peak": True}, meter=True),
    ]
    ev = feed(d, [b"* SAMPLE 1 ALL AX 100 020 U 001 *"])
    assert ev[0].values["rf.level_pct"] == 0  # A active at 100: no signal
    assert ev[1] == ChannelUpdate(1, {"tx.battery_bars": None})


def test_frames_may_be_split_across_datagrams_and_gaps_are_ignored() -> None:
    d = UHFRDriver()
    ev = feed(d, [b"* REPORT 1 CHAN", b"_NAME Drums *", b"\r\n", b"  ", b"* REPORT 2 TX",
                  b"_BAT 2 *"])
    assert ev == [ChannelUpdate(1, {"name": "Drums"}), ChannelUpdate(2, {"tx.battery_bars": 2})]
    assert d.stats.malformed == 0 and d.stats.frames == 2


@pytest.mark.parametrize(
    "bad",
    [
        b"garbage",
        b"* garbage *",
        b"junk * more junk",
        b"* SAMPLE 1 ALL AB 035 *",
        b"* SAMPLE 1 ALL AQ 035 040 3 007 *",
        b"* SAMPLE 1 ALL AB 035 040 7 007 *",
        b"* SAMPLE 1 ALL AB 035 040 3 256 *",
        b"* SAMPLE 1 AB 035 040 3 007 x *",
        b"* REPORT 1 TX_BAT 9 *",
        b"* REPORT 3 CHAN_NAME x *",
        b"* REPORT 1 GROUP_CHAN 01 *",
        b"* REPORT 1 AUDIO_GAIN 40 *",
        b"* REPORT 1 FREQUENCY abc *",
        b"* GET 1 CHAN_NAME *",
        b"* REPORT *",
        b"* \x1c *",
        b"<REP 1 BATT_BARS 003>",
    ],
)
def test_malformed_is_counted_and_the_next_frame_survives(bad: bytes) -> None:
    d = UHFRDriver()
    events = feed(d, [bad, b"* REPORT 1 TX_BAT 2 *"])
    assert any(isinstance(e, ProtocolError) for e in events)
    assert d.stats.malformed >= 1
    assert events[-1] == ChannelUpdate(1, {"tx.battery_bars": 2})


def test_overlong_pending_frame_is_dropped() -> None:
    d = UHFRDriver()
    feed(d, [b"* REPORT 1 CHAN_NAME " + b"x" * 5000])
    assert d.stats.malformed == 1
    assert feed(d, [b"* REPORT 1 TX_BAT 1 *"]) == [ChannelUpdate(1, {"tx.battery_bars": 1})]


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=200), seed=st.integers(0, 10))
def test_arbitrary_bytes_never_raise_nor_swallow_the_next_frame(junk: bytes, seed: int) -> None:
    d = UHFRDriver()
    d.receive_data(junk, 0)
    events = d.receive_data(b"* REPORT 2 TX_BAT 3 *", 0)
    assert ChannelUpdate(2, {"tx.battery_bars": 3}) in events


@settings(max_examples=300, deadline=None)
@given(junk=st.lists(st.sampled_from([b"*", b" ", b"SAMPLE", b"REPORT", b"1", b"2", b"ALL",
                                      b"AB", b"XX", b"U", b"255", b"-- --", b"\r\n", b"ERR"]),
                     max_size=30))
def test_star_soup_never_raises_nor_swallows_the_next_frame(junk: list[bytes]) -> None:
    d = UHFRDriver()
    d.receive_data(b"".join(junk), 0)
    events = d.receive_data(b"* REPORT 2 TX_BAT 3 *", 0)
    assert ChannelUpdate(2, {"tx.battery_bars": 3}) in events


# ----------------------------------------------------------------------- outgoing


def test_handshake_is_one_datagram_per_frame() -> None:
    d = UHFRDriver(meter_rate_ms=100)
    d.connection_made(0.0)
    out = d.datagrams_to_send()
    fields = ("CHAN_NAME", "TX_TYPE", "TX_BAT", "TX_BAT_MINS", "GROUP_CHAN", "FREQUENCY",
              "AUDIO_GAIN")
    assert out == [f"* GET {n} {f} *".encode() for n in (1, 2) for f in fields] + [
        b"* METER 1 ALL 003 *", b"* METER 2 ALL 003 *"]
    assert d.datagrams_to_send() == [] and d.data_to_send() == b""
    # the joined byte stream is still available
    d.connection_made(0.0)
    assert d.data_to_send() == b"".join(out)


@pytest.mark.parametrize(("rate", "units"), [(100, "003"), (250, "008"), (1000, "033"),
                                             (65535, "999")])
def test_meter_rate_in_30_ms_units(rate: int, units: str) -> None:
    d = UHFRDriver(meter_rate_ms=rate, channels=1)
    d.connection_made(0.0)
    assert d.datagrams_to_send()[-1] == f"* METER 1 ALL {units} *".encode()


def test_no_metering_and_clean_close() -> None:
    d = UHFRDriver(meter_rate_ms=0, channels=1)
    d.connection_made(0.0)
    assert not [f for f in d.datagrams_to_send() if f.startswith(b"* METER")]
    d.close()
    assert d.datagrams_to_send() == []
    d = UHFRDriver(channels=2)
    d.connection_made(0.0)
    d.datagrams_to_send()
    d.close()
    assert d.datagrams_to_send() == [b"* METER 1 ALL STOP *", b"* METER 2 ALL STOP *"]


def test_keepalive_polls_round_robin_and_rearms_silent_metering() -> None:
    d = UHFRDriver(channels=2)
    d.connection_made(0.0)
    d.datagrams_to_send()
    d.tick(1.0)
    assert d.datagrams_to_send() == []
    # no SAMPLE since the handshake: the METER request may have been lost
    d.tick(2.1)
    assert d.datagrams_to_send() == [b"* GET 1 CHAN_NAME *", b"* METER 1 ALL 003 *",
                                     b"* METER 2 ALL 003 *"]
    feed(d, [b"* SAMPLE 2 ALL AB 035 042 4 063 *"])
    d.tick(4.2)
    assert d.datagrams_to_send() == [b"* GET 1 TX_TYPE *", b"* METER 1 ALL 003 *"]
    polled = []
    for i in range(3, 16):
        feed(d, [b"* SAMPLE 1 ALL AB 035 042 4 063 **SAMPLE 2 ALL AB 035 042 4 063 *"])
        d.tick(2.1 * i)
        (frame,) = d.datagrams_to_send()  # metering alive: the GET only
        polled.append(frame)
    assert polled[-2:] == [b"* GET 2 AUDIO_GAIN *", b"* GET 1 CHAN_NAME *"]
    assert len(set(polled)) == 13


@pytest.mark.parametrize(
    ("cmd", "wire"),
    [
        (Command("name", 1, "Lead Vox"), b"* SET 1 CHAN_NAME Lead Vox *"),
        (Command("name", 2, "TWELVE CHARS"), b"* SET 2 CHAN_NAME TWELVE CHARS *"),
        (Command("gain", 1, 0), b"* SET 1 AUDIO_GAIN 00 *"),
        (Command("gain", 2, 32), b"* SET 2 AUDIO_GAIN 32 *"),
        (Command("frequency", 1, 578350), b"* SET 1 FREQUENCY 578350 *"),
    ],
)
def test_commands_encode(cmd: Command, wire: bytes) -> None:
    d = UHFRDriver()
    d.command(cmd)
    assert d.datagrams_to_send() == [wire]


@pytest.mark.parametrize(
    "cmd",
    [
        Command("name", 1, "THIRTEEN CHRS"),
        Command("name", 1, "st*r"),
        Command("name", 1, " pad"),
        Command("name", 1, "two  spaces"),
        Command("name", 1, ""),
        Command("name", 1, None),
        Command("gain", 1, 33),
        Command("gain", 1, -1),
        Command("gain", 1, False),
        Command("frequency", 1, 578351),
        Command("frequency", 1, 1240000),
        Command("name", 3, "X"),
        Command("name", None, "X"),
    ],
)
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = UHFRDriver()
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.datagrams_to_send() == []


@pytest.mark.parametrize("cmd", [Command("mute", 1, True), Command("identify", None),
                                 Command("identify", 1)])
def test_unsupported_commands_send_nothing(cmd: Command) -> None:
    d = UHFRDriver()
    with pytest.raises(CommandUnsupported):
        d.command(cmd)
    assert d.datagrams_to_send() == []


def test_channels_are_one_or_two() -> None:
    assert UHFRDriver(channels=1).channels == 1
    with pytest.raises(CommandInvalid):
        UHFRDriver(channels=4)


def test_command_confirmed_by_report_or_refused_by_err() -> None:
    d = UHFRDriver()
    a = d.command(Command("name", 1, "LEAD"))
    b = d.command(Command("gain", 2, 10))
    events = feed(d, [b"* REPORT 1 CHAN_NAME LEAD        *", b"* REPORT ERR *"])
    assert CommandDone(a) in events
    assert CommandFailed(b, "device answered ERR") in events


# ------------------------------------------------------------------ simulator (UDP)


async def test_ur4d_against_simulator_over_udp() -> None:
    async with UHFRSimulator(HOST, 0, model="UR4D", names=["Lead Vox", "GTR"], seed=1,
                             frozen=True) as sim:
        assert sim.port != 0
        sim.set_tx(2, False)
        d = UHFRDriver()

        def ready(events: list[Event]) -> bool:
            ch = updates(events)
            return ({1, 2} <= {e.channel for e in meters(events)}
                    and all("audio.gain_db" in ch.get(n, {}) for n in (1, 2)))

        events = await udp_session(d, HOST, sim.port, done=ready)
        assert d.stats.malformed == 0
        ch = updates(events)
        assert ch[1]["name"] == "Lead Vox" and ch[2]["name"] == "GTR"
        assert 1 <= ch[1]["tx.battery_bars"] <= 5
        assert ch[1]["tx.present"] is True and ch[1]["tx.model"] == "UR2"
        assert ch[1]["group_channel"] == "01,01"
        assert 578000 <= ch[1]["frequency_khz"] <= 638000
        assert ch[1]["audio.gain_db"] == 16
        # transmitter off: U, 65535 and UNKN all become None
        assert ch[2]["tx.battery_bars"] is None
        assert ch[2]["tx.battery_minutes"] is None
        assert ch[2]["tx.model"] is None and ch[2]["tx.present"] is False
        one = next(e for e in meters(events) if e.channel == 1).values
        assert one["rf.antennas"] == "AB"
        assert 0 < one["rf.level_pct"] <= 100
        assert 0 < one["audio.level_pct"] < 100
        two = next(e for e in meters(events) if e.channel == 2).values
        assert two == {"rf.antennas": "", "rf.level_pct": 0, "audio.level_pct": 0,
                       "audio.peak": False}


async def test_ur4s_has_one_channel_and_refuses_channel_two() -> None:
    async with UHFRSimulator(HOST, 0, model="UR4S", names=["SOLO"], frozen=True) as sim:
        d = UHFRDriver(channels=1, meter_rate_ms=0)
        events = await udp_session(d, HOST, sim.port, done=has(1, {"audio.gain_db": 16}))
        assert updates(events)[1]["name"] == "SOLO"
        client = await UdpClient.open(HOST, sim.port)
        try:
            client.send_raw(b"* GET 2 CHAN_NAME *")
            assert await asyncio.wait_for(client.queue.get(), 5) == b"* REPORT ERR *"
        finally:
            client.close()


async def test_commands_and_simctl_changes_arrive_unsolicited() -> None:
    async with UHFRSimulator(HOST, 0, model="UR4D", frozen=True) as sim:
        d = UHFRDriver(meter_rate_ms=0)
        client = await UdpClient.open(HOST, sim.port)
        try:
            d.connection_made(0.0)
            client.flush(d)
            await client.run(d, done=lambda ev: has(2, {"audio.gain_db": 16})(ev))
            ok = d.command(Command("name", 2, "Bass Gtr"))
            bad = d.command(Command("frequency", 1, 700000))  # outside the J5 band
            client.flush(d)
            events = await client.run(
                d, done=lambda ev: CommandDone(ok) in ev and CommandFailed(
                    bad, "device answered ERR") in ev)
            assert ChannelUpdate(2, {"name": "Bass Gtr"}) in events
            # changes made behind the driver's back are reported to it unsolicited
            await udp_simctl(HOST, sim.port, "1 CHAN_NAME Lead Vox", "TX 2 OFF",
                             "1 GROUP_CHAN -- --")
            events = await client.run(d, done=lambda ev: all(
                x in ev for x in (
                    ChannelUpdate(1, {"name": "Lead Vox"}),
                    ChannelUpdate(2, {"tx.battery_bars": None}),
                    ChannelUpdate(2, {"tx.model": None, "tx.present": False}),
                    ChannelUpdate(1, {"group_channel": None}),
                )))
            assert d.stats.malformed == 0
            assert "SET 2 CHAN_NAME Bass Gtr" in sim.commands_seen
        finally:
            client.close()


async def test_metering_stops_on_meter_stop() -> None:
    async with UHFRSimulator(HOST, 0, model="UR4D", frozen=True) as sim:
        d = UHFRDriver(channels=2)
        client = await UdpClient.open(HOST, sim.port)
        try:
            d.connection_made(0.0)
            client.flush(d)
            await client.run(d, done=lambda ev: {1, 2} <= {e.channel for e in meters(ev)})
            (peer,) = sim.peers.values()
            assert set(peer.meter) == {1, 2}
            assert abs(peer.meter[1] - 0.09) < 1e-9  # 003 units of 30 ms
            d.close()
            client.flush(d)
            await client.run(d, done=lambda ev: not peer.meter)
        finally:
            client.close()


async def test_split_fault_frames_across_datagrams() -> None:
    async with UHFRSimulator(HOST, 0, model="UR4D", names=["SPLIT NAME"], frozen=True) as sim:
        sim.set_fault("split")
        d = UHFRDriver()
        client = await UdpClient.open(HOST, sim.port)
        try:
            d.connection_made(0.0)
            client.flush(d)
            events = await client.run(d, done=lambda ev: has(1, {"name": "SPLIT NAME"})(ev)
                                      and len(meters(ev)) >= 4)
            assert d.stats.malformed == 0
            # several datagrams per frame really arrived
            assert client.datagrams > d.stats.frames
        finally:
            client.close()
        assert events


async def test_garbage_fault_is_counted_and_frames_survive() -> None:
    async with UHFRSimulator(HOST, 0, model="UR4D", names=["JUNK"], frozen=True) as sim:
        await udp_simctl(HOST, sim.port, "FAULT garbage")
        d = UHFRDriver(meter_rate_ms=0)
        await udp_session(d, HOST, sim.port, done=has(1, {"name": "JUNK"}))
        assert d.stats.malformed > 0


async def test_silent_reboot_and_close_faults() -> None:
    async with UHFRSimulator(HOST, 0, model="UR4D", names=["BACK"], frozen=True) as sim:
        d = UHFRDriver()
        d.keepalive_interval = 0.5  # quicker recovery in the test; the same logic
        client = await UdpClient.open(HOST, sim.port)
        try:
            d.connection_made(0.0)
            client.flush(d)
            await client.run(d, done=lambda ev: len(meters(ev)) >= 2)
            # silent: nothing is answered
            sim.set_fault("silent")
            client.send_raw(b"* GET 1 CHAN_NAME *")
            await asyncio.sleep(0.2)
            while not client.queue.empty():  # drop what was in flight before the fault
                client.queue.get_nowait()
            client.send_raw(b"* GET 1 CHAN_NAME *")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.queue.get(), 0.3)
            sim.set_fault("none")
            # close: peers are forgotten, so metering stops until asked again
            sim.set_fault("close")
            assert sim.peers == {}
            await client.run(d, until=30, done=lambda ev: len(meters(ev)) >= 2)
            assert sim.peers  # the keepalive's METER re-arm made us a peer again
            # reboot: datagrams ignored for a while, then the keepalive brings replies
            # and the METER re-arm brings samples back
            sim.set_fault("reboot", 0.3)
            await asyncio.sleep(0)
            assert sim.peers == {}
            events = await client.run(
                d, until=30, done=lambda ev: len(meters(ev)) >= 2
                and any(isinstance(e, ChannelUpdate) and not e.meter for e in ev))
            assert d.stats.malformed == 0
            assert events
        finally:
            client.close()
