"""The dashboard's files (``web/``), served as they are: no build step."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web


def web_root() -> Path:
    """The dashboard files: $MICBOARDD_WEB_ROOT, this checkout's web/, or /opt/micboardd/web
    (where the README's install puts them)."""
    env = os.environ.get("MICBOARDD_WEB_ROOT")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / "web", Path("/opt/micboardd/web"),
                   Path("/usr/share/micboardd/web")]
    return next((p for p in candidates if (p / "index.html").is_file()), candidates[0])


WEB_ROOT = web_root()


async def index(request: web.Request) -> web.StreamResponse:
    page = WEB_ROOT / "index.html"
    if not page.is_file():
        return web.Response(text="micboardd: the dashboard is not installed (web/ is missing)",
                            status=503)
    return web.FileResponse(page, headers={"Cache-Control": "no-cache"})


def add_static(app: web.Application) -> None:
    app.router.add_get("/", index)
    if WEB_ROOT.is_dir():
        # aiohttp resolves the path and refuses anything outside WEB_ROOT (and symlinks
        # out of it), so ../ tricks end in 403/404
        app.router.add_static("/", WEB_ROOT, follow_symlinks=False, append_version=False)
