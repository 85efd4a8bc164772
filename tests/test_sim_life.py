"""The simulators' moods (drivers/_shure/life.py): a calm show with a script of a few
problems by default, the old random demo with ``--chaos``, nothing at all when frozen.
Time is stepped by hand here (``evolve``), so hours pass in milliseconds."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import orjson
import pytest
from daemonkit import wait_for

from micboardd.drivers._shure.life import CHAOS_SPEED, Cue
from micboardd.drivers.shure_ulxd import ULXDSimulator

HOUR = 3600


def run(sim: ULXDSimulator, seconds: float, step: float = 1.0) -> None:
    for _ in range(round(seconds / step)):
        sim.evolve(step)


def test_a_calm_show_keeps_transmitters_on_and_drains_in_real_time() -> None:
    sim = ULXDSimulator(model="ULXD4Q", seed=1)
    start = {n: life.minutes for n, life in sim.life.items()}
    assert all(sim.bars(m) >= 4 for m in start.values()), "a show starts with fresh packs"
    for _ in range(2 * 60):  # two hours, checked every minute
        run(sim, 60)
        assert all(life.tx_on for life in sim.life.values())
    for n, life in sim.life.items():
        assert start[n] - life.minutes == pytest.approx(120, abs=0.5)


def test_the_script_brings_its_problems_at_their_second() -> None:
    script = [{"at": 30, "do": "battery", "channel": 4, "minutes": 200},
              {"at": 75, "do": "tx_off", "channel": 2},
              {"at": 100, "do": "rf_dropout", "channel": 1, "seconds": 8}]
    sim = ULXDSimulator(model="ULXD4Q", seed=2, script=script)
    run(sim, 29, 0.25)
    assert sim.channels[4]["BATT_BARS"] in ("004", "005")
    run(sim, 1, 0.25)
    assert sim.channels[4]["BATT_BARS"] == "003"  # 200 minutes left: REPLACE
    run(sim, 45, 0.25)
    assert sim.channels[2]["TX_TYPE"] == "UNKN" and sim.channels[2]["BATT_BARS"] == "255"
    run(sim, 24, 0.25)
    assert sim.life[1].rf > 0.6
    run(sim, 3, 0.25)
    assert sim.life[1].rf < 0.2, "the dropout"
    run(sim, 20, 0.25)
    assert sim.life[1].rf > 0.6, "and back"
    assert sim.life[2].tx_on is False, "switched off stays off"


async def test_a_scripted_reboot_power_cycles_the_receiver() -> None:
    async with ULXDSimulator("127.0.0.1", 0, model="ULXD4",
                             script=[{"at": 1, "do": "reboot", "seconds": 0.5}]) as sim:
        sim.frozen = True  # the test steps time itself
        sim.evolve(0.5)
        assert sim._reboot_task is None
        sim.evolve(0.5)
        await wait_for(lambda: sim._server is None)  # down...
        await wait_for(lambda: sim._server is not None)  # ...and listening again


def test_chaos_is_the_old_random_demo() -> None:
    sim = ULXDSimulator(model="ULXD4Q", seed=3, chaos=True)
    on = {n: life.tx_on for n, life in sim.life.items()}
    minutes = sim.life[1].minutes
    sim.evolve(1.0)
    if sim.life[1].tx_on:
        assert minutes - sim.life[1].minutes == pytest.approx(CHAOS_SPEED / 60)
    toggled = False
    for _ in range(2 * HOUR):
        sim.evolve(1.0)
        toggled |= any(life.tx_on != on[n] for n, life in sim.life.items())
    assert toggled, "transmitters go off and on at random"


def test_frozen_starts_exactly_as_before() -> None:
    sim = ULXDSimulator(model="ULXD4", seed=7, frozen=True)
    assert sim.life[1].minutes == random.Random(7).uniform(200, 480)


@pytest.mark.parametrize(
    ("cue", "message"),
    [
        ({"at": 1, "do": "explode"}, "unknown action"),
        ({"at": 1, "do": "tx_off"}, "needs channel"),
        ({"do": "reboot", "seconds": 3}, "needs at"),
        ({"at": 1, "do": "tx_off", "channel": 5}, "channel must be 1..4"),
    ],
)
def test_bad_script_cues_are_refused(cue: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cue.parse(cue, 4)
    with pytest.raises(ValueError, match=message):
        ULXDSimulator(model="ULXD4Q", script=[cue])


@pytest.mark.parametrize("chaos", [False, True])
async def test_demo_chaos_flag_reaches_every_simulator(tmp_path: Path, chaos: bool) -> None:
    """``micboardd demo`` writes the configuration it runs into its state dir: with
    ``--chaos`` every simulate block says so, without it none does."""
    state = tmp_path / "demo"
    args = ["demo", "--port", "0", "--state-dir", str(state), *(["--chaos"] if chaos else [])]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "micboardd.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        banner = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert b"micboardd demo" in banner
        running = orjson.loads((state / "demo.json").read_bytes())
        blocks = [d["simulate"] for d in running["devices"]]
        assert blocks and all(b.get("chaos", False) is chaos for b in blocks)
        assert any(b.get("script") for b in blocks) and any(b.get("habits") for b in blocks)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
