"""Slowing down token guessers: per peer address (an IPv4 address or an IPv6 /64), over
HTTP and the websocket together.

Every token the daemon has to check counts as an attempt *before* it is checked, so
parallel connections gain nothing: the first :data:`FREE` attempts go through, then each
one blocks the address for 2, 4, 8 and 16 s, and the next locks it out for
:data:`LOCKOUT_S`. While blocked, a token is not even looked at (429 with Retry-After).
That is at most 8 guesses in any minute and 1 per lock-out window after that. A correct
token resets the count; a token already seen valid in this process skips all of it (a
guesser has none). One line is logged when an address is locked out, once per window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("micboardd.http")

FREE = 3
DELAYS = (2.0, 4.0, 8.0, 16.0)
LOCKOUT_S = 300.0
#: an address that has not tried anything for this long starts again from zero
FORGET_S = 900.0
MAX_PEERS = 10_000


@dataclass(slots=True)
class _Peer:
    attempts: int = 0
    blocked_until: float = 0.0
    last: float = 0.0


@dataclass(slots=True)
class ThrottleStats:
    attempts: int = 0
    refused: int = 0
    lockouts: int = 0


class Throttle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.stats = ThrottleStats()
        self._peers: dict[str, _Peer] = {}

    def attempt(self, key: str) -> float:
        """Before checking a token from ``key``: 0 when it may be checked (the attempt is
        counted as failed until :meth:`succeeded` says otherwise), else the seconds to
        wait."""
        now = self.clock()
        p = self._peers.get(key)
        if p is not None and now - max(p.last, p.blocked_until) > FORGET_S:
            p = None
            del self._peers[key]
        if p is None:
            self._make_room(now)
            p = self._peers[key] = _Peer()
        if now < p.blocked_until:
            self.stats.refused += 1
            return p.blocked_until - now
        p.attempts += 1
        p.last = now
        self.stats.attempts += 1
        extra = p.attempts - FREE
        if extra > len(DELAYS):
            p.blocked_until = now + LOCKOUT_S
            self.stats.lockouts += 1
            log.warning("auth_lockout", peer=key, attempts=p.attempts, lockout_s=LOCKOUT_S,
                        reason="too many wrong tokens from this address")
        elif extra > 0:
            p.blocked_until = now + DELAYS[extra - 1]
        return 0.0

    def succeeded(self, key: str) -> None:
        self._peers.pop(key, None)

    def _make_room(self, now: float) -> None:
        if len(self._peers) < MAX_PEERS:
            return
        for k in [k for k, p in self._peers.items()
                  if now - max(p.last, p.blocked_until) > FORGET_S]:
            del self._peers[k]
        while len(self._peers) >= MAX_PEERS:  # a spray of addresses: forget the oldest
            self._peers.pop(next(iter(self._peers)))
