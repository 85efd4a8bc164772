"""History storage on a real SQLite file: schema, idempotence under replay and restart,
downsampling, never blocking the live path, payload caps, pruning and crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from micboardd.cli import main as cli_main
from micboardd.config import HistoryConfig, parse_config
from micboardd.drivers import ChannelUpdate
from micboardd.history import (
    MAX_AUDIT_BYTES,
    T_ALERT,
    T_AUDIT,
    T_EVENT,
    T_SAMPLE,
    Recorder,
    Writer,
    config_changes,
    connect,
    migrate,
    open_db,
    parse_duration,
    prune,
    query_events,
    query_history,
    query_report,
    redact,
)
from micboardd.state import Store

# ------------------------------------------------------------------------- helpers


def count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def schema(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute("SELECT name, coalesce(sql, '') FROM sqlite_master"))
    finally:
        conn.close()


def event_row(i: int, channel: str = "rx/1") -> tuple[int, tuple[Any, ...]]:
    detail = orjson.dumps({"i": i}).decode()
    return (T_EVENT, (1_700_000_000.0 + i, channel, "rx", "battery", detail, f"h{i}"))


def sample_row(ts: int, channel: str = "rx/1") -> tuple[int, tuple[Any, ...]]:
    return (T_SAMPLE, (ts, channel, 10.0, 4, 300, None, 50.0, 60.0, -70.0, 5, 40.0,
                       -12.0, 10.0))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "history.db"


def started(path: Path, **kw: Any) -> Writer:
    w = Writer(path, **kw)
    w.start()
    assert w.ready.wait(10)
    return w


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


CONFIG = parse_config(orjson.dumps({
    "devices": [{"id": "rx", "driver": "shure-ulxd", "host": "127.0.0.1", "channels": 2}],
    "slots": [{"slot": 1, "channel": "rx/1", "label_name": "Lead vocal"}],
}))


def ch(store: Store, n: int, values: dict[str, Any], meter: bool = False) -> None:
    store.apply("rx", [ChannelUpdate(n, values, meter)])
    store.flush()


# -------------------------------------------------------------------------- schema


def test_schema_is_created_idempotently_with_wal(db: Path) -> None:
    conn = open_db(db)
    first = schema(db)
    migrate(conn)
    migrate(conn)
    conn.close()
    open_db(db).close()
    assert schema(db) == first
    names = {n for n, _ in first}
    assert {"samples", "events", "audit", "alerts", "events_unique", "audit_unique"} <= names
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT migration_set, name FROM _sqlite_migrations").fetchall() == [
        ("micboardd.history", "0001_tables")]
    conn.close()


#: the schema as micboardd wrote it before its migrations were recorded (user_version 1)
UNRECORDED_SCHEMA = """
CREATE TABLE samples (ts INTEGER NOT NULL, channel TEXT NOT NULL, interval_s REAL NOT NULL,
 battery_bars INTEGER, battery_minutes INTEGER, battery_percent INTEGER, rf_min REAL,
 rf_avg REAL, rssi_min REAL, quality_min INTEGER, audio_max REAL, peak_dbfs_max REAL,
 on_air_s REAL, PRIMARY KEY (channel, ts)) WITHOUT ROWID;
CREATE TABLE [events] ([id] INTEGER PRIMARY KEY, [ts] FLOAT NOT NULL, [channel] TEXT NOT NULL,
 [device] TEXT NOT NULL, [kind] TEXT NOT NULL, [detail] TEXT NOT NULL, [hash] TEXT NOT NULL);
CREATE TABLE [audit] ([id] INTEGER PRIMARY KEY, [ts] FLOAT NOT NULL, [who] TEXT NOT NULL,
 [action] TEXT NOT NULL, [target] TEXT, [before] TEXT, [after] TEXT, [hash] TEXT NOT NULL);
CREATE TABLE [alerts] ([id] TEXT PRIMARY KEY, [channel] TEXT, [device] TEXT,
 [rule] TEXT NOT NULL, [severity] TEXT, [message] TEXT, [opened] FLOAT NOT NULL,
 [acked] FLOAT, [acked_by] TEXT, [resolved] FLOAT, [worst] FLOAT);
