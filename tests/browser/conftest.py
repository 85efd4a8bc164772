"""Fixtures for the browser tests: the real daemon in demo mode as a subprocess and the
dashboard in Debian's chromium driven by Playwright (no browser is downloaded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashkit import CHROMIUM, CHROMIUM_ARGS, DemoDaemon, demo_config


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDaemon]:
    """The demo daemon (frozen simulators), shared by the tests of one module."""
    d = DemoDaemon(tmp_path_factory.mktemp("demo-state")).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def alert_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDaemon]:
    """The demo daemon with alerts that resolve 1 s after their cause went away (instead
    of the default 30 s), so a test can see an episode from open to resolved; group Band
    alerts at 60 min left, so a battery can be a warning first and critical later."""
    tmp = tmp_path_factory.mktemp("alert-demo")
    config = demo_config(tmp / "demo.json", {"alerts": {
        "default": {"clear_after_s": 1}, "groups": {"Band": {"minutes_at_or_below": 60}}}})
    d = DemoDaemon(tmp / "state", config=config).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """open_page(url, width=, height=) -> page; fails the test on uncaught page errors."""
    contexts: list[Any] = []
    errors: list[str] = []

    def _open(url: str, width: int = 1600, height: int = 900) -> Any:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        return page

    yield _open
    for ctx in contexts:
        ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"
