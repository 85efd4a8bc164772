"""The aiohttp application on one port: the dashboard, the REST API, /ws, /metrics and
/healthz, with the middlewares every answer goes through."""

from __future__ import annotations

import math
from collections.abc import Iterable

import structlog
from aiohttp import web

from micboardd.config import Config
from micboardd.server.api import ENDPOINTS as READS
from micboardd.server.auth import GUARD, AuthError, Guard
from micboardd.server.context import DAEMON, DaemonView
from micboardd.server.endpoints import Endpoint, Handler, InvalidInput, register
from micboardd.server.limits import LIMITS, ConnectionLimits, mark_started
from micboardd.server.origin import GATE, Gatekeeper, gatekeeper
from micboardd.server.responses import error
from micboardd.server.static import add_static
from micboardd.server.websocket import ws_handler
from micboardd.server.writes import ENDPOINTS as WRITES

log = structlog.get_logger("micboardd.http")

MAX_BODY = 256 * 1024


def make_app(daemon: DaemonView, parts: Iterable[Endpoint] = (),
             fd_limit: int | None = None) -> web.Application:
    """The application: the core endpoints, those of the optional parts, the websocket
    and the dashboard's files. Serve it through :class:`~.limits.LimitedSite` so that
    its connection limits apply (``fd_limit``: the descriptors the process may hold)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[
        mark_started, _security_headers, gatekeeper, _errors])
    app[DAEMON] = daemon
    app[GUARD] = Guard(daemon.config.http)
    app[GATE] = Gatekeeper(daemon.config.http)
    app[LIMITS] = ConnectionLimits(daemon.config.http, fd_limit)
    register(app, [*READS, *WRITES, *parts])
    app.router.add_get("/ws", ws_handler)
    add_static(app)
    return app


def reconfigure(app: web.Application, config: Config) -> None:
    """A reloaded configuration: the guard follows its tokens and modes, the gate its
    names and origins, the limits their numbers."""
    app[GUARD].cfg = config.http
    app[GATE].configure(config.http)
    app[LIMITS].configure(config.http)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/") and isinstance(
            request.match_info.route.resource, web.StaticResource):
        # the dashboard's files answer GET anywhere; under /api/ only the API answers
        allowed = await _allowed(request)
        if not allowed:
            return error(404, "Not Found")
        resp = error(405, "Method Not Allowed")
        resp.headers["Allow"] = ",".join(sorted(allowed))
        return resp
    try:
        return await handler(request)
    except InvalidInput as exc:
        return error(exc.status, exc.reason, problems=exc.problems)
    except web.HTTPException as exc:
        if exc.status == 405 and request.path.startswith("/api/"):
            # say what is allowed (RFC 9110); a path no API resource takes is not found
            # (the router's 405 there comes from the dashboard's catch-all GET)
            allowed = await _allowed(request)
            if not allowed:
                return error(404, "Not Found")
            resp = error(405, exc.reason)
            resp.headers["Allow"] = ",".join(sorted(allowed))
            return resp
        if exc.status >= 400 and request.path.startswith("/api/"):
            return error(exc.status, exc.reason)
        raise
    except AuthError as exc:
        return refused(request, exc)


def refused(request: web.Request, exc: AuthError) -> web.Response:
    """The answer to a write the guard refused (logged at most once per 10 s per peer
    and status: a guesser cannot flood the log)."""
    skipped = request.app[GUARD].refusals.due(f"{exc.status}:{request.remote}")
    if skipped is not None:
        log.warning("write_refused", peer=request.remote, path=request.path,
                    status=exc.status, reason=exc.reason, refused_since_last_line=skipped)
    resp = error(exc.status, exc.reason)
    if exc.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="micboardd"'
    if exc.retry_after:
        resp.headers["Retry-After"] = str(math.ceil(exc.retry_after))
    return resp


async def _allowed(request: web.Request) -> set[str]:
    """The methods the API resource at this path takes (the dashboard's static files
    answer GET on every path, which is not the API's)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if not isinstance(resource, web.StaticResource):
            _, methods = await resource.resolve(request)
            allowed |= methods
    return allowed


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    resp = await handler(request)
    if not resp.prepared:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        if not request.path.startswith("/api/"):
            # revalidate the dashboard files: a kiosk must not keep old JS after an upgrade
            resp.headers.setdefault("Cache-Control", "no-cache")
    return resp