CREATE UNIQUE INDEX [events_unique] ON [events] ([ts], [channel], [kind], [hash]);
CREATE UNIQUE INDEX [audit_unique] ON [audit] ([ts], [who], [action], [hash]);
INSERT INTO events (ts, channel, device, kind, detail, hash)
 VALUES (1.0, 'rx/1', 'rx', 'battery', '{}', 'h1');
PRAGMA user_version = 1;
"""


async def test_a_database_from_before_migrations_is_adopted(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.executescript(UNRECORDED_SCHEMA)
    conn.close()
    w = started(db)
    w.submit([event_row(1), event_row(2)])  # event_row(1) differs from the stored one
    await w.sync()
    assert w.close()
    assert count(db, "events") == 3
    assert count(db, "_sqlite_migrations") == 1
    assert {"idx_events_channel_ts", "idx_alerts_opened"} <= {n for n, _ in schema(db)}
    assert integrity(db) == "ok"


async def test_replay_and_restart_never_duplicate(db: Path) -> None:
    rows = [event_row(i) for i in range(50)] + [sample_row(1_700_000_000 + 10 * i)
                                                 for i in range(50)]
    rows.append((T_AUDIT, (1_700_000_000.5, "ops", "command.name", "rx/1", "{}",
                           '{"value":"A"}', "x1")))
    rows.append((T_ALERT, ("a1", "rx/1", "rx", "battery", "warning", "low", 1.0, None, None,
                           None, 1.0)))
    w = started(db)
    w.submit(list(rows))
    w.submit(list(rows))  # a replay in the same run
    await w.sync()
    assert w.close()
    counts = {t: count(db, t) for t in ("events", "samples", "audit", "alerts")}
    assert counts == {"events": 50, "samples": 50, "audit": 1, "alerts": 1}
    # a restart that repeats the last batches
    w = started(db)
    w.submit(list(rows))
    # the alert episode progresses: acknowledged, then resolved; earlier facts stay
    w.submit([(T_ALERT, ("a1", "rx/1", "rx", "battery", "critical", "lower", 1.0, 5.0, "ops",
                         None, 0.0))])
    w.submit([(T_ALERT, ("a1", "rx/1", "rx", "battery", "critical", "lower", 1.0, None, None,
                         9.0, 0.0))])
    await w.sync()
    assert w.close()
    assert {t: count(db, t) for t in counts} == counts
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT acked, acked_by, resolved FROM alerts").fetchone() == (
        5.0, "ops", 9.0)
    conn.close()
    assert integrity(db) == "ok"


async def test_alert_rows_keep_what_is_known_within_a_batch_too(db: Path) -> None:
    def alert(sev: str, acked: float | None, by: str | None, resolved: float | None,
              opened: float = 1.0) -> tuple[int, tuple[Any, ...]]:
        return (T_ALERT, ("a1", "rx/1", "rx", "battery", sev, sev, opened, acked, by,
                          resolved, 2.0))

    w = started(db)
    # one batch: opened, acknowledged, acknowledged again by someone else (the first
    # acknowledgement stands), then a late replay of the opening row, then resolved
    w.submit([alert("warning", None, None, None), alert("critical", 5.0, "ops", None),
              alert("critical", 6.0, "other", None), alert("warning", None, None, None,
                                                          opened=3.0)])
    w.submit([alert("critical", None, None, 9.0), alert("critical", None, None, 10.0)])
    await w.sync()
    assert w.close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT severity, opened, acked, acked_by, resolved FROM alerts"
                        ).fetchall() == [("critical", 1.0, 5.0, "ops", 9.0)]
    conn.close()


# ------------------------------------------------------------------------ recorder


def scripted_run(db: Path, clock: Clock, cfg: HistoryConfig) -> None:
    """Feed one store through a fixed script of driver events, recording to ``db``."""
    store = Store(CONFIG, clock=clock)
    w = started(db)
    rec = Recorder(store, w, cfg, clock=clock)
    store.set_link("rx", "online")
    store.flush()
    ch(store, 1, {"name": "VOX", "tx.present": True, "tx.model": "ULXD2",
                  "tx.battery_bars": 5, "tx.battery_minutes": 300})
    for step in range(600):  # 60 s at 10 Hz
        clock.t += 0.1
        level = 80 if step < 300 else 20  # RF drops half way
        ch(store, 1, {"rf.level_pct": level + step % 3, "rf.rssi_dbm": -60 - step % 3,
                      "audio.level_pct": step % 50}, meter=True)
        if step == 200:
            ch(store, 1, {"tx.battery_bars": 4, "tx.battery_minutes": 240})
        if step == 400:
            ch(store, 1, {"name": "LEAD VOX"})
        if step == 450:
            ch(store, 1, {"tx.present": False, "tx.battery_bars": None,
                          "tx.battery_minutes": None, "tx.model": None})
        if step == 500:
            ch(store, 1, {"tx.present": True, "tx.battery_bars": 5, "tx.battery_minutes": 480,
                          "tx.model": "ULXD2"})
        if step % 10 == 9:  # the recorder reads the meters once a second (run_meters)
            rec.read_meters()
        if clock.t >= rec.bucket_start + rec.interval:
            rec.close_buckets()
    store.set_link("rx", "offline")
    store.flush()
    rec.close_buckets()
    rec.flush()
    rec.detach()
    assert w.close()


async def test_recorder_downsamples_and_records_transitions(db: Path) -> None:
    clock = Clock(1_700_000_000.0)
    cfg = HistoryConfig(sample_interval_s=10)
    scripted_run(db, clock, cfg)
    conn = connect(db)
    h = query_history(conn, "rx/1", ["battery_bars", "rf_min", "rf_avg", "on_air_s",
                                     "audio_max"], 0, 2e9, 10, 10)
    # 60 s of 10 Hz meters became one row per 10 s, not 600
    assert 6 <= len(h["t"]) <= 8
    assert all(t % 10 == 0 for t in h["t"])
    s = h["series"]
    assert max(x for x in s["rf_min"] if x is not None) >= 80
    assert min(x for x in s["rf_min"] if x is not None) <= 21
    assert any(x is not None and 75 < x < 85 for x in s["rf_avg"])
    assert max(s["audio_max"]) == 49
    # the transmitter was off for 5 of the 60 s
    assert 50 <= sum(s["on_air_s"]) <= 56
    # the other channel never did anything but its receiver was online: rows, no RF
    other = query_history(conn, "rx/2", ["rf_min", "on_air_s"], 0, 2e9, 10, 10)
    assert other["t"] and all(v is None for v in other["series"]["rf_min"])
    kinds = [(e["kind"], e["detail"]) for e in query_events(conn, channel="rx/1")]
    assert ("battery", {"from": 5, "to": 4, "minutes": 240}) in kinds
    assert ("name", {"from": "VOX", "to": "LEAD VOX"}) in kinds
    assert ("tx_off", {"model": None}) in kinds
    assert ("tx_on", {"model": "ULXD2"}) in kinds
    # status changes in the one vocabulary's words: the RF had been weak (20 %) for 15 s
    # before the transmitter went: a dropout (state/status.py off_reason)
    assert ("status", {"from": "GOOD", "to": "PREV_GOOD", "severity": "critical",
                       "label": "TX LOST",
                       "text": "Transmitter lost: its RF faded out (dropout)"}) in kinds
    dev_events = [e["kind"] for e in query_events(conn, channel="rx") if e["channel"] is None]
    assert dev_events == ["rx_up", "rx_down"]
    rep = query_report(conn, 0, 2e9)
    r1 = next(c for c in rep["channels"] if c["channel"] == "rx/1")
    assert r1["battery"]["used_minutes"] == 60 and r1["battery"]["swaps"] == 1
    assert r1["battery"]["start_bars"] == 5 and r1["battery"]["end_bars"] == 5
    assert r1["rf"]["worst_pct"] == 20 and r1["rf"]["worst_rssi_dbm"] == -62
    assert 50 <= r1["on_air_s"] <= 56
    assert (r1["status"]["worst"], r1["status"]["worst_label"]) == ("critical", "TX LOST")
    conn.close()


async def test_same_input_after_restart_adds_nothing(db: Path) -> None:
    cfg = HistoryConfig(sample_interval_s=10)
    scripted_run(db, Clock(1_700_000_000.0), cfg)
    before = {t: count(db, t) for t in ("samples", "events")}
    assert before["samples"] > 0 and before["events"] > 0
    scripted_run(db, Clock(1_700_000_000.0), cfg)  # a restart replaying the same input
    assert {t: count(db, t) for t in before} == before
    assert integrity(db) == "ok"


async def test_hot_path_only_touches_changed_channels(db: Path) -> None:
    clock = Clock()
    store = Store(CONFIG, clock=clock)
    w = started(db)
    rec = Recorder(store, w, HistoryConfig(), clock=clock)
    store.set_link("rx", "online")
    store.flush()
    seen: list[str] = []
    orig = rec._channel

    def spy(key: str, *a: Any) -> None:
        seen.append(key)
        orig(key, *a)

    rec._channel = spy  # type: ignore[method-assign]
    for _ in range(20):
        ch(store, 2, {"rf.level_pct": 50}, meter=True)
        ch(store, 2, {"rf.level_pct": 60}, meter=True)
    # 40 meter patches are not read one by one: the channel waits for the next reading
    assert seen == []
    clock.t += 1
    rec.read_meters()
    assert seen == ["rx/2"]
    acc = rec._acc["rx/2"]
    assert acc.rf_cur == 60
    rec.read_meters()  # nothing moved since
    assert seen == ["rx/2"]
    rec.detach()
    w.close()


# ------------------------------------------------------------------ never in the way


async def test_locked_database_drops_and_counts_never_blocks(db: Path) -> None:
    w = started(db, max_queue_rows=1000, busy_timeout_ms=20, retry_delays=(0.01,),
                reopen_delay=0.05)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    accepted = 0
    for i in range(20):
        accepted += w.submit([event_row(i * 300 + j) for j in range(300)])
        assert w.queued_rows <= w.max_queue_rows + w.RESERVE
    assert accepted < 20 * 300
    assert w.stats.dropped[T_EVENT] > 0
    # audit rows have a reserve: a full queue still takes them
    assert w.submit([(T_AUDIT, (1.0, "ops", "command.mute", "rx/1", "{}", "{}", "a"))]) == 1
    await w.sync()
    assert w.stats.write_errors > 0
    locker.execute("ROLLBACK")
    locker.close()
    w.submit([event_row(10_000_000)])
    await w.sync()
    assert w.close()
    conn = sqlite3.connect(db)
    ids = {r[0] for r in conn.execute("SELECT hash FROM events")}
    conn.close()
    assert "h10000000" in ids
    assert integrity(db) == "ok"


async def test_unusable_path_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    w = started(blocker / "history.db", max_queue_rows=100)
    assert w.open_error
    assert w.submit([event_row(i) for i in range(10)]) == 10  # waits for a database
    assert w.submit([event_row(i) for i in range(200)]) == 0  # beyond the bound
    assert w.queued_rows == 10
    assert w.close()
    assert w.stats.dropped[T_EVENT] == 210


async def test_payloads_are_capped(db: Path) -> None:
    clock = Clock()
    store = Store(CONFIG, clock=clock)
    w = started(db)
    rec = Recorder(store, w, HistoryConfig(), clock=clock)
    rec.audit("ops" * 100, "layout", {"slots": ["x" * 100] * 2000}, {"target": "rx/1"})
    rec.audit("ops", "command.name", object(), {"target": "rx/1", "value": "A"})
    rec.event(clock.t, "status", {"blob": "y" * 100_000}, "rx/1")
    rec.flush()
    await w.sync()
    conn = connect(db)
    rows = conn.execute("SELECT who, before, after FROM audit ORDER BY id").fetchall()
    assert len(rows) == 2
    assert len(rows[0][0]) <= 64
    assert orjson.loads(rows[0][1])["truncated"] is True
    assert len(rows[0][1]) < MAX_AUDIT_BYTES
    detail = orjson.loads(conn.execute("SELECT detail FROM events").fetchone()[0])
    assert detail["truncated"] is True and detail["bytes"] > 100_000
    conn.close()
    rec.detach()
    w.close()


def test_config_changes_are_itemised_and_redacted() -> None:
    old = redact({"devices": [{"id": "a", "host": "1"}, {"id": "b", "host": "2"}],
                  "mqtt": {"url": "mqtt://u:pw@broker:1883", "password": "pw"},
                  "http": {"tokens": [{"name": "ops", "sha256": "ab" * 32}]}})
    new = redact({"devices": [{"id": "a", "host": "1"}, {"id": "b", "host": "3"}],
                  "mqtt": {"url": "mqtt://u:pw@broker:1883", "password": "other"},
                  "http": {"tokens": [{"name": "ops", "sha256": "cd" * 32}]}})
    before, after = config_changes(old, new)
    assert before == {"devices[b]": {"id": "b", "host": "2"}}
    assert after == {"devices[b]": {"id": "b", "host": "3"}}
    assert "pw" not in orjson.dumps(old).decode()
    assert old["mqtt"]["url"] == "mqtt://***@broker:1883"


# --------------------------------------------------------------------------- prune

DAY = 86400.0


async def seeded(db: Path, now: float) -> None:
    old, new = now - 100 * DAY, now - 10 * DAY
    rows = []
    for i in range(30):
        rows.append(sample_row(int(old) + 10 * i))
        rows.append(sample_row(int(new) + 10 * i))
        rows.append((T_EVENT, (old + i, "rx/1", "rx", "battery", "{}", f"o{i}")))
        rows.append((T_EVENT, (new + i, "rx/1", "rx", "battery", "{}", f"n{i}")))
    rows.append((T_AUDIT, (old, "ops", "command.name", "rx/1", "{}", "{}", "a1")))
    rows.append((T_AUDIT, (now - 400 * DAY, "ops", "command.name", "rx/1", "{}", "{}", "a2")))
    rows.append((T_ALERT, ("done", "rx/1", "rx", "battery", "warning", "", old, None, None,
                           old + 60, None)))
    rows.append((T_ALERT, ("still-open", "rx/1", "rx", "battery", "warning", "", old, None,
                           None, None, None)))
    w = started(db)
    w.submit(rows)
    await w.sync()
    w.close()


async def test_prune_dry_run_then_delete(db: Path) -> None:
    now = time.time()
    await seeded(db, now)
    conn = connect(db)
    cut, audit_cut = now - 90 * DAY, now - 365 * DAY
    dry = prune(conn, cut, audit_cut, dry_run=True)
    assert dry == {"samples": 30, "events": 30, "alerts": 1, "audit": 1}
    assert count(db, "samples") == 60  # nothing went
    done = prune(conn, cut, audit_cut, chunk=7)  # small chunks: several transactions
    assert done == dry
    assert prune(conn, cut, audit_cut, dry_run=True) == dict.fromkeys(dry, 0)
    ids = [r[0] for r in conn.execute("SELECT id FROM alerts")]
    assert ids == ["still-open"]  # open episodes are never pruned
    assert count(db, "samples") == 30 and count(db, "events") == 30
    assert count(db, "audit") == 1
    conn.close()
    assert integrity(db) == "ok"


async def test_prune_command(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await seeded(db, time.time())
    assert cli_main(["prune", "--db", str(db), "--older-than", "90d", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete" in out and "samples  30" in out and "events   30" in out
    assert count(db, "samples") == 60
    assert cli_main(["prune", "--db", str(db), "--older-than", "2160h"]) == 0
    out = capsys.readouterr().out
    assert "deleted" in out and "total    62" in out
    assert count(db, "samples") == 30
    assert cli_main(["prune", "--db", str(db), "--older-than", "soon"]) == 2
    # without --older-than: the configured retention
    cfg = db.parent / "venue.json"
    cfg.write_text(orjson.dumps({"state_dir": str(db.parent),
                                 "history": {"retention_days": 5}}).decode())
    assert cli_main(["prune", "-c", str(cfg), "--dry-run"]) == 0
    assert "samples  30" in capsys.readouterr().out


def test_parse_duration() -> None:
    assert parse_duration("90d") == 90 * DAY
    assert parse_duration("12h") == 12 * 3600
    assert parse_duration("30m") == 1800
    assert parse_duration("2w") == 14 * DAY
    assert parse_duration("7") == 7 * DAY
    for bad in ("", "d", "-3d", "ninety"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ---------------------------------------------------------------------- crash safety

CHILD = textwrap.dedent("""
    import sys, time
    from micboardd.history import T_EVENT, T_SAMPLE, Writer

    path, start = sys.argv[1], int(sys.argv[2])
    def say(line):
        sys.stdout.write(line + "\\n")  # one write per line: two threads print
        sys.stdout.flush()

    w = Writer(path, max_batch_rows=4000, on_commit=lambda total: say(f"committed {total}"))
    w.start()
    w.ready.wait()
    say("ready")
    i = start
    while True:
        rows = []
        for _ in range(500):
            rows.append((T_EVENT, (float(i), "rx/1", "rx", "k", '{"x": 1}', str(i))))
            rows.append((T_SAMPLE, (i, "rx/1", 10.0, 3, 200, 60, 40.0, 50.0, -70.0,
                                    4, 30.0, -10.0, 10.0)))
            i += 1
        while w.queued_rows > 4000:
            time.sleep(0.0005)
        w.submit(rows)
        say(f"submitted {2 * (i - start)}")
