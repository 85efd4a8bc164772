"""HTTP on one aiohttp port: static dashboard, REST API, /ws, /metrics, /healthz."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import structlog
from aiohttp import web

from micboardd import __version__
from micboardd.auth import AuthError, Guard, Principal
from micboardd.config import ConfigError, is_loopback
from micboardd.hub import Client
from micboardd.metrics import render_metrics
from micboardd.openapi import openapi_document
from micboardd.store import JSON

if TYPE_CHECKING:
    from micboardd.daemon import Daemon

log = structlog.get_logger("micboardd.http")

def _web_root() -> Path:
    """The dashboard files: $MICBOARDD_WEB_ROOT, this checkout's web/, or /opt/micboardd/web
    (where the README's install puts them)."""
    env = os.environ.get("MICBOARDD_WEB_ROOT")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parent.parent / "web", Path("/opt/micboardd/web"),
                   Path("/usr/share/micboardd/web")]
    return next((p for p in candidates if (p / "index.html").is_file()), candidates[0])


WEB_ROOT = _web_root()
MAX_BODY = 256 * 1024
DAEMON: web.AppKey[Daemon] = web.AppKey("daemon", object)  # type: ignore[arg-type]
GUARD: web.AppKey[Guard] = web.AppKey("guard", Guard)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json")


def error(status: int, message: str, **extra: Any) -> web.Response:
    return json_response({"error": message, **extra}, status)


def _daemon(request: web.Request) -> Daemon:
    return request.app[DAEMON]


def make_app(daemon: Daemon) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors, _security_headers])
    app[DAEMON] = daemon
    app[GUARD] = Guard(daemon.config.http)
    daemon.on_reload.append(lambda cfg: _update_guard(app, cfg.http))
    r = app.router
    r.add_get("/api/state", get_state)
    r.add_get("/api/devices", get_devices)
    r.add_get("/api/openapi.json", get_openapi)
    r.add_put("/api/slots", put_slots)
    r.add_post("/api/devices/{device}/command", post_device_command)
    r.add_post("/api/channels/{device}/{number}/command", post_channel_command)
    r.add_get("/healthz", get_health)
    r.add_get("/metrics", get_metrics)
    r.add_get("/ws", ws_handler)
    r.add_get("/", index)
    if WEB_ROOT.is_dir():
        # aiohttp resolves the path and refuses anything outside WEB_ROOT (and symlinks
        # out of it), so ../ tricks end in 403/404
        r.add_static("/", WEB_ROOT, follow_symlinks=False, append_version=False)
    return app


def _update_guard(app: web.Application, http_cfg: Any) -> None:
    app[GUARD].cfg = http_cfg


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return error(exc.status, exc.reason)
        raise
    except AuthError as exc:
        delay = request.app[GUARD].delay_for(request.remote)
        if delay:
            await asyncio.sleep(delay)
        log.warning("write_refused", peer=request.remote, path=request.path, status=exc.status,
                    reason=exc.reason)
        resp = error(exc.status, exc.reason)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="micboardd"'
        return resp


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


async def index(request: web.Request) -> web.StreamResponse:
    page = WEB_ROOT / "index.html"
    if not page.is_file():
        return web.Response(text="micboardd: the dashboard is not installed (web/ is missing)",
                            status=503)
    return web.FileResponse(page, headers={"Cache-Control": "no-cache"})


async def get_state(request: web.Request) -> web.Response:
    return web.Response(body=_daemon(request).hub.state_bytes(), content_type="application/json")


async def get_devices(request: web.Request) -> web.Response:
    d = _daemon(request)
    out = []
    for dev in d.store.devices.values():
        link = d.links.get(dev["id"])
        out.append({
            **{k: v for k, v in dev.items()},
            "frames": link.driver.stats.frames if link else 0,
            "malformed": link.driver.stats.malformed if link else 0,
            "reconnects": link.reconnects if link else 0,
        })
    return json_response(out)


async def get_openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(__version__))


async def get_health(request: web.Request) -> web.Response:
    d = _daemon(request)
    links = [link.state for link in d.links.values()]
    return json_response({
        "status": "ok",
        "version": __version__,
        "uptime_s": round(time.time() - d.started_at, 1),
        "seq": d.store.seq,
        "devices": len(links),
        "online": sum(1 for s in links if s == "online"),
        "websocket_clients": len(d.hub.clients),
        "last_reload_error": d.last_reload_error,
    })


async def get_metrics(request: web.Request) -> web.Response:
    return web.Response(text=render_metrics(_daemon(request)),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})


# -- writes ------------------------------------------------------------------------------


def authorize(request: web.Request, need: str = "operator") -> Principal:
    return request.app[GUARD].check_write(request.headers.get("Authorization"),
                                          request.remote, need)


async def _json_body(request: web.Request) -> JSON:
    try:
        body = await request.read()
        data = orjson.loads(body)
    except web.HTTPRequestEntityTooLarge:
        raise
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(reason=f"body is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="body must be a JSON object")
    return data


async def put_slots(request: web.Request) -> web.Response:
    who = authorize(request)
    body = await _json_body(request)
    slots, groups = body.get("slots"), body.get("groups")
    d = _daemon(request)
    if not isinstance(slots, list):
        return error(400, "slots must be a list")
    if groups is None:
        groups = [g.model_dump() for g in d.config.groups]
    if not isinstance(groups, list):
        return error(400, "groups must be a list")
    before = {"slots": d.store.slots, "groups": d.store.groups}
    try:
        new = d.save_layout(slots, groups)
    except ConfigError as exc:
        return error(422, "invalid layout", problems=[
            {"path": w, "problem": p} for w, p in exc.problems])
    after = {"slots": d.store.slots, "groups": d.store.groups}
    d.audit(who.name, "layout", before, after)
    return json_response({"slots": [s.model_dump() for s in new.slots],
                          "groups": [g.model_dump() for g in new.groups]})


async def _command(request: web.Request, device_id: str, channel: int | None) -> web.Response:
    who = authorize(request)
    body = await _json_body(request)
    return await run_command(_daemon(request), who, device_id, channel, body)


async def run_command(d: Daemon, who: Principal, device_id: str, channel: int | None,
                      body: JSON) -> web.Response:
    status, payload = await d.run_command(who.name, device_id, channel, body.get("kind"),
                                          body.get("value"))
    return json_response(payload, status)


async def post_device_command(request: web.Request) -> web.Response:
    return await _command(request, request.match_info["device"], None)


async def post_channel_command(request: web.Request) -> web.Response:
    try:
        n = int(request.match_info["number"])
    except ValueError:
        return error(404, "channel number must be an integer")
    return await _command(request, request.match_info["device"], n)


# -- websocket ---------------------------------------------------------------------------


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
    d = _daemon(request)
    if not origin_allowed(request, d.config.http.origins):
        log.warning("ws_origin_refused", origin=request.headers.get("Origin"),
                    peer=request.remote)
        return error(403, "origin not allowed")
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024, compress=False)
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
        resp = await run_command(d, who, device, channel, msg)
        payload = orjson.loads(resp.body) if isinstance(resp.body, bytes) else {}
        return {"type": "result", "id": req_id, "ok": resp.status == 200,
                "status": resp.status, **payload}

    await d.hub.serve(ws, peer, on_message)
    return ws
