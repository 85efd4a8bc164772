"""Helpers shared by the venue benchmark (bench/venue.py) and its child processes
(bench/_fleet.py, bench/_wsclients.py, bench/floor.py).

Everything here is plain standard library so a child process starts fast.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import time
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")

#: --families short name -> (driver id, models biggest first, with their channel counts)
FAMILIES: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {
    "ulxd": ("shure-ulxd", (("ULXD4Q", 4), ("ULXD4D", 2), ("ULXD4", 1))),
    "axient": ("shure-axient", (("AD4Q", 4), ("AD4D", 2))),
    "slxd": ("shure-slxd", (("SLXD4D", 2), ("SLXD4", 1))),
    "qlxd": ("shure-qlxd", (("QLXD4", 1),)),
    "uhfr": ("shure-uhfr", (("UR4D", 2), ("UR4S", 1))),
    "psm1000": ("shure-psm1000", (("P10T", 2),)),
}

#: SIMCTL property and value format of a battery step, per driver (None: no battery)
BATTERY_PROP: dict[str, tuple[str, str] | None] = {
    "shure-ulxd": ("BATT_BARS", "{:03d}"),
    "shure-qlxd": ("BATT_BARS", "{:03d}"),
    "shure-axient": ("TX_BATT_BARS", "{:03d}"),
    "shure-slxd": ("TX_BATT_BARS", "{:03d}"),
    "shure-uhfr": ("TX_BAT", "{:d}"),
    "shure-psm1000": None,
}
UDP_DRIVERS = frozenset({"shure-uhfr"})


# -- configuration --------------------------------------------------------------------


def fleet_devices(channels: int, families: list[str], *, net: int = 100,
                  meter_rate_ms: int = 100) -> list[dict[str, Any]]:
    """Devices for ``channels`` channels, families taken in turn, each device with as
    many channels as its family allows (the last ones smaller to land exactly on
    ``channels``). Device ``i`` listens on 127.0.<net + i // 250>.<1 + i % 250>:2202."""
    out: list[dict[str, Any]] = []
    used = 0
    fam_i = 0
    while used < channels:
        left = channels - used
        for _ in range(len(families)):
            driver, models = FAMILIES[families[fam_i % len(families)]]
            fam_i += 1
            fit = [(m, n) for m, n in models if n <= left]
            if fit:
                break
        else:
            raise ValueError(f"cannot make {left} more channels from {families}")
        model, n = fit[0]
        i = len(out)
        if net + i // 250 > 255:
            raise ValueError("too many devices for the 127.0.x.y address plan")
        names = [f"C{used + k + 1:05d}" for k in range(n)]
        out.append({
            "id": f"rx-{i + 1:04d}",
            "driver": driver,
            "host": f"127.0.{net + i // 250}.{1 + i % 250}",
            "port": 2202,
            "model": model,
            "meter_rate_ms": meter_rate_ms,
            "simulate": {"model": model, "names": names, "seed": i + 1},
        })
        used += n
    return out


def pick_net(n_devices: int, seed: int | None = None, port: int = 2202) -> int:
    """A third octet ``net`` such that 127.0.<net + i // 250>.<1 + i % 250>:port is free
    (TCP and UDP) for every device: two benchmarks (or the smoke test in someone's test
    run) on one machine do not collide."""
    import random
    import socket

    need = (n_devices + 249) // 250
    bases = list(range(10, 256 - need + 1))
    random.Random(seed).shuffle(bases)
    for base in bases:
        ok = True
        for i in range(n_devices):
            host = f"127.0.{base + i // 250}.{1 + i % 250}"
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind((host, port))
                    except OSError:
                        ok = False
                        break
            if not ok:
                break
        if ok:
            return base
    raise OSError(f"no free block of 127.0.x.y:{port} addresses for {n_devices} receivers")


# -- /proc ----------------------------------------------------------------------------


def proc_cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads), in seconds."""
    data = Path(f"/proc/{pid}/stat").read_bytes()
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    return sum(proc_cpu_split(pid))


def proc_status_kb(pid: int, key: str) -> int | None:
    """A ``kB`` line of /proc/<pid>/status (VmHWM, VmRSS), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine spent busy (all cores; /proc/stat minus idle and
    iowait), and how much of that was interrupts (loopback traffic is mostly softirq,
    which no process is charged for)."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(vals[:8]) - vals[3] - vals[4]) / CLK_TCK, (vals[5] + vals[6]) / CLK_TCK


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        import uvloop

        loop = f"uvloop {uvloop.__version__}"
    except ImportError:
        loop = "asyncio"
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "loop": loop,
        "kernel": platform.release(),
        "memory_mb": _mem_total_mb(),
    }


def _mem_total_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


# -- counters between processes -------------------------------------------------------


class CounterFile:
    """A child's running total, published as ``<time.time()> <count>`` in a small file
    rewritten in place (one pwrite) a few times a second; the parent reads it whenever it
    likes and gets the exact time the count was taken."""

    WIDTH = 48

    def __init__(self, path: str | Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)

    def publish(self, count: int, extra: int = 0) -> None:
        line = f"{time.time():.6f} {count} {extra}".ljust(self.WIDTH - 1) + "\n"
        os.pwrite(self.fd, line.encode(), 0)


def read_counter(path: str | Path) -> tuple[float, int, int] | None:
    for _ in range(5):
        try:
            parts = Path(path).read_text().split()
            return float(parts[0]), int(parts[1]), int(parts[2])
        except (OSError, ValueError, IndexError):
            time.sleep(0.01)
    return None


def counter_now(path: str | Path) -> tuple[float, int, int] | None:
    """The counter as of now: waits for a fresh publication (at most 0.5 s)."""
    t0 = time.time()
    deadline = t0 + 0.5
    last = read_counter(path)
    while time.time() < deadline:
        last = read_counter(path)
        if last is not None and last[0] >= t0:
            return last
        time.sleep(0.02)
    return last


def use_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    import asyncio

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def preexec_child() -> None:
    """Popen preexec_fn: a new session (so the whole group can be killed) and SIGTERM
    when the benchmark dies, even from SIGKILL (Linux prctl PR_SET_PDEATHSIG; spawn from
    the main thread only: the signal follows the spawning thread)."""
    os.setsid()
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
