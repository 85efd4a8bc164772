"""The history database: its schema (created or upgraded idempotently on every start),
its connections, and where the file lives."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlite_utils
import structlog
from sqlite_utils.migrations import Migrations

from micboardd.config import Config, state_dir_of

log = structlog.get_logger("micboardd.history")

Step = Callable[[sqlite_utils.Database], None]

#: the history's schema, as named sqlite-utils migrations applied in order and recorded
#: in the database's _sqlite_migrations table. A later version appends a migration (never
#: edits one that shipped): add_column for a new column, Table.transform for a rewrite.
#: transform() rebuilds a table without WITHOUT ROWID, so samples changes by add_column or
#: by SQL of its own.
MIGRATIONS = Migrations("micboardd.history")
#: the names of MIGRATIONS, in order
KNOWN: list[str] = []


def migration(name: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        KNOWN.append(name)
        MIGRATIONS(name=name)(fn)
        return fn
    return register


@migration("0001_tables")
def _tables(db: sqlite_utils.Database) -> None:
    # samples is its own primary-key index (WITHOUT ROWID, which sqlite-utils cannot
    # declare): one row per channel and interval, 40% smaller than a rowid table plus an
    # index. IF NOT EXISTS everywhere: databases made before migrations were recorded
    # already have these tables, and keep their rows.
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
    # every insert is idempotent (INSERT OR IGNORE) through these unique indexes. No
    # index on samples(ts): it would add a third to the table's size; whole-table work
    # (report, prune) walks the channels through the primary key instead
    db.table("events").create_index(["ts", "channel", "kind", "hash"], unique=True,
                                    index_name="events_unique", if_not_exists=True)
    db.table("events").create_index(["channel", "ts"], if_not_exists=True)
    db.table("events").create_index(["device", "ts"], if_not_exists=True)
    db.table("audit").create_index(["ts", "who", "action", "hash"], unique=True,
                                   index_name="audit_unique", if_not_exists=True)
    db.table("alerts").create_index(["opened"], if_not_exists=True)
    db.table("alerts").create_index(["resolved"], if_not_exists=True)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this version knows and the database has not had. Idempotent:
    safe on every start, and in one IMMEDIATE transaction, so two processes opening a new
    database (the daemon, ``micboardd prune``) never both migrate it."""
    db = sqlite_utils.Database(conn)
    db.enable_wal()
    conn.execute("BEGIN IMMEDIATE")
    try:
        MIGRATIONS.apply(db)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    newer = [m.name for m in MIGRATIONS.applied(db) if m.name not in KNOWN]
    if newer:
        log.warning("history_schema_newer", unknown_migrations=newer)


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


