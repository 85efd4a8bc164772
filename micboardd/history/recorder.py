"""The store subscriber that turns merge patches into sample and event rows."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import structlog

from micboardd.config import HistoryConfig
from micboardd.history.rows import (
    MAX_AUDIT_BYTES,
    MAX_DETAIL_BYTES,
    T_ALERT,
    T_AUDIT,
    T_EVENT,
    T_SAMPLE,
    Row,
    capped_json,
    clip,
    digest,
)
from micboardd.history.samples import Accumulator, number
from micboardd.history.writer import Writer
from micboardd.state import JSON, Store
from micboardd.state.status import channel_meaning, meaning

log = structlog.get_logger("micboardd.history")

_PEAK = "AUDIO_PEAK"
#: how often the meters of the channels they moved are read (a sample row covers
#: ``sample_interval_s``, 10 s by default: ten readings of each)
METER_READ_S = 1.0


class Recorder:
    """The store subscriber: turns merge patches into sample and event rows.

    Work per patch is proportional to the fields it carries: each changed channel
    updates a few numbers in its accumulator; a transition appends one event row. Rows
    collect in a list handed to the writer every ``flush_interval_s`` (or sooner when
    large), so the event loop never touches SQLite.

    Meter-only patches (ten a second) are not read as they come: they mark their
    channels, and every ``METER_READ_S`` (:meth:`read_meters`) the current meters of the
    marked channels go into their accumulators once. Minima and maxima are therefore of
    readings a second apart, not of every 100 ms meter (docs/benchmarks.md).
    """

    FLUSH_ROWS = 5000

    def __init__(self, store: Store, writer: Writer, cfg: HistoryConfig,
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.writer = writer
        self.cfg = cfg
        self.clock = clock or store.clock
        self.interval = float(cfg.sample_interval_s)
        self._acc: dict[str, Accumulator] = {}
        self._links: dict[str, str] = {}
        self._buf: list[Row] = []
        self._metered: set[str] = set()  # channels whose meters moved since the last read
        self.audit_errors = 0
        now = self.clock()
        self.bucket_start = self._bucket_of(now)
        for dev_id, dev in store.devices.items():
            self._links[dev_id] = dev["link"]
        for key, ch in store.channels.items():
            self._seed(key, ch, now)
        self._unsubscribe: Callable[[], None] | None = store.subscribe(self.on_patch)

    def _bucket_of(self, now: float) -> float:
        return math.floor(now / self.interval) * self.interval

    def _seed(self, key: str, ch: JSON, now: float) -> Accumulator:
        tx, rf, audio = ch["tx"], ch["rf"], ch["audio"]
        online = self._links.get(ch["device"]) == "online"
        acc = Accumulator(device=ch["device"], online=online, seen_online=online,
                   status=ch["status"] if ch["status"] != _PEAK else None, name=ch["name"],
                   frequency=ch["frequency_khz"], present=tx["present"],
                   interference=rf["interference"], encryption_ok=rf["encryption_ok"],
                   bars=tx["battery_bars"], minutes=tx["battery_minutes"],
                   percent=tx["battery_percent"], rf_cur=number(rf["level_pct"]), rf_t=now,
                   rssi_cur=number(rf["rssi_dbm"]), quality_cur=number(rf["quality"]),
                   audio_cur=number(audio["level_pct"]), peak_cur=number(audio["peak_dbfs"]))
        acc.audio_max, acc.peak_max = acc.audio_cur, acc.peak_cur
        acc.set_on_air(online and acc.present is True, now)
        self._acc[key] = acc
        return acc

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- the hot path -----------------------------------------------------------------

    def on_patch(self, seq: int, patch: JSON, meter_only: bool) -> None:
        if meter_only:
            chans = patch.get("channels")
            if chans:
                self._metered.update(chans)
            return
        now = self.clock()
        devs = patch.get("devices")
        if devs:
            for dev_id, dp in devs.items():
                if dp is None:
                    self._links.pop(dev_id, None)
                elif "link" in dp:
                    self._link(dev_id, dp["link"], dp.get("link_hint"), now)
        chans = patch.get("channels")
        if chans:
            accs = self._acc
            for key, cp in chans.items():
                if cp is None:
                    accs.pop(key, None)
                    continue
                acc = accs.get(key)
                if acc is None:
                    ch = self.store.channels.get(key)
                    if ch is not None:
                        self._seed(key, ch, now)
                    continue
                self._channel(key, acc, cp, now)
        if len(self._buf) >= self.FLUSH_ROWS:
            self.flush()

    def read_meters(self, now: float | None = None) -> None:
        """Read the current paced fields (meters, runtime countdown, status) of the
        channels meter-only patches touched since the last read."""
        if not self._metered:
            return
        now = self.clock() if now is None else now
        keys, self._metered = self._metered, set()
        channels, accs = self.store.channels, self._acc
        for key in keys:
            ch, acc = channels.get(key), accs.get(key)
            if ch is not None and acc is not None:
                tx = ch["tx"]
                self._channel(key, acc, {
                    "rf": ch["rf"], "audio": ch["audio"], "status": ch["status"],
                    "tx": {"battery_minutes": tx["battery_minutes"]}}, now)

    def _link(self, dev_id: str, link: str, hint: Any, now: float) -> None:
        old = self._links.get(dev_id)
        self._links[dev_id] = link
        if old == link:
            return
        online = link == "online"
        if online and old is not None:
            self.event(now, "rx_up", {"from": old}, device=dev_id)
        elif old == "online":
            self.event(now, "rx_down", {"link": link, "hint": hint}, device=dev_id)
        dev = self.store.devices.get(dev_id)
        for key in dev["channels"] if dev else ():
            acc = self._acc.get(key)
            if acc is not None:
                acc.online = online
                acc.seen_online = acc.seen_online or online
                acc.set_on_air(online and acc.present is True, now)

    def _channel(self, key: str, acc: Accumulator, cp: JSON, now: float) -> None:
        rf = cp.get("rf")
        if rf is not None:
            acc.note_rf(rf, now)
            self._rf_events(key, acc, rf, now)
        audio = cp.get("audio")
        if audio is not None:
            acc.note_audio(audio)
        tx = cp.get("tx")
        if tx is not None:
            self._tx(key, acc, tx, now)
        status = cp.get("status")
        if status is not None and status != _PEAK:
            # AUDIO_PEAK comes and goes with every loud note: samples keep audio maxima
            if acc.status is not None and status != acc.status:
                # in the one vocabulary's words (state/status.py), as the tile showed it
                ch = self.store.channels.get(key)
                m = channel_meaning(ch) if ch is not None else meaning(status)
                self.event(now, "status", {"from": acc.status, "to": status,
                                           "severity": m.severity, "label": m.label,
                                           "text": m.sentence}, key, acc.device)
            acc.status = status
        if "name" in cp:
            new = cp["name"]
            if acc.name is not None and new != acc.name:
                self.event(now, "name", {"from": acc.name, "to": new}, key, acc.device)
            acc.name = new
        if "frequency_khz" in cp:
            new = cp["frequency_khz"]
            if acc.frequency is not None and new is not None and new != acc.frequency:
                self.event(now, "frequency", {"from": acc.frequency, "to": new}, key,
                           acc.device)
            acc.frequency = new

    def _rf_events(self, key: str, acc: Accumulator, rf: JSON, now: float) -> None:
        if "interference" in rf:
            new = rf["interference"]
            if acc.interference is not None and new is not None and new != acc.interference:
                self.event(now, "interference", {"on": new}, key, acc.device)
            acc.interference = new
        if "encryption_ok" in rf:
            new = rf["encryption_ok"]
            if acc.encryption_ok is not None and new is not None and new != acc.encryption_ok:
                self.event(now, "encryption", {"ok": new}, key, acc.device)
            acc.encryption_ok = new

    def _tx(self, key: str, acc: Accumulator, tx: JSON, now: float) -> None:
        if "battery_minutes" in tx:
            acc.minutes = tx["battery_minutes"]
        if "battery_percent" in tx:
            acc.percent = tx["battery_percent"]
        if "battery_bars" in tx:
            new = tx["battery_bars"]
            if acc.bars is not None and new is not None and new != acc.bars:
                self.event(now, "battery", {"from": acc.bars, "to": new,
                                            "minutes": acc.minutes}, key, acc.device)
            acc.bars = new
        if "present" in tx:
            new = tx["present"]
            if acc.present is not None and new is not None and new != acc.present:
                self.event(now, "tx_on" if new else "tx_off", {"model": self.store.channels[
                    key]["tx"]["model"] if new else None}, key, acc.device)
            acc.present = new
            acc.set_on_air(acc.online and new is True, now)

    # -- rows -------------------------------------------------------------------------

    def event(self, ts: float, kind: str, detail: Any, channel: str | None = None,
              device: str | None = None) -> None:
        """Queue one event row (``channel`` "" for device-level events)."""
        text = capped_json(detail, MAX_DETAIL_BYTES)
        ch = channel or ""
        self._buf.append((T_EVENT, (round(ts, 3), ch, device or ch.rpartition("/")[0],
                                    clip(kind, 64), text, digest(text))))

    def alert(self, a: JSON) -> None:
        """Upsert an alert episode (from the alert engine)."""
        self._buf.append((T_ALERT, (
            a["id"], a.get("channel"), a.get("device"), a["rule"], a.get("severity"),
            clip(a.get("message") or "", 512), a["opened"], a.get("acked"),
            clip(a["acked_by"], 64) if a.get("acked_by") else None, a.get("resolved"),
            number(a.get("worst")),
        )))
        self.flush()

    def audit(self, who: str, action: str, before: Any, after: Any) -> None:
        """An audit sink for ``daemon.audit_sinks``: queues the row and hands it to the
        writer at once. Never raises (the action it records already happened)."""
        try:
            b = capped_json(before, MAX_AUDIT_BYTES)
            a = capped_json(after, MAX_AUDIT_BYTES)
            target = after.get("target") if isinstance(after, dict) else None
            who_t, action_t = clip(who or "?", 64), clip(action, 64)
            self._buf.append((T_AUDIT, (round(self.clock(), 3), who_t, action_t,
                                        clip(target) if target is not None else None, b, a,
                                        digest(target, b, a))))
            self.flush()
        except Exception:
            self.audit_errors += 1
            log.exception("history_audit_failed", who=who, action=action)

    def close_buckets(self, now: float | None = None) -> int:
        """Emit one sample row per channel for the interval that is ending."""
        now = self.clock() if now is None else now
        self.read_meters(now)
        ts = int(self.bucket_start)
        n = 0
        for key, acc in self._acc.items():
            row = acc.close(key, ts, self.interval, now)
            if row is not None:
                self._buf.append((T_SAMPLE, row))
                n += 1
        nxt = self._bucket_of(now)
        self.bucket_start = nxt if nxt > self.bucket_start else self.bucket_start + self.interval
        return n

    def flush(self) -> int:
        """Hand the collected rows to the writer."""
        if not self._buf:
            return 0
        rows, self._buf = self._buf, []
        return self.writer.submit(rows)

    def set_interval(self, interval: float) -> None:
        """A new interval takes effect at the next bucket boundary."""
        self.interval = float(interval)

    # -- loops ------------------------------------------------------------------------

    async def run_buckets(self) -> None:
        while True:
            now = self.clock()
            if now < self.bucket_start:  # the wall clock was set back: start again there
                self.bucket_start = self._bucket_of(now)
            delay = self.bucket_start + self.interval - now
            await asyncio.sleep(min(self.interval, max(0.0, delay)))
            if self.clock() >= self.bucket_start + self.interval:
                self.close_buckets()

    async def run_meters(self) -> None:
        while True:
            await asyncio.sleep(METER_READ_S)
            self.read_meters()

    async def run_flush(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.flush_interval_s)
            self.flush()


