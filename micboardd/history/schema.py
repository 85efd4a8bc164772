"""The history database: its schema (created or upgraded idempotently on every start),
its connections, and where the file lives."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils
import structlog

from micboardd.config import Config, state_dir_of

log = structlog.get_logger("micboardd.history")

SCHEMA_VERSION = 1



def migrate(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema. Idempotent: safe on every start, on any version."""
    db = sqlite_utils.Database(conn)
    db.enable_wal()
    with db.atomic():
        # the samples table is its own primary-key index (WITHOUT ROWID): one row per
        # channel and interval, 40% smaller than a rowid table plus an index
        db.execute(
            "CREATE TABLE IF NOT EXISTS samples ("
            " ts INTEGER NOT NULL, channel TEXT NOT NULL, interval_s REAL NOT NULL,"
            " battery_bars INTEGER, battery_minutes INTEGER,"
            " battery_percent INTEGER, rf_min REAL, rf_avg REAL, rssi_min REAL,"
            " quality_min INTEGER, audio_max REAL, peak_dbfs_max REAL, on_air_s REAL,"
            " PRIMARY KEY (channel, ts)) WITHOUT ROWID"
        )
        db.table("events").create(
            {"id": int, "ts": float, "channel": str, "device": str, "kind": str,
             "detail": str, "hash": str},
            pk="id", not_null=["ts", "channel", "device", "kind", "detail", "hash"],
            if_not_exists=True,
        )
        db.table("audit").create(
            {"id": int, "ts": float, "who": str, "action": str, "target": str,
             "before": str, "after": str, "hash": str},
            pk="id", not_null=["ts", "who", "action", "hash"], if_not_exists=True,
        )
        db.table("alerts").create(
            {"id": str, "channel": str, "device": str, "rule": str, "severity": str,
             "message": str, "opened": float, "acked": float, "acked_by": str,
             "resolved": float, "worst": float},
            pk="id", not_null=["rule", "opened"], if_not_exists=True,
        )
        # columns added by later versions go here (add_column only, never a rewrite)
        wanted: dict[str, dict[str, type]] = {}
        for table, cols in wanted.items():
            t = db.table(table)
            have = t.columns_dict
            for name, typ in cols.items():
                if name not in have:
                    t.add_column(name, typ)
        # no index on samples(ts): it would add a third to the table's size; whole-table
        # work (report, prune) walks the channels through the primary key instead
        db.table("events").create_index(["ts", "channel", "kind", "hash"], unique=True,
                                        index_name="events_unique", if_not_exists=True)
        db.table("events").create_index(["channel", "ts"], if_not_exists=True)
        db.table("events").create_index(["device", "ts"], if_not_exists=True)
        db.table("audit").create_index(["ts", "who", "action", "hash"], unique=True,
                                       index_name="audit_unique", if_not_exists=True)
        db.table("alerts").create_index(["opened"], if_not_exists=True)
        db.table("alerts").create_index(["resolved"], if_not_exists=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            log.warning("history_schema_newer", found=version, known=SCHEMA_VERSION)
        else:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def connect(path: Path | str, *, busy_timeout_ms: int = 5000,
            readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit)."""
    conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    else:
        # WAL + NORMAL: a commit survives a process crash (kill -9); only an OS crash or
        # power loss can take the last commits, never the file's integrity
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def open_db(path: Path | str, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(p, busy_timeout_ms=busy_timeout_ms)
    try:
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def db_path(config: Config, state_dir: Path | None = None) -> Path:
    """``history.path``, or ``<state dir>/history.db``; a relative path is in the state dir."""
    if state_dir is None:
        state_dir, _ = state_dir_of(config)
    p = Path(config.history.path) if config.history.path else Path("history.db")
    return p if p.is_absolute() else state_dir / p


