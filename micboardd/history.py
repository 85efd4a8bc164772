"""History: channel samples, events, alert episodes and the audit trail in one SQLite file.

The live path never waits for the disk::

    Store patch (event loop) --> Recorder: O(changed fields) per patch; per-channel
        accumulators downsample meters into one row per ``sample_interval_s``; transitions
        become event rows
    every ``flush_interval_s`` --> one batch --> Writer: bounded queue, ONE thread, one
        transaction per batch (WAL, synchronous=NORMAL) --> history.db

What does not fit in the queue is dropped and counted (``/metrics``) and logged, never
waited for. A commit is durable against a process crash once it returns, so ``kill -9``
loses what was not yet handed to the writer: about one flush interval.

Every insert is idempotent: samples are keyed by (channel, ts), events and audit rows by
a UNIQUE (ts, channel/who, kind/action, hash of the detail) index with INSERT OR IGNORE,
alert episodes by their id. Replaying a batch, or a restart that repeats one, never
duplicates a row. Queries open their own connection in a worker thread (WAL readers do
not block the writer); see :mod:`micboardd.history_api` for the HTTP side.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import sqlite3
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlite_utils
import structlog

from micboardd.config import Config, HistoryConfig
from micboardd.store import JSON, Store

if TYPE_CHECKING:
    import argparse

    from aiohttp import web

    from micboardd.daemon import Daemon

log = structlog.get_logger("micboardd.history")

SCHEMA_VERSION = 1

# row tags: a row handed to the writer is (tag, params)
T_SAMPLE, T_EVENT, T_AUDIT, T_ALERT = 0, 1, 2, 3
TABLES = ("samples", "events", "audit", "alerts")
Row = tuple[int, tuple[Any, ...]]

#: payload caps (bytes of JSON): a huge before/after never reaches the disk whole
MAX_DETAIL_BYTES = 2048
MAX_AUDIT_BYTES = 16 * 1024
MAX_TEXT = 128

SAMPLE_COLUMNS = (
    "ts", "channel", "interval_s", "battery_bars", "battery_minutes",
    "battery_percent", "rf_min", "rf_avg", "rssi_min", "quality_min", "audio_max",
    "peak_dbfs_max", "on_air_s",
)

_SQL = (
    f"INSERT OR IGNORE INTO samples ({', '.join(SAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SAMPLE_COLUMNS))})",
    "INSERT OR IGNORE INTO events (ts, channel, device, kind, detail, hash) "
    "VALUES (?, ?, ?, ?, ?, ?)",
    "INSERT OR IGNORE INTO audit (ts, who, action, target, before, after, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    # an episode's row is upserted at each transition; what is known is never unknown again
    "INSERT INTO alerts (id, channel, device, rule, severity, message, opened, acked, "
    "acked_by, resolved, worst) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET severity = excluded.severity, "
    "message = excluded.message, acked = coalesce(alerts.acked, excluded.acked), "
    "acked_by = coalesce(alerts.acked_by, excluded.acked_by), "
    "resolved = coalesce(alerts.resolved, excluded.resolved), worst = excluded.worst",
)

# -------------------------------------------------------------------------- schema


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
        d = config.state_dir or os.environ.get("STATE_DIRECTORY") or "state"
        state_dir = Path(d.split(":")[0])
    p = Path(config.history.path) if config.history.path else Path("history.db")
    return p if p.is_absolute() else state_dir / p


# ------------------------------------------------------------------------ payloads


def _jdump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                        default=str)


def capped_json(value: Any, limit: int) -> str:
    """JSON text of ``value``, or a small stand-in saying how big it was."""
    try:
        data = _jdump(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        data = _jdump({"unserializable": str(exc)[:200]})
    if len(data) > limit:
        data = _jdump({"truncated": True, "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})
    return data.decode()


def _digest(*parts: str | None) -> str:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update((p or "").encode())
        h.update(b"\x00")
    return h.hexdigest()


def _text(v: Any, limit: int = MAX_TEXT) -> str:
    s = v if isinstance(v, str) else str(v)
    return s[:limit]


_SECRET_KEYS = ("password", "sha256", "token", "secret")


def redact(value: Any) -> Any:
    """A copy of config data with secrets (passwords, token hashes, URL credentials) masked."""
    if isinstance(value, dict):
        out: JSON = {}
        for k, v in value.items():
            if isinstance(k, str) and any(s in k.lower() for s in _SECRET_KEYS) and v:
                out[k] = "***"
            elif k == "url" and isinstance(v, str) and "@" in v and "://" in v:
                scheme, rest = v.split("://", 1)
                out[k] = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
            else:
                out[k] = redact(v)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


# -------------------------------------------------------------------------- writer


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


def _settle(fut: asyncio.Future[Any], result: Any) -> None:
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
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._queued_rows = 0
        self._closing = False
        self._dropped_unlogged = 0
        self._last_drop_log = 0.0
        self._last_error_log = 0.0
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)

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
                loop.call_soon_threadsafe(_settle, fut, None)

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
                ok = self._write(conn, rows)
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
            except (sqlite3.InterfaceError, sqlite3.ProgrammingError, ValueError,
                    OverflowError, TypeError):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                return self._write_one_by_one(conn, by_table)
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                self.stats.write_errors += 1
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
        for t, params in enumerate(by_table):
            if params:
                conn.executemany(_SQL[t], params)
        conn.execute("COMMIT")

    def _write_one_by_one(self, conn: sqlite3.Connection,
                          by_table: list[list[tuple[Any, ...]]]) -> bool:
        """A batch with a row SQLite cannot take: write the others, count that one."""
        n = 0
        try:
            conn.execute("BEGIN IMMEDIATE")
            for t, params in enumerate(by_table):
                for p in params:
                    try:
                        conn.execute(_SQL[t], p)
                        n += 1
                    except (sqlite3.InterfaceError, sqlite3.ProgrammingError,
                            sqlite3.IntegrityError, ValueError, OverflowError, TypeError):
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


# ------------------------------------------------------------------------ recorder

_PEAK = "AUDIO_PEAK"


@dataclass(slots=True)
class _Acc:
    """What one channel did during the current sample interval, plus its last values."""

    device: str
    online: bool = False
    seen_online: bool = False  # the receiver was online at some time in this interval
    status: str | None = None
    name: str | None = None
    frequency: int | None = None
    present: bool | None = None
    interference: bool | None = None
    encryption_ok: bool | None = None
    bars: int | None = None
    minutes: int | None = None
    percent: int | None = None
    # RF: statistics only while the transmitter is on air (an off transmitter's 0 is no
    # "worst RF"); the average is time-weighted
    rf_cur: float | None = None
    rf_t: float = 0.0
    rf_area: float = 0.0
    rf_time: float = 0.0
    rf_min: float | None = None
    rssi_cur: float | None = None
    rssi_min: float | None = None
    quality_cur: float | None = None
    quality_min: float | None = None
    audio_cur: float | None = None
    audio_max: float | None = None
    peak_cur: float | None = None
    peak_max: float | None = None
    on_air_since: float | None = None
    on_air_s: float = 0.0

    @property
    def on_air(self) -> bool:
        return self.on_air_since is not None

    def integrate(self, now: float) -> None:
        if self.on_air_since is not None and self.rf_cur is not None and now > self.rf_t:
            dt = now - self.rf_t
            self.rf_area += self.rf_cur * dt
            self.rf_time += dt
        self.rf_t = now

    def set_on_air(self, on: bool, now: float) -> None:
        if on == self.on_air:
            return
        self.integrate(now)
        if on:
            self.on_air_since = now
            self.rf_min = _min(self.rf_min, self.rf_cur)
            self.rssi_min = _min(self.rssi_min, self.rssi_cur)
            self.quality_min = _min(self.quality_min, self.quality_cur)
        else:
            assert self.on_air_since is not None
            self.on_air_s += max(0.0, now - self.on_air_since)
            self.on_air_since = None

    def close(self, key: str, ts: int, interval: float, now: float) -> tuple[Any, ...] | None:
        """The sample row for the interval starting at ``ts``; resets for the next."""
        self.integrate(now)
        if self.on_air_since is not None:
            self.on_air_s += max(0.0, now - self.on_air_since)
            self.on_air_since = now
        row: tuple[Any, ...] | None = None
        if self.seen_online:
            rf_avg = round(self.rf_area / self.rf_time, 1) if self.rf_time > 0 else None
            row = (ts, key, interval, self.bars, self.minutes, self.percent,
                   self.rf_min, rf_avg, self.rssi_min, self.quality_min, self.audio_max,
                   self.peak_max, round(min(self.on_air_s, interval), 1))
        on = self.on_air
        self.seen_online = self.online
        self.rf_area = self.rf_time = self.on_air_s = 0.0
        self.rf_min = self.rf_cur if on else None
        self.rssi_min = self.rssi_cur if on else None
        self.quality_min = self.quality_cur if on else None
        self.audio_max = self.audio_cur
        self.peak_max = self.peak_cur
        return row


def _min(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return b if b < a else a


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return b if b > a else a


def _num(v: Any) -> float | None:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None


class Recorder:
    """The store subscriber: turns merge patches into sample and event rows.

    Work per patch is proportional to the fields it carries: each changed channel
    updates a few numbers in its accumulator; a transition appends one event row. Rows
    collect in a list handed to the writer every ``flush_interval_s`` (or sooner when
    large), so the event loop never touches SQLite.
    """

    FLUSH_ROWS = 5000

    def __init__(self, store: Store, writer: Writer, cfg: HistoryConfig,
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.writer = writer
        self.cfg = cfg
        self.clock = clock or store.clock
        self.interval = float(cfg.sample_interval_s)
        self._acc: dict[str, _Acc] = {}
        self._links: dict[str, str] = {}
        self._buf: list[Row] = []
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

    def _seed(self, key: str, ch: JSON, now: float) -> _Acc:
        tx, rf, audio = ch["tx"], ch["rf"], ch["audio"]
        online = self._links.get(ch["device"]) == "online"
        acc = _Acc(device=ch["device"], online=online, seen_online=online,
                   status=ch["status"] if ch["status"] != _PEAK else None, name=ch["name"],
                   frequency=ch["frequency_khz"], present=tx["present"],
                   interference=rf["interference"], encryption_ok=rf["encryption_ok"],
                   bars=tx["battery_bars"], minutes=tx["battery_minutes"],
                   percent=tx["battery_percent"], rf_cur=_num(rf["level_pct"]), rf_t=now,
                   rssi_cur=_num(rf["rssi_dbm"]), quality_cur=_num(rf["quality"]),
                   audio_cur=_num(audio["level_pct"]), peak_cur=_num(audio["peak_dbfs"]))
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

    def _channel(self, key: str, acc: _Acc, cp: JSON, now: float) -> None:
        rf = cp.get("rf")
        if rf is not None:
            if "level_pct" in rf:
                v = _num(rf["level_pct"])
                acc.integrate(now)
                acc.rf_cur = v
                if acc.on_air:
                    acc.rf_min = _min(acc.rf_min, v)
            if "rssi_dbm" in rf:
                acc.rssi_cur = v = _num(rf["rssi_dbm"])
                if acc.on_air:
                    acc.rssi_min = _min(acc.rssi_min, v)
            if "quality" in rf:
                acc.quality_cur = q = _num(rf["quality"])
                if acc.on_air:
                    acc.quality_min = _min(acc.quality_min, q)
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
        audio = cp.get("audio")
        if audio is not None:
            if "level_pct" in audio:
                acc.audio_cur = v = _num(audio["level_pct"])
                acc.audio_max = _max(acc.audio_max, v)
            if "peak_dbfs" in audio:
                acc.peak_cur = v = _num(audio["peak_dbfs"])
                acc.peak_max = _max(acc.peak_max, v)
        tx = cp.get("tx")
        if tx is not None:
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
        status = cp.get("status")
        if status is not None and status != _PEAK:
            # AUDIO_PEAK comes and goes with every loud note: samples keep audio maxima
            if acc.status is not None and status != acc.status:
                self.event(now, "status", {"from": acc.status, "to": status}, key, acc.device)
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

    # -- rows -------------------------------------------------------------------------

    def event(self, ts: float, kind: str, detail: Any, channel: str | None = None,
              device: str | None = None) -> None:
        """Queue one event row (``channel`` "" for device-level events)."""
        text = capped_json(detail, MAX_DETAIL_BYTES)
        ch = channel or ""
        self._buf.append((T_EVENT, (round(ts, 3), ch, device or ch.rpartition("/")[0],
                                    _text(kind, 64), text, _digest(text))))

    def alert(self, a: JSON) -> None:
        """Upsert an alert episode (from the alert engine)."""
        self._buf.append((T_ALERT, (
            a["id"], a.get("channel"), a.get("device"), a["rule"], a.get("severity"),
            _text(a.get("message") or "", 512), a["opened"], a.get("acked"),
            _text(a["acked_by"], 64) if a.get("acked_by") else None, a.get("resolved"),
            _num(a.get("worst")),
        )))
        self.flush()

    def audit(self, who: str, action: str, before: Any, after: Any) -> None:
        """An audit sink for ``daemon.audit_sinks``: queues the row and hands it to the
        writer at once. Never raises (the action it records already happened)."""
        try:
            b = capped_json(before, MAX_AUDIT_BYTES)
            a = capped_json(after, MAX_AUDIT_BYTES)
            target = after.get("target") if isinstance(after, dict) else None
            who_t, action_t = _text(who or "?", 64), _text(action, 64)
            self._buf.append((T_AUDIT, (round(self.clock(), 3), who_t, action_t,
                                        _text(target) if target is not None else None, b, a,
                                        _digest(target, b, a))))
            self.flush()
        except Exception:
            self.audit_errors += 1
            log.exception("history_audit_failed", who=who, action=action)

    def close_buckets(self, now: float | None = None) -> int:
        """Emit one sample row per channel for the interval that is ending."""
        now = self.clock() if now is None else now
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

    async def run_flush(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.flush_interval_s)
            self.flush()


# --------------------------------------------------------------------------- prune

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


# ------------------------------------------------------------------------- queries

#: metric -> how a step of several samples aggregates it
METRICS: dict[str, str] = {
    "battery_bars": "min", "battery_minutes": "min", "battery_percent": "min",
    "rf_min": "min", "rf_avg": "avg", "rssi_min": "min", "quality_min": "min",
    "audio_max": "max", "peak_dbfs_max": "max", "on_air_s": "sum",
}
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "battery": ("battery_bars", "battery_minutes", "battery_percent"),
    "rf": ("rf_min", "rf_avg", "rssi_min", "quality_min"),
    "audio": ("audio_max", "peak_dbfs_max"),
    "on_air": ("on_air_s",),
}
MAX_POINTS = 20_000


def resolve_metrics(spec: str | None) -> list[str]:
    """``"battery,rf_min"`` -> column names; ValueError names an unknown metric."""
    if not spec:
        return list(METRICS)
    out: list[str] = []
    for part in spec.split(","):
        name = part.strip()
        if not name:
            continue
        names = METRIC_ALIASES.get(name) or ((name,) if name in METRICS else None)
        if names is None:
            known = ", ".join([*METRIC_ALIASES, *METRICS])
            raise ValueError(f"unknown metric {name!r}; known: {known}")
        out.extend(n for n in names if n not in out)
    return out


def choose_step(t0: float, t1: float, interval: float, step: float | None) -> int:
    """Seconds per point: at least the sample interval, at most MAX_POINTS points."""
    span = max(0.0, t1 - t0)
    base = max(1, math.ceil(interval))
    if step is None:
        step = span / 1000  # about a thousand points for a chart
    least = span / MAX_POINTS
    s = max(float(step), least, float(base))
    return int(math.ceil(s / base) * base)


def query_history(conn: sqlite3.Connection, channel: str, metrics: list[str], t0: float,
                  t1: float, step: int, interval: float) -> JSON:
    cols = [m for m in metrics if m in METRICS]
    if step <= math.ceil(interval):
        sql = (f"SELECT ts, {', '.join(cols)} FROM samples WHERE channel = ? AND ts >= ? "
               f"AND ts < ? ORDER BY ts")
        params: tuple[Any, ...] = (channel, math.floor(t0), math.ceil(t1))
    else:
        aggs = ", ".join(f"{METRICS[c]}({c})" for c in cols)
        sql = (f"SELECT (ts / ?) * ? AS b, {aggs} FROM samples WHERE channel = ? AND ts >= ? "
               f"AND ts < ? GROUP BY b ORDER BY b")
        params = (step, step, channel, math.floor(t0), math.ceil(t1))
    t: list[int] = []
    series: dict[str, list[Any]] = {c: [] for c in cols}
    lists = [series[c] for c in cols]
    for row in conn.execute(sql, params):
        t.append(row[0])
        for i, lst in enumerate(lists, 1):
            v = row[i]
            lst.append(round(v, 1) if isinstance(v, float) else v)
    return {"channel": channel, "from": t0, "to": t1, "step": step, "interval": interval,
            "metrics": cols, "t": t, "series": series}


def _rows(cur: sqlite3.Cursor) -> list[JSON]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur]


def query_events(conn: sqlite3.Connection, *, since: float | None = None,
                 until: float | None = None, channel: str | None = None,
                 kinds: list[str] | None = None, limit: int = 1000,
                 order: str = "asc") -> list[JSON]:
    where: list[str] = ["1"]
    params: list[Any] = []
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts < ?")
        params.append(until)
    if channel:
        where.append("channel = ?" if "/" in channel else "device = ?")
        params.append(channel)
    if kinds:
        where.append(f"kind IN ({', '.join('?' * len(kinds))})")
        params.extend(kinds)
    direction = "DESC" if order == "desc" else "ASC"
    cur = conn.execute(
        f"SELECT id, ts, channel, device, kind, detail FROM events WHERE {' AND '.join(where)}"
        f" ORDER BY ts {direction}, id {direction} LIMIT ?", (*params, limit))
    out = _rows(cur)
    for e in out:
        e["detail"] = orjson.loads(e["detail"])
        e["channel"] = e["channel"] or None
    return out


def query_audit(conn: sqlite3.Connection, *, since: float | None = None,
                until: float | None = None, who: str | None = None,
                action: str | None = None, target: str | None = None, limit: int = 1000,
                order: str = "asc") -> list[JSON]:
    where: list[str] = ["1"]
    params: list[Any] = []
    for cond, value in (("ts >= ?", since), ("ts < ?", until), ("who = ?", who),
                        ("target = ?", target)):
        if value is not None:
            where.append(cond)
            params.append(value)
    if action:
        where.append("(action = ? OR action LIKE ?)")
        params.extend((action, action + ".%"))
    direction = "DESC" if order == "desc" else "ASC"
    cur = conn.execute(
        f"SELECT id, ts, who, action, target, before, after FROM audit "
        f"WHERE {' AND '.join(where)} ORDER BY ts {direction}, id {direction} LIMIT ?",
        (*params, limit))
    out = _rows(cur)
    for a in out:
        a["before"] = orjson.loads(a["before"]) if a["before"] else None
        a["after"] = orjson.loads(a["after"]) if a["after"] else None
    return out


def query_alerts(conn: sqlite3.Connection, t0: float, t1: float, *,
                 channel: str | None = None, limit: int = 10_000) -> list[JSON]:
    """Alert episodes that were open at some time in [t0, t1)."""
    sql = ("SELECT id, channel, device, rule, severity, message, opened, acked, acked_by, "
           "resolved, worst FROM alerts WHERE opened < ? AND (resolved IS NULL OR "
           "resolved >= ?)")
    params: list[Any] = [t1, t0]
    if channel:
        sql += " AND channel = ?" if "/" in channel else " AND device = ?"
        params.append(channel)
    return _rows(conn.execute(sql + " ORDER BY opened LIMIT ?", (*params, limit)))


def load_open_alerts(conn: sqlite3.Connection) -> list[JSON]:
    return _rows(conn.execute(
        "SELECT id, channel, device, rule, severity, message, opened, acked, acked_by, "
        "resolved, worst FROM alerts WHERE resolved IS NULL ORDER BY opened"))


def query_report(conn: sqlite3.Connection, t0: float, t1: float) -> JSON:
    """Per channel for [t0, t1): battery used, time on air, worst RF, alerts."""
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


def read(path: Path, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a query function on a fresh read-only connection (call in a worker thread)."""
    if not path.exists():
        raise FileNotFoundError(str(path))
    conn = connect(path, readonly=True)
    try:
        return fn(conn, *args, **kwargs)
    finally:
        conn.close()


