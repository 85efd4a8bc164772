"""Who may change things.

Reading is open (the dashboard is a monitor). Every request that changes something needs
a bearer token whose SHA-256 is in ``http.tokens`` with the ``operator`` role; with no
token configured, only loopback clients may write. ``http.monitor_only`` refuses every
write. Failed attempts from one address are slowed down. Tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass

from aiohttp import web

from micboardd.config import HttpConfig

ROLES = {"viewer": 0, "operator": 1}
FAIL_WINDOW_S = 60.0
FAIL_FREE = 5  # failures per window before we start delaying
MAX_DELAY_S = 5.0


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str


class AuthError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Guard:
    """Decides who may write; ``request.app[GUARD]``."""

    def __init__(self, cfg: HttpConfig) -> None:
        self.cfg = cfg
        self._failures: dict[str, list[float]] = {}
        self.failed_total = 0

    def identify(self, authorization: str | None) -> Principal | None:
        """The token's principal, or None without a (valid) token."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        found: Principal | None = None
        for t in self.cfg.tokens:  # compare with every entry: time does not tell which
            if hmac.compare_digest(digest, t.sha256):
                found = Principal(t.name, t.role)
        return found

    def check_write(self, authorization: str | None, peer: str | None,
                    need: str = "operator") -> Principal:
        """Raise AuthError (401/403) unless this request may write."""
        if self.cfg.monitor_only:
            raise AuthError(403, "this daemon is in monitor (read-only) mode")
        principal = self.identify(authorization)
        if principal is not None:
            if ROLES[principal.role] < ROLES[need]:
                raise AuthError(403, f"token {principal.name!r} has role {principal.role}, "
                                     f"this needs {need}")
            return principal
        if authorization:
            self.record_failure(peer)
            raise AuthError(401, "invalid token")
        if not self.cfg.tokens and is_loopback(peer):
            return Principal("loopback", "operator")
        if not self.cfg.tokens:
            raise AuthError(403, "no write token is configured: only loopback clients may "
                                 "write")
        raise AuthError(401, "a bearer token is required")

    # -- slowing down guessers ----------------------------------------------------------

    def record_failure(self, peer: str | None) -> None:
        self.failed_total += 1
        key = peer or "?"
        now = time.monotonic()
        times = [t for t in self._failures.get(key, []) if now - t < FAIL_WINDOW_S]
        times.append(now)
        self._failures[key] = times[-50:]
        if len(self._failures) > 10000:  # bounded memory under a spray of addresses
            self._failures.pop(next(iter(self._failures)))

    def delay_for(self, peer: str | None) -> float:
        """Seconds to wait before answering this peer (0 for well-behaved ones)."""
        now = time.monotonic()
        times = [t for t in self._failures.get(peer or "?", []) if now - t < FAIL_WINDOW_S]
        extra = len(times) - FAIL_FREE
        return 0.0 if extra <= 0 else min(MAX_DELAY_S, 0.25 * 2 ** min(extra, 5))


GUARD: web.AppKey[Guard] = web.AppKey("guard", Guard)


def authorize(request: web.Request, need: str = "operator") -> Principal:
    """The principal making this request; AuthError (401/403) when it may not write."""
    return request.app[GUARD].check_write(request.headers.get("Authorization"),
                                          request.remote, need)


def hash_token(token: str) -> str:
    """What goes in ``http.tokens[].sha256`` for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"
