"""Photograph the demo for the README: desk view, its alert list, and the TV view of the
Band group, with a critical battery, a pack switched off and interference set on purpose
(see scripts/screenshots)."""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from dashkit import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    DemoDaemon,
    http_json,
    simctl,
    tile,
    wait_live,
)
from playwright.sync_api import expect, sync_playwright  # noqa: E402

import micboardd.state.status  # noqa: E402
from micboardd.drivers import driver_class  # noqa: E402

WANTED = ("rx-band-b/2", "rx-band-b/3", "rx-band-b/4")


def settle(demo: DemoDaemon, timeout: float = 10.0) -> None:
    """Every receiver online, then the TCP simulators frozen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(d["link"] == "online" for d in demo.devices().values()):
            break
        time.sleep(0.1)
    # the channels set on purpose below have reported their transmitters
    while time.monotonic() < deadline + 10:
        chans = http_json(f"{demo.url}/api/state")["channels"]
        if all(chans[k]["tx"]["battery_bars"] is not None for k in WANTED):
            break
        time.sleep(0.2)
    time.sleep(micboardd.state.status.RECONNECT_S + 0.5)  # what follows is decided news
    for dev in demo.devices().values():
        if driver_class(dev["driver"]).transport == "tcp":  # UDP ones have no SIMCTL
            simctl((dev["host"], int(dev["port"])), "FREEZE")


def main() -> int:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = DemoDaemon(Path(tmp) / "state").start()
        try:
            settle(demo)
            band_b = demo.sim("rx-band-b")
            simctl(band_b, "2 BATT_RUN_TIME 00075", "2 BATT_BARS 002",
                   "3 BATT_RUN_TIME 00018", "3 BATT_BARS 001", "2 TX_MUTE_STATUS ON")
            simctl(demo.sim("rx-band-a"), "3 RF_INT_DET CRITICAL")
            simctl(band_b, "TX 4 OFF")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                desk = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
                desk.goto(demo.url + "/")
                wait_live(desk, 24)
                expect(tile(desk, 7)).to_have_attribute("data-status", "CRITICAL")
                expect(tile(desk, 8)).to_have_attribute("data-status", re.compile("^PREV_"))
                expect(tile(desk, 8).locator(".t-note")).to_contain_text("last seen")
                expect(desk.locator("#btn-alerts")).to_have_attribute("data-severity",
                                                                       "critical")
                desk.mouse.move(0, 1079)
                desk.wait_for_timeout(300)
                desk.screenshot(path=str(SCREENSHOTS / "desk.png"))
                desk.keyboard.press("a")
                expect(desk.locator("#alerts")).to_be_visible()
                desk.wait_for_timeout(300)
                desk.screenshot(path=str(SCREENSHOTS / "alerts.png"))
                tv = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
                tv.goto(demo.url + "/?view=tv&group=Band")
                wait_live(tv, 12)
                expect(tv.locator("#alert-banner")).to_be_visible()
                tv.wait_for_timeout(300)
                tv.screenshot(path=str(SCREENSHOTS / "tv.png"))
                browser.close()
        finally:
            demo.stop()
    for name in ("desk", "alerts", "tv"):
        print(SCREENSHOTS / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
