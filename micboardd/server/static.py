"""The dashboard's files (``web/``), served as they are: no build step."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

from micboardd.resources import shipped_dir


def web_root() -> Path:
    """$MICBOARDD_WEB_ROOT (a developer's override), else the dashboard that ships in
    the package (:mod:`micboardd.resources`: the checkout's web/ in an editable install)."""
    env = os.environ.get("MICBOARDD_WEB_ROOT")
    return Path(env) if env else shipped_dir("web")


WEB_ROOT = web_root()


async def index(request: web.Request) -> web.StreamResponse:
    page = WEB_ROOT / "index.html"
    if not page.is_file():
        return web.Response(text=f"micboardd: the dashboard is not installed ({page} is "
                                 "missing)", status=503)
    return web.FileResponse(page, headers={"Cache-Control": "no-cache"})


def add_static(app: web.Application) -> None:
    app.router.add_get("/", index)
    if WEB_ROOT.is_dir():
        # aiohttp resolves the path and refuses anything outside WEB_ROOT (and symlinks
        # out of it), so ../ tricks end in 403/404
        app.router.add_static("/", WEB_ROOT, follow_symlinks=False, append_version=False)
