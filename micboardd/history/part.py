"""The history part: writer, recorder and their loops for one daemon, built by the daemon
when the configuration has ``history.enabled`` (the default)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import structlog

from micboardd.audit import AuditTrail
from micboardd.config import Config
from micboardd.history.api import HistoryApi
from micboardd.history.config_audit import config_changes, config_view
from micboardd.history.journal import AlertJournal
from micboardd.history.queries import Reader
from micboardd.history.recorder import Recorder
from micboardd.history.retention import DAY, prune_in_writer
from micboardd.history.rows import TABLES
from micboardd.history.schema import db_path
from micboardd.history.storage import free_bytes
from micboardd.history.writer import Writer
from micboardd.server import Endpoint, Metric
from micboardd.state import Store

log = structlog.get_logger("micboardd.history")


class HistoryPart:
    """Samples, events, alert episodes and the audit trail in one SQLite file."""

    name = "history"
    PRUNE_FIRST_DELAY = 60.0

    def __init__(self, store: Store, config: Config, state_dir: Path,
                 audit: AuditTrail) -> None:
        self.enabled = config.history.enabled
        self.path = db_path(config, state_dir)
        self.config = config
        self.audit = audit
        self.writer = Writer(self.path, max_queue_rows=config.history.max_queue_rows)
        self.recorder = Recorder(store, self.writer, config.history) if self.enabled else None
        self.reader = Reader(self.path)
        self.api = HistoryApi(self.reader if self.enabled else None, store,
                              lambda: self.recorder.interval if self.recorder else 0.0)
        self._view = config_view(config)
        self._tasks: list[asyncio.Task[None]] = []
        self.last_prune: dict[str, int] | None = None

    def endpoints(self) -> list[Endpoint]:
        return self.api.endpoints()

    def alert_journal(self) -> AlertJournal | None:
        """Where the alert engine keeps its episodes (None while history is off)."""
        return AlertJournal(self.recorder, self.reader) if self.recorder else None

    async def start(self) -> None:
        r = self.recorder
        if r is None:
            log.info("history_disabled")
            return
        self.writer.start()
        await asyncio.to_thread(self.writer.ready.wait, 10.0)
        if self.writer.open_error is None:
            log.info("history_open", path=str(self.path))
        self._tasks = [asyncio.create_task(r.run_buckets(), name="history-buckets"),
                       asyncio.create_task(r.run_flush(), name="history-flush"),
                       asyncio.create_task(r.run_meters(), name="history-meters"),
                       asyncio.create_task(self._prune_loop(), name="history-prune")]
        self.audit.sinks.append(r.audit)
        self.audit.checks.append(self.problem)
        self.audit.syncs.append(self.sync)

    async def stop(self) -> None:
        r = self.recorder
        if r is None:
            return
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        r.detach()
        r.close_buckets()  # the partial interval, so a clean stop loses nothing
        r.flush()
        if r.audit in self.audit.sinks:
            self.audit.sinks.remove(r.audit)
        if self.problem in self.audit.checks:
            self.audit.checks.remove(self.problem)
        if self.sync in self.audit.syncs:
            self.audit.syncs.remove(self.sync)
        await asyncio.to_thread(self.writer.close, 15.0)

    def problem(self) -> str | None:
        """Why history (and with it the audit trail) cannot be written now, or None."""
        if self.recorder is None:
            return None
        w = self.writer
        if w.problem is not None:
            return f"history database: {w.problem}"
        if w.open_error is not None:
            return f"history database cannot be opened: {w.open_error}"
        return None

    async def sync(self) -> None:
        """Flush the recorder and wait for the writer (tests, clean handovers)."""
        if self.recorder is not None:
            self.recorder.flush()
            await self.writer.sync()

    def reconfigure(self, new: Config) -> None:
        self.config = new
        if self.recorder is None:
            return
        self.recorder.cfg = new.history
        self.recorder.set_interval(new.history.sample_interval_s)
        view = config_view(new)
        before, after = config_changes(self._view, view)
        if before or after:
            self.audit.record("config", "config.apply", before, after)
        self._view = view

    async def prune_now(self, dry_run: bool = False) -> dict[str, int]:
        return await prune_in_writer(self.writer, self.config.history, dry_run)

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

    def metrics(self) -> list[Metric]:
        if self.recorder is None:
            return []
        st = self.writer.stats
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.stat(f"{self.path}{suffix}").st_size
        out: list[Metric] = [
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
            ("history_degraded", "gauge",
             "1 while history rows cannot be written (disk full, I/O error, no database).",
             1 if self.problem() else 0),
            ("history_disk_free_bytes", "gauge",
             "Free space on the history database's file system.",
             free_bytes(self.path) or 0),
        ]
        return out
