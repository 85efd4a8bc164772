"""The show report: per channel over a time range, battery used, time on air, worst RF and
alerts."""

from __future__ import annotations

import math
import sqlite3

from micboardd.history.queries import query_alerts, query_events
from micboardd.history.retention import sample_channels
from micboardd.state import JSON
from micboardd.state.status import meaning, severity_rank


def query_report(conn: sqlite3.Connection, t0: float, t1: float) -> JSON:
    """Per channel for [t0, t1): battery used, time on air, worst RF, the worst status
    it went to (in the one vocabulary's severities), alerts."""
    a, b = math.floor(t0), math.ceil(t1)
    chans: dict[str, JSON] = {}

    def entry(key: str, device: str | None) -> JSON:
        e = chans.get(key)
        if e is None:
            e = chans[key] = {
                "channel": key, "device": device or key.rpartition("/")[0],
                "samples": 0, "on_air_s": 0.0,
                "battery": {"start_bars": None, "end_bars": None, "start_minutes": None,
                            "end_minutes": None, "used_bars": 0, "used_minutes": 0,
                            "swaps": 0},
                "rf": {"worst_pct": None, "worst_at": None, "worst_rssi_dbm": None,
                       "avg_pct": None},
                "audio": {"max_pct": None, "peak_dbfs_max": None},
                "alerts": {"total": 0, "by_rule": {}, "episodes": []},
                "status": {"worst": None, "worst_label": None, "worst_at": None,
                           "changes": 0},
            }
        return e

    # channel by channel: each query is a range of the primary key (channel, ts)
    where = "channel = ? AND ts >= ? AND ts < ?"
    for key in sample_channels(conn):
        p = (key, a, b)
        row = conn.execute(
            "SELECT count(*), coalesce(sum(on_air_s), 0),"
            " coalesce(sum(max(0, pb - bb)), 0), coalesce(sum(max(0, pm - bm)), 0),"
            " coalesce(sum(bb - pb >= 2 OR bm - pm >= 60), 0),"
            " min(rssi_min), max(audio_max), max(peak_dbfs_max),"
            " sum(rf_avg * on_air_s) / nullif(sum(CASE WHEN rf_avg IS NOT NULL"
            " THEN on_air_s END), 0)"
            " FROM (SELECT battery_bars AS bb, battery_minutes AS bm, rssi_min,"
            " rf_avg, audio_max, peak_dbfs_max, on_air_s,"
            " lag(battery_bars) OVER w AS pb, lag(battery_minutes) OVER w AS pm"
            f" FROM samples WHERE {where} WINDOW w AS (ORDER BY ts))", p).fetchone()
        n, on_air, used_b, used_m, swaps, rssi, amax, pmax, ravg = row
        if not n:
            continue
        e = entry(key, None)
        e["samples"] = n
        e["on_air_s"] = round(on_air, 1)
        e["battery"].update(used_bars=used_b, used_minutes=used_m, swaps=swaps)
        e["rf"].update(worst_rssi_dbm=rssi, avg_pct=round(ravg, 1) if ravg is not None else None)
        e["audio"].update(max_pct=amax, peak_dbfs_max=pmax)
        has_battery = "(battery_bars IS NOT NULL OR battery_minutes IS NOT NULL)"
        for order, prefix in (("ASC", "start"), ("DESC", "end")):
            first = conn.execute(f"SELECT battery_bars, battery_minutes FROM samples WHERE "
                                 f"{where} AND {has_battery} ORDER BY ts {order} LIMIT 1",
                                 p).fetchone()
            if first is not None:
                e["battery"].update({f"{prefix}_bars": first[0], f"{prefix}_minutes": first[1]})
        # SQLite: with a single min(), the bare column comes from that row
        worst, at = conn.execute(f"SELECT min(rf_min), ts FROM samples WHERE {where} AND "
                                 f"rf_min IS NOT NULL", p).fetchone()
        e["rf"].update(worst_pct=worst, worst_at=at)
    for ev in query_events(conn, since=t0, until=t1, kinds=["status"], limit=10_000_000):
        d = ev["detail"] if isinstance(ev["detail"], dict) else {}
        st = entry(ev["channel"] or "?", ev["device"])["status"]
        st["changes"] += 1
        # events written before they carried a severity: from the status itself
        m = meaning(str(d.get("to")))
        sev, label = d.get("severity") or m.severity, d.get("label") or m.label
        if st["worst"] is None or severity_rank(sev) > severity_rank(st["worst"]):
            st.update(worst=sev, worst_label=label, worst_at=ev["ts"])
    receivers: dict[str, JSON] = {}
    for al in query_alerts(conn, t0, t1):
        if al["channel"]:
            target = entry(al["channel"], al["device"])["alerts"]
        else:
            dev = al["device"] or "?"
            target = receivers.setdefault(dev, {"device": dev, "alerts": {
                "total": 0, "by_rule": {}, "episodes": []}})["alerts"]
        target["total"] += 1
        target["by_rule"][al["rule"]] = target["by_rule"].get(al["rule"], 0) + 1
        target["episodes"].append(al)
    return {"from": t0, "to": t1, "channels": [chans[k] for k in sorted(chans)],
            "receivers": [receivers[k] for k in sorted(receivers)]}
