"""Alert episodes from a real store fed with driver events, on a fake clock: one episode
per channel and rule however the input flaps; holds, hysteresis, acknowledgement,
expiry, per-group thresholds and taking up episodes after a restart."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from micboardd.alerts import AlertEngine, merged_rule
from micboardd.config import AlertsConfig, Config, parse_config
from micboardd.drivers import ChannelUpdate
from micboardd.state import Store
from micboardd.state.status import RECONNECT_S

RAW: dict[str, Any] = {
    "devices": [{"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1", "channels": 4}],
    "slots": [
        {"slot": 1, "channel": "rx/1", "label_name": "Lead vocal", "group": "Band"},
        {"slot": 2, "channel": "rx/2", "label_name": "Spare", "active": False},
        {"slot": 3, "channel": "rx/3", "label_name": "Host"},
    ],
}


class Rig:
    def __init__(self, alerts: dict[str, Any] | None = None) -> None:
        self.t = 1_700_000_000.0
        cfg: Config = parse_config(orjson.dumps({**RAW, "alerts": alerts or {}}))
        self.store = Store(cfg, clock=lambda: self.t)
        self.engine = AlertEngine(self.store, cfg.alerts, clock=lambda: self.t)
        self.changes: list[tuple[str, dict[str, Any]]] = []
        self.engine.listeners.append(lambda tr, a: self.changes.append((tr, a)))
        self.engine.attach()
        self.link("online")
        for n in (1, 2, 3, 4):
            self.ch(n, {"tx.present": True, "tx.model": "ULXD2", "tx.battery_bars": 5,
                        "tx.battery_minutes": 400, "rf.level_pct": 80,
                        "rf.interference": False, "rf.encryption_ok": True})

    def link(self, state: str) -> None:
        self.store.set_link("rx", state)
        self.store.flush()

    def ch(self, n: int, values: dict[str, Any], meter: bool = False) -> None:
        self.store.apply("rx", [ChannelUpdate(n, values, meter)])
        self.store.flush()

    def wait(self, seconds: float, step: float = 0.5) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t = min(end, self.t + step)
            self.engine.tick()

    @property
    def state(self) -> dict[str, dict[str, Any]]:
        return dict(self.store.sections.get("alerts", {}))

    def of(self, rule: str, channel: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.state.values() if a["rule"] == rule
                and (channel is None or a["channel"] == channel)]

    def opened(self, rule: str) -> list[str]:
        return [a["id"] for tr, a in self.changes if tr == "open" and a["rule"] == rule]


@pytest.fixture
async def rig() -> Rig:
    return Rig()


async def test_battery_flapping_is_one_episode() -> None:
    # this group alerts at 60 min left: earlier than the tile turns red (30 min)
    rig = Rig({"default": {"minutes_at_or_below": 60}})
    rig.ch(1, {"tx.battery_bars": 1, "tx.battery_minutes": 55})
    [a] = rig.of("battery", "rx/1")
    # severity and words are the tile's (state/status.py battery_level): the runtime
    # decides, 55 min is "replace", whatever the bars say
    assert a["state"] == "open" and a["severity"] == "warning"
    assert a["message"] == "Replace battery soon: 1 bar, 55 min left"
    assert (a["slot"], a["label"], a["group"]) == (1, "Lead vocal", "Band")
    # a reading that wobbles around the threshold, and even briefly back to full
    for i in range(60):
        rig.ch(1, {"tx.battery_minutes": (55, 65, 55, 240)[i % 4]})
        rig.wait(1.0)
    assert len(rig.opened("battery")) == 1
    assert [x["state"] for x in rig.of("battery")] == ["open"]
    # it drops to 0: the same episode becomes critical
    rig.ch(1, {"tx.battery_bars": 0, "tx.battery_minutes": 5})
    [a2] = rig.of("battery")
    assert a2["id"] == a["id"] and a2["severity"] == "critical" and a2["worst"] == 0
    # fresh batteries: resolved once good for clear_after_s (30 s), not before
    rig.ch(1, {"tx.battery_bars": 5, "tx.battery_minutes": 480})
    rig.wait(29)
    assert rig.of("battery")[0]["state"] == "open"
    rig.wait(2)
    [done] = rig.of("battery")
    assert done["state"] == "resolved" and done["resolved"] is not None
    # kept for keep_resolved_s (120 s) so the dashboard can show it, then removed
    rig.wait(100)
    assert rig.of("battery")
    rig.wait(30)
    assert rig.of("battery") == []
    # a new low battery later is a new episode
    rig.ch(1, {"tx.battery_bars": 1, "tx.battery_minutes": 40})
    assert len(rig.opened("battery")) == 2
    assert [t for t, _ in rig.changes if _["rule"] == "battery"][:1] == ["open"]


async def test_rf_needs_to_stay_low_and_clears_with_hysteresis(rig: Rig) -> None:
    rig.ch(3, {"rf.level_pct": 10}, meter=True)
    rig.wait(2)
    rig.ch(3, {"rf.level_pct": 60}, meter=True)
    rig.wait(5)
    assert rig.of("rf_low") == []  # two seconds is a dip, not an alert (hold 3 s)
    start = rig.t
    rig.ch(3, {"rf.level_pct": 10}, meter=True)
    rig.wait(3.5)
    [a] = rig.of("rf_low", "rx/3")
    assert a["opened"] == pytest.approx(start, abs=0.01)
    assert a["message"] == "RF low (below 15%)" and a["worst"] == 10
    # inside the band (15..19 %) nothing clears; flapping above resets the clear timer
    for i in range(40):
        rig.ch(3, {"rf.level_pct": (17, 8, 60, 12)[i % 4]}, meter=True)
        rig.wait(2)
    assert len(rig.opened("rf_low")) == 1
    [a] = rig.of("rf_low")
    assert a["state"] == "open" and a["worst"] == 8
    rig.ch(3, {"rf.level_pct": 60}, meter=True)
    rig.wait(31)
    assert rig.of("rf_low")[0]["state"] == "resolved"
    # a transmitter that is off has no RF to judge
    rig.ch(4, {"tx.present": False, "tx.model": None, "rf.level_pct": 0})
    rig.wait(10)
    assert rig.of("rf_low", "rx/4") == []


async def test_tx_off_only_on_active_slots(rig: Rig) -> None:
    # switched off with healthy RF: a warning in the tile's words (state/status.py);
    # (what a receiver reports in its first seconds online decides nothing)
    rig.wait(RECONNECT_S + 1)
    off = {"tx.present": False, "tx.model": None, "tx.battery_bars": None,
           "tx.battery_minutes": None}
    on = {"tx.present": True, "tx.model": "ULXD2", "tx.battery_bars": 5}
    for n in (1, 2, 4):
        rig.ch(n, off)
    rig.wait(1)
    assert rig.of("tx_off") == []  # held 2 s
    rig.wait(1.5)
    assert [a["channel"] for a in rig.of("tx_off")] == ["rx/1"]  # rx/2 inactive, rx/4 no slot
    assert rig.of("tx_off")[0]["severity"] == "warning"
    assert rig.of("tx_off")[0]["message"] == "Transmitter switched off"
    for i in range(20):  # someone plays with the power switch
        rig.ch(1, on if i % 2 else off)
        rig.wait(1)
    assert len(rig.opened("tx_off")) == 1
    rig.ch(1, on)
    rig.wait(31)
    assert rig.of("tx_off")[0]["state"] == "resolved"


async def test_tx_lost_in_a_dropout_is_critical(rig: Rig) -> None:
    for level in (50, 20, 5):  # out of range: RF fades first
        rig.ch(1, {"rf.level_pct": level}, meter=True)
        rig.wait(2)
    rig.ch(1, {"tx.present": False, "tx.model": None, "tx.battery_bars": None,
               "tx.battery_minutes": None})
    rig.wait(2.5)
    [a] = rig.of("tx_off", "rx/1")
    assert a["severity"] == "critical"
    assert a["message"] == "Transmitter lost: its RF faded out (dropout)"


async def test_receiver_offline_is_one_episode_per_receiver(rig: Rig) -> None:
    rig.link("offline")
    rig.wait(4)
    assert rig.of("rx_offline") == []
    rig.wait(2)
    [a] = rig.of("rx_offline")
    assert (a["device"], a["channel"], a["severity"]) == ("rx", None, "critical")
    assert a["message"] == "Receiver offline"
    for i in range(10):
        rig.link("online" if i % 2 else "connecting")
        rig.wait(3)
    assert len(rig.opened("rx_offline")) == 1
    assert rig.of("tx_off") == []  # the transmitters' state is unknown, not "off"
    rig.link("online")
    rig.wait(31)
    assert rig.of("rx_offline")[0]["state"] == "resolved"


async def test_interference_and_encryption(rig: Rig) -> None:
    rig.ch(1, {"rf.interference": True})
    rig.ch(3, {"rf.encryption_ok": False})
    assert [a["channel"] for a in rig.of("interference")] == ["rx/1"]
    [e] = rig.of("encryption")
    assert (e["channel"], e["severity"], e["message"]) == ("rx/3", "critical",
                                                           "Encryption mismatch")
    rig.ch(1, {"rf.interference": False})
    rig.ch(3, {"rf.encryption_ok": True})
    rig.wait(31)
    assert {a["state"] for a in rig.state.values()} == {"resolved"}


async def test_acknowledge(rig: Rig) -> None:
    rig.ch(1, {"tx.battery_bars": 1, "tx.battery_minutes": 25})
    [a] = rig.of("battery")
    before, after = rig.engine.ack(a["id"], "ops", "spare in hand")
    assert before is not None and before["state"] == "open"
    assert (after["state"], after["acked_by"], after["ack_note"]) == (
        "acknowledged", "ops", "spare in hand")
    assert rig.state[a["id"]]["state"] == "acknowledged"
    assert rig.engine.ack(a["id"], "someone-else") == (None, after)  # once
    with pytest.raises(KeyError):
        rig.engine.ack("nope", "ops")
    # still acknowledged while bad; resolved when it clears
    rig.ch(1, {"tx.battery_bars": 0, "tx.battery_minutes": 5})
    assert rig.state[a["id"]]["state"] == "acknowledged"
    rig.ch(1, {"tx.battery_bars": 5, "tx.battery_minutes": 400})
    rig.wait(31)
    assert rig.state[a["id"]]["state"] == "resolved"
    with pytest.raises(ValueError):
        rig.engine.ack(a["id"], "ops")
    # two updates: the worst reading (0 bars; critical already, so no re-opening), then
    # the condition gone (clearing_since); resolved clear_after_s after that
    assert [t for t, _ in rig.changes] == ["open", "ack", "update", "update", "resolve"]
    assert rig.changes[3][1]["clearing_since"] is not None


async def test_group_thresholds_override_only_what_they_set() -> None:
    rig = Rig({"default": {"battery_bars_at_or_below": 1},
               "groups": {"Band": {"battery_bars_at_or_below": 3}}})
    for n in (1, 3):  # no runtime estimate: the bars decide
        rig.ch(n, {"tx.battery_bars": 3, "tx.battery_minutes": None})
    assert [a["channel"] for a in rig.of("battery")] == ["rx/1"]
    # the tile says OK at 3 bars; the group's alert comes early, as a "replace"
    assert rig.of("battery")[0]["message"] == "Replace battery soon: 3 bars"
    rule = merged_rule(rig.store.config.alerts, "Band")
    assert rule.battery_bars_at_or_below == 3 and rule.minutes_at_or_below == 30
    # a reload that disables the rule resolves what it raised
    rig.engine.reconfigure(AlertsConfig.model_validate(
        {"default": {"battery_bars_at_or_below": None, "minutes_at_or_below": None}}))
    assert rig.of("battery")[0]["state"] == "resolved"


async def test_restart_takes_up_open_episodes() -> None:
    first = Rig()
    first.ch(1, {"tx.battery_bars": 1, "tx.battery_minutes": 20})
    first.engine.ack(first.of("battery")[0]["id"], "ops")
    stored = [{k: a.get(k) for k in ("id", "channel", "device", "rule", "severity",
                                     "message", "opened", "acked", "acked_by", "resolved",
                                     "worst")} for a in first.state.values()]
    second = Rig.__new__(Rig)  # a restarted daemon: same receiver state, new engine
    second.t = first.t + 60
    second.store = Store(first.store.config, clock=lambda: second.t)
    second.engine = AlertEngine(second.store, first.store.config.alerts,
                                clock=lambda: second.t)
    second.changes = []
    second.engine.listeners.append(lambda tr, a: second.changes.append((tr, a)))
    second.engine.restore(stored)
    second.engine.attach()
    second.link("online")
    second.ch(1, {"tx.present": True, "tx.battery_bars": 1, "tx.battery_minutes": 50})
    [a] = second.of("battery")
    assert a["id"] == stored[0]["id"] and a["state"] == "acknowledged"
    assert second.opened("battery") == []
    # an episode whose receiver is gone from the configuration is closed
    gone = Rig.__new__(Rig)
    gone.t = first.t
    cfg = parse_config(orjson.dumps({"devices": []}))
    gone.store = Store(cfg, clock=lambda: gone.t)
    gone.engine = AlertEngine(gone.store, cfg.alerts, clock=lambda: gone.t)
    gone.engine.restore(stored)
    assert [a["state"] for a in gone.store.sections["alerts"].values()] == ["resolved"]


async def test_alerts_reach_clients_as_state_patches(rig: Rig) -> None:
    patches: list[dict[str, Any]] = []
    rig.store.subscribe(lambda seq, p, meter: patches.append(p))
    rig.ch(1, {"tx.battery_bars": 1, "tx.battery_minutes": 20})
    rig.store.flush()  # the alert was put while the first patch was delivered
    pushed = [p["alerts"] for p in patches if "alerts" in p]
    assert pushed and next(iter(pushed[0].values()))["rule"] == "battery"


async def test_an_acknowledged_episode_reopens_when_its_severity_rises() -> None:
    # group Band alerts at 60 min left: 50 min is "replace soon" (a warning), 20 is critical
    rig = Rig({"groups": {"Band": {"minutes_at_or_below": 60}}})
    rig.ch(1, {"tx.battery_bars": 3, "tx.battery_minutes": 50})
    [a] = rig.of("battery")
    assert (a["severity"], a["reopened"], a["previous_ack"]) == ("warning", None, None)
    _, acked = rig.engine.ack(a["id"], "foh", "  spare\nat side stage  ")
    assert acked["ack_note"] == "spare at side stage"  # one line
    # worse at the same severity: still acknowledged (the tech knows; no nagging)
    rig.ch(1, {"tx.battery_bars": 2, "tx.battery_minutes": 45})
    assert rig.state[a["id"]]["state"] == "acknowledged"
    # the severity rises: open again, the acknowledgement kept as the previous one
    rig.t += 10
    rig.ch(1, {"tx.battery_bars": 1, "tx.battery_minutes": 20})
    now = rig.state[a["id"]]
    assert (now["state"], now["severity"]) == ("open", "critical")
    assert now["message"] == "Battery critical: 1 bar, 20 min left"
    assert now["reopened"] == round(rig.t, 3)
    assert now["previous_ack"] == {"acked": acked["acked"], "acked_by": "foh",
                                   "ack_note": "spare at side stage"}
    assert (now["acked"], now["acked_by"], now["ack_note"]) == (None, None, None)
    assert rig.engine.reopened_total == 1 and rig.opened("battery") == [a["id"]]
    # acknowledged again, once; it cannot get more critical, so it stays acknowledged
    before, again = rig.engine.ack(a["id"], "monitor-desk")
    assert before is not None and again["acked_by"] == "monitor-desk"
    assert rig.engine.ack(a["id"], "foh") == (None, again)
    rig.ch(1, {"tx.battery_bars": 0, "tx.battery_minutes": 4})
    assert rig.state[a["id"]]["state"] == "acknowledged"
    assert [t for t, _ in rig.changes] == ["open", "ack", "update", "reopen", "ack",
                                           "update"]


async def test_restored_episodes_keep_their_acknowledgement_or_reopening() -> None:
    rig = Rig()
    rig.ch(1, {"tx.battery_bars": 1, "tx.battery_minutes": 20})
    rig.ch(3, {"tx.battery_bars": 1, "tx.battery_minutes": 25})
    rig.engine.restore([])  # nothing to take up: a no-op
    [a1] = rig.of("battery", "rx/1")
    [a3] = rig.of("battery", "rx/3")
    fresh = Rig.__new__(Rig)
    fresh.t = rig.t
    fresh.store = Store(rig.store.config, clock=lambda: fresh.t)
    fresh.engine = AlertEngine(fresh.store, rig.store.config.alerts, clock=lambda: fresh.t)
    fresh.engine.restore([
        {**a1, "acked": 5.0, "acked_by": "foh", "ack_note": "swap at the break"},
        {**a3, "reopened": 7.0, "previous_ack": {"acked_by": "foh"}}])
    one, three = fresh.state[a1["id"]], fresh.state[a3["id"]]
    assert (one["state"], one["acked_by"], one["ack_note"]) == (
        "acknowledged", "foh", "swap at the break")
    assert (three["state"], three["reopened"], three["previous_ack"]) == (
        "open", 7.0, {"acked_by": "foh"})


async def test_meters_are_evaluated_at_the_engines_pace(rig: Rig) -> None:
    # meter-only patches (ten a second) only mark their channels; the next tick
    # evaluates each once, as of the last meter patch that touched it
    evaluated: list[str] = []
    orig = rig.engine._eval_channel

    def spy(key: str, now: float) -> None:
        evaluated.append(key)
        orig(key, now)

    rig.engine._eval_channel = spy  # type: ignore[method-assign]
    start = rig.t
    for i in range(10):
        rig.t = start + i * 0.1
        rig.ch(3, {"rf.level_pct": 10 - i % 2}, meter=True)
    assert evaluated == [] and rig.of("rf_low") == []
    last = rig.t
    rig.wait(4)
    assert evaluated.count("rx/3") == 1
    [a] = rig.of("rf_low", "rx/3")
    assert a["opened"] == pytest.approx(last, abs=0.01) and a["worst"] == 9
    # news that is not a meter is evaluated at once
    rig.ch(1, {"tx.battery_bars": 0, "tx.battery_minutes": 5})
    assert [a["state"] for a in rig.of("battery", "rx/1")] == ["open"]


async def test_an_episode_says_when_its_condition_went_away(rig: Rig) -> None:
    # the receiver drops: one rx_offline episode, its condition holding
    rig.link("offline")
    rig.wait(30)
    [a] = rig.of("rx_offline")
    assert a["state"] == "open" and a["clearing_since"] is None
    # back: the episode says since when it is clearing (tiles are live again at once)
    back = rig.t
    rig.link("online")
    rig.wait(RECONNECT_S + 1)
    [a] = rig.of("rx_offline")
    assert a["state"] == "open" and a["clearing_since"] == pytest.approx(back, abs=0.6)
    assert ("update", a) in rig.changes
    # down again before clear_after_s: the condition holds again, the same episode
    rig.link("offline")
    rig.wait(1)
    [a2] = rig.of("rx_offline")
    assert a2["id"] == a["id"] and a2["clearing_since"] is None
    # back for good: resolved clear_after_s (30 s) later, clearing_since until then
    rig.link("online")
    rig.wait(20)
    assert rig.of("rx_offline")[0]["clearing_since"] is not None
    rig.wait(15)
    assert rig.of("rx_offline")[0]["state"] == "resolved"
    assert len(rig.opened("rx_offline")) == 1
