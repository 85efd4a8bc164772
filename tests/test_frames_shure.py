"""Other people's frames through a real daemon: a replay device on 127.0.0.1 answers the
daemon's handshake with frames taken from other projects and Shure's documents
(``frames_shure.py`` names the source of each), and ``/api/state`` must show what they
mean. Beside the simulator tests, not instead of them: these frames are what real
receivers and other tools were seen to send."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
import pytest
from daemonkit import make_config, running_daemon, wait_for
from framekit import ReplayDevice, reading
from frames_shure import CASES, Case

DEVICE = "rx"


def config(case_device: dict[str, Any], driver: str, port: int, **extra: Any) -> Any:
    return make_config([{"id": DEVICE, "driver": driver, "host": "127.0.0.1", "port": port,
                         **case_device}], **extra)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_frames_from_other_sources_through_the_daemon(case: Case, tmp_path) -> None:
    answers = {k: case.wire(v) for k, v in case.answers.items()}
    async with ReplayDevice(answers, stream=case.wire(case.stream), udp=case.udp) as dev:
        cfg = config(dict(case.device), case.driver, dev.port)
        async with running_daemon(cfg, tmp_path) as d, reading(d.http_port) as state:
            await state.until(DEVICE, case.expect)
            for command in case.asked:
                assert command in dev.received, f"the daemon never sent {command!r}"
            assert dev.connections == 1


async def test_a_device_that_ignores_the_keepalive_stays_connected(tmp_path) -> None:
    # answers channel queries only (the QLX-D simulator above does the same) and sends
    # no meters: the device-level keepalive goes unanswered, a channel one keeps it alive
    answers = {k: v for k, v in
               {"GET 0 ALL": [b"< REP 1 CHAN_NAME {Vox} >"],
                "GET 1 CHAN_NAME": [b"< REP 1 CHAN_NAME {Vox} >"]}.items()}
    async with ReplayDevice(answers) as dev:
        cfg = config({"meter_rate_ms": 0}, "shure-ulxd", dev.port)
        async with running_daemon(cfg, tmp_path) as d, reading(d.http_port) as state:
            await state.until(DEVICE, {"dev:link": "online", "1:name": "Vox"})
            # three channel keepalives take longer than the 4 s stale limit
            await wait_for(lambda: dev.count("GET 1 CHAN_NAME") >= 3, timeout=15)
            assert "GET DEVICE_ID" in dev.received
            assert dev.connections == 1, "reconnected although the device answered"
            assert state.value(DEVICE, "dev:link") == "online"


async def test_garbage_is_not_life(tmp_path) -> None:
    answers = {"GET 0 ALL": [b"< REP 1 CHAN_NAME {Vox} >"]}
    async with ReplayDevice(answers, stream=[b"< SAMPLE 1 ALL AB 080 030 >"]) as dev:
        cfg = config({}, "shure-ulxd", dev.port, status={"stale_s": 1.0})
        async with running_daemon(cfg, tmp_path) as d, reading(d.http_port) as state:
            await state.until(DEVICE, {"dev:link": "online", "1:name": "Vox"})
            # from now on nothing but line noise, ten bursts a second, keepalives unanswered
            rng = random.Random(14)
            dev.answers.clear()
            dev.stream[:] = [bytes(rng.randrange(256) for _ in range(64)) for _ in range(5)]
            await wait_for(lambda: state.value(DEVICE, "dev:link") in ("garbled", "offline"),
                           timeout=6)
            # bytes keep arriving, none parse: garbled (not offline), said with the count,
            # and nothing of the channel is live
            await state.until(DEVICE, {"dev:link": "garbled", "1:status": "RX_OFFLINE",
                                       "1:rf.level_pct": None})
            hint = state.value(DEVICE, "dev:link_hint")
            assert "malformed frames" in hint and d.links[DEVICE].malformed > 0
            seen = state.value(DEVICE, "dev:last_seen")
            await asyncio.sleep(1.5)  # last_seen moves at most once a second: give it room
            assert state.value(DEVICE, "dev:last_seen") == seen  # garbage is not life
            async with aiohttp.ClientSession() as s, s.get(
                    f"http://127.0.0.1:{d.http_port}/metrics") as r:
                text = await r.text()
            assert f'micboardd_frames_malformed_total{{device="{DEVICE}"}}' in text