# ------------------------------------------------------------------------ the part


class History:
    """The running history part of one daemon: writer, recorder and their loops."""

    PRUNE_FIRST_DELAY = 60.0

    def __init__(self, daemon: Daemon, path: Path) -> None:
        cfg = daemon.config.history
        self.daemon = daemon
        self.path = path
        self.writer = Writer(path, max_queue_rows=cfg.max_queue_rows)
        self.recorder = Recorder(daemon.store, self.writer, cfg)
        self._config = _config_view(daemon.config)
        self._tasks: list[asyncio.Task[None]] = []
        self.last_prune: dict[str, int] | None = None

    async def start(self) -> None:
        self.writer.start()
        await asyncio.to_thread(self.writer.ready.wait, 10.0)
        if self.writer.open_error is None:
            log.info("history_open", path=str(self.path))
        r = self.recorder
        self._tasks = [asyncio.create_task(r.run_buckets(), name="history-buckets"),
                       asyncio.create_task(r.run_flush(), name="history-flush"),
                       asyncio.create_task(self._prune_loop(), name="history-prune")]
        d = self.daemon
        d.audit_sinks.append(r.audit)
        d.metric_sources.append(self.metrics)
        d.on_reload.append(self.on_reload)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        r = self.recorder
        r.detach()
        r.close_buckets()  # the partial interval, so a clean stop loses nothing
        r.flush()
        if r.audit in self.daemon.audit_sinks:
            self.daemon.audit_sinks.remove(r.audit)
        await asyncio.to_thread(self.writer.close, 15.0)
        _PARTS.pop(self.daemon, None)

    async def sync(self) -> None:
        """Flush the recorder and wait for the writer (tests, clean handovers)."""
        self.recorder.flush()
        await self.writer.sync()

    async def query(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(read, self.path, fn, *args, **kwargs)

    def on_reload(self, new: Config) -> None:
        self.recorder.cfg = new.history
        self.recorder.set_interval(new.history.sample_interval_s)
        view = _config_view(new)
        before, after = config_changes(self._config, view)
        if before or after:
            self.daemon.audit("config", "config.apply", before, after)
        self._config = view

    async def prune_now(self, dry_run: bool = False) -> dict[str, int]:
        """Prune by the configured retention inside the writer thread (one chunk at a
        time, so queued rows are written between chunks)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, int]] = loop.create_future()
        cut, audit_cut = cutoffs(self.daemon.config.history, time.time())
        totals = {table: 0 for table, _, _ in _PRUNE}

        def finish(result: dict[str, int] | BaseException) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone
                loop.call_soon_threadsafe(_settle, fut, result)

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
                self.writer.call(job)  # queued rows are written before the next chunk

        self.writer.call(job)
        return await fut

    async def _prune_loop(self) -> None:
        await asyncio.sleep(self.PRUNE_FIRST_DELAY)
        while True:
            try:
                res = await self.prune_now()
            except Exception as exc:
                log.error("history_prune_failed", error=str(exc))
            else:
                self.last_prune = res
                log.info("history_pruned", **res)
            await asyncio.sleep(DAY)

    def metrics(self) -> list[tuple[str, str, str, float]]:
        st = self.writer.stats
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.stat(f"{self.path}{suffix}").st_size
        out: list[tuple[str, str, str, float]] = [
            ("history_rows_written_total", "counter", "Rows committed to the history database.",
             st.rows_written),
            ("history_batches_total", "counter", "History write transactions committed.",
             st.batches),
            ("history_write_errors_total", "counter",
             "History transactions that failed (retried, then dropped).", st.write_errors),
            ("history_queue_rows", "gauge", "Rows waiting for the history writer.",
             self.writer.queued_rows),
            ("history_rows_dropped_total", "counter",
             "History rows dropped (queue full or writes failing).", sum(st.dropped)),
        ]
        for table, n in zip(TABLES, st.dropped, strict=True):
            out.append((f"history_{table}_dropped_total", "counter",
                        f"{table} rows dropped by the history writer.", n))
        out += [
            ("history_audit_errors_total", "counter", "Audit records that could not be queued.",
             self.recorder.audit_errors),
            ("history_db_bytes", "gauge", "Size of the history database and its WAL.", size),
            ("history_database_up", "gauge", "1 when the history database is open.",
             0 if self.writer.open_error else 1),
        ]
        return out


def _config_view(cfg: Config) -> JSON:
    view: JSON = redact(cfg.model_dump(mode="json"))
    return view


#: list sections whose items have an identity: only changed items go into the audit
_ITEM_KEYS = {"devices": "id", "slots": "slot", "groups": "name"}


def config_changes(old: JSON, new: JSON) -> tuple[JSON, JSON]:
    """(before, after) of what changed between two config views: whole sections, or for
    devices/slots/groups the changed items only (``"devices[rx-1]"``)."""
    before: JSON = {}
    after: JSON = {}
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        ident = _ITEM_KEYS.get(k)
        if ident and isinstance(a, list) and isinstance(b, list):
            ia = {str(x.get(ident)): x for x in a if isinstance(x, dict)}
            ib = {str(x.get(ident)): x for x in b if isinstance(x, dict)}
            for i in sorted(set(ia) | set(ib)):
                if ia.get(i) != ib.get(i):
                    before[f"{k}[{i}]"] = ia.get(i)
                    after[f"{k}[{i}]"] = ib.get(i)
            if [str(x.get(ident)) for x in a if isinstance(x, dict)] != [
                    str(x.get(ident)) for x in b if isinstance(x, dict)]:
                before[f"{k}.order"] = list(ia)
                after[f"{k}.order"] = list(ib)
        else:
            before[k], after[k] = a, b
    return before, after


_PARTS: weakref.WeakKeyDictionary[Daemon, History] = weakref.WeakKeyDictionary()


def history_for(daemon: Daemon) -> History | None:
    """The running history part of ``daemon`` (None when disabled or not started)."""
    return _PARTS.get(daemon)


async def start(daemon: Daemon) -> Callable[[], Awaitable[None]] | None:
    cfg = daemon.config.history
    if not cfg.enabled:
        log.info("history_disabled")
        return None
    h = History(daemon, db_path(daemon.config, daemon.state_dir))
    _PARTS[daemon] = h
    await h.start()
    return h.stop


def add_routes(daemon: Daemon, app: web.Application) -> None:
    from micboardd.history_api import add_routes as add

    add(daemon, app)


# ----------------------------------------------------------------------------- CLI

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


def add_subcommands(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "prune", help="delete history older than a given age (see --dry-run)")
    p.add_argument("--config", "-c", help="configuration file (finds the database and "
                                          "the default retention)")
    p.add_argument("--db", help="history database file (instead of --config)")
    p.add_argument("--older-than", help="age such as 90d, 12h (default: "
                                        "history.retention_days)")
    p.add_argument("--dry-run", action="store_true", help="report what would go; delete "
                                                          "nothing")
    p.add_argument("--vacuum", action="store_true", help="give the space back to the disk "
                                                         "afterwards (locks the database)")
    p.set_defaults(func=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> int:
    from micboardd.config import EX_CONFIG, ConfigError, load_config

    cfg = Config()
    if args.config:
        try:
            cfg = load_config(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return EX_CONFIG
    path = Path(args.db) if args.db else db_path(cfg)
    if not path.exists():
        print(f"{path}: no history database", file=sys.stderr)
        return 1
    now = time.time()
    try:
        age = (parse_duration(args.older_than) if args.older_than
               else cfg.history.retention_days * DAY)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    cut = now - age
    audit_cut = now - max(age, cfg.history.audit_retention_days * DAY)
    conn = connect(path, busy_timeout_ms=30_000)
    try:
        migrate(conn)
        res = prune(conn, cut, audit_cut, dry_run=args.dry_run)
        if args.vacuum and not args.dry_run:
            conn.execute("VACUUM")
    except sqlite3.Error as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    verb = "would delete" if args.dry_run else "deleted"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cut))
    audit_stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(audit_cut))
    print(f"{path}: {verb} rows older than {stamp} (audit: older than {audit_stamp})")
    for table in ("samples", "events", "alerts", "audit"):
        print(f"  {table:8} {res.get(table, 0)}")
    print(f"  {'total':8} {sum(res.values())}")
    return 0


__all__ = [
    "History", "Recorder", "Writer", "add_routes", "add_subcommands", "history_for",
    "migrate", "open_db", "prune", "query_events", "query_history", "query_report", "start",
]
