"""Read endpoints: the state, the devices, health, metrics and the API's own document.
Reading is open: the dashboard is a monitor."""

from __future__ import annotations

import time

from aiohttp import web
from typing_extensions import TypedDict

from micboardd import __version__
from micboardd.server.context import daemon_of
from micboardd.server.endpoints import Endpoint
from micboardd.server.metrics import render_metrics, server_metrics
from micboardd.server.openapi import openapi_document
from micboardd.server.responses import json_response
from micboardd.state.contract import DeviceState, State


class DeviceInfo(DeviceState):
    """A device with its link's counters."""

    frames: int
    malformed: int
    reconnects: int


class Health(TypedDict):
    status: str
    version: str
    uptime_s: float
    seq: int
    devices: int
    online: int
    websocket_clients: int
    last_reload_error: str | None
    #: variables that set configuration values (names only: values may be secrets)
    config_from_environment: list[str]
    #: why the status is "degraded" (empty while "ok")
    problems: list[str]


async def get_state(request: web.Request) -> web.Response:
    return web.Response(body=daemon_of(request).hub.state_bytes(),
                        content_type="application/json")


async def get_devices(request: web.Request) -> web.Response:
    d = daemon_of(request)
    out = []
    for dev in d.store.devices.values():
        link = d.links.get(dev["id"])
        out.append({
            **dev,
            "frames": link.frames if link else 0,
            "malformed": link.malformed if link else 0,
            "reconnects": link.reconnects if link else 0,
        })
    return json_response(out)


async def get_openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(request.app, __version__))


async def get_health(request: web.Request) -> web.Response:
    d = daemon_of(request)
    links = [link.state for link in d.links.values()]
    problems = d.problems()
    health: Health = {
        "status": "degraded" if problems else "ok",
        "version": __version__,
        "uptime_s": round(time.time() - d.started_at, 1),
        "seq": d.store.seq,
        "devices": len(links),
        "online": sum(1 for s in links if s == "online"),
        "websocket_clients": len(d.hub.clients),
        "last_reload_error": d.last_reload_error,
        "config_from_environment": d.env_sources,
        "problems": problems,
    }
    return json_response(health)


async def get_metrics(request: web.Request) -> web.Response:
    return web.Response(text=render_metrics(daemon_of(request), server_metrics(request.app)),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})


ENDPOINTS = (
    Endpoint("GET", "/api/state", get_state, "Whole normalized state", response=State),
    Endpoint("GET", "/api/devices", get_devices, "Devices with link counters",
             response=list[DeviceInfo]),
    Endpoint("GET", "/api/openapi.json", get_openapi, "This document"),
    Endpoint("GET", "/healthz", get_health, "Liveness and a summary; status \"degraded\" "
             "with the problems when something needs a hand (the history disk is full)",
             response=Health),
    Endpoint("GET", "/metrics", get_metrics, "Prometheus metrics",
             content_type="text/plain"),
)
