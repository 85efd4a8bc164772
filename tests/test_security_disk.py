"""A full disk is loud and recoverable (issue #16), on a real 2 MiB tmpfs: /healthz says
degraded and why, an alert is raised on the board, live monitoring goes on, commands
are refused while their audit row cannot be written (and otherwise answered only once
it is), rows are kept and written when space returns, and the WAL is truncated."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from daemonkit import make_config, mirror, running_daemon, wait_for

from micboardd.drivers.shure_ulxd import ULXDSimulator
from micboardd.history import storage


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (it needs root, as in CI): "
                    f"{(r.stderr or r.stdout).strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(directory: Path) -> Path:
    """Take every free byte of the file system."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


async def until(pred: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until an async condition holds (polled)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_disk_full_is_loud_and_recoverable(small_disk, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(storage, "HOLD_DELAYS", (0.2,))
    sim = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", frozen=True).start()
    cfg = make_config([{"id": "rx", "driver": "shure-ulxd", "host": sim.host,
                        "port": sim.port}], state_dir=str(small_disk),
                      history={"sample_interval_s": 1, "flush_interval_s": 0.1})
    db = small_disk / "history.db"
    try:
        async with running_daemon(cfg) as d, aiohttp.ClientSession() as s, mirror(d) as m:
            base = f"http://127.0.0.1:{d.http_port}"
            w = d.history.writer
            await wait_for(lambda: d.links["rx"].state == "online" and w.stats.rows_written)

            async def command(value: bool) -> tuple[int, dict]:
                async with s.post(f"{base}/api/channels/rx/1/command",
                                  json={"kind": "mute", "value": value}) as r:
                    return r.status, await r.json()

            async def health() -> dict:
                async with s.get(f"{base}/healthz") as r:
                    assert r.status == 200
                    return await r.json()

            # healthy: the audit row is in the database when the answer comes
            status, body = await command(True)
            assert status == 200 and "audit" not in body
            assert rows(db, "SELECT who, action FROM audit") == [("loopback", "command.mute")]

            # the disk fills up: the next sample batch fails
            filler = fill(small_disk)
            h: dict = {}

            async def degraded() -> bool:
                h.update(await health())
                return h["status"] == "degraded"

            await until(degraded)
            assert "disk full" in h["problems"][0]
            await wait_for(lambda: any(a.get("rule") == "history_storage" for a in
                                       m.state.get("alerts", {}).values()))
            alert = next(a for a in m.state["alerts"].values()
                         if a["rule"] == "history_storage")
            assert alert["severity"] == "critical" and "disk full" in alert["message"]

            # commands are refused before they reach the receiver
            sent = list(sim.commands_seen)
            status, body = await command(False)
            assert status == 503 and "audit trail" in body["error"]
            assert [c for c in sim.commands_seen[len(sent):] if "AUDIO_MUTE" in c] == []
            assert d.store.channels["rx/1"]["audio"]["muted"] is True

            # live monitoring goes on; what happens is kept for later
            sim.set_tx(2, False)
            await wait_for(lambda: m.channel("rx/2").get("tx", {}).get("present") is False)
            async with s.post(f"{base}/api/alerts/{alert['id']}/ack",
                              json={"note": "freeing space"}) as r:
                assert r.status == 200  # acknowledging is still possible, and audited
            await wait_for(lambda: w.queued_rows > 0)
            wal_full = os.stat(f"{db}-wal").st_size

            # space comes back: everything kept is written, the WAL is truncated
            filler.unlink()
            await wait_for(lambda: w.problem is None, timeout=10)
            await wait_for(lambda: not w.storage.checkpoint_due and w.queued_rows == 0, timeout=10)
            assert (await health())["status"] == "ok"
            await wait_for(lambda: any(a.get("rule") == "history_storage" and
                                       a["state"] == "resolved"
                                       for a in m.state.get("alerts", {}).values()))
            assert os.stat(f"{db}-wal").st_size < wal_full
            assert sum(w.stats.dropped) == 0
            actions = [r[0] for r in rows(db, "SELECT action FROM audit ORDER BY id")]
            assert actions == ["command.mute", "alert.ack"]
            assert rows(db, "SELECT count(*) FROM events WHERE kind = 'tx_off' "
                            "AND channel = 'rx/2'") == [(1,)]
            status, body = await command(False)
            assert status == 200 and "audit" not in body
    finally:
        await sim.stop()



def test_row_errors_are_not_storage_errors(tmp_path: Path) -> None:
    """A row SQLite refuses is the row's fault: dropped and counted, never held."""
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (a INTEGER NOT NULL)")
    with pytest.raises(sqlite3.IntegrityError) as exc:
        conn.execute("INSERT INTO t VALUES (NULL)")
    conn.close()
    assert storage.storage_problem(exc.value) is None
