"""State store: statuses, patches, seq, holds."""

from __future__ import annotations

import asyncio

import pytest

from micboardd.config import parse_config
from micboardd.drivers import ChannelUpdate, DeviceUpdate
from micboardd.state import Store, merge_into


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


CONFIG = parse_config(b"""{
  "devices": [{"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1", "channels": 2}],
  "http": {"host": "127.0.0.1", "port": 0, "meter_interval_ms": 50},
  "status": {"prev_hold_s": 60, "peak_hold_s": 5}
}""")


@pytest.fixture
async def store() -> tuple[Store, Clock, list]:
    clock = Clock()
    s = Store(CONFIG, clock=clock)
    patches: list = []
    s.subscribe(lambda seq, patch, meter: patches.append((seq, patch, meter)))
    return s, clock, patches


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def status(s: Store, n: int = 1) -> str:
    return s.channels[f"rx/{n}"]["status"]


async def test_battery_statuses_and_prev_hold(store) -> None:
    s, clock, _ = store
    assert status(s) == "RX_OFFLINE"
    s.set_link("rx", "online")
    assert status(s) == "TX_OFF"
    # without a runtime estimate the bars decide (micboardd/state/status.py battery_level)
    expected = {5: "GOOD", 4: "GOOD", 3: "GOOD", 2: "REPLACE", 1: "CRITICAL", 0: "CRITICAL"}
    for bars, st in expected.items():
        s.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": bars})])
        assert status(s) == st, bars
    s.apply("rx", [ChannelUpdate(1, {"tx.battery_bars": 2})])
    # transmitter switched off: bars 255 -> None, tx type UNKN -> present False
    s.apply("rx", [ChannelUpdate(1, {"tx.battery_bars": None, "tx.present": False})])
    assert status(s) == "PREV_REPLACE"
    clock.t += 59
    s.sweep()
    assert status(s) == "PREV_REPLACE"
    clock.t += 2
    s.sweep()
    assert status(s) == "TX_OFF"


async def test_peak_is_held_then_released(store) -> None:
    s, clock, _ = store
    s.set_link("rx", "online")
    s.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": 5})])
    s.apply("rx", [ChannelUpdate(1, {"audio.peak": True}, meter=True)])
    s.apply("rx", [ChannelUpdate(1, {"audio.peak": False}, meter=True)])
    assert status(s) == "AUDIO_PEAK"
    clock.t += 4.9
    s.sweep()
    assert status(s) == "AUDIO_PEAK"
    clock.t += 0.2
    s.sweep()
    assert status(s) == "GOOD"


async def test_offline_clears_meters_but_keeps_names(store) -> None:
    s, _, _ = store
    s.set_link("rx", "online")
    s.apply("rx", [ChannelUpdate(1, {"name": "VOX", "tx.present": True, "tx.battery_bars": 4}),
                   ChannelUpdate(1, {"rf.level_pct": 80, "audio.level_pct": 50}, meter=True)])
    s.set_link("rx", "offline")
    ch = s.channels["rx/1"]
    assert ch["status"] == "RX_OFFLINE"
    assert ch["rf"]["level_pct"] is None and ch["audio"]["level_pct"] is None
    assert ch["name"] == "VOX" and ch["tx"]["battery_bars"] == 4


async def test_patches_replay_to_the_same_state(store) -> None:
    s, clock, patches = store
    import copy

    await settle()
    patches.clear()
    mirror = copy.deepcopy(s.snapshot())
    mirror_seq = s.seq
    s.set_link("rx", "online")
    s.apply("rx", [DeviceUpdate({"firmware": "2.4"}),
                   ChannelUpdate(1, {"name": "A", "tx.present": True, "tx.battery_bars": 5})])
    await settle()
    s.apply("rx", [ChannelUpdate(2, {"rf.level_pct": 10}, meter=True)])
    await asyncio.sleep(0.08)  # meter interval 50 ms
    clock.t += 2
    s.apply("rx", [ChannelUpdate(1, {"name": "B"}),
                   ChannelUpdate(1, {"audio.level_pct": 30}, meter=True)])
    await asyncio.sleep(0.08)  # and the meters that go at their own pace
    assert patches, "no patch emitted"
    for seq, patch, _ in patches:
        assert seq == mirror_seq + 1  # gap-free
        mirror_seq = seq
        merge_into(mirror, patch)
    want = s.snapshot()
    # merge patch drops null-valued keys: compare with nulls removed
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if v is not None and k != "seq"}
        return o
    assert strip(mirror) == strip(want)
    assert s.channels["rx/1"]["name"] == "B"


async def test_meters_are_batched_and_other_changes_do_not_wait(store) -> None:
    s, _, patches = store
    s.set_link("rx", "online")
    await settle()
    patches.clear()
    for v in range(10):
        s.apply("rx", [ChannelUpdate(1, {"rf.level_pct": v}, meter=True)])
    await settle()
    assert patches == []  # held for the meter interval
    await asyncio.sleep(0.08)
    assert len(patches) == 1 and patches[0][2] is True
    assert patches[0][1]["channels"]["rx/1"]["rf"]["level_pct"] == 9
    patches.clear()
    s.apply("rx", [ChannelUpdate(1, {"rf.level_pct": 42}, meter=True)])
    s.apply("rx", [ChannelUpdate(1, {"name": "NOW"})])
    await settle()
    # the name goes at once, without the meters: they keep their own pace
    assert len(patches) == 1 and patches[0][2] is False
    assert patches[0][1]["channels"]["rx/1"]["name"] == "NOW"
    assert "rf" not in patches[0][1]["channels"]["rx/1"]
    await asyncio.sleep(0.08)
    assert len(patches) == 2 and patches[1][2] is True
    assert patches[1][1]["channels"]["rx/1"]["rf"]["level_pct"] == 42


async def test_unchanged_values_produce_no_patch(store) -> None:
    s, _, patches = store
    s.set_link("rx", "online")
    s.apply("rx", [ChannelUpdate(1, {"name": "SAME"})])
    await settle()
    patches.clear()
    s.apply("rx", [ChannelUpdate(1, {"name": "SAME"})])
    await settle()
    assert patches == []


async def test_reconfigure_adds_and_removes(store) -> None:
    s, _, patches = store
    new = parse_config(b"""{"devices": [
        {"id": "rx2", "driver": "shure-axient", "host": "127.0.0.2", "model": "AD4Q"}],
        "slots": [{"slot": 1, "channel": "rx2/1", "label_id": "HH1"}]}""")
    s.reconfigure(new)
    await settle()
    assert set(s.devices) == {"rx2"}
    assert sorted(s.channels) == ["rx2/1", "rx2/2", "rx2/3", "rx2/4"]
    last = patches[-1][1]
    assert last["devices"]["rx"] is None and last["channels"]["rx/1"] is None
    assert last["slots"][0]["label_id"] == "HH1"


async def test_sections_for_parts(store) -> None:
    s, _, patches = store
    s.put("alerts", "a1", {"state": "open"})
    await settle()
    assert patches[-1][1] == {"alerts": {"a1": {"state": "open"}}}
    assert s.state()["alerts"] == {"a1": {"state": "open"}}
    with pytest.raises(ValueError):
        s.put("channels", "x", {})
