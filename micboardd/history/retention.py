"""Retention: deleting old rows in short transactions (open alert episodes stay), and
reading ages such as ``90d``."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import time
from typing import Any

from micboardd.config import HistoryConfig
from micboardd.history.writer import Writer, settle

#: (table, time column, extra condition) pruned by age; open alert episodes stay
_PRUNE = (
    ("samples", "ts", ""),
    ("events", "ts", ""),
    ("alerts", "resolved", " AND resolved IS NOT NULL"),
    ("audit", "ts", ""),
)


def _prune_where(table: str) -> str:
    for t, col, extra in _PRUNE:
        if t == table:
            return f"{col} < ?{extra}"
    raise KeyError(table)


def sample_channels(conn: sqlite3.Connection) -> list[str]:
    """The channels that have samples: one primary-key seek per channel, no scan."""
    out: list[str] = []
    row = conn.execute("SELECT min(channel) FROM samples").fetchone()
    while row is not None and row[0] is not None:
        out.append(row[0])
        row = conn.execute("SELECT min(channel) FROM samples WHERE channel > ?",
                           (row[0],)).fetchone()
    return out


def _delete(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        n = conn.execute(sql, params).rowcount
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return n


def prune_chunk(conn: sqlite3.Connection, cutoff: float, audit_cutoff: float | None = None,
                chunk: int = 10_000) -> tuple[str, int] | None:
    """Delete up to ``chunk`` old rows from the first table that has some, in one short
    transaction; None when nothing is left to delete."""
    for table, _, _ in _PRUNE:
        if table == "samples":
            for key in sample_channels(conn):
                n = _delete(conn, "DELETE FROM samples WHERE channel = ? AND ts IN (SELECT ts "
                                  "FROM samples WHERE channel = ? AND ts < ? LIMIT ?)",
                            (key, key, cutoff, chunk))
                if n > 0:
                    return table, n
            continue
        cut = audit_cutoff if table == "audit" and audit_cutoff is not None else cutoff
        n = _delete(conn, f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                          f"WHERE {_prune_where(table)} LIMIT ?)", (cut, chunk))
        if n > 0:
            return table, n
    return None


def prune(conn: sqlite3.Connection, cutoff: float, audit_cutoff: float | None = None, *,
          dry_run: bool = False, chunk: int = 10_000) -> dict[str, int]:
    """Delete rows older than ``cutoff`` (audit rows older than ``audit_cutoff``, default
    the same) in short transactions; ``dry_run`` only counts. Returns rows per table."""
    out = {table: 0 for table, _, _ in _PRUNE}
    if dry_run:
        for table in out:
            cut = audit_cutoff if table == "audit" and audit_cutoff is not None else cutoff
            if table == "samples":
                out[table] = sum(conn.execute(
                    "SELECT count(*) FROM samples WHERE channel = ? AND ts < ?",
                    (key, cut)).fetchone()[0] for key in sample_channels(conn))
            else:
                out[table] = conn.execute(f"SELECT count(*) FROM {table} WHERE "
                                          f"{_prune_where(table)}", (cut,)).fetchone()[0]
        return out
    while (done := prune_chunk(conn, cutoff, audit_cutoff, chunk)) is not None:
        out[done[0]] += done[1]
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return out


DAY = 86400.0


def cutoffs(cfg: HistoryConfig, now: float) -> tuple[float, float]:
    """(rows cutoff, audit cutoff) from the configured retention."""
    days = cfg.retention_days
    return now - days * DAY, now - max(days, cfg.audit_retention_days) * DAY




_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}


def parse_duration(text: str, default_unit: str = "d") -> float:
    """``"90d"``, ``"12h"``, ``"30m"``, ``"45s"``, ``"2w"``; a bare number uses
    ``default_unit``. Returns seconds; ValueError when unreadable."""
    s = text.strip().lower()
    unit = default_unit
    if s and s[-1] in _UNITS:
        s, unit = s[:-1], s[-1]
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90d, 12h, 30m)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a duration: {text!r}")
    return value * _UNITS[unit]


async def prune_in_writer(writer: Writer, cfg: HistoryConfig, dry_run: bool = False
                          ) -> dict[str, int]:
    """Prune by the configured retention inside the writer thread, one chunk at a time,
    so rows queued meanwhile are written between chunks."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[dict[str, int]] = loop.create_future()
    cut, audit_cut = cutoffs(cfg, time.time())
    totals = {table: 0 for table, _, _ in _PRUNE}

    def finish(result: dict[str, int] | BaseException) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone
            loop.call_soon_threadsafe(settle, fut, result)

    def job(conn: sqlite3.Connection | None) -> None:
        try:
            if conn is None:
                raise sqlite3.OperationalError("the history database is not open")
            if dry_run:
                finish(prune(conn, cut, audit_cut, dry_run=True))
                return
            done = prune_chunk(conn, cut, audit_cut)
        except Exception as exc:
            finish(exc)
            return
        if done is None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finish(totals)
        else:
            totals[done[0]] += done[1]
            writer.call(job)  # queued rows are written before the next chunk

    writer.call(job)
    return await fut
