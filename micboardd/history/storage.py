"""When the disk under the history database fails: which SQLite errors mean the storage
(not the rows) is at fault, how the write-ahead log is kept small, and how much room is
left. The writer (writer.py) keeps rows it could not write because of the storage and
tries again; it drops only rows SQLite itself refuses.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import structlog

log = structlog.get_logger("micboardd.history")

# SQLite primary result codes (https://www.sqlite.org/rescode.html)
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
_REASONS = {SQLITE_FULL: "disk full", SQLITE_IOERR: "disk I/O error",
            SQLITE_READONLY: "database is read-only", SQLITE_CANTOPEN: "cannot open the file"}

#: the WAL is truncated to this after each checkpoint (it grows again only as needed)
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
#: waits between attempts while the storage fails (the last one repeats)
HOLD_DELAYS = (0.5, 1.0, 2.0, 5.0)


class StorageError(Exception):
    """A transaction failed because of the storage; the rows are not at fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def storage_problem(exc: sqlite3.Error) -> str | None:
    """``"disk full"`` and the like when ``exc`` is the storage's fault, else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _REASONS.get(code & 0xFF)
    text = str(exc).lower()
    if "disk is full" in text:
        return "disk full"
    if "disk i/o error" in text:
        return "disk I/O error"
    return None


def tune(conn: sqlite3.Connection) -> None:
    """Settings of the writer's connection: a WAL that does not stay big."""
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")


def checkpoint(conn: sqlite3.Connection) -> bool:
    """Copy the WAL into the database and truncate it; False when that could not finish
    (a reader still needs it, or there is no room yet)."""
    try:
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error:
        return False
    return bool(row) and row[0] == 0


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the database's file system."""
    with contextlib.suppress(OSError):
        st = os.statvfs(path.parent if not path.is_dir() else path)
        return st.f_bavail * st.f_frsize
    return None


class StorageState:
    """How the storage is doing, as the writer thread sees it. ``problem`` is read by
    the event loop (a str or None, replaced whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: why writes fail because of the storage ("disk full"), None while they work
        self.problem: str | None = None
        self.holds = 0
        self.checkpoint_due = False

    def failed(self, reason: str, queued: int) -> float:
        """A transaction failed for ``reason``: the seconds to wait before trying again."""
        if self.problem != reason:
            log.error("history_storage_failed", path=str(self.path), reason=reason,
                      queued=queued, effect="rows are kept in memory (bounded) and written "
                                            "when the disk takes them; commands are refused "
                                            "meanwhile")
        self.problem = reason
        self.holds += 1
        return HOLD_DELAYS[min(self.holds, len(HOLD_DELAYS)) - 1]

    def committed(self, conn: sqlite3.Connection, idle: bool, queued: int) -> None:
        """A transaction went through: the storage is back (if it was away); once the
        kept rows are written (``idle``), checkpoint and truncate the WAL."""
        if self.problem is not None:
            log.info("history_storage_recovered", path=str(self.path), was=self.problem,
                     attempts=self.holds, queued=queued)
            self.problem = None
            self.holds = 0
            self.checkpoint_due = True
        if self.checkpoint_due and idle:
            self.checkpoint_due = not checkpoint(conn)
