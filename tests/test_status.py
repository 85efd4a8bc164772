"""The one status vocabulary (micboardd/state/status.py) and what the store decides with
it: battery levels, an audio peak that never hides a problem, and how a transmitter went
away (switched off, lost in an RF dropout, RF muted)."""

from __future__ import annotations

import pytest

from micboardd.config import parse_config
from micboardd.drivers import ChannelUpdate
from micboardd.state import STATUSES, Store
from micboardd.state.status import (
    MEANINGS,
    OFF_REASONS,
    SEVERITIES,
    battery_level,
    meaning,
    severity_rank,
    vocabulary,
)

CONFIG = parse_config(b"""{
  "devices": [{"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1", "channels": 2},
              {"id": "iem", "driver": "shure-psm1000", "host": "127.0.0.1", "channels": 2}],
  "http": {"host": "127.0.0.1", "port": 0, "meter_interval_ms": 50},
  "status": {"prev_hold_s": 1800, "peak_hold_s": 5}
}""")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def store() -> tuple[Store, Clock]:
    clock = Clock()
    s = Store(CONFIG, clock=clock)
    s.set_link("rx", "online")
    s.set_link("iem", "online")
    return s, clock


def ch(s: Store, key: str = "rx/1") -> dict:
    return s.channels[key]


def test_every_status_has_one_meaning_with_a_known_severity() -> None:
    assert set(STATUSES) <= set(MEANINGS)
    for name, m in {**MEANINGS, **OFF_REASONS}.items():
        assert m.severity in SEVERITIES, name
        assert m.label and m.label == m.label.upper() and len(m.label) <= 10, name
        assert m.sentence[0].isupper(), name
    assert [severity_rank(s) for s in ("ok", "info", "warning", "critical")] == [0, 1, 2, 3]
    # the page's copy is generated from the same table
    v = vocabulary()
    assert v["severities"] == ["ok", "info", "warning", "critical"]
    assert v["statuses"]["RX_OFFLINE"] == {"severity": "critical", "label": "RX OFFLINE",
                                           "sentence": "Receiver offline", "icon": "i-unplug",
                                           "live": False}
    assert set(v["off_reasons"]) == {"switched_off", "lost", "rf_muted"}
    assert v["off_reason_refines"] == ["TX_OFF", "PREV_GOOD", "PREV_REPLACE", "PREV_CRITICAL"]


def test_off_reason_refines_only_a_missing_transmitter() -> None:
    assert meaning("PREV_GOOD", "switched_off").label == "TX OFF"
    assert meaning("PREV_GOOD", "switched_off").severity == "warning"
    assert meaning("PREV_GOOD", "lost").label == "TX LOST"
    assert meaning("PREV_GOOD", "lost").severity == "critical"
    assert meaning("TX_OFF", "rf_muted").label == "RF MUTED"
    assert meaning("GOOD", "lost").label == "OK"  # a stale reason never relabels a live tx
    assert meaning("NOT_A_STATUS").label == "UNKNOWN"


@pytest.mark.parametrize(("bars", "minutes", "level"), [
    (5, None, "GOOD"), (3, None, "GOOD"), (2, None, "REPLACE"), (1, None, "CRITICAL"),
    (0, None, "CRITICAL"), (None, None, None),
    # the runtime estimate decides when there is one: the 2 bars with 2 h 56 m
    # left is not critical, and 1 bar with 88 min left is a replace, not an emergency
    (2, 176, "GOOD"), (1, 88, "REPLACE"), (5, 30, "CRITICAL"), (None, 91, "GOOD"),
    (None, 90, "REPLACE"), (4, 0, "CRITICAL"),
])
def test_battery_level(bars: int | None, minutes: int | None, level: str | None) -> None:
    assert battery_level(bars, minutes) == level


async def test_a_peak_never_hides_or_downgrades_a_battery_problem(store) -> None:
    s, clock = store
    s.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": 1})])
    assert ch(s)["status"] == "CRITICAL"
    s.apply("rx", [ChannelUpdate(1, {"audio.peak": True}, meter=True)])
    s.flush()
    assert ch(s)["status"] == "CRITICAL"
    s.apply("rx", [ChannelUpdate(1, {"audio.peak": False}, meter=True)])
    s.flush()
    s.apply("rx", [ChannelUpdate(1, {"tx.battery_bars": 5})])
    assert ch(s)["status"] == "AUDIO_PEAK"  # nothing else wrong: the peak may show
    clock.t += 6
    s.sweep()
    assert ch(s)["status"] == "GOOD"
    s.apply("rx", [ChannelUpdate(1, {"tx.battery_bars": 2}),
                   ChannelUpdate(1, {"audio.peak": True}, meter=True)])
    s.flush()
    assert ch(s)["status"] == "REPLACE"


