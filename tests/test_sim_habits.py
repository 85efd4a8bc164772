"""Simulators with the habits of real receivers (drivers/_shure/habits.py): each habit is
on the wire as the sources show it, and the family's driver still gets everything."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest
from framekit import drive

from micboardd.config import parse_config
from micboardd.drivers.base import ChannelUpdate, DeviceUpdate, Driver, Event, ProtocolError
from micboardd.drivers.shure_axient import AxientDriver, AxientSimulator
from micboardd.drivers.shure_psm1000 import PSM1000Driver, PSM1000Simulator
from micboardd.drivers.shure_qlxd import QLXDDriver, QLXDSimulator
from micboardd.drivers.shure_slxd import SLXDDriver, SLXDPlusSimulator, SLXDSimulator
from micboardd.drivers.shure_ulxd import ULXDDriver, ULXDSimulator
from micboardd.simulate import start_fleet

HOST = "127.0.0.1"


async def exchange(port: int, send: bytes, until: bytes) -> bytes:
    """Send raw bytes to a simulator and read until the pattern ``until`` has arrived;
    returns everything read up to the end of the match."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(send)
        got = b""
        async with asyncio.timeout(10):
            while (m := re.search(until, got)) is None:
                chunk = await reader.read(65536)
                assert chunk, "closed"
                got += chunk
        return got[: m.end()]
    finally:
        writer.close()


def channels_named(*names: str) -> Callable[[list[Event]], bool]:
    def done(events: list[Event]) -> bool:
        seen = {e.values.get("name") for e in events if isinstance(e, ChannelUpdate)}
        return set(names) <= seen
    return done


def test_an_unknown_habit_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"no habit 'fd_combined'.*no_get0"):
        ULXDSimulator(habits=["fd_combined"])
    with pytest.raises(ValueError, match="report_verb"):
        PSM1000Simulator(habits=["no_such"])


# ------------------------------------------------------------------- on the wire


async def test_no_get0_and_no_device_gets_answer_nothing() -> None:
    async with QLXDSimulator(HOST, 0, names=["PODIUM"], frozen=True,
                             habits=["no_get0", "no_device_gets"]) as sim:
        got = await exchange(sim.port, b"< GET 0 ALL >< GET DEVICE_ID >< GET 1 CHAN_NAME >",
                             rb"CHAN_NAME[^>]*>")
        assert got == b"< REP 1 CHAN_NAME {PODIUM  } >", "nothing before it"


async def test_unbraced_names_and_crlf() -> None:
    async with ULXDSimulator(HOST, 0, model="ULXD4", names=["Choir L"], frozen=True,
                             habits=["unbraced_names", "crlf"]) as sim:
        got = await exchange(sim.port, b"< GET 1 CHAN_NAME >", rb"\r\n")
        assert got == b"< REP 1 CHAN_NAME Choir L >\r\n"


async def test_braced_names_may_hold_angle_brackets() -> None:
    async with ULXDSimulator(HOST, 0, model="ULXD4", names=["<SPARE>"], frozen=True) as sim:
        got = await exchange(sim.port, b"< GET 1 CHAN_NAME >", rb"\} >")
        assert got == b"< REP 1 CHAN_NAME {<SPARE> } >"


async def test_garbage_burst_reaches_every_client() -> None:
    async with ULXDSimulator(HOST, 0, model="ULXD4", frozen=True,
                             habits=["garbage_bursts"]) as sim:
        reader, writer = await asyncio.open_connection(HOST, sim.port)
        try:
            writer.write(b"< GET 1 METER_RATE >")
            await reader.readuntil(b">")  # connected and served
            sim.garbage_burst()
            junk = await asyncio.wait_for(reader.read(65536), 10)
            assert len(junk) >= 32
        finally:
            writer.close()


async def test_slxd_per_antenna_rssi_and_group_chan() -> None:
    async with SLXDSimulator(HOST, 0, model="SLXD4D", frozen=True,
                             habits=["per_antenna_rssi", "group_chan"]) as sim:
        got = await exchange(sim.port, b"< GET 1 ALL >", rb"< REP 1 RSSI 2 [^>]*>")
        assert b"< REP 1 RSSI 1 " in got and b"< REP 1 RSSI 2 " in got
        assert b"< REP 1 GROUP_CHAN 01,01 >" in got and b"GROUP_CHANNEL" not in got


