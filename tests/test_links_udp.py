"""UDP links through the daemon over real sockets: liveness from answers (offline after
the family's stale time, online again with the first answer, on the same socket), the
hint of a receiver that never answers, and the one shared socket every EW G3/G4 receiver
needs (replies told apart by source address; a port held by someone else is named)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from daemonkit import make_config, running_daemon, wait_for
from sennkit import HOST, simctl

from micboardd.drivers.sennheiser_ewdx import EWDXDriver, EWDXSimulator
from micboardd.drivers.sennheiser_g4 import G4Simulator


def free_udp_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def test_udp_receiver_goes_offline_and_comes_back_on_the_same_socket(tmp_path: Any
                                                                         ) -> None:
    async with EWDXSimulator(HOST, 0, names=["VOX", "BV"], frozen=True, seed=3) as ew:
        cfg = make_config([{"id": "ew", "driver": "sennheiser-ewdx", "host": HOST,
                            "port": ew.port, "model": "EW-DX EM 2"}])
        async with running_daemon(cfg, tmp_path) as d:
            link = d.links["ew"]
            await wait_for(lambda: d.store.devices["ew"]["link"] == "online")
            await wait_for(lambda: d.store.channels["ew/1"]["name"] == "VOX")
            connects = link.connects
            await simctl(ew.port, "FAULT silent")  # hears and answers nothing
            # the family's own stale time (2 s), not status.stale_s (4 s)
            assert EWDXDriver.stale_after_s == 2.0
            await wait_for(lambda: d.store.devices["ew"]["link"] == "offline", timeout=6)
            assert d.store.channels["ew/1"]["status"] == "RX_OFFLINE"
            await simctl(ew.port, "FAULT none")
            await wait_for(lambda: d.store.devices["ew"]["link"] == "online", timeout=6)
            assert link.connects == connects  # the same socket kept asking
            # it was away: the daemon subscribed again, so values move once more
            await simctl(ew.port, "BATTERY 1 35")
            await wait_for(lambda: d.store.channels["ew/1"]["tx"]["battery_percent"] == 35)


async def test_udp_receiver_that_never_answers_is_offline_with_its_hint(tmp_path: Any) -> None:
    port = free_udp_port()  # nothing listens there
    cfg = make_config([{"id": "ew", "driver": "sennheiser-ewdx", "host": HOST, "port": port}],
                      status={"stale_s": 1.0})
    async with running_daemon(cfg, tmp_path) as d:
        await wait_for(lambda: d.store.devices["ew"]["link"] == "offline"
                       and d.store.devices["ew"]["link_hint"] is not None, timeout=8)
        hint = d.store.devices["ew"]["link_hint"]
        # loopback answers a closed port with ICMP port unreachable: the hint says so;
        # a host that says nothing gets the family's own hint (third-party access)
        assert f"port {port}" in hint or "Control Cockpit" in hint


async def test_ewdx_that_hears_and_never_answers_gets_the_third_party_access_hint(
        tmp_path: Any) -> None:
    # an EW-DX on firmware 4.x with third-party access off: the port is open (no ICMP
    # unreachable), the datagrams arrive, nothing comes back
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind((HOST, 0))
        mute.setblocking(False)
        port = mute.getsockname()[1]
        cfg = make_config([{"id": "ew", "driver": "sennheiser-ewdx", "host": HOST,
                            "port": port}], status={"stale_s": 1.0})
        async with running_daemon(cfg, tmp_path) as d:
            await wait_for(lambda: d.store.devices["ew"]["link_hint"] is not None, timeout=8)
            dev = d.store.devices["ew"]
            assert dev["link"] == "offline"
            assert dev["link_hint"] == EWDXDriver.silent_hint
            assert "third-party access is off" in dev["link_hint"]
            assert "Control Cockpit" in dev["link_hint"]
            assert mute.recv(65536), "the daemon did ask"


async def test_g4_receivers_share_one_socket_told_apart_by_address(tmp_path: Any) -> None:
    dev_port = free_udp_port("127.0.0.2")
    async with G4Simulator("127.0.0.2", dev_port, names=["SAX"], frozen=True) as a, \
            G4Simulator("127.0.0.3", dev_port, names=["TRUMPET"], frozen=True) as b:
        cfg = make_config([
            {"id": "g4-a", "driver": "sennheiser-g4", "host": "127.0.0.2", "port": dev_port,
             "local_port": 0},
            {"id": "g4-b", "driver": "sennheiser-g4", "host": "127.0.0.3", "port": dev_port,
             "local_port": 0}])
        async with running_daemon(cfg, tmp_path) as d:
            await wait_for(lambda: d.store.channels.get("g4-a/1", {}).get("name") == "SAX"
                           and d.store.channels.get("g4-b/1", {}).get("name") == "TRUMPET")
            shared = d._shared_ports.open[0]
            assert set(shared.routes) == {("127.0.0.2", dev_port), ("127.0.0.3", dev_port)}
            # both simulators saw the same client address: one socket for both
            assert a.clients and b.clients and set(a.clients) == set(b.clients)
            # a stranger's datagram to the shared port is dropped, not taken for a device
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.4", 0))
                s.sendto(b"Name FAKE\r", ("127.0.0.1", shared.port))
            await wait_for(lambda: shared.strays >= 1)
            assert d.store.channels["g4-a/1"]["name"] == "SAX"
            await a.stop()  # one receiver goes away; the other keeps its socket
            await wait_for(lambda: d.store.devices["g4-a"]["link"] == "offline", timeout=6)
            assert d.store.devices["g4-b"]["link"] == "online"


async def test_g4_port_held_by_another_program_is_named(tmp_path: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("0.0.0.0", 0))
        held = holder.getsockname()[1]
        cfg = make_config([{"id": "g4", "driver": "sennheiser-g4", "host": "127.0.0.2",
                            "port": 53212, "local_port": held}])
        async with running_daemon(cfg, tmp_path) as d:
            await wait_for(lambda: d.store.devices["g4"]["link_hint"] is not None)
            dev = d.store.devices["g4"]
            assert dev["link"] == "offline"
            assert f"UDP port {held} is in use" in dev["link_hint"]
            await asyncio.sleep(0)
