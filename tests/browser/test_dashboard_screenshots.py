"""Screenshots of the desk and TV views and the alert list for docs/screenshots/ (frozen
simulators, so two runs give nearly the same pictures)."""

from __future__ import annotations

import time
from typing import Any

from dashkit import SCREENSHOTS, DemoDaemon, simctl, tile, wait_live
from playwright.sync_api import expect

from micboardd.drivers import driver_class


def settle(demo: DemoDaemon, timeout: float = 5.0) -> None:
    """Give every receiver a moment to come online and freeze the TCP simulators."""
    deadline = time.monotonic() + timeout  # (UHF-R's UDP link may take a moment)
    while time.monotonic() < deadline:
        if all(d["link"] == "online" for d in demo.devices().values()):
            break
        time.sleep(0.1)
    for dev in demo.devices().values():
        # UDP simulators (UHF-R, Sennheiser) have no SIMCTL connection
        if driver_class(dev["driver"]).transport == "tcp":
            simctl((dev["host"], int(dev["port"])), "FREEZE")


def test_screenshots_of_desk_and_tv_views(demo: DemoDaemon, open_page: Any) -> None:
    settle(demo)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # a few states worth seeing, set explicitly rather than left to chance
    band_b = demo.sim("rx-band-b")
    simctl(band_b, "2 BATT_BARS 003", "3 BATT_BARS 001", "3 BATT_RUN_TIME 00018",
           "4 BATT_BARS 005")
    simctl(demo.sim("rx-band-a"), "1 BATT_BARS 005", "1 BATT_RUN_TIME 00412",
           "3 RF_INT_DET CRITICAL")
    simctl(band_b, "2 TX_MUTE_STATUS ON")
    simctl(band_b, "TX 4 OFF")

    desk = open_page(demo.url + "/", 1600, 900)
    wait_live(desk, 23)
    expect(tile(desk, 7)).to_have_attribute("data-status", "CRITICAL")
    expect(tile(desk, 8)).to_have_attribute("data-status", "PREV_GOOD")
    # the transmitter-off alert opens after its 2 s hold: wait for it, not for chance
    expect(desk.locator("#btn-alerts")).to_have_attribute("data-severity", "critical")
    expect(tile(desk, 8)).to_have_attribute("data-alert", "critical")
    desk.mouse.move(0, 899)  # no hover effects in the picture
    desk.wait_for_timeout(300)
    desk.screenshot(path=str(SCREENSHOTS / "desk.png"))
    desk.keyboard.press("a")  # the alert list
    expect(desk.locator("#alerts")).to_be_visible()
    desk.wait_for_timeout(300)
    desk.screenshot(path=str(SCREENSHOTS / "alerts.png"))

    tv = open_page(demo.url + "/?view=tv&group=Band", 1920, 1080)
    wait_live(tv, 12)
    expect(tile(tv, 7)).to_have_attribute("data-status", "CRITICAL")
    expect(tv.locator("#alert-banner")).to_be_visible()
    tv.wait_for_timeout(300)
    tv.screenshot(path=str(SCREENSHOTS / "tv.png"))
    assert (SCREENSHOTS / "desk.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "tv.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "alerts.png").stat().st_size > 10_000
