"""The one thread that writes the history database, fed batches through a bounded queue.
The event loop never waits for the disk."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
import structlog

from micboardd.history.rows import T_AUDIT, Row
from micboardd.history.schema import open_db
from micboardd.history.storage import StorageError, StorageState, storage_problem, tune
from micboardd.history.tables import BAD_ROW, write

log = structlog.get_logger("micboardd.history")



@dataclass(slots=True)
class WriterStats:
    rows_written: int = 0
    batches: int = 0
    write_errors: int = 0
    invalid_rows: int = 0
    #: per table (TABLES order): dropped because the queue was full or writes kept failing
    dropped: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    last_commit: float = 0.0
    last_batch_s: float = 0.0


_Job = tuple[str, Any]


def settle(fut: asyncio.Future[Any], result: Any) -> None:
    """Complete ``fut`` (on its loop) with a result or an exception, once."""
    if fut.done():
        return
    if isinstance(result, BaseException):
        fut.set_exception(result)
    else:
        fut.set_result(result)


class Writer:
    """The one thread that writes the database, fed batches through a bounded queue.

    :meth:`submit` never blocks beyond a short lock: when more than ``max_queue_rows``
    rows wait, new rows are dropped and counted (audit and alert rows get a small reserve
    above the bound). Failed transactions are retried with backoff, then dropped.
    """

    RESERVE = 1000  # extra room for audit and alert rows when the queue is full
    RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
    LOG_EVERY = 10.0

    def __init__(self, path: Path | str, *, max_queue_rows: int = 100_000,
                 max_batch_rows: int = 20_000, busy_timeout_ms: int = 5000,
                 retry_delays: tuple[float, ...] | None = None, reopen_delay: float = 5.0,
                 on_commit: Callable[[int], None] | None = None) -> None:
        self.path = Path(path)
        self.reopen_delay = reopen_delay
        self.max_queue_rows = max_queue_rows
        self.max_batch_rows = max_batch_rows
        self.busy_timeout_ms = busy_timeout_ms
        self.retry_delays = self.RETRY_DELAYS if retry_delays is None else retry_delays
        self.on_commit = on_commit
        self.stats = WriterStats()
        self.ready = threading.Event()
        self.open_error: str | None = None
        self.storage = StorageState(self.path)
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._queued_rows = 0
        self._closing = False
        self._dropped_unlogged = 0
        self._last_drop_log = 0.0
        self._last_error_log = 0.0
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._db: sqlite_utils.Database | None = None

    # -- any thread -------------------------------------------------------------------

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def start(self) -> None:
        self._thread.start()

    def submit(self, rows: list[Row]) -> int:
        """Queue rows for the next transaction; returns how many were accepted."""
        if not rows:
            return 0
        with self._cond:
            if self._closing:
                self._drop_locked(rows, "closing")
                return 0
            if self._queued_rows + len(rows) > self.max_queue_rows:
                keep = [r for r in rows if r[0] >= T_AUDIT]
                if self._queued_rows + len(keep) > self.max_queue_rows + self.RESERVE:
                    keep = []
                if len(keep) < len(rows):
                    self._drop_locked([r for r in rows if r[0] < T_AUDIT] if keep else rows,
                                      "queue_full")
                rows = keep
                if not rows:
                    return 0
            self._jobs.append(("rows", rows))
            self._queued_rows += len(rows)
            self._cond.notify()
            return len(rows)

    def call(self, fn: Callable[[sqlite3.Connection | None], None]) -> None:
        """Run ``fn(conn)`` in the writer thread after everything queued before it
        (``conn`` is None when the database cannot be opened)."""
        with self._cond:
            self._jobs.append(("call", fn))
            self._cond.notify()

    async def sync(self) -> None:
        """Wait until everything submitted so far is committed (or dropped)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def done(_: sqlite3.Connection | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone
                loop.call_soon_threadsafe(settle, fut, None)

        self.call(done)
        await fut

    def close(self, timeout: float | None = 10.0) -> bool:
        """Write what is queued, close the database, end the thread (blocks; from the
        event loop use ``await asyncio.to_thread(writer.close)``)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _drop_locked(self, rows: Iterable[Row], reason: str) -> None:
        n = 0
        for t, _ in rows:
            self.stats.dropped[t] += 1
            n += 1
        self._dropped_unlogged += n
        now = time.monotonic()
        if now - self._last_drop_log >= self.LOG_EVERY:
            self._last_drop_log = now
            log.warning("history_rows_dropped", rows=self._dropped_unlogged, reason=reason,
                        queued=self._queued_rows, dropped_total=sum(self.stats.dropped))
            self._dropped_unlogged = 0

    # -- writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        failed_batches = 0
        while True:
            if conn is None:
                conn = self._open()
                if conn is None:
                    # no database: rows wait in the (bounded) queue; retry the open every
                    # reopen_delay, or at once when new rows arrive
                    with self._cond:
                        if self._closing:
                            break
                        self._cond.wait(self.reopen_delay)
                    continue
            with self._cond:
                while not self._jobs and not self._closing:
                    self._cond.wait()
                if not self._jobs:
                    break  # closing and drained
                rows, call = self._take_locked()
            if rows:
                ok = self._write_or_hold(conn, rows)
                with self._cond:
                    self._queued_rows -= len(rows)
                    if not ok:
                        self._drop_locked(rows, "write_failed")
                failed_batches = 0 if ok else failed_batches + 1
                if failed_batches >= 3:
                    # reopen: the file may have been replaced, repaired or remounted
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
                    conn, failed_batches = None, 0
            if call is not None:
                self._call(call, conn)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA optimize")
                conn.close()
        # closing without a database: what is left is dropped (and counted)
        while True:
            with self._cond:
                if not self._jobs:
                    break
                rows, call = self._take_locked()
                self._queued_rows -= len(rows)
                self._drop_locked(rows, "no_database")
            if call is not None:
                self._call(call, None)

    def _take_locked(self) -> tuple[list[Row], Callable[[sqlite3.Connection | None], None] | None]:
        """Rows of the next transaction (whole submissions, up to max_batch_rows), or
        the next call job."""
        rows: list[Row] = []
        while self._jobs:
            kind, payload = self._jobs[0]
            if kind == "call":
                if rows:
                    break
                self._jobs.popleft()
                return rows, payload
            if rows and len(rows) + len(payload) > self.max_batch_rows:
                break
            self._jobs.popleft()
            rows.extend(payload)
        return rows, None

    @staticmethod
    def _call(fn: Callable[[sqlite3.Connection | None], None],
              conn: sqlite3.Connection | None) -> None:
        try:
            fn(conn)
        except Exception:
            log.exception("history_job_failed")

    def _open(self) -> sqlite3.Connection | None:
        try:
            conn = open_db(self.path, busy_timeout_ms=self.busy_timeout_ms)
        except (sqlite3.Error, OSError) as exc:
            if self.open_error != str(exc):
                log.error("history_open_failed", path=str(self.path), error=str(exc))
            self.open_error = str(exc)
            self.ready.set()
            return None
        if self.open_error is not None:
            log.info("history_open_recovered", path=str(self.path))
        self.open_error = None
        with contextlib.suppress(sqlite3.Error):
            tune(conn)
        self.ready.set()
        return conn

    def _write(self, conn: sqlite3.Connection, rows: list[Row]) -> bool:
        by_table: list[list[tuple[Any, ...]]] = [[], [], [], []]
        for t, params in rows:
            by_table[t].append(params)
        t0 = time.perf_counter()
        for attempt in range(len(self.retry_delays) + 1):
            if attempt:
                with self._cond:
                    # closing: one more try without waiting long
                    self._cond.wait(0.0 if self._closing else self.retry_delays[attempt - 1])
            try:
                self._transaction(conn, by_table)
            except BAD_ROW:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                return self._write_one_by_one(conn, by_table)
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                self.stats.write_errors += 1
                self._raise_if_storage(exc)
                now = time.monotonic()
                if now - self._last_error_log >= self.LOG_EVERY:
                    self._last_error_log = now
                    log.error("history_write_failed", error=str(exc), rows=len(rows),
                              attempt=attempt + 1, queued=self._queued_rows)
                if self._closing and attempt >= 1:
                    return False
                continue
            self._committed(len(rows), time.perf_counter() - t0)
            return True
        return False

    def _transaction(self, conn: sqlite3.Connection,
                     by_table: list[list[tuple[Any, ...]]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        write(self._db_of(conn), by_table)
        conn.execute("COMMIT")

    def _db_of(self, conn: sqlite3.Connection) -> sqlite_utils.Database:
        """sqlite-utils' view of the writer's connection (one per connection)."""
        if self._db is None or self._db.conn is not conn:
            self._db = sqlite_utils.Database(conn)
        return self._db

    def _write_one_by_one(self, conn: sqlite3.Connection,
                          by_table: list[list[tuple[Any, ...]]]) -> bool:
        """A batch with a row SQLite cannot take: write the others, count that one."""
        n = 0
        db = self._db_of(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for t, params in enumerate(by_table):
                for p in params:
                    one: list[list[tuple[Any, ...]]] = [[], [], [], []]
                    one[t].append(p)
                    try:
                        with db.atomic():  # a savepoint: a bad row leaves nothing behind
                            write(db, one)
                        n += 1
                    except BAD_ROW:
                        self.stats.invalid_rows += 1
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self.stats.write_errors += 1
            log.error("history_write_failed", error=str(exc))
            return False
        log.warning("history_invalid_rows", total=self.stats.invalid_rows)
        self._committed(n, 0.0)
        return True

    def _committed(self, n: int, took: float) -> None:
        st = self.stats
        st.rows_written += n
        st.batches += 1
        st.last_commit = time.time()
        st.last_batch_s = took
        if self.on_commit is not None:
            self.on_commit(st.rows_written)

    # -- the storage failing (disk full) ------------------------------------------------

    def _raise_if_storage(self, exc: sqlite3.Error) -> None:
        """A failed transaction that is the storage's fault: StorageError (unless
        closing, when the rows get the usual last try and are then dropped)."""
        reason = storage_problem(exc)
        if reason is not None and not self._closing:
            raise StorageError(reason)

    def _write_or_hold(self, conn: sqlite3.Connection, rows: list[Row]) -> bool:
        """:meth:`_write`; when the storage failed, the rows are put back at the head of
        the queue (True: not to be dropped; the caller's decrement of queued_rows is
        balanced here)."""
        try:
            ok = self._write(conn, rows)
        except StorageError as exc:
            self._hold(rows, exc.reason)
            with self._cond:
                self._queued_rows += len(rows)  # the caller takes them off again
            return True
        if ok:
            self._after_commit(conn)
        return ok

    def _hold(self, rows: list[Row], reason: str) -> None:
        """Put ``rows`` back at the head of the queue (they are still counted in
        queued_rows, so the queue stays bounded) and wait before trying again."""
        with self._cond:
            self._jobs.appendleft(("rows", rows))
            deadline = time.monotonic() + self.storage.failed(reason, self._queued_rows)
            while not self._closing and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)

    def _after_commit(self, conn: sqlite3.Connection) -> None:
        self.storage.committed(conn, idle=not self._jobs, queued=self._queued_rows)

    @property
    def problem(self) -> str | None:
        """Why writes fail because of the storage ("disk full"), None while they work."""
        return self.storage.problem