async def test_switched_off_while_rf_was_healthy(store) -> None:
    s, clock = store
    s.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": 4,
                                     "tx.battery_minutes": 300})])
    s.apply("rx", [ChannelUpdate(1, {"rf.level_pct": 80}, meter=True)])
    s.flush()
    clock.t += 60
    # the meter beats the report by a moment: RF drops, then the type goes UNKN
    s.apply("rx", [ChannelUpdate(1, {"rf.level_pct": 0}, meter=True)])
    s.flush()
    clock.t += 0.5
    s.apply("rx", [ChannelUpdate(1, {"tx.present": False, "tx.battery_bars": None,
                                     "tx.battery_minutes": None})])
    tx = ch(s)["tx"]
    assert ch(s)["status"] == "PREV_GOOD"
    assert tx["off_reason"] == "switched_off" and tx["last_seen"] == 1060.5
    assert meaning(ch(s)["status"], tx["off_reason"]).label == "TX OFF"
    # it comes back: no reason, no last_seen
    s.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": 4})])
    assert ch(s)["tx"]["off_reason"] is None and ch(s)["tx"]["last_seen"] is None
    assert ch(s)["status"] == "GOOD"


async def test_lost_after_rf_faded(store) -> None:
    s, clock = store
    s.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": 4})])
    s.apply("rx", [ChannelUpdate(1, {"rf.level_pct": 70}, meter=True)])
    s.flush()
    for level in (40, 20, 8, 3):  # walking out of range
        clock.t += 1.5
        s.apply("rx", [ChannelUpdate(1, {"rf.level_pct": level}, meter=True)])
        s.flush()
    clock.t += 1
    s.apply("rx", [ChannelUpdate(1, {"tx.present": False, "tx.battery_bars": None})])
    assert ch(s)["tx"]["off_reason"] == "lost"
    assert meaning(ch(s)["status"], "lost").severity == "critical"


async def test_a_receiver_that_was_offline_decides_nothing(store) -> None:
    s, clock = store
    s.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": 4})])
    s.set_link("rx", "offline")
    clock.t += 30
    s.set_link("rx", "online")
    s.apply("rx", [ChannelUpdate(1, {"tx.present": False, "tx.battery_bars": None})])
    assert ch(s)["status"] == "PREV_GOOD"
    assert ch(s)["tx"]["off_reason"] is None  # gone while nobody listened: not known how


async def test_iem_rf_mute_reads_once_as_rf_muted(store) -> None:
    s, _ = store
    # PSM1000: RF_MUTE 0 -> present, not muted; RF_MUTE 1 -> not present AND muted
    s.apply("iem", [ChannelUpdate(1, {"tx.present": True, "tx.muted": False}),
                    ChannelUpdate(2, {"tx.present": False, "tx.muted": True})])
    assert ch(s, "iem/1")["status"] == "GOOD"
    assert ch(s, "iem/2")["status"] == "TX_OFF"
    assert ch(s, "iem/2")["tx"]["off_reason"] == "rf_muted"  # muted from the start
    s.apply("iem", [ChannelUpdate(1, {"tx.present": False, "tx.muted": True})])
    assert ch(s, "iem/1")["tx"]["off_reason"] == "rf_muted"
    assert meaning("TX_OFF", "rf_muted").label == "RF MUTED"


async def test_the_state_carries_the_vocabulary_and_name_limits(store) -> None:
    s, _ = store
    st = s.snapshot()
    assert st["statuses"] == vocabulary()
    assert st["devices"]["rx"]["name_max"] == 8
    with pytest.raises(ValueError):
        s.put("statuses", "x", {})


async def test_after_a_reconnect_a_switch_off_is_decided_again(store) -> None:
    s, clock = store
    s.apply("rx", [ChannelUpdate(1, {"tx.present": True, "tx.battery_bars": 4})])
    s.apply("rx", [ChannelUpdate(1, {"rf.level_pct": 80}, meter=True)])
    s.flush()
    s.set_link("rx", "offline")
    clock.t += 10
    s.set_link("rx", "online")  # the receiver answers with the same values: no change
    clock.t += 60
    s.apply("rx", [ChannelUpdate(1, {"tx.present": False, "tx.battery_bars": None})])
    assert ch(s)["tx"]["off_reason"] == "switched_off"
