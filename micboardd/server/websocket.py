"""``/ws``: the browser's live connection (snapshot, then merge patches; commands back).
Fan-out and pacing are :mod:`micboardd.server.hub`; this is the door: origin check and
the command messages. Which pages may connect is :mod:`.origin` (the same rule as for
every write: a page that may not write may not read the live state either)."""

from __future__ import annotations

import math

import structlog
from aiohttp import web

from micboardd.server.auth import GUARD, AuthError
from micboardd.server.context import daemon_of
from micboardd.server.hub import MAX_CLIENT_MESSAGE, Client
from micboardd.server.origin import GATE, BadHeader
from micboardd.server.writes import run_command
from micboardd.state import JSON

log = structlog.get_logger("micboardd.http")

HEARTBEAT_S = 20.0


async def ws_handler(request: web.Request) -> web.StreamResponse:
    d = daemon_of(request)
    gate = request.app[GATE]
    try:
        allowed = gate.origin_allowed(request)
    except BadHeader as exc:
        return gate.refuse(request, 400, str(exc))
    if not allowed:
        gate.stats.bad_origin += 1
        return gate.refuse(request, 403, "origin not allowed")
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
            who = await request.app[GUARD].check_write(header, peer)
        except AuthError as exc:
            out: JSON = {"type": "result", "id": req_id, "ok": False, "status": exc.status,
                         "error": exc.reason}
            if exc.retry_after:
                out["retry_after_s"] = math.ceil(exc.retry_after)
            return out
        device = msg.get("device")
        channel = msg.get("channel")
        # a JSON true is not channel 1 (bool is an int in Python)
        if not isinstance(device, str) or not (
                channel is None or (isinstance(channel, int) and not isinstance(channel, bool))):
            return {"type": "result", "id": req_id, "ok": False, "status": 400,
                    "error": "device (string) and channel (integer or null) are required"}
        status, payload = await run_command(d, who, device, channel, msg.get("kind"),
                                            msg.get("value"))
        return {"type": "result", "id": req_id, "ok": status == 200, "status": status,
                **payload}

    await d.hub.serve(ws, peer, on_message, request.transport)
    return ws
