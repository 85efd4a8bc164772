"""One timer for every link: keepalives and stale checks without a wake-up per link."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog

from micboardd.links.link import CHECK_EVERY, Link

log = structlog.get_logger("micboardd.link")


class LinkTicker:
    """Calls every link's :meth:`~micboardd.links.link.Link.check` four times a second."""

    def __init__(self, links: Mapping[str, Link], every: float = CHECK_EVERY) -> None:
        self.links = links
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="link-ticker")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.every)
            now = loop.time()
            for link in list(self.links.values()):
                try:
                    link.check(now)
                except Exception:  # one broken link must not stop the others' checks
                    log.exception("link_check_failed", device=link.id)
