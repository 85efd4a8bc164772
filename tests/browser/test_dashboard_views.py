"""Views: desk and TV, groups by key and by tap, the URL as the kiosk's setting, help,
phone layout; and the page's pure logic (merge patches, unknown values) run in chromium."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dashkit import DemoDaemon, http_json, tile, wait_live
from playwright.sync_api import expect

BAND = 12  # demo slots in group "Band"
TALK = 9  # in group "Talk show"
ALL = 24  # the demo slots (config/demo.json)


def query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_tv_view_and_group_come_from_the_url(demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/?view=tv&group=Band", 1920, 1080)
    wait_live(page, BAND)
    expect(page.locator("body")).to_have_attribute("data-view", "tv")
    expect(page.locator("#toolbar")).to_be_hidden()  # nothing else on screen
    state = http_json(f"{demo.url}/api/state")
    band = [s["slot"] for s in state["slots"] if s["group"] == "Band"]
    shown = page.locator(".tile").evaluate_all("els => els.map(e => Number(e.dataset.slot))")
    assert shown == band
    # every tile fits on the screen, big: no scrolling in TV view
    boxes = page.locator(".tile").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom]; })")
    assert all(r <= 1920.5 and b <= 1080.5 for _, _, r, b in boxes)
    assert min(b - t for _, t, _, b in boxes) > 200
    id_px = tile(page, 1).locator(".t-id").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert id_px >= 1080 / 30  # about 25 mm on a 55" screen: readable from 3 m and more


def test_keys_switch_groups_and_views_and_update_the_url(
    demo: DemoDaemon, open_page: Any
) -> None:
    page = open_page(demo.url + "/")
    wait_live(page, ALL)
    page.keyboard.press("2")
    expect(page.locator(".tile")).to_have_count(TALK)
    assert query(page) == {"group": ["Talk show"]}
    expect(page.get_by_role("button", name=re.compile("^Talk show"))).to_have_attribute(
        "aria-pressed", "true")
    page.keyboard.press("t")
    expect(page.locator("body")).to_have_attribute("data-view", "tv")
    assert query(page) == {"group": ["Talk show"], "view": ["tv"]}
    page.keyboard.press("1")
    expect(page.locator(".tile")).to_have_count(BAND)
    page.keyboard.press("Escape")  # TV -> desk
    expect(page.locator("body")).to_have_attribute("data-view", "desk")
    expect(page.locator("#toolbar")).to_be_visible()
    page.keyboard.press("0")
    expect(page.locator(".tile")).to_have_count(ALL)
    assert query(page) == {}
    page.go_back()  # history follows the view
    expect(page.locator(".tile")).to_have_count(BAND)


def test_group_buttons_work_by_tap(demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/")
    wait_live(page, ALL)
    page.get_by_role("button", name=re.compile("^IEM")).click()
    expect(page.locator(".tile")).to_have_count(3)  # two PSM1000 and a G4 IEM
    page.get_by_role("button", name=re.compile("^All")).click()
    expect(page.locator(".tile")).to_have_count(ALL)
    page.get_by_role("button", name="TV view (t)").click()
    expect(page.locator("body")).to_have_attribute("data-view", "tv")


def test_help_overlay_lists_shortcuts_and_groups(demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/")
    wait_live(page, ALL)
    page.keyboard.press("?")
    helpbox = page.locator("#help")
    expect(helpbox).to_be_visible()
    expect(helpbox).to_contain_text("TV view")
    expect(helpbox).to_contain_text("Group Talk show")
    page.keyboard.press("Escape")
    expect(helpbox).to_be_hidden()


def test_fullscreen_toggles_with_f(demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/")
    wait_live(page, ALL)
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement !== null")
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null")


def test_phone_layout_has_no_sideways_scrolling(demo: DemoDaemon, open_page: Any) -> None:
    for width, height in ((390, 844), (820, 1180)):  # phone, tablet
        page = open_page(demo.url + "/", width, height)
        wait_live(page, ALL)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (width, overflow)
        expect(page.get_by_role("button", name="Edit slots and groups (e)")).to_be_visible()
        columns = page.locator(".tile").evaluate_all(
            "els => new Set(els.map(e => Math.round(e.getBoundingClientRect().left))).size")
        # a phone gets one column of full-width tiles (values stay readable), a tablet more
        assert columns >= (1 if width < 500 else 2), (width, columns)


LOGIC = """async () => {
  const { mergePatch, Model, expandMeters } = await import("/state.js");
  const { tileView, splitLabel, fmtFrequency, fmtMinutes } = await import("/format.js");
  const out = {};
  out.merge = mergePatch({a: 1, b: {c: 2, d: 3}, l: [1, 2]}, {b: {c: null, e: 4}, l: [3]});
  const m = new Model(() => 1000);
  m.snapshot(10, {devices: {d: {link: "online", last_seen: 1000, channels: ["d/1"]}},
    channels: {"d/1": {status: "GOOD", tx: {battery_bars: 3}, rf: {}, audio: {}}},
    slots: [{slot: 1, channel: "d/1", label_id: null, label_name: null}],
    alerts: {x: {}}});
  out.gap = m.patch(12, 11, {});
  const c = m.patch(11, 10, {channels: {"d/1": {tx: {battery_bars: null}}}});
  out.changed = [...c.channels];
  out.seq = m.seq;
  const ctx = {now: 1001, connected: true, staleAfter: 5};
  out.view = tileView(m.state.slots[0], m.state.channels["d/1"], m.state.devices.d, ctx);
  out.stale = tileView(m.state.slots[0], m.state.channels["d/1"], m.state.devices.d,
    {...ctx, now: 1010}).stale;
  out.disconnected = tileView(m.state.slots[0], m.state.channels["d/1"], m.state.devices.d,
    {...ctx, connected: false}).stale;
  out.label = splitLabel(" HH03 / Pastor Mike ");
  out.meters = expandMeters({type: "meters", seq: 3, base: 2,
    m: [7, 0b10110, 80, -40, 55, 2, 0b10, 61], seen: [5, 4, 2],
    patch: {devices: {e: {last_seen: 4}}}},
    ["rf.antennas", "rf.level_pct", "rf.rssi_dbm", "rf.quality", "audio.level_pct"],
    (idx) => ({7: "d/1", 9: "d/2"})[idx], (idx) => ({4: "d", 6: "f"})[idx]);
  out.unknown = expandMeters({type: "meters", seq: 3, base: 2, seen: [5, 8]}, [],
    (idx) => undefined, (idx) => undefined);
  out.freq = [fmtFrequency(578350), fmtFrequency(null)];
  out.minutes = [fmtMinutes(125), fmtMinutes(0), fmtMinutes(null),
    fmtMinutes(null, "calculating")];
  return out;
}"""


def test_page_logic_unknown_is_never_zero(demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/")
    out = page.evaluate(LOGIC)
    assert out["merge"] == {"a": 1, "b": {"d": 3, "e": 4}, "l": [3]}
    assert out["gap"] is None  # a patch that does not follow on: ask for a resync
    assert out["changed"] == ["d/1"] and out["seq"] == 11
    v = out["view"]
    dash = "\u2014"
    assert v["bars"] is None and v["timeText"] == dash and v["txModel"] == dash
    assert v["rfPct"] is None and v["rfText"] == dash and v["audioText"] == dash
    assert v["freq"] == dash and v["name"] == dash
    assert v["antA"] == "unknown" and v["stale"] is False
    assert out["stale"] is True and out["disconnected"] is True
    assert out["label"] == {"label_id": "HH03", "label_name": "Pastor Mike"}
    # format 2: channel and device idx delta-coded (7, 9; 4, 6), last_seen shared
    assert out["meters"] == {
        "devices": {"d": {"last_seen": 5}, "f": {"last_seen": 5}, "e": {"last_seen": 4}},
        "channels": {"d/1": {"rf": {"level_pct": 80, "rssi_dbm": -40},
                             "audio": {"level_pct": 55}},
                     "d/2": {"rf": {"level_pct": 61}}}}
    assert out["unknown"] is None  # a device the page does not know: resync
    assert out["freq"] == ["578.350 MHz", dash]
    assert out["minutes"] == ["2h 05m", "0 min", dash, "calculating\u2026"]
