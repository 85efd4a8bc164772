"""Who may change things.

Reading is open (the dashboard is a monitor). Every request that changes something needs
a bearer token listed in ``http.tokens`` with the ``operator`` role; with no token
configured, only loopback clients may write. ``http.monitor_only`` refuses every write.
(Which *pages* may write at all is :mod:`.origin`.) Tokens are never logged.

A token is checked against the configured scrypt hashes once per process (in a worker
thread: about 40 ms per configured token); after that an HMAC of it under a key made at
start finds its principal in one lookup. Unknown tokens go through the guessing
throttle (:mod:`.throttle`) first.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass

from aiohttp import web

from micboardd.config import HttpConfig, TokenConfig
from micboardd.server.peers import Sometimes, is_loopback, peer_key
from micboardd.server.throttle import Throttle
from micboardd.server.tokens import hash_token, verify_legacy_sha256, verify_token_hash

__all__ = ["GUARD", "AuthError", "Guard", "Principal", "authorize", "hash_token",
           "is_loopback"]

ROLES = {"viewer": 0, "operator": 1}
MAX_CACHED = 256
#: scrypt checks at once (each takes a core and 16 MiB for ~40 ms)
PARALLEL_CHECKS = 2


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str


class AuthError(Exception):
    def __init__(self, status: int, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


def _matches(token: str, entry: TokenConfig) -> bool:
    if entry.hash is not None:
        return verify_token_hash(token, entry.hash.get_secret_value())
    assert entry.sha256 is not None
    return verify_legacy_sha256(token, entry.sha256.get_secret_value())


class Guard:
    """Decides who may write; ``request.app[GUARD]``."""

    def __init__(self, cfg: HttpConfig, throttle: Throttle | None = None) -> None:
        self._cfg = cfg
        self.throttle = throttle or Throttle()
        self._key = secrets.token_bytes(32)
        self._known: dict[bytes, Principal] = {}
        self._checks = asyncio.Semaphore(PARALLEL_CHECKS)
        self.failed_total = 0
        #: when a refused write is logged (once per 10 s per address and status)
        self.refusals = Sometimes(10.0)

    @property
    def cfg(self) -> HttpConfig:
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: HttpConfig) -> None:
        if cfg.tokens != self._cfg.tokens:
            self._known.clear()  # a removed token must stop working at once
        self._cfg = cfg

    def _mac(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode(), hashlib.sha256).digest()

    def known(self, token: str) -> Principal | None:
        """The principal of a token already found valid in this process."""
        return self._known.get(self._mac(token))

    async def verify(self, token: str) -> Principal | None:
        """Check ``token`` against every configured hash (all of them, so the time does
        not tell which matched), off the event loop; remembered when valid."""
        entries = list(self._cfg.tokens)

        def check() -> Principal | None:
            found: Principal | None = None
            for t in entries:
                if _matches(token, t):
                    found = Principal(t.name, t.role)
            return found

        async with self._checks:
            principal = await asyncio.to_thread(check)
        if principal is not None and entries == list(self._cfg.tokens):
            if len(self._known) >= MAX_CACHED:
                self._known.clear()
            self._known[self._mac(token)] = principal
        return principal

    async def identify(self, token: str, peer: str | None) -> Principal | None:
        """The token's principal; None when it is wrong; AuthError(429) while this
        address has guessed too often."""
        principal = self.known(token)
        if principal is not None:
            return principal
        key = peer_key(peer)
        wait = self.throttle.attempt(key)
        if wait > 0:
            raise AuthError(429, f"too many wrong tokens from this address; try again in "
                                 f"{math.ceil(wait)} s", retry_after=wait)
        principal = await self.verify(token)
        if principal is None:
            self.failed_total += 1
        else:
            self.throttle.succeeded(key)
        return principal

    async def check_write(self, authorization: str | None, peer: str | None,
                          need: str = "operator") -> Principal:
        """Raise AuthError (401/403/429) unless this request may write."""
        cfg = self._cfg
        if cfg.monitor_only:
            raise AuthError(403, "this daemon is in monitor (read-only) mode")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise AuthError(401, "a bearer token is required")
            principal = await self.identify(token, peer)
            if principal is None:
                raise AuthError(401, "invalid token")
            if ROLES[principal.role] < ROLES[need]:
                raise AuthError(403, f"token {principal.name!r} has role {principal.role}, "
                                     f"this needs {need}")
            return principal
        if not cfg.tokens and is_loopback(peer):
            return Principal("loopback", "operator")
        if not cfg.tokens:
            raise AuthError(403, "no write token is configured: only loopback clients may "
                                 "write")
        raise AuthError(401, "a bearer token is required")


GUARD: web.AppKey[Guard] = web.AppKey("guard", Guard)


async def authorize(request: web.Request, need: str = "operator") -> Principal:
    """The principal making this request; AuthError (401/403/429) when it may not write."""
    return await request.app[GUARD].check_write(request.headers.get("Authorization"),
                                                request.remote, need)
