"""EW G3/G4 driver (Media Control Protocol): the cyclic block, battery steps, the Config
counter, SR transmitters, errors, truncated and garbage datagrams, Push keepalive, and the
simulator over real UDP on free ports, several simulators behind one shared socket."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sennkit import HOST, Session, SharedSocket, has, merged, of_type, open_endpoint, simctl

from micboardd.drivers.base import (
    ChannelUpdate,
    Command,
    CommandDone,
    CommandFailed,
    CommandInvalid,
    CommandUnsupported,
    ProtocolError,
)
from micboardd.drivers.sennheiser_g4 import G4Driver, G4Simulator

# Sennheiser TI 1254 "Media Control Protocol for ew G4 series": the EM cyclic block and
# the SR one (p. 9), an error reply (p. 6), Frequency and Mute replies (pp. 16, 19)
EM_BLOCK = (b"RF1 25 65 1\rRF2 28 78 0\rStates 3 2\rRF 50 1 1\rAF 40 65 3\rBat 70\r"
            b"Msg Low_RF_Signal Low_Battery\rConfig 234\r")
SR_BLOCK = b"Af 15 25 40 38 5\rStates 0 2\rMsg OK\rConfig 555\r"
ERROR = b"1020: Value out of range [ Frequency 56 2 9 ]\r"
GETS = [b"Name\r", b"Frequency\r", b"Mute\r"]


def block(bat: str = "70", af: str = "40 65 0", msg: str = "OK", config: int = 1,
          rf: str = "50 1 1") -> bytes:
    return (f"RF1 25 65 1\rRF2 28 78 0\rStates 0 1\rRF {rf}\rAF {af}\rBat {bat}\r"
            f"Msg {msg}\rConfig {config}\r").encode()


def fresh(**kw: Any) -> G4Driver:
    d = G4Driver(**kw)
    d.connection_made(0.0)
    d.datagrams_to_send()
    return d


def feed(d: G4Driver, *datagrams: bytes, now: float = 0.0) -> list[Any]:
    out: list[Any] = []
    for dg in datagrams:
        out.extend(d.receive_data(dg, now))
    return out


def test_the_cyclic_block_of_ti_1254() -> None:
    d = fresh()
    ev = feed(d, EM_BLOCK)
    assert ev == [
        # mute bits 3: any mute + TX mute; Bat 70 -> 4 bars; a known battery: present
        ChannelUpdate(1, {"tx.muted": True, "audio.muted": False, "tx.battery_percent": 70,
                          "tx.battery_bars": 4, "tx.present": True}),
        ChannelUpdate(1, {"rf.level_pct": 50, "rf.antennas": "A", "audio.level_pct": 40,
                          "audio.dbfs": -30.0, "audio.peak_dbfs": -17.5,
                          "audio.peak": False}, meter=True)]
    assert d.datagrams_to_send() == GETS  # the first Config of a connection: read it all
    assert d.stats.frames == 1 and d.stats.malformed == 0


@pytest.mark.parametrize(("bat", "af", "values"), [
    ("100", "40 65 0", {"tx.battery_percent": 100, "tx.battery_bars": 5, "tx.present": True}),
    ("70", "40 65 0", {"tx.battery_percent": 70, "tx.battery_bars": 4, "tx.present": True}),
    ("30", "40 65 0", {"tx.battery_percent": 30, "tx.battery_bars": 2, "tx.present": True}),
    ("0", "40 65 0", {"tx.battery_percent": 0, "tx.battery_bars": 0, "tx.present": True}),
    # no battery reading: a transmitter without pilot tone while there is a carrier ...
    ("?", "40 65 0", {"tx.battery_percent": None, "tx.battery_bars": None, "tx.present": True}),
    # ... and none at all while the receiver is RF-muted (squelch closed)
    ("?", "0 0 5", {"tx.battery_percent": None, "tx.battery_bars": None, "tx.present": False}),
])
def test_battery_steps_go_through_the_shared_bars(bat: str, af: str, values: dict) -> None:
    status = feed(fresh(), block(bat=bat, af=af))[0].values
    assert {k: status[k] for k in values} == values


def test_mute_bits_and_warnings() -> None:
    d = fresh()
    ev = feed(d, block(af="48 60 9", msg="AF_Peak RX_Mute"))  # 9: any + RX mute
    assert merged(ev)[1]["audio.muted"] is True and merged(ev)[1]["tx.muted"] is False
    assert ev[-1].meter and ev[-1].values["audio.peak"] is True
    # without an AF line the Msg warnings say the same
    ev = feed(d, b"Msg TX_Mute\r")
    assert ev == [ChannelUpdate(1, {"tx.muted": True, "audio.muted": False}),
                  ChannelUpdate(1, {"audio.peak": False}, meter=True)]


def test_status_is_sent_when_it_changes_meters_every_time() -> None:
    d = fresh()
    feed(d, block())
    ev = feed(d, block())
    assert [e.meter for e in ev] == [True]
    ev = feed(d, block(bat="30"))
    assert ev[0] == ChannelUpdate(1, {"tx.battery_percent": 30, "tx.battery_bars": 2})


def test_a_new_config_number_reads_the_configuration_again() -> None:
    d = fresh()
    feed(d, block(config=998))
    assert d.datagrams_to_send() == GETS
    feed(d, block(config=998))
    assert d.datagrams_to_send() == []
    feed(d, block(config=999))
    assert d.datagrams_to_send() == GETS
    feed(d, block(config=0))  # wraps at 999
    assert d.datagrams_to_send() == GETS
    ev = feed(d, b"Name VOX MARA\rFrequency 822000 2 10\rMute 1\r")
    assert ev == [ChannelUpdate(1, {"name": "VOX MARA", "frequency_khz": 822000,
                                    "audio.muted": True})]


def test_an_sr_transmitter() -> None:
    d = fresh()
    feed(d, b"Mute 0\r")  # before the first block the device looks like an EM
    ev = feed(d, SR_BLOCK)
    assert d.is_sr
    assert ev[0] == ChannelUpdate(1, {"audio.muted": None, "tx.muted": False,
                                      "tx.present": True})
    assert ev[1] == ChannelUpdate(1, {"audio.level_pct": 25, "audio.dbfs": -37.5,
                                      "audio.peak_dbfs": -30.0, "audio.peak": False},
                                  meter=True)
    assert d.datagrams_to_send() == [b"Mute\r", *GETS]  # its Mute is the RF mute
    assert feed(d, b"Mute 1\r") == [ChannelUpdate(1, {"tx.muted": True, "tx.present": False})]


def test_only_the_echo_of_the_value_sent_confirms() -> None:
    d = fresh()
    cmd = d.command(Command("frequency", 1, 822000))
    # a configuration re-read crossing the command reports the old value
    assert feed(d, b"Frequency 821000 0 0\r") == [ChannelUpdate(1, {"frequency_khz": 821000})]
    assert feed(d, b"Frequency 822000 0 0\r")[-1] == CommandDone(cmd)
    name = d.command(Command("name", 1, "LEAD VOX"))
    assert feed(d, b"Name LEAD\r") == [ChannelUpdate(1, {"name": "LEAD"})]
    assert feed(d, b"Name LEAD VOX\r")[-1] == CommandDone(name)


def test_errors_refuse_the_command_they_name() -> None:
    d = fresh()
    name = d.command(Command("name", 1, "SAX"))
    freq = d.command(Command("frequency", 1, 822000))
    assert feed(d, ERROR) == [CommandFailed(freq, ERROR.decode().strip())]
    assert feed(d, b"1000: Invalid command [ Nmae SAX ]\r") == [
        CommandFailed(name, "1000: Invalid command [ Nmae SAX ]")]  # the oldest
    assert d.stats.malformed == 0


def test_a_refused_push_mode_falls_back_to_configuration_only() -> None:
    d = fresh()
    assert feed(d, b"1020: Value out of range [ Push 60 100 7 ]\r") == []
    assert d.datagrams_to_send() == [b"Push 60 100 1\r"]
    assert feed(d, b"1020: Value out of range [ Push 60 100 1 ]\r") == []
    assert d.datagrams_to_send() == []  # no loop


@pytest.mark.parametrize(("rate", "cycle"), [(100, 100), (250, 300), (0, 500), (65535, 60000)])
def test_push_subscribes_and_is_renewed_before_its_timeout(rate: int, cycle: int) -> None:
    d = G4Driver(meter_rate_ms=rate)
    d.connection_made(0.0)
    push = f"Push 60 {cycle} 7\r".encode()
    assert d.datagrams_to_send() == [push]
    d.tick(19.9)
    assert d.datagrams_to_send() == []
    d.tick(20.0)  # a third of the 60 s timeout
    assert d.datagrams_to_send() == [push]
    d.close()
    assert d.datagrams_to_send() == [b"Push 0 0 0\r"]


@pytest.mark.parametrize(("cmd", "wire"), [
    (Command("name", 1, "Lead Vox"), b"Name Lead Vox\r"),
    (Command("mute", 1, True), b"Mute 1\r"),
    (Command("mute", 1, False), b"Mute 0\r"),
    (Command("frequency", 1, 822000), b"Frequency 822000\r"),
])
def test_commands_encode_and_are_confirmed_by_the_echo(cmd: Command, wire: bytes) -> None:
    d = fresh()
    cmd_id = d.command(cmd)
    assert d.datagrams_to_send() == [wire]
    assert feed(d, wire)[-1] == CommandDone(cmd_id)


@pytest.mark.parametrize("cmd", [
    Command("name", 1, "NINE CHRS"), Command("name", 1, " VOX"), Command("name", 1, "A  B"),
    Command("name", 1, "VOX\r1"), Command("frequency", 1, 822010), Command("mute", 1, 1),
    Command("name", 2, "X"),
])
def test_invalid_commands_send_nothing(cmd: Command) -> None:
    d = fresh()
    with pytest.raises(CommandInvalid):
        d.command(cmd)
    assert d.datagrams_to_send() == []


@pytest.mark.parametrize("kind", ["identify", "gain"])
def test_unsupported_commands(kind: str) -> None:
    with pytest.raises(CommandUnsupported):
        fresh().command(Command(kind, 1, 3))  # type: ignore[arg-type]


BAD = [
    b"", b"\r", b"RF1 25 65 1\rRF2 28", b"Name VOX", b"\xff\xfe\r", b"RF1 25\r", b"Bat 101\r",
    b"Bat x\r", b"AF 1 2\r", b"Config x\r", b"Mute 2\r", b"RF 50 3 1\r", b"42 foo\r",
    b"Msg\r", b"Frequency\r", b"Name OK\rBat 7O\r", b"Push 1 2\r", b"x" * 1499 + b"\r\r",
]


@pytest.mark.parametrize("bad", BAD)
def test_truncated_or_garbled_datagram_is_one_error_and_changes_nothing(bad: bytes) -> None:
    d = fresh()
    ev = feed(d, bad)
    assert len(ev) == 1 and isinstance(ev[0], ProtocolError)
    assert d.stats.malformed == 1 and d.datagrams_to_send() == []
    assert feed(d, b"Name SAX\r") == [ChannelUpdate(1, {"name": "SAX"})]


def test_a_block_cut_anywhere_but_at_a_line_end_is_one_error() -> None:
    for k in range(1, len(EM_BLOCK)):
        d = fresh()
        ev = feed(d, EM_BLOCK[:k])
        if EM_BLOCK[k - 1 : k] == b"\r":  # whole lines: they are what they say
            assert not [e for e in ev if isinstance(e, ProtocolError)], k
        else:
            assert len(ev) == 1 and isinstance(ev[0], ProtocolError), k
            assert d.datagrams_to_send() == [], k


def test_other_attributes_are_ignored() -> None:
    d = fresh()
    assert feed(d, b"Squelch 7\rEqualizer 1 0 0 0 0 0\rSensitivity -21\rAfOut 12\r") == []
    assert d.stats.malformed == 0 and d.stats.frames == 1


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=300))
def test_any_bytes_never_raise_nor_spoil_the_next_datagram(junk: bytes) -> None:
    d = fresh()
    d.receive_data(junk, 0.0)
    assert ChannelUpdate(1, {"name": "SAX"}) in d.receive_data(b"Name SAX\r", 0.0)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.sampled_from(["RF", "RF1", "AF", "Af", "Bat", "Msg", "Config",
                                       "States", "Mute", "Name", "?", "0", "1", "70", "100",
                                       "-3", "OK", "AF_Peak", "\r", " ", "1020:", "[", "]"]),
                      max_size=30))
def test_line_soup_never_raises_nor_leaves_values_half_applied(words: list[str]) -> None:
    d = fresh()
    ev = d.receive_data(" ".join(words).encode(), 0.0)
    assert all(not isinstance(e, ProtocolError) for e in ev) or len(ev) == 1
    assert ChannelUpdate(1, {"name": "SAX"}) in d.receive_data(b"Name SAX\r", 0.0)


# --------------------------------------------------------- against the simulator


def ready(events: list[Any]) -> bool:
    ch = merged(events).get(1, {})
    return "name" in ch and "audio.level_pct" in ch


async def test_em_against_the_simulator_on_a_free_port() -> None:
    async with G4Simulator(HOST, 0, names=["SAX"], frozen=True, seed=2) as sim:
        assert sim.port != 53212
        sim.life[1].battery_pct = 60
        s = await Session.open(G4Driver(), sim.port)
        try:
            ch = merged(await s.until(ready))[1]
            assert ch["name"] == "SAX" and ch["frequency_khz"] == sim.frequency
            assert ch["tx.battery_percent"] == 70 and ch["tx.present"] is True
            mark = s.mark()
            ids = [s.command(Command("name", 1, "TRUMPET")), s.command(Command("mute", 1, True)),
                   s.command(Command("frequency", 1, 530025))]
            await s.until(lambda ev: len(of_type(ev, CommandDone)) == 3, since=mark)
            assert {e.cmd_id for e in of_type(s.events[mark:], CommandDone)} == set(ids)
            await s.until(has(1, name="TRUMPET", audio__muted=True), since=mark)
            refused = s.command(Command("frequency", 1, 600000))  # outside the A band
            await s.until(lambda ev: any(isinstance(e, CommandFailed) and e.cmd_id == refused
                                         for e in ev), since=mark)
            await simctl(sim.port, "TX 1 OFF")
            await s.until(has(1, tx__present=False, tx__battery_percent=None), since=mark)
            await simctl(sim.port, "NAME 1 ALTO")  # front panel: the Config number moves
            await s.until(has(1, name="ALTO"), since=mark)
            assert s.driver.stats.malformed == 0
        finally:
            s.close()


async def test_sr_refuses_mode_7_and_is_served_with_mode_1() -> None:
    async with G4Simulator(HOST, 0, model="SR 300 IEM G4", names=["IEM MARA"],
                           frozen=True) as sim:
        s = await Session.open(G4Driver(), sim.port)
        try:
            await s.until(lambda ev: s.driver.is_sr and ready(ev))
            assert b"Push 60 100 1\r" in s.sent
            mark = s.mark()
            s.command(Command("mute", 1, True))
            await s.until(has(1, tx__muted=True, tx__present=False), since=mark)
        finally:
            s.close()


async def test_several_devices_behind_one_shared_socket() -> None:
    async with G4Simulator(HOST, 0, names=["SAX"], frozen=True) as a, \
            G4Simulator(HOST, 0, names=["TRUMPET"], frozen=True) as b:
        shared = await SharedSocket.open()
        try:
            da, db = G4Driver(), G4Driver()
            shared.add(da, HOST, a.port)
            shared.add(db, HOST, b.port)
            await shared.until(lambda: ready(shared.events[(HOST, a.port)])
                               and ready(shared.events[(HOST, b.port)]))
            assert merged(shared.events[(HOST, a.port)])[1]["name"] == "SAX"
            assert merged(shared.events[(HOST, b.port)])[1]["name"] == "TRUMPET"
            # both simulators see the same client address and keep its Push apart
            assert list(a.clients) == list(b.clients) == [(HOST, shared.port)]
            assert shared.strays == 0
        finally:
            shared.close()


async def test_reply_port_answers_a_fixed_port_as_the_hardware_does() -> None:
    listener = await open_endpoint(local_addr=(HOST, 0))
    assert listener.transport is not None
    port = listener.transport.get_extra_info("sockname")[1]
    async with G4Simulator(HOST, 0, names=["SAX"], frozen=True, reply_port=port) as sim:
        sender = await open_endpoint(remote_addr=(HOST, sim.port))
        assert sender.transport is not None
        try:
            sender.transport.sendto(b"Name\r")
            data, addr = await listener.queue.get()
            assert data == b"Name SAX\r" and addr[1] == sim.port
            assert sender.queue.empty()
        finally:
            sender.transport.close()
            listener.transport.close()


async def test_garbage_from_the_device_is_counted_and_values_survive() -> None:
    async with G4Simulator(HOST, 0, names=["SAX"], frozen=True) as sim:
        s = await Session.open(G4Driver(), sim.port)
        try:
            await s.until(ready)
            # the simulator starts at a random charge: pin it far from the target first,
            # or 20 % may be the bar it already shows and nothing new is reported
            await simctl(sim.port, "BATTERY 1 100")
            await s.until(has(1, tx__battery_percent=100))
            await simctl(sim.port, "FAULT garbage")
            await s.until(lambda ev: s.driver.stats.malformed >= 3)
            mark = s.mark()
            await simctl(sim.port, "BATTERY 1 20")
            await s.until(has(1, tx__battery_percent=30), since=mark)
        finally:
            s.close()