async def test_axient_fd_combined_sample_and_colour_antennas() -> None:
    async with AxientSimulator(HOST, 0, model="AD4D", frozen=True,
                               habits=["fd_combined"]) as sim:
        sim.life[1].antennas = "A"
        got = await exchange(sim.port, b"< SET 1 METER_RATE 00100 >", rb"< SAMPLE 1 ALL [^>]*>")
        fields = got[got.index(b"< SAMPLE 1 ALL ") + 15 : -1].split()
        assert len(fields) == 14
        assert fields[4] == fields[9] == b"BX"  # LED colours: A on, B off; both groups
        got = await exchange(sim.port, b"< GET 1 FD_MODE >", rb">")
        assert got == b"< REP 1 FD_MODE FD-C >"


async def test_psm1000_report_verb() -> None:
    async with PSM1000Simulator(HOST, 0, names=["IEM MARA"], frozen=True,
                                habits=["report_verb"]) as sim:
        got = await exchange(sim.port, b"< GET 1 CHAN_NAME >\r\n", rb"\r\n")
        assert got == b"< REPORT 1 CHAN_NAME {IEM MARA} >\r\n"


def test_four_channel_slxd_plus_models() -> None:
    for model in ("SLXD4Q+", "SLXD4QDAN+"):
        sim = SLXDSimulator(model=model)
        assert isinstance(sim, SLXDPlusSimulator) and sim.n_channels == 4
        assert sim.channels[2]["SLOT_TX_MODEL 2"] == ""  # an empty slot is blank


# ------------------------------------------------------------------- drivers cope


@pytest.mark.parametrize(
    ("driver", "sim"),
    [
        (QLXDDriver(), QLXDSimulator(HOST, 0, names=["Choir L"], frozen=True,
                                     habits=["no_get0", "no_device_gets", "unbraced_names",
                                             "crlf"])),
        (ULXDDriver(channels=4), ULXDSimulator(HOST, 0, model="ULXD4Q",
                                               names=["A 1", "B 2", "C 3", "<D> 4"],
                                               frozen=True, habits=["no_get0"])),
        (SLXDDriver(), SLXDSimulator(HOST, 0, model="SLXD4QDAN+",
                                     names=["A 1", "B 2", "C 3", "D 4"], frozen=True,
                                     habits=["per_antenna_rssi", "group_chan",
                                             "unbraced_names"])),
        (AxientDriver(), AxientSimulator(HOST, 0, model="AD4Q",
                                         names=["A 1", "B 2", "C 3", "D 4"], frozen=True,
                                         habits=["fd_combined", "crlf"])),
        (PSM1000Driver(), PSM1000Simulator(HOST, 0, names=["IEM 1", "IEM 2"], frozen=True,
                                           habits=["report_verb"])),
    ],
    ids=["qlxd", "ulxd4q", "slxd4qdan+", "ad4q", "psm1000"],
)
async def test_driver_gets_every_channel_from_a_simulator_with_habits(driver: Driver,
                                                                      sim: object) -> None:
    names = [ch["CHAN_NAME"] for ch in sim.channels.values()]  # type: ignore[attr-defined]
    async with sim:  # type: ignore[attr-defined]
        events = await drive(driver, sim.port, channels_named(*names))  # type: ignore[attr-defined]
    assert not [e for e in events if isinstance(e, ProtocolError)]
    assert driver.channels == len(names)
    if isinstance(driver, SLXDDriver):
        assert DeviceUpdate({"model": "SLXD4QDAN+", "channel_count": 4}) in events


# ------------------------------------------------------------------- config


async def test_habits_script_and_chaos_come_from_the_simulate_block() -> None:
    cfg = parse_config(b'{"devices": [{"id": "a", "driver": "shure-ulxd", "host": "127.0.0.1",'
                       b' "port": 2202, "simulate": {"model": "ULXD4D", "habits": ["crlf"],'
                       b' "script": [{"at": 5, "do": "tx_off", "channel": 2}],'
                       b' "chaos": true}}], "http": {"port": 0}}')
    _, sims = await start_fleet(cfg, loopback_any_port=True, frozen=True)
    try:
        (rs,) = sims
        assert rs.sim.habits == {"crlf"}
        assert rs.sim.mood.chaos is True
        assert [c.do for c in rs.sim.mood._cues] == ["tx_off"]
    finally:
        for rs in sims:
            await rs.sim.stop()
