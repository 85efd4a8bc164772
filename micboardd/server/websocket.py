"""``/ws``: the browser's live connection (snapshot, then merge patches; commands back).
Fan-out and pacing are :mod:`micboardd.server.hub`; this is the door: origin check and
the command messages."""

from __future__ import annotations

from urllib.parse import urlsplit

import structlog
from aiohttp import web

from micboardd.server.auth import GUARD, AuthError, is_loopback
from micboardd.server.context import daemon_of
from micboardd.server.hub import MAX_CLIENT_MESSAGE, Client
from micboardd.server.responses import error
from micboardd.server.writes import run_command
from micboardd.state import JSON

log = structlog.get_logger("micboardd.http")

HEARTBEAT_S = 20.0


def origin_allowed(request: web.Request, allowed: list[str]) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: origin checks protect browsers from other sites
    if origin in allowed or "*" in allowed:
        return True
    host = request.headers.get("Host", "")
    parts = urlsplit(origin)
    if parts.netloc and parts.netloc == host:
        return True  # same origin: the daemon's own dashboard
    # the daemon's own page opened through a loopback name (localhost vs 127.0.0.1)
    return bool(is_loopback(parts.hostname) and is_loopback(request.remote)
                and parts.port == request.url.port)


async def ws_handler(request: web.Request) -> web.StreamResponse:
    d = daemon_of(request)
    if not origin_allowed(request, d.config.http.origins):
        log.warning("ws_origin_refused", origin=request.headers.get("Origin"),
                    peer=request.remote)
        return error(403, "origin not allowed")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_CLIENT_MESSAGE,
                               compress=False)
    await ws.prepare(request)
    auth_header = request.headers.get("Authorization")
    peer = request.remote or "?"

    async def on_message(client: Client, msg: JSON) -> JSON | None:
        if msg.get("type") != "command":
            return {"type": "error", "error": f"unknown type {msg.get('type')!r}"}
        token = msg.get("token")
        header = f"Bearer {token}" if isinstance(token, str) else auth_header
        req_id = msg.get("id")
        try:
            who = request.app[GUARD].check_write(header, peer)
        except AuthError as exc:
            return {"type": "result", "id": req_id, "ok": False, "status": exc.status,
                    "error": exc.reason}
        device = msg.get("device")
        channel = msg.get("channel")
        if not isinstance(device, str) or not (channel is None or isinstance(channel, int)):
            return {"type": "result", "id": req_id, "ok": False, "status": 400,
                    "error": "device (string) and channel (integer or null) are required"}
        status, payload = await run_command(d, who, device, channel, msg.get("kind"),
                                            msg.get("value"))
        return {"type": "result", "id": req_id, "ok": status == 200, "status": status,
                **payload}

    await d.hub.serve(ws, peer, on_message)
    return ws
