"""EW-DX and Digital 6000 through the daemon over real sockets: simulators on free
loopback ports -> the UDP link -> the store, control commands back, offline on silence."""

from __future__ import annotations

from typing import Any

from daemonkit import make_config, running_daemon, wait_for
from sennkit import HOST, simctl

from micboardd.drivers.base import Command
from micboardd.drivers.sennheiser_d6000 import D6000Simulator
from micboardd.drivers.sennheiser_ewdx import EWDXSimulator


def filled(ch: dict[str, Any] | None) -> bool:
    return bool(ch) and ch["name"] is not None and ch["tx"]["battery_bars"] is not None \
        and ch["rf"]["level_pct"] is not None and ch["audio"]["level_pct"] is not None


async def test_ewdx_and_d6000_tiles_fill_like_shure_ones(tmp_path: Any) -> None:
    async with EWDXSimulator(HOST, 0, names=["VOX MARA", "BV JONAH"], frozen=True,
                             seed=1) as ew, \
            D6000Simulator(HOST, 0, names=["HOST", "GUEST 1"], frozen=True, seed=2) as d6:
        ew.life[1].battery_pct = 64
        d6.life[2].battery_pct = 40  # the EM 6000 reports "30%": 2 bars, CRITICAL
        cfg = make_config(
            [{"id": "rx-ewdx", "driver": "sennheiser-ewdx", "host": HOST, "port": ew.port,
              "model": "EW-DX EM 2"},
             {"id": "rx-d6000", "driver": "sennheiser-d6000", "host": HOST, "port": d6.port}],
            status={"stale_s": 1.0})
        async with running_daemon(cfg, tmp_path) as d:
            chans = d.store.channels
            keys = ("rx-ewdx/1", "rx-ewdx/2", "rx-d6000/1", "rx-d6000/2")
            await wait_for(lambda: all(filled(chans.get(k)) for k in keys))
            dev = d.store.devices["rx-ewdx"]
            assert dev["link"] == "online" and dev["model"] == "EW-DX EM 2"
            assert dev["firmware"] == "3.0.0" and dev["device_name"] == "EWDX-SIM"
            assert d.store.devices["rx-d6000"]["model"] == "EM6000"
            a = chans["rx-ewdx/1"]
            assert a["name"] == "VOX MARA" and a["status"] == "GOOD"
            assert a["tx"]["battery_percent"] == 64 and a["tx"]["battery_bars"] == 4
            assert a["tx"]["present"] is True and a["tx"]["model"] == "SKM"
            assert a["rf"]["encryption_ok"] is True and a["rf"]["quality"] is not None
            assert a["frequency_khz"] == ew.rx[1].frequency and a["audio"]["gain_db"] == 12
            b = chans["rx-d6000/2"]
            assert b["name"] == "GUEST 1" and b["status"] == "GOOD"
            assert (b["tx"]["battery_percent"], b["tx"]["battery_bars"]) == (30, 2)
            assert b["tx"]["battery_minutes"] == d6.life[2].battery_minutes

            out = await d.commander.send("rx-ewdx", Command("name", 2, "bv priya"))
            assert out["name"] == "BV PRIYA"
            out = await d.commander.send("rx-d6000", Command("mute", 1, True))
            assert out["audio"]["muted"] is True

            await simctl(ew.port, "TX 2 OFF")
            await wait_for(lambda: chans["rx-ewdx/2"]["tx"]["present"] is False)
            assert chans["rx-ewdx/2"]["status"] == "PREV_GOOD"  # last reading held
            assert chans["rx-ewdx/2"]["tx"]["battery_percent"] is None

            await ew.stop()  # the receiver goes away: silence means offline
            await wait_for(lambda: d.store.devices["rx-ewdx"]["link"] == "offline")
            assert chans["rx-ewdx/1"]["status"] == "RX_OFFLINE"
            assert d.store.devices["rx-d6000"]["link"] == "online"
            links = d.links
            assert links["rx-ewdx"].driver.stats.malformed == 0
            assert links["rx-d6000"].driver.stats.malformed == 0
