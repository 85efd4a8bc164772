"""Peer addresses as the limits and the guessing throttle count them."""

from __future__ import annotations

import ipaddress
import time


def ip_of(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, with an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as IPv4 and
    a zone (``fe80::1%eth0``) dropped; None for anything that is not an address."""
    if not host:
        return None
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback(host: str | None) -> bool:
    ip = ip_of(host)
    if ip is None:
        return host == "localhost"
    return ip.is_loopback


def peer_key(host: str | None) -> str:
    """Who is counted as one peer: an IPv4 address, or an IPv6 /64 (one machine can hold a
    whole /64, and hand itself a new address for every connection)."""
    ip = ip_of(host)
    if ip is None:
        return host or "?"
    if isinstance(ip, ipaddress.IPv6Address) and not ip.is_loopback:
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class Sometimes:
    """When a log line about ``key`` is due: at most once per ``every`` seconds per key,
    so that one peer cannot flood the log. The lines left out are counted."""

    def __init__(self, every: float, max_keys: int = 1000) -> None:
        self.every = every
        self.max_keys = max_keys
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def due(self, key: str) -> int | None:
        """None when not due; else how many lines about ``key`` were left out since."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return None
        if len(self._last) >= self.max_keys and key not in self._last:
            oldest = next(iter(self._last))
            self._last.pop(oldest)
            self._skipped.pop(oldest, None)
        self._last.pop(key, None)
        self._last[key] = now
        return self._skipped.pop(key, 0)
