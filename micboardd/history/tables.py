"""How one transaction's rows reach their tables, through sqlite-utils: batched inserts
that ignore a row already there (every table has a UNIQUE index that makes a replayed row
a no-op) and the alert episodes' upsert. Called by the writer thread inside its own
transaction."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from typing import Any

import sqlite_utils
from sqlite_utils.db import PrimaryKeyRequired

from micboardd.history.rows import ALERT_COLUMNS, COLUMNS, SAMPLE_COLUMNS, T_ALERT, TABLES

#: what a row SQLite or sqlite-utils cannot take raises: the writer then writes the batch
#: row by row and counts the rows it had to leave out
BAD_ROW: tuple[type[Exception], ...] = (
    sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.IntegrityError, ValueError,
    OverflowError, TypeError, PrimaryKeyRequired)

#: rows per INSERT statement (SQLite allows 32766 parameters per statement)
BATCH = 1000

#: samples are nearly every row written: executemany binds their parameters as they are,
#: where insert_all converts each value in Python first (3x the time per row, measured
#: in bench/history.py); the SQL is built from the same column list
SAMPLE_SQL = (f"INSERT OR IGNORE INTO samples ({', '.join(SAMPLE_COLUMNS)}) "
              f"VALUES ({', '.join('?' * len(SAMPLE_COLUMNS))})")

_ID = ALERT_COLUMNS.index("id")
#: an episode's row at each transition: these columns keep what the first row said
_FIRST = [ALERT_COLUMNS.index(c) for c in ("channel", "device", "rule", "opened")]
#: ... these are never unknown again once known (the first value known is kept)
_KEPT = [ALERT_COLUMNS.index(c) for c in ("acked", "acked_by", "resolved")]
#: severity, message and worst take the latest row's values


def write(db: sqlite_utils.Database, by_table: Sequence[Sequence[tuple[Any, ...]]]) -> None:
    """Write rows grouped by table (tags as in :mod:`rows`), in the caller's transaction."""
    for tag, rows in enumerate(by_table):
        if not rows:
            continue
        if tag == T_ALERT:
            upsert_alerts(db, rows)
        elif tag == 0:
            db.conn.executemany(SAMPLE_SQL, rows)
        else:
            db.table(TABLES[tag]).insert_all(itertools.chain([COLUMNS[tag]], rows),
                                             ignore=True, batch_size=BATCH)


def upsert_alerts(db: sqlite_utils.Database, rows: Sequence[tuple[Any, ...]]) -> None:
    """Upsert alert episode rows, each folded onto what the table (or an earlier row of
    the batch) already knows about its episode."""
    table = db.table("alerts")
    ids = list(dict.fromkeys(r[_ID] for r in rows))
    known: dict[Any, list[Any]] = {}
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        where = f"id IN ({', '.join('?' * len(part))})"
        for row in table.rows_where(where, part):
            known[row["id"]] = [row[c] for c in ALERT_COLUMNS]
    for r in rows:
        new = list(r)
        old = known.get(new[_ID])
        if old is not None:
            for i in _FIRST:
                new[i] = old[i]
            for i in _KEPT:
                if old[i] is not None:
                    new[i] = old[i]
        known[new[_ID]] = new
    table.upsert_all(itertools.chain([list(ALERT_COLUMNS)], (known[i] for i in ids)), pk="id")
