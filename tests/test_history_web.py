"""web/history.js in chromium against a real daemon: the panel draws battery and RF from
the history API, lists the channel's events, switches range, closes on Esc and on its
close button, and returns focus. Skipped without Debian's chromium."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from daemonkit import make_config, running_daemon, wait_for

from micboardd.drivers.shure_ulxd import ULXDSimulator

CHROMIUM = os.environ.get("MICBOARDD_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = Path(CHROMIUM).exists()
KEY = "rx-band-a/1"


@pytest.fixture
async def page() -> Any:
    if not HAVE_CHROMIUM:
        pytest.skip(f"no chromium at {CHROMIUM}")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM,
                                          args=["--headless=new", "--no-sandbox",
                                                "--disable-gpu"])
        pg = await browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        await browser.close()
        assert not errors, errors


async def test_history_panel(page: Any, tmp_path: Path) -> None:
    sim = await ULXDSimulator("127.0.0.1", 0, model="ULXD4D", names=["VOX"], frozen=True,
                              seed=4).start()
    cfg = make_config([{"id": "rx-band-a", "driver": "shure-ulxd", "host": sim.host,
                        "port": sim.port}],
                      slots=[{"slot": 1, "channel": KEY, "label_name": "Lead vocal"}],
                      history={"sample_interval_s": 1, "flush_interval_s": 0.1})
    try:
        async with running_daemon(cfg, tmp_path) as d:
            await wait_for(lambda: KEY in d.store.channels
                           and d.store.channels[KEY]["status"] not in ("RX_OFFLINE",))
            sim.set_battery_minutes(1, 150)  # a battery step: an event to list
            h = d.history
            assert h is not None
            await wait_for(lambda: h.writer.stats.rows_written > 8)  # a few samples
            await h.sync()
            base = f"http://127.0.0.1:{d.http_port}"
            await page.goto(base + "/")
            await page.evaluate("""async () => {
                const b = document.createElement('button');
                b.id = 'opener'; document.body.append(b); b.focus();
                const m = await import('/history.js');
                m.openHistory('rx-band-a/1', {label: 'Lead vocal'});
            }""")
            panel = page.locator(".mbh-panel")
            await panel.wait_for()
            assert await page.locator("#mbh-title").text_content() == "Lead vocal"
            assert await page.locator(".mbh-sub").text_content() == KEY
            await page.locator(".mbh-line.mbh-bat").wait_for(state="attached")
            assert await page.locator(".mbh-line.mbh-rf").count() == 1
            d_attr = await page.locator(".mbh-line.mbh-bat").get_attribute("d")
            assert d_attr and d_attr.startswith("M")
            await page.locator(".mbh-ev-battery").first.wait_for()
            text = await page.locator(".mbh-ev-battery").first.text_content()
            assert "Battery" in text and "→ 2 bars" in text
            # the focus is in the dialog; the range buttons reload
            assert await page.evaluate("document.activeElement.className") == "mbh-close"
            await page.click("button.mbh-range:has-text('1h')")
            assert await page.locator("button.mbh-range:has-text('1h')").get_attribute(
                "aria-pressed") == "true"
            await page.keyboard.press("Escape")
            await panel.wait_for(state="detached")
            assert await page.evaluate("document.activeElement.id") == "opener"
            # open again, close with the button; opening twice keeps one panel
            await page.evaluate("""async () => {
                const m = await import('/history.js');
                m.openHistory('rx-band-a/2'); m.openHistory('rx-band-a/1');
            }""")
            assert await page.locator(".mbh-panel").count() == 1
            await page.click(".mbh-close")
            await panel.wait_for(state="detached")
            # a channel without history says so instead of failing
            await page.evaluate("import('/history.js').then(m => m.openHistory('nope/9'))")
            await page.locator(".mbh-empty").wait_for()
    finally:
        await sim.stop()
