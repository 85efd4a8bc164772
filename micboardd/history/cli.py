"""``micboardd prune``: delete history older than an age, from the command line."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from micboardd.config import (
    EX_CONFIG,
    Config,
    ConfigError,
    load_config,
    parse_config,
    state_dir_of,
)
from micboardd.history.retention import DAY, parse_duration, prune
from micboardd.history.schema import connect, db_path, migrate

EX_NOINPUT = 66  # sysexits.h: no history database where it was looked for
EX_IOERR = 74  # sysexits.h: the database could not be read or written


def add_prune_command(
        command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """``command(name, help)`` makes the subcommand's parser (the command line's)."""
    p = command("prune", "delete history older than a given age (see --dry-run)")
    p.add_argument("--config", "-c", metavar="FILE",
                   help="the daemon's configuration: the database is found as the daemon "
                        "finds it (state_dir, $STATE_DIRECTORY, history.path) and its "
                        "retention is the default age (default: none, only the "
                        "environment's MICBOARDD_* values and the defaults)")
    p.add_argument("--db", metavar="FILE",
                   help="the history database file itself (default: found from --config)")
    p.add_argument("--older-than", metavar="AGE",
                   help="delete rows older than this, e.g. 90d, 12h (default: "
                        "history.retention_days; the audit trail keeps "
                        "history.audit_retention_days if longer)")
    p.add_argument("--dry-run", action="store_true",
                   help="report what would go; delete nothing")
    p.add_argument("--vacuum", action="store_true",
                   help="give the space back to the disk afterwards (locks the database)")
    p.set_defaults(func=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> int:
    try:
        cfg = (load_config(args.config) if args.config
               else parse_config(b"{}", "the environment", os.environ))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    path = Path(args.db) if args.db else db_path(cfg)
    if not path.exists():
        print(f"{path}: no history database ({_where(args, cfg)})", file=sys.stderr)
        return EX_NOINPUT
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
        return EX_IOERR
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


def _where(args: argparse.Namespace, cfg: Config) -> str:
    """Where the database was looked for, the way the daemon finds it."""
    if args.db:
        return "given with --db"
    state_dir, why = state_dir_of(cfg)
    name = f"history.path {cfg.history.path!r}" if cfg.history.path else "history.db"
    source = f"the configuration {args.config}" if args.config else "no configuration (-c)"
    return (f"looked for {name} in {state_dir}, {why}, as the daemon would with "
            f"{source}; --db FILE names the file itself")