""")


def _progress(line: str) -> tuple[str, int]:
    word, _, n = line.strip().partition(" ")
    return (word, int(n)) if n.isdigit() else ("", 0)


def run_and_kill(db: Path, start: int, kill_after_rows: int) -> tuple[int, int]:
    """Start a writer process, SIGKILL it mid-stream; (rows it saw committed, submitted)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(start)],
                         stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None
    seen = {"committed": 0, "submitted": 0}
    try:
        for line in p.stdout:
            word, n = _progress(line)
            if word in seen:
                seen[word] = max(seen[word], n)
            if seen["committed"] >= kill_after_rows:
                break
    finally:
        p.send_signal(signal.SIGKILL)
        rest = p.communicate(timeout=30)[0]
    for line in rest.splitlines():  # what it printed before the signal landed
        word, n = _progress(line)
        if word in seen:
            seen[word] = max(seen[word], n)
    assert p.returncode == -signal.SIGKILL
    return seen["committed"], seen["submitted"]


def test_sigkill_during_heavy_writing_loses_at_most_the_queue(db: Path) -> None:
    total_committed = 0
    start = 0
    for round_ in range(3):
        committed, submitted = run_and_kill(db, start, kill_after_rows=20_000 + 7_000 * round_)
        assert integrity(db) == "ok"
        events, samples = count(db, "events"), count(db, "samples")
        assert events == samples  # one transaction holds both: never half a batch
        rows_now = events + samples
        new_rows = rows_now - total_committed
        # every commit the writer reported survived the kill ...
        assert new_rows >= committed
        # ... and what was lost is bounded by the queue (what had not been committed yet)
        assert submitted - new_rows <= 4000 + 1000
        total_committed = rows_now
        conn = open_db(db)  # a restart: migration runs again on the killed file
        start = int(conn.execute("SELECT max(ts) FROM samples").fetchone()[0]) + 1
        conn.close()
    assert integrity(db) == "ok"


DEMO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "demo.json"


async def test_prune_finds_the_database_the_daemon_uses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's configuration names its state dir, so the command line and the daemon
    agree on the file; when there is none, the message says exactly where it looked."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    demo = DEMO_CONFIG
    assert cli_main(["prune", "-c", str(demo), "--dry-run"]) == 66  # EX_NOINPUT
    err = capsys.readouterr().err
    assert "state/demo/history.db: no history database" in err
    assert "looked for history.db in state/demo, state_dir in the configuration" in err
    db = tmp_path / "state" / "demo" / "history.db"
    db.parent.mkdir(parents=True)
    await seeded(db, time.time())
    assert cli_main(["prune", "-c", str(demo), "--dry-run"]) == 0
    assert "would delete" in capsys.readouterr().out
    # systemd's state directory counts when the configuration names none
    monkeypatch.setenv("STATE_DIRECTORY", str(db.parent))
    venue = tmp_path / "venue.json"
    venue.write_bytes(orjson.dumps({"devices": []}))
    assert cli_main(["prune", "-c", str(venue), "--dry-run"]) == 0
