"""Alerts: rules over the live state, raised as episodes (open -> acknowledged -> resolved).

Each rule turns a channel (or, for ``rx_offline``, a receiver) into a signal: ``bad``,
``good``, ``unknown`` (no reading, or inside the hysteresis band) or ``n/a`` (the rule
does not apply: disabled, slot not active, channel gone). An episode opens when the
signal has been bad for the rule's hold time (``rf_below_for_s``, ``tx_off_for_s``,
``offline_for_s``; immediately for the others) and resolves only after it has been good
for ``clear_after_s`` without interruption. Flapping therefore extends one episode
instead of creating new ones: at most one open episode per subject and rule, ever.
Numeric rules also have level hysteresis (``*_clear_margin*``).

Episodes live in the state under ``alerts`` (``store.put("alerts", id, {...})``) so the
websocket pushes them; a resolved episode stays there with state ``"resolved"`` for
``alerts.keep_resolved_s`` and is then removed. The history part, when running, stores
every transition (``alerts`` table and ``alert_*`` events), and on restart the episodes
still open are taken up again, under the same id, instead of being raised twice.

Thresholds come from ``alerts.default``; ``alerts.groups[<slot group>]`` overrides the
keys it sets. Acknowledge with ``POST /api/alerts/{id}/ack`` (operator token; audited).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from micboardd.config import AlertRule, AlertsConfig, Config
from micboardd.store import JSON, Store

if TYPE_CHECKING:
    from aiohttp import web

    from micboardd.daemon import Daemon

log = structlog.get_logger("micboardd.alerts")

BAD, GOOD, UNKNOWN, NA = "bad", "good", "unknown", "n/a"
RULES = ("battery", "rf_low", "tx_off", "interference", "encryption", "rx_offline")
SECTION = "alerts"
MAX_NOTE = 256

Listener = Callable[[str, JSON], None]  # (transition: open|update|ack|resolve, alert)


@dataclass(slots=True, frozen=True)
class Signal:
    state: str
    severity: str = "warning"
    message: str = ""
    value: float | None = None


_UNKNOWN = Signal(UNKNOWN)
_NA = Signal(NA)
_GOOD = Signal(GOOD)


# ----------------------------------------------------------------------------- rules


def _tx_present(ch: JSON) -> bool | None:
    present: bool | None = ch["tx"]["present"]
    if present is not None:
        return present
    status = ch["status"]
    if status == "TX_OFF" or status.startswith("PREV_"):
        return False
    if status in ("GOOD", "REPLACE", "CRITICAL", "AUDIO_PEAK"):
        return True
    return None


def battery_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    b_max, m_max = r.battery_bars_at_or_below, r.minutes_at_or_below
    if b_max is None and m_max is None:
        return _NA
    tx = ch["tx"]
    bars, mins = tx["battery_bars"], tx["battery_minutes"]
    if bars is None and mins is None:
        return _UNKNOWN
    low_bars = b_max is not None and bars is not None and bars <= b_max
    low_mins = m_max is not None and mins is not None and mins <= m_max
    if low_bars or low_mins:
        parts = []
        if bars is not None:
            parts.append(f"{bars} bar{'' if bars == 1 else 's'}")
        if mins is not None:
            parts.append(f"{mins} min left")
        critical = bars == 0 or (mins is not None and mins <= 10)
        return Signal(BAD, "critical" if critical else "warning",
                      "Battery low: " + ", ".join(parts),
                      float(bars) if bars is not None else float(mins))
    ok_bars = b_max is None or bars is None or bars > b_max + r.battery_clear_margin_bars
    ok_mins = m_max is None or mins is None or mins > m_max + r.minutes_clear_margin
    return _GOOD if ok_bars and ok_mins else _UNKNOWN


def rf_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    limit = r.rf_below_pct
    if limit is None:
        return _NA
    level = ch["rf"]["level_pct"]
    if not online or level is None or _tx_present(ch) is not True:
        return _UNKNOWN  # an off transmitter has no RF to judge
    if level < limit:
        return Signal(BAD, "warning", f"RF low (below {limit}%)", float(level))
    return _GOOD if level >= limit + r.rf_clear_margin_pct else _UNKNOWN


def tx_off_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    if not r.tx_off_when_active or slot is None or not slot.get("active", True):
        return _NA
    if not online:
        return _UNKNOWN  # the receiver alert says it; we cannot know the transmitter
    present = _tx_present(ch)
    if present is None:
        return _UNKNOWN
    if not present:
        return Signal(BAD, "critical", "Transmitter off on an active slot")
    return _GOOD


def interference_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    if not r.interference:
        return _NA
    v = ch["rf"]["interference"]
    if v is None:
        return _UNKNOWN
    return Signal(BAD, "warning", "RF interference detected") if v else _GOOD


def encryption_signal(ch: JSON, r: AlertRule, slot: JSON | None, online: bool) -> Signal:
    if not r.encryption_mismatch:
        return _NA
    v = ch["rf"]["encryption_ok"]
    if v is None:
        return _UNKNOWN
    return _GOOD if v else Signal(BAD, "critical", "Encryption mismatch")


CHANNEL_RULES: tuple[tuple[str, Callable[[JSON, AlertRule, JSON | None, bool], Signal]], ...] = (
    ("battery", battery_signal),
    ("rf_low", rf_signal),
    ("tx_off", tx_off_signal),
    ("interference", interference_signal),
    ("encryption", encryption_signal),
)


def receiver_signal(dev: JSON | None, r: AlertRule) -> Signal:
    if dev is None or not r.receiver_offline:
        return _NA
    link = dev["link"]
    if link == "online":
        return _GOOD
    what = "not answering" if link == "silent" else "offline"
    return Signal(BAD, "critical", f"Receiver {what}")


def _open_hold(rule: str, r: AlertRule) -> float:
    if rule == "rf_low":
        return r.rf_below_for_s
    if rule == "tx_off":
        return r.tx_off_for_s
    if rule == "rx_offline":
        return r.offline_for_s
    return 0.0


def merged_rule(cfg: AlertsConfig, group: str | None) -> AlertRule:
    """``alerts.default`` with the keys ``alerts.groups[group]`` sets."""
    g = cfg.groups.get(group) if group is not None else None
    if g is None:
        return cfg.default
    return cfg.default.model_copy(update={k: getattr(g, k) for k in g.model_fields_set})


# ---------------------------------------------------------------------------- engine


@dataclass(slots=True, eq=False)
class _Track:
    subject: str  # channel key, or device id for rx_offline
    rule: str
    bad_since: float | None = None
    good_since: float | None = None
    last: Signal = _UNKNOWN
    alert: JSON | None = None  # the episode while open or acknowledged


def alert_id(subject: str, rule: str, opened: float) -> str:
    """Opaque and URL-safe: ``rx-band-a~1~battery~1732250000123``."""
    return f"{subject.replace('/', '~')}~{rule}~{int(opened * 1000)}"


class AlertEngine:
    """Evaluates the rules on each patch (only for the channels and devices it touches)
    and on :meth:`tick` (hold and clear timers, expiry of resolved episodes)."""

    def __init__(self, store: Store, cfg: AlertsConfig, *,
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.cfg = cfg
        self.clock = clock or store.clock
        self.listeners: list[Listener] = []
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._by_id: dict[str, _Track] = {}
        self._timers: set[_Track] = set()
        self._resolved: dict[str, tuple[JSON, float]] = {}  # id -> (alert, remove at)
        self._slots: dict[str, JSON] = {}
        self._rules: dict[str | None, AlertRule] = {}
        self.opened_total = 0
        self.resolved_total = 0
        self.acked_total = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._index_slots()

    # -- lifecycle --------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to the store and evaluate everything once."""
        if self._unsubscribe is None:
            self._unsubscribe = self.store.subscribe(self.on_patch)
        self.evaluate_all()

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def reconfigure(self, cfg: AlertsConfig) -> None:
        self.cfg = cfg
        self._rules.clear()
        self.evaluate_all()

    def restore(self, episodes: list[JSON]) -> int:
        """Take up episodes a previous run left open (rows of the ``alerts`` table)."""
        n = 0
        now = self.clock()
        for e in episodes:
            rule = e.get("rule")
            subject = e.get("channel") or e.get("device")
            if rule not in RULES or not subject or (subject, rule) in self._tracks:
                continue
            alert = self._new_alert(subject, rule, Signal(
                BAD, e.get("severity") or "warning", e.get("message") or "", e.get("worst")),
                float(e["opened"]), alert_id_=str(e["id"]))
            if e.get("acked") is not None:
                alert.update(state="acknowledged", acked=e["acked"], acked_by=e.get("acked_by"))
            tr = _Track(subject, rule, alert=alert, last=Signal(BAD))
            self._tracks[(subject, rule)] = tr
            self._by_id[alert["id"]] = tr
            self.store.put(SECTION, alert["id"], alert)
            n += 1
        if n:
            log.info("alerts_restored", episodes=n)
        self.evaluate_all(now)
        return n

    # -- inputs -----------------------------------------------------------------------

    def on_patch(self, seq: int, patch: JSON, meter_only: bool) -> None:
        if "slots" in patch:
            self._index_slots()
            self.evaluate_all()
            return
        now = self.clock()
        devs = patch.get("devices")
        if devs:
            for dev_id, dp in devs.items():
                if dp is None or "link" in dp:
                    self._eval_device(dev_id, now)
                    dev = self.store.devices.get(dev_id)
                    for key in dev["channels"] if dev else ():
                        self._eval_channel(key, now)
        chans = patch.get("channels")
        if chans:
            for key in chans:
                self._eval_channel(key, now)

    def evaluate_all(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        for dev_id in self.store.devices:
            self._eval_device(dev_id, now)
        for key in self.store.channels:
            self._eval_channel(key, now)
        # subjects that no longer exist
        for (subject, rule), tr in list(self._tracks.items()):
            gone = (subject not in self.store.devices if rule == "rx_offline"
                    else subject not in self.store.channels)
            if gone:
                self._step(tr.subject, rule, _NA, now)

    def tick(self, now: float | None = None) -> None:
        """Run the timers: holds that have elapsed open or resolve episodes."""
        now = self.clock() if now is None else now
        for tr in list(self._timers):
            self._advance(tr, now)
        if self._resolved:
            for aid, (_, until) in list(self._resolved.items()):
                if now >= until:
                    del self._resolved[aid]
                    self.store.put(SECTION, aid, None)

    # -- evaluation -------------------------------------------------------------------

    def _index_slots(self) -> None:
        slots: dict[str, JSON] = {}
        for s in self.store.slots:
            ch = s.get("channel")
            if ch and ch not in slots:
                slots[ch] = s
        self._slots = slots

    def _rule(self, group: str | None) -> AlertRule:
        r = self._rules.get(group)
        if r is None:
            r = self._rules[group] = merged_rule(self.cfg, group)
        return r

    def _eval_channel(self, key: str, now: float) -> None:
        ch = self.store.channels.get(key)
        if ch is None:
            for rule, _ in CHANNEL_RULES:
                if (key, rule) in self._tracks:
                    self._step(key, rule, _NA, now)
            return
        slot = self._slots.get(key)
        r = self._rule(slot.get("group") if slot else None)
        dev = self.store.devices.get(ch["device"])
        online = dev is not None and dev["link"] == "online"
        for rule, fn in CHANNEL_RULES:
            self._step(key, rule, fn(ch, r, slot, online), now)

    def _eval_device(self, dev_id: str, now: float) -> None:
        dev = self.store.devices.get(dev_id)
        group = None
        for key in dev["channels"] if dev else ():
            slot = self._slots.get(key)
            if slot is not None:
                group = slot.get("group")
                break
        self._step(dev_id, "rx_offline", receiver_signal(dev, self._rule(group)), now)

    def _step(self, subject: str, rule: str, sig: Signal, now: float) -> None:
        tr = self._tracks.get((subject, rule))
        if tr is None:
            if sig.state != BAD:
                return  # the common case: nothing wrong, nothing tracked
            tr = self._tracks[(subject, rule)] = _Track(subject, rule)
        tr.last = sig
        state = sig.state
        if state == BAD:
            tr.good_since = None
            if tr.bad_since is None:
                tr.bad_since = now
            if tr.alert is not None:
                self._update(tr, sig, now)
        elif state == GOOD:
            tr.bad_since = None
            if tr.good_since is None:
                tr.good_since = now
        else:  # unknown or n/a: neither opens nor clears
            tr.bad_since = tr.good_since = None
            if state == NA and tr.alert is not None:
                self._resolve(tr, now, "no longer applies")
        self._advance(tr, now)

    def _advance(self, tr: _Track, now: float) -> None:
        pending = False
        if tr.alert is None:
            if tr.bad_since is not None:
                r = self._rule_for(tr)
                if now - tr.bad_since >= _open_hold(tr.rule, r):
                    self._open(tr, now)
                else:
                    pending = True
        elif tr.good_since is not None:
            if now - tr.good_since >= self._rule_for(tr).clear_after_s:
                self._resolve(tr, now, "cleared")
            else:
                pending = True
        if pending:
            self._timers.add(tr)
        else:
            self._timers.discard(tr)
            if tr.alert is None and tr.bad_since is None:
                self._tracks.pop((tr.subject, tr.rule), None)

    def _rule_for(self, tr: _Track) -> AlertRule:
        if tr.rule == "rx_offline":
            dev = self.store.devices.get(tr.subject)
            keys = dev["channels"] if dev else ()
        else:
            keys = (tr.subject,)
        for key in keys:
            slot = self._slots.get(key)
            if slot is not None:
                return self._rule(slot.get("group"))
        return self._rule(None)

    # -- episodes ---------------------------------------------------------------------

    def _new_alert(self, subject: str, rule: str, sig: Signal, opened: float,
                   alert_id_: str | None = None) -> JSON:
        is_channel = rule != "rx_offline"
        ch = self.store.channels.get(subject) if is_channel else None
        slot = self._slots.get(subject) if is_channel else None
        return {
            "id": alert_id_ or alert_id(subject, rule, opened),
            "rule": rule,
            "channel": subject if is_channel else None,
            "device": subject.rpartition("/")[0] if is_channel else subject,
            "name": ch["name"] if ch else None,
            "slot": slot.get("slot") if slot else None,
            "label": (slot.get("label_name") or slot.get("label_id")) if slot else None,
            "group": slot.get("group") if slot else None,
            "severity": sig.severity,
            "state": "open",
            "message": sig.message,
            "value": sig.value,
            "worst": sig.value,
            "opened": round(opened, 3),
            "acked": None,
            "acked_by": None,
            "ack_note": None,
            "resolved": None,
        }

    def _emit(self, transition: str, alert: JSON) -> None:
        self.store.put(SECTION, alert["id"], alert)
        for fn in self.listeners:
            try:
                fn(transition, alert)
            except Exception:
                log.exception("alert_listener_failed", alert=alert["id"])

    def _open(self, tr: _Track, now: float) -> None:
        opened = tr.bad_since if tr.bad_since is not None else now
        alert = self._new_alert(tr.subject, tr.rule, tr.last, opened)
        tr.alert = alert
        tr.good_since = None
        self._by_id[alert["id"]] = tr
        self.opened_total += 1
        log.warning("alert_open", id=alert["id"], rule=tr.rule, subject=tr.subject,
                    message=alert["message"])
        self._emit("open", alert)

    def _update(self, tr: _Track, sig: Signal, now: float) -> None:
        a = tr.alert
        assert a is not None
        worst = a["worst"]
        if sig.value is not None and (worst is None or sig.value < worst):
            worst = sig.value
        severity = "critical" if "critical" in (a["severity"], sig.severity) else "warning"
        if (severity, sig.message, worst) != (a["severity"], a["message"], a["worst"]):
            # the value itself (RF at 10 Hz) is not pushed, only what a tech reads
            tr.alert = a = {**a, "severity": severity, "message": sig.message,
                            "worst": worst, "value": sig.value}
            self._emit("update", a)

    def _resolve(self, tr: _Track, now: float, reason: str) -> None:
        a = tr.alert
        assert a is not None
        a = {**a, "state": "resolved", "resolved": round(now, 3)}
        tr.alert = None
        tr.good_since = None
        self._by_id.pop(a["id"], None)
        self.resolved_total += 1
        log.info("alert_resolved", id=a["id"], rule=tr.rule, subject=tr.subject, reason=reason)
        self._resolved[a["id"]] = (a, now + self.cfg.keep_resolved_s)
        self._emit("resolve", a)
        if self.cfg.keep_resolved_s <= 0:
            del self._resolved[a["id"]]
            self.store.put(SECTION, a["id"], None)

    def ack(self, aid: str, who: str, note: str | None = None) -> tuple[JSON | None, JSON]:
        """Acknowledge an open episode: (before, after); before is None when it was
        already acknowledged. KeyError: no such episode; ValueError: already resolved."""
        tr = self._by_id.get(aid)
        if tr is None or tr.alert is None:
            if aid in self._resolved:
                raise ValueError("the alert is already resolved")
            raise KeyError(aid)
        before = tr.alert
        if before["state"] == "acknowledged":
            return None, before
        after = {**before, "state": "acknowledged", "acked": round(self.clock(), 3),
                 "acked_by": who[:64], "ack_note": note[:MAX_NOTE] if note else None}
        tr.alert = after
        self.acked_total += 1
        log.info("alert_acknowledged", id=aid, who=who)
        self._emit("ack", after)
        return before, after

    # -- views ------------------------------------------------------------------------

    def current(self) -> list[JSON]:
        """Open, acknowledged and recently resolved episodes, oldest first."""
        out = [tr.alert for tr in self._by_id.values() if tr.alert is not None]
        out += [a for a, _ in self._resolved.values()]
        return sorted(out, key=lambda a: (a["opened"], a["id"]))

    def get(self, aid: str) -> JSON | None:
        tr = self._by_id.get(aid)
        if tr is not None and tr.alert is not None:
            return tr.alert
        res = self._resolved.get(aid)
        return res[0] if res else None

    @property
    def open_count(self) -> int:
        return len(self._by_id)

    def metrics(self) -> list[tuple[str, str, str, float]]:
        return [
            ("alerts_open", "gauge", "Alert episodes open or acknowledged.", self.open_count),
            ("alerts_opened_total", "counter", "Alert episodes opened.", self.opened_total),
            ("alerts_resolved_total", "counter", "Alert episodes resolved.",
             self.resolved_total),
            ("alerts_acknowledged_total", "counter", "Alert episodes acknowledged.",
             self.acked_total),
        ]


# ------------------------------------------------------------------------ the part

_ENGINES: weakref.WeakKeyDictionary[Daemon, AlertEngine] = weakref.WeakKeyDictionary()
TICK_S = 1.0


def engine_for(daemon: Daemon) -> AlertEngine | None:
    return _ENGINES.get(daemon)


def history_listener(daemon: Daemon) -> Listener | None:
    """Stores transitions through the history part, when it runs."""
    from micboardd.history import history_for

    h = history_for(daemon)
    if h is None:
        return None
    rec = h.recorder

    def on_change(transition: str, alert: JSON) -> None:
        rec.alert(alert)
        if transition != "update":
            ts = {"open": alert["opened"], "ack": alert["acked"],
                  "resolve": alert["resolved"]}[transition]
            rec.event(ts if ts is not None else time.time(), f"alert_{transition}", {
                "id": alert["id"], "rule": alert["rule"], "severity": alert["severity"],
                "message": alert["message"], "by": alert["acked_by"]
                if transition == "ack" else None}, alert["channel"], alert["device"])

    return on_change


async def start(daemon: Daemon) -> Callable[[], Awaitable[None]] | None:
    engine = AlertEngine(daemon.store, daemon.config.alerts)
    _ENGINES[daemon] = engine
    from micboardd.history import history_for, load_open_alerts

    h = history_for(daemon)
    if h is not None:
        try:
            episodes = await h.query(load_open_alerts)
        except Exception as exc:  # history trouble never stops alerting
            log.warning("alerts_restore_failed", error=str(exc))
        else:
            engine.restore(episodes)
    listener = history_listener(daemon)
    if listener is not None:
        engine.listeners.append(listener)
    engine.attach()
    daemon.metric_sources.append(engine.metrics)

    def on_reload(cfg: Config) -> None:
        engine.reconfigure(cfg.alerts)

    daemon.on_reload.append(on_reload)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                engine.tick()
            except Exception:
                log.exception("alerts_tick_failed")

    task = asyncio.create_task(ticker(), name="alerts")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        engine.detach()
        _ENGINES.pop(daemon, None)

    return stop


def add_routes(daemon: Daemon, app: web.Application) -> None:
    from micboardd.history_api import add_alert_routes

    add_alert_routes(daemon, app)


__all__ = ["RULES", "AlertEngine", "Signal", "alert_id", "engine_for", "merged_rule", "start"]
