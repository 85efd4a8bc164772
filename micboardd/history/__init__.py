"""History: channel samples, events, alert episodes and the audit trail in one SQLite file.

The live path never waits for the disk::

    Store patch (event loop) --> Recorder (recorder.py): O(changed fields) per patch;
        per-channel accumulators (samples.py) downsample meters into one row per
        ``sample_interval_s``; transitions become event rows
    every ``flush_interval_s`` --> one batch --> Writer (writer.py): bounded queue, ONE
        thread, one transaction per batch (WAL, synchronous=NORMAL) --> history.db

What does not fit in the queue is dropped and counted (``/metrics``) and logged, never
waited for. A commit is durable against a process crash once it returns, so ``kill -9``
loses what was not yet handed to the writer: about one flush interval.

Every insert is idempotent (rows.py): samples are keyed by (channel, ts), events and
audit rows by a UNIQUE (ts, channel/who, kind/action, hash of the detail) index with
INSERT OR IGNORE, alert episodes by their id. Replaying a batch, or a restart that
repeats one, never duplicates a row. The schema is schema.py; reading back is
queries.py and report.py (in worker threads, each on its own read connection); the HTTP
side is api.py; retention is retention.py; the part's lifecycle is part.py.
"""

from micboardd.history.config_audit import config_changes, redact
from micboardd.history.part import HistoryPart
from micboardd.history.queries import (
    choose_step,
    query_alerts,
    query_audit,
    query_events,
    query_history,
    read,
    resolve_metrics,
)
from micboardd.history.recorder import Recorder
from micboardd.history.report import query_report
from micboardd.history.retention import parse_duration, prune
from micboardd.history.rows import MAX_AUDIT_BYTES, T_ALERT, T_AUDIT, T_EVENT, T_SAMPLE
from micboardd.history.schema import connect, migrate, open_db
from micboardd.history.writer import Writer

__all__ = [
    "MAX_AUDIT_BYTES", "T_ALERT", "T_AUDIT", "T_EVENT", "T_SAMPLE", "HistoryPart", "Recorder",
    "Writer", "choose_step", "config_changes", "connect", "migrate", "open_db",
    "parse_duration", "prune", "query_alerts", "query_audit", "query_events",
    "query_history", "query_report", "read", "redact", "resolve_metrics",
]
