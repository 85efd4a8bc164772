"""Which names the daemon answers to and which pages may change things (docs/security.md).

* **Host** (every request): an IP address, a loopback name, this machine's hostname,
  ``http.hosts`` and the hosts of ``http.origins``. Anything else is a DNS-rebinding
  attempt (a name the attacker controls, pointed at this daemon) and is refused with
  400 before routing, reads included.
* **Origin** (every write and the ``/ws`` handshake): the daemon's own origin (the
  ``Host`` the request was sent to; ``localhost`` and ``127.0.0.1`` on the same port
  count as one) or one listed in ``http.origins``, whatever the peer address. A request
  without ``Origin`` is not from a page (browsers send it on every write) unless
  ``Sec-Fetch-Site`` says it is cross-site.
* **Content-Type** (every write with a body): ``application/json``; a cross-site form
  or a ``no-cors`` fetch can only send ``text/plain``, forms or multipart. One route
  takes another type, and only that one: the photo upload (``POST /api/photos``,
  ``multipart/form-data``, its ``Endpoint.body_type``). A cross-site form could send
  that type, so there the Origin check above (and the token) are what refuse it.

A malformed ``Host`` or ``Origin`` is a 400, never an error of the server.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from micboardd.config import HttpConfig
from micboardd.server.endpoints import Handler, body_type_of
from micboardd.server.peers import Sometimes, ip_of, is_loopback
from micboardd.server.responses import error

log = structlog.get_logger("micboardd.http")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
_DEFAULT_PORT = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Origin = tuple[str, str, int]  # scheme, host, port


class BadHeader(ValueError):
    """A Host or Origin header that is not well formed: answered 400."""


def split_host(value: str) -> tuple[str, int | None]:
    """``Host`` as (lowercase name or address without brackets, port or None)."""
    if not value or len(value) > 300 or any(c in value for c in "/\\@?# \t,"):
        raise BadHeader("malformed Host header")
    try:
        parts = urlsplit("//" + value)
        port = parts.port
    except ValueError:
        raise BadHeader("malformed Host header") from None
    host = (parts.hostname or "").rstrip(".")
    if not host or not (_NAME.match(host) or ip_of(host) is not None):
        raise BadHeader("malformed Host header")
    return host, port


def split_origin(value: str) -> Origin | None:
    """``Origin`` as (scheme, host, port); None for ``null`` (a sandboxed or file page)."""
    if value.strip() == "null":
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise BadHeader("malformed Origin header") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host or parts.path not in ("", "/") or parts.query or parts.username:
        raise BadHeader("malformed Origin header")
    if not (_NAME.match(host) or ip_of(host) is not None):
        raise BadHeader("malformed Origin header")
    return scheme, host, port if port is not None else _DEFAULT_PORT.get(scheme, 0)


def _loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost") or is_loopback(host)


def machine_names() -> set[str]:
    """This machine's own names: its hostname, the short form and the mDNS ``.local``."""
    name = socket.gethostname().lower().rstrip(".")
    short = name.split(".")[0]
    return {n for n in (name, short, f"{short}.local") if n}


@dataclass(slots=True)
class GateStats:
    bad_host: int = 0
    bad_origin: int = 0
    bad_content_type: int = 0


class Gatekeeper:
    """The checks above for one configuration; ``request.app[GATE]``."""

    def __init__(self, cfg: HttpConfig) -> None:
        self.stats = GateStats()
        self._log = Sometimes(10.0)
        self.configure(cfg)

    def configure(self, cfg: HttpConfig) -> None:
        self.any_host = "*" in cfg.hosts
        self.any_origin = "*" in cfg.origins
        self.origins: set[Origin] = set()
        names = {"localhost"} | machine_names() | {h.lower().rstrip(".") for h in cfg.hosts}
        for o in cfg.origins:
            if o == "*":
                continue
            parsed = split_origin(o)
            if parsed is not None:
                self.origins.add(parsed)
                names.add(parsed[1])
        if ip_of(cfg.host) is None and cfg.host:
            names.add(cfg.host.lower().rstrip("."))
        self.names = frozenset(names)

    def host_allowed(self, host: str) -> bool:
        # an address cannot be rebound: a page at http://10.0.0.5:8058/ is this daemon
        return (self.any_host or host in self.names or _loopback_name(host)
                or ip_of(host) is not None)

    def origin_allowed(self, request: web.Request) -> bool:
        """Whether the page that sent ``request`` may write (BadHeader when malformed)."""
        raw = request.headers.get("Origin")
        if raw is None:
            return request.headers.get("Sec-Fetch-Site", "none") not in (
                "cross-site", "same-site")
        origin = split_origin(raw)
        if origin is None:
            return False
        if self.any_origin or origin in self.origins:
            return True
        scheme, host, port = origin
        own, own_port = split_host(request.headers.get("Host", ""))
        own_port = own_port if own_port is not None else _DEFAULT_PORT.get(scheme, 0)
        if port != own_port:
            return False
        return host == own or (_loopback_name(host) and _loopback_name(own))

    def refuse(self, request: web.Request, status: int, reason: str) -> web.Response:
        suppressed = self._log.due(reason)
        if suppressed is not None:
            log.warning("request_refused", status=status, reason=reason, peer=request.remote,
                        method=request.method, path=request.path,
                        origin=request.headers.get("Origin"), host=request.headers.get("Host"),
                        suppressed=suppressed)
        return error(status, reason)


GATE: web.AppKey[Gatekeeper] = web.AppKey("gatekeeper", Gatekeeper)


def _host_ok(gate: Gatekeeper, request: web.Request) -> bool:
    raw = request.headers.get("Host")
    if raw is None:
        return True  # HTTP/1.0 without Host: not a browser
    host, _ = split_host(raw)
    return gate.host_allowed(host)


@web.middleware
async def gatekeeper(request: web.Request, handler: Handler) -> web.StreamResponse:
    gate = request.app[GATE]
    try:
        if not _host_ok(gate, request):
            gate.stats.bad_host += 1
            return gate.refuse(request, 400, "this daemon does not answer to that Host name "
                                             "(add it to http.hosts)")
        if request.method in SAFE_METHODS or request.match_info.http_exception is not None:
            return await handler(request)
        if not gate.origin_allowed(request):
            gate.stats.bad_origin += 1
            return gate.refuse(request, 403, "writes are only accepted from the daemon's own "
                                             "pages and the origins in http.origins")
    except BadHeader as exc:
        gate.stats.bad_host += 1
        return gate.refuse(request, 400, str(exc))
    # a body must be JSON (a cross-site form or no-cors fetch cannot send that type);
    # a write without one (an ack without a note) has nothing to type; an upload route
    # takes its own type instead (a photo: multipart/form-data), and only that
    wanted = body_type_of(request)
    if request.body_exists and request.content_type != wanted:
        gate.stats.bad_content_type += 1
        if wanted == "application/json":
            return gate.refuse(request, 415, "writes take a JSON body (Content-Type: "
                                             "application/json)")
        return gate.refuse(request, 415, f"this write takes Content-Type: {wanted}")
    return await handler(request)

