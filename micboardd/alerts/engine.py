"""Alerts: rules over the live state, raised as episodes (open -> acknowledged -> resolved).

The rules (rules.py) turn each channel and receiver into a signal. An episode opens when the
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
keys it sets. Acknowledge with ``POST /api/alerts/{id}/ack``, or several at once with
``POST /api/alerts/ack`` (operator token; audited; idempotent). An acknowledged episode
whose severity rises (warning -> critical) re-opens: episodes.py says which changes do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from micboardd.alerts.episodes import (
    UNACKED,
    acknowledge,
    alert_id,
    clearing,
    gets_worse,
    reopen,
    restored,
)
from micboardd.alerts.rules import (
    BAD,
    CHANNEL_RULES,
    GOOD,
    NA,
    NO_READING,
    NOT_APPLICABLE,
    RULES,
    Signal,
    merged_rule,
    open_hold,
    receiver_signal,
    subject_gone,
)
from micboardd.config import AlertRule, AlertsConfig
from micboardd.state import JSON, Store

log = structlog.get_logger("micboardd.alerts")

SECTION = "alerts"

Listener = Callable[[str, JSON], None]  # (transition: open|update|ack|reopen|resolve, alert)


@dataclass(slots=True, eq=False)
class _Track:
    subject: str  # channel key, or device id for rx_offline
    rule: str
    bad_since: float | None = None
    good_since: float | None = None
    last: Signal = NO_READING
    alert: JSON | None = None  # the episode while open or acknowledged


class AlertEngine:
    """Evaluates the rules on each patch (only for the channels and devices it touches)
    and on :meth:`tick` (hold and clear timers, expiry of resolved episodes, and once a
    second the channels meter-only patches touched: docs/benchmarks.md, alert pace)."""

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
        self.reopened_total = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._metered: dict[str, float] = {}  # channel -> its last meter patch, unevaluated
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
            alert = restored(alert, e)
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
        if meter_only:  # ten a second: only mark the channels, evaluated at the next tick
            self._metered.update(dict.fromkeys(patch.get("channels") or (), self.clock()))
            return
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
                self._metered.pop(key, None)  # evaluated now, on its current values
                self._eval_channel(key, now)

    def evaluate_all(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        for dev_id in self.store.devices:
            self._eval_device(dev_id, now)
        for key in self.store.channels:
            self._eval_channel(key, now)
        for (subject, rule), tr in list(self._tracks.items()):
            if subject_gone(self.store, subject, rule):
                self._step(tr.subject, rule, NOT_APPLICABLE, now)

    def tick(self, now: float | None = None) -> None:
        """Run the timers: holds that have elapsed open or resolve episodes."""
        now = self.clock() if now is None else now
        metered, self._metered = self._metered, {}
        for key, at in metered.items():
            self._eval_channel(key, min(at, now))
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
            # placeholders (blank, manual) stand for no receiver: nothing to alert on
            if ch and ch not in slots and s.get("kind", "rx") == "rx":
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
                    self._step(key, rule, NOT_APPLICABLE, now)
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
        if tr.alert is not None and (a := clearing(tr.alert, tr.good_since)) is not None:
            tr.alert = a
            self._emit("update", a)  # the tile stops showing it; the list says clearing
        self._advance(tr, now)

    def _advance(self, tr: _Track, now: float) -> None:
        pending = False
        if tr.alert is None:
            if tr.bad_since is not None:
                r = self._rule_for(tr)
                if now - tr.bad_since >= open_hold(tr.rule, r):
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
            "id": alert_id_ or alert_id(subject, rule, opened), "rule": rule,
            "channel": subject if is_channel else None,
            "device": subject.rpartition("/")[0] if is_channel else subject,
            "name": ch["name"] if ch else None, "slot": slot.get("slot") if slot else None,
            "label": (slot.get("label_name") or slot.get("label_id")) if slot else None,
            "group": slot.get("group") if slot else None, "severity": sig.severity,
            "state": "open", "message": sig.message, "value": sig.value, "worst": sig.value,
            "opened": round(opened, 3), **UNACKED, "resolved": None, "clearing_since": None}

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
            worse = gets_worse(a, severity)
            tr.alert = a = {**a, "severity": severity, "message": sig.message,
                            "worst": worst, "value": sig.value}
            if worse:
                self._reopen(tr, now)
            else:
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
        after = acknowledge(before, who, note, self.clock())
        if after is None:
            return None, before
        tr.alert = after
        self.acked_total += 1
        log.info("alert_acknowledged", id=aid, who=after["acked_by"])
        self._emit("ack", after)
        return before, after

    def _reopen(self, tr: _Track, now: float) -> None:
        """The acknowledged episode got worse: open again (episodes.py)."""
        assert tr.alert is not None
        tr.alert = a = reopen(tr.alert, now)
        self.reopened_total += 1
        log.warning("alert_reopened", id=a["id"], rule=tr.rule, subject=tr.subject,
                    severity=a["severity"], message=a["message"])
        self._emit("reopen", a)

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
