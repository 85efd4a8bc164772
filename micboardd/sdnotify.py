"""systemd notifications (sd_notify) without libsystemd: READY, STATUS and WATCHDOG.

The watchdog is petted from a task on the event loop at half the interval systemd asks
for, so a stalled loop stops the petting and systemd restarts the service.
"""

from __future__ import annotations

import asyncio
import os
import socket

_task: asyncio.Task[None] | None = None


def notify(message: str) -> bool:
    """Send one notification; False when not running under systemd (no NOTIFY_SOCKET)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.connect(addr)
            s.sendall(message.encode())
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000
    except ValueError:
        return None


async def _pet(interval: float) -> None:
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval / 2)


def start_watchdog() -> None:
    """Tell systemd we are ready and, if it asks for one, keep its watchdog fed."""
    global _task
    notify("READY=1\nSTATUS=monitoring receivers")
    interval = watchdog_interval()
    if interval and _task is None:
        _task = asyncio.get_running_loop().create_task(_pet(interval), name="watchdog")
