"""The photos part: performer photos for the tiles (issue #18).

The daemon builds it with the store (entries go into the state's ``photos`` section, so
every open page sees a new photo at once), the state dir (files live in its
``photos/``) and the audit trail. Decoding and encoding images is CPU work of a tenth
of a second or more: it runs in one worker thread, never on the event loop, and one
upload at a time (two 48 MP photos decoded at once would double the memory).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog
from aiohttp import web

from micboardd.audit import AuditTrail
from micboardd.config import Config
from micboardd.photos.api import JSON, PhotosApi
from micboardd.photos.image import PhotoRefused, process
from micboardd.photos.library import NotKept, PhotoLibrary, key_of
from micboardd.server import Endpoint, Metric
from micboardd.server.auth import Principal
from micboardd.server.responses import error, json_response
from micboardd.state import Store

log = structlog.get_logger("micboardd.photos")

SECTION = "photos"
T = TypeVar("T")


class PhotosPart:
    name = "photos"

    def __init__(self, store: Store, state_dir: Path, audit: AuditTrail) -> None:
        self.store = store
        self.library = PhotoLibrary(state_dir / "photos")
        self.audit = audit
        self.api = PhotosApi(self.library, self.upload, self.remove)
        self._pool: ThreadPoolExecutor | None = None
        self.uploads = 0
        self.refused = 0

    def endpoints(self) -> list[Endpoint]:
        return self.api.endpoints()

    async def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photos")
        for problem in await self._run(self.library.load):
            log.error("photo_index_problem", problem=problem)
        for key, entry in self.library.entries.items():
            self.store.put(SECTION, key, entry)

    def reconfigure(self, config: Config) -> None:
        pass

    def metrics(self) -> list[Metric]:
        return [
            ("photos_stored", "gauge", "Photos assigned to a slot or a name.",
             float(len(self.library.entries))),
            ("photo_uploads_total", "counter", "Photos uploaded and kept.", float(self.uploads)),
            ("photo_uploads_refused_total", "counter",
             "Uploads refused (not an image, too big, a decompression bomb).",
             float(self.refused)),
        ]

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- what the endpoints call --------------------------------------------------------

    async def upload(self, who: Principal, data: bytes, slot: int | None,
                     name: str | None) -> web.Response:
        key = key_of(slot, name)
        try:
            before, entry = await self._run(self._upload, who.name, data, key, slot, name)
        except PhotoRefused as exc:
            self.refused += 1
            log.info("photo_refused", who=who.name, key=key, status=exc.status, reason=str(exc))
            return error(exc.status, str(exc))
        except NotKept as exc:
            log.error("photo_not_kept", key=key, error=str(exc))
            return error(503, str(exc))
        self.uploads += 1
        self.store.put(SECTION, key, entry)
        self.audit.record(who.name, "photo", before, {**entry, "target": key})
        return json_response(entry)

    async def remove(self, who: Principal, key: str) -> web.Response:
        before = self.library.entries.get(key)
        if before is None:
            return error(404, f"no photo for {key}")
        try:
            await self._run(self.library.set, key, None)
        except NotKept as exc:
            return error(503, str(exc))
        self.store.put(SECTION, key, None)
        self.audit.record(who.name, "photo.remove", before, {"target": key})
        return json_response({"ok": True, "removed": before})

    # -- in the worker thread -------------------------------------------------------------

    def _upload(self, who: str, data: bytes, key: str, slot: int | None,
                name: str | None) -> tuple[JSON | None, JSON]:
        enc = process(data)
        webp, jpeg = self.library.keep(enc)
        entry: JSON = {
            "key": key, "slot": slot, "name": name, "webp": webp, "jpeg": jpeg,
            "width": enc.width, "height": enc.height,
            "source": {"format": enc.source_format, "width": enc.source_width,
                       "height": enc.source_height, "bytes": enc.source_bytes},
            "bytes": {"webp": len(enc.webp), "jpeg": len(enc.jpeg)},
            "updated": round(time.time(), 3), "by": who,
        }
        before = self.library.entries.get(key)
        self.library.set(key, entry)
        return before, entry

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            raise NotKept("the photos part is not running")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
