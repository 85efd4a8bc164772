"""Alerts on the dashboard: an episode the daemon raises shows in the toolbar count, the
list and on its tile; "Ack" acknowledges it on the daemon (with the write token when one
is needed), a group's or all of them at once, with a note; one that gets worse opens
again; it shows resolved once its cause is gone. The list sits beside the board, which
makes room for it. The TV view shows open critical alerts as one big line. Runs against
the demo daemon with a 1 s clear delay (group Band alerts at 60 min left)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashkit import DemoDaemon, http_json, simctl, tile, wait_live
from playwright.sync_api import expect
from stagekit import axe_violations

from micboardd.server.auth import hash_token

ALL = 24  # the demo slots (config/demo.json)
BAND = 12
TOKEN = "monitor-world-secret"


def server_alert(demo: DemoDaemon, aid: str) -> dict[str, Any]:
    found = [a for a in http_json(f"{demo.url}/api/alerts")["alerts"] if a["id"] == aid]
    assert found, f"no alert {aid} on the daemon"
    return found[0]


def test_battery_alert_is_listed_marked_acknowledged_and_resolved(
    alert_demo: DemoDaemon, open_page: Any
) -> None:
    page = open_page(alert_demo.url + "/")
    wait_live(page, ALL)
    button = page.locator("#btn-alerts")
    drawer = page.locator("#alerts")
    expect(button).to_have_attribute("data-severity", "none")
    expect(drawer).to_be_hidden()
    ack_mark = tile(page, 1).locator(".t-ack")
    expect(ack_mark).to_be_hidden()
    expect(tile(page, 1)).not_to_have_attribute("data-alert", re.compile("."))

    addr = alert_demo.sim("rx-band-a")
    # the default rule: 30 min or less (the runtime decides when there is one)
    simctl(addr, "FREEZE", "1 BATT_RUN_TIME 00020", "1 BATT_BARS 001")

    # toolbar: colour, an icon and a count with a word (never colour alone)
    expect(button).to_have_attribute("data-severity", "critical")
    expect(button).to_contain_text(re.compile(r"1\s*alert\b"))
    expect(button.locator("use")).to_have_attribute("href", "#i-crit")
    # its accessible name starts with what it shows (axe: label-content-name-mismatch)
    expect(button).to_have_accessible_name(re.compile(r"^1 alert \(1 critical\)"))
    # the tile is marked (its edge), its status line says the condition
    expect(tile(page, 1)).to_have_attribute("data-alert", "critical")
    expect(tile(page, 1).locator(".t-status")).to_have_text(re.compile(r"CRITICAL"))
    expect(ack_mark).to_be_hidden()
    expect(tile(page, 1)).to_have_attribute("data-status", "CRITICAL")

    page.keyboard.press("a")
    expect(drawer).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    item = drawer.locator(".al").filter(has_text="HH01")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-state", "open")
    expect(item.locator(".al-title")).to_have_text("HH01 Mara \u2013 lead vocal")
    # the tile's words and severity (micboardd/state/status.py): one vocabulary
    expect(item.locator(".al-tag")).to_have_text("CRITICAL")
    expect(item.locator(".al-message")).to_have_text("Battery critical: 1 bar, 20 min left")
    expect(item.locator(".al-meta")).to_have_text(re.compile(r"^opened (just now|\d+ s ago)$"))
    aid = item.get_attribute("data-id")
    assert aid and server_alert(alert_demo, aid)["state"] == "open"

    with page.expect_request(f"**/api/alerts/{aid}/ack") as req:
        item.get_by_role("button", name=re.compile(r"^Ack \(acknowledge HH01")).click()
    assert "authorization" not in req.value.headers  # loopback, no token configured
    expect(item).to_have_attribute("data-state", "acknowledged")
    expect(item.locator(".al-tag")).to_have_text("ACKNOWLEDGED")
    expect(item.locator(".al-meta")).to_contain_text("acknowledged by loopback")
    expect(item.locator(".al-ack")).to_be_hidden()
    expect(button).to_have_attribute("data-severity", "none")
    expect(tile(page, 1)).to_have_attribute("data-alert", "acknowledged")
    expect(ack_mark).to_be_visible()  # in words, not by colour alone
    on_server = server_alert(alert_demo, aid)
    assert on_server["state"] == "acknowledged" and on_server["acked_by"] == "loopback"
    assert on_server["acked"] is not None

    simctl(addr, "1 BATT_RUN_TIME 00400", "1 BATT_BARS 005")  # clears after 1 s
    expect(item).to_have_attribute("data-state", "resolved", timeout=8000)
    expect(item.locator(".al-tag")).to_have_text("RESOLVED")
    expect(item.locator(".al-meta")).to_contain_text("resolved")
    expect(ack_mark).to_be_hidden()
    expect(tile(page, 1)).not_to_have_attribute("data-alert", re.compile("."))
    assert server_alert(alert_demo, aid)["resolved"] is not None

    page.keyboard.press("a")
    expect(drawer).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")


def test_tv_view_banner_lists_every_open_problem_and_wraps(
    alert_demo: DemoDaemon, open_page: Any
) -> None:
    page = open_page(alert_demo.url + "/?view=tv&group=Band", 1920, 1080)
    wait_live(page, BAND)
    banner = page.locator("#alert-banner")
    expect(banner).to_be_hidden()
    addr = alert_demo.sim("rx-band-a")
    # slot 2: 8 min left (critical); slot 4: its pack switched off (a warning)
    alert_demo.settle()  # run alone, the test would switch the pack off too early
    simctl(addr, "FREEZE", "2 BATT_RUN_TIME 00008", "2 BATT_BARS 001", "TX 4 OFF")
    expect(banner).to_be_visible()
    items = banner.locator(".ab-item")
    expect(items).to_have_count(2)
    # critical first; each names its slot by label and name
    expect(items.nth(0)).to_have_text("HH02 Jonah \u2013 BV: Battery critical: 1 bar, 8 min left")
    expect(items.nth(1)).to_have_text("BP01 Leo \u2013 guitar: Transmitter switched off")
    expect(items.nth(0)).to_have_attribute("data-severity", "critical")
    expect(tile(page, 4)).to_have_attribute("data-alert", "warning")
    expect(banner.locator("button")).to_have_count(0)
    expect(page.locator("#alerts")).to_be_hidden()
    size = banner.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 1080 / 40  # big type
    # it wraps instead of cutting: nothing in it is wider than its box
    cut = banner.evaluate("e => [...e.querySelectorAll('*')].filter((x) =>"
                          " x.scrollWidth > x.clientWidth + 1).length")
    assert cut == 0
    # the tiles still fit on the screen below the banner
    page.wait_for_function("() => [...document.querySelectorAll('.tile')].every("
                           "e => e.getBoundingClientRect().bottom <= innerHeight + 0.5)")

    page.keyboard.press("a")  # no list in TV view
    expect(page.locator("#alerts")).to_be_hidden()
    simctl(addr, "2 BATT_RUN_TIME 00400", "2 BATT_BARS 005", "TX 4 ON")
    expect(banner).to_be_hidden(timeout=8000)


def overlaps(page: Any, selector: str, other: str) -> list[str]:
    """The elements of ``selector`` whose box meets ``other``'s."""
    found: list[str] = page.evaluate("""([sel, other]) => {
      const o = document.querySelector(other).getBoundingClientRect();
      return [...document.querySelectorAll(sel)].filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.left < o.right && r.right > o.left && r.top < o.bottom
          && r.bottom > o.top;
      }).map((e) => e.dataset.slot ?? e.id);
    }""", [selector, other])
    return found


def test_list_beside_the_board_acks_a_group_or_all_with_a_note_and_reopens(
    alert_demo: DemoDaemon, open_page: Any
) -> None:
    # the demo's running copy keeps the group's rule as written (a default written out
    # would override alerts.default's clear_after_s)
    running = json.loads((alert_demo.state_dir / "demo.json").read_text())
    assert running["alerts"]["groups"] == {"Band": {"minutes_at_or_below": 60}}
    page = open_page(alert_demo.url + "/", 1600, 900)
    wait_live(page, ALL)
    drawer = page.locator("#alerts")
    page.keyboard.press("a")
    expect(drawer).to_be_visible()
    # beside the board: the board's column ends where the list begins, the tiles reflow
    page.wait_for_function("() => document.querySelector('.main').getBoundingClientRect()"
                           ".right <= document.querySelector('#alerts')"
                           ".getBoundingClientRect().left")
    assert overlaps(page, ".tile", "#alerts") == []
    expect(page.locator(".tile")).to_have_count(ALL)

    band, band_b = alert_demo.sim("rx-band-a"), alert_demo.sim("rx-band-b")
    talk = alert_demo.sim("rx-talk")
    # HH03: 50 min left (Band alerts at 60: a warning); BP02 and LAV2 switched off
    simctl(band, "FREEZE", "3 BATT_RUN_TIME 00050", "3 BATT_BARS 002")
    alert_demo.settle()
    simctl(band_b, "FREEZE", "TX 1 OFF")
    simctl(talk, "FREEZE", "TX 2 OFF")
    items = {name: drawer.locator(".al").filter(has_text=name) for name in (
        "HH03", "BP02", "LAV2")}
    for item in items.values():
        expect(item.and_(page.locator('[data-state="open"]'))).to_have_count(1)
    expect(items["HH03"].locator(".al-tag")).to_have_text("WARNING")
    bulk = drawer.locator("#al-bulk-btns")
    expect(bulk.get_by_role("button")).to_have_text(
        ["Ack all (3) open alerts", "Ack Band (2) open alerts of this group",
         "Ack Talk show (1) open alerts of this group"])
    assert overlaps(page, ".tile", "#alerts") == []  # a longer list still hides nothing

    # a group's, with a note
    drawer.get_by_label("Note").fill("spare at side stage")
    with page.expect_request("**/api/alerts/ack") as req:
        bulk.get_by_role("button", name=re.compile(r"^Ack Band \(2\)")).click()
    sent = json.loads(req.value.post_data or "{}")
    assert sent["note"] == "spare at side stage" and len(sent["ids"]) == 2
    for name in ("HH03", "BP02"):
        expect(items[name]).to_have_attribute("data-state", "acknowledged")
        expect(items[name].locator(".al-note")).to_have_text("Note: spare at side stage")
        expect(items[name].locator(".al-meta")).to_contain_text("acknowledged by loopback")
    expect(items["LAV2"]).to_have_attribute("data-state", "open")
    expect(page.locator("#alerts-msg")).to_have_text("Acknowledged 2 alerts.")
    expect(drawer.get_by_label("Note")).to_have_value("")
    hh03 = items["HH03"].get_attribute("data-id")
    assert hh03 and server_alert(alert_demo, hh03)["ack_note"] == "spare at side stage"
    expect(bulk.get_by_role("button")).to_have_count(0)  # one open alert: its own button

    # worse: the battery goes critical, the acknowledged alert opens again and says so
    simctl(band, "3 BATT_RUN_TIME 00020", "3 BATT_BARS 001")
    expect(items["HH03"]).to_have_attribute("data-state", "open")
    expect(items["HH03"]).to_have_attribute("data-reopened", "true")
    expect(items["HH03"].locator(".al-tag")).to_have_text("CRITICAL")
    expect(items["HH03"].locator(".al-meta")).to_contain_text(
        "worse since acknowledged by loopback")
    expect(items["HH03"].locator(".al-note")).to_have_text(
        "Earlier note by loopback: spare at side stage")
    expect(page.locator("#btn-alerts")).to_have_attribute("data-severity", "critical")
    assert axe_violations(page) == []

    # all of them (the note field left empty: no note)
    with page.expect_request("**/api/alerts/ack") as req:
        bulk.get_by_role("button", name=re.compile(r"^Ack all \(2\)")).click()
    assert "note" not in json.loads(req.value.post_data or "{}")
    for name in ("HH03", "LAV2"):
        expect(items[name]).to_have_attribute("data-state", "acknowledged")
    expect(drawer.locator("#al-bulk")).to_be_hidden()
    # micboardd's own alerts (the history disk is full) are titled as such
    assert page.evaluate("() => window.micboard.alerts.who({subject: 'micboardd', "
                         "rule: 'history_storage', channel: null, device: null})"
                         ".title") == "micboardd"

    # a phone: no room beside the board, the list is above it and hides nothing
    page.set_viewport_size({"width": 420, "height": 900})
    page.wait_for_function("() => getComputedStyle(document.querySelector('#alerts'))"
                           ".position === 'static'")
    assert overlaps(page, ".tile", "#alerts") == []
    assert overlaps(page, "#toolbar", "#alerts") == []

    simctl(band, "3 BATT_RUN_TIME 00400", "3 BATT_BARS 005")
    simctl(band_b, "TX 1 ON")
    simctl(talk, "TX 2 ON")
    for item in items.values():
        expect(item).to_have_attribute("data-state", "resolved", timeout=8000)


@pytest.fixture(scope="module")
def token_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDaemon]:
    """A small demo whose writes need a token, even from loopback."""
    tmp = tmp_path_factory.mktemp("alert-token-demo")
    config = {
        "devices": [{"id": "rx-1", "driver": "shure-ulxd", "host": "127.0.0.1",
                     "model": "ULXD4Q", "simulate": {"model": "ULXD4Q"}}],
        "slots": [{"slot": n, "channel": f"rx-1/{n}", "label_id": f"HH0{n}"}
                  for n in (1, 2, 3, 4)],
        "http": {"tokens": [{"name": "foh", "sha256": hash_token(TOKEN)}]},
        "alerts": {"default": {"clear_after_s": 1}},
    }
    path = Path(tmp) / "token-demo.json"
    path.write_text(json.dumps(config))
    d = DemoDaemon(Path(tmp) / "state", config=path).start()
    try:
        yield d
    finally:
        d.stop()


def test_ack_asks_for_the_write_token_once_and_sends_it(
    token_demo: DemoDaemon, open_page: Any
) -> None:
    page = open_page(token_demo.url + "/")
    wait_live(page, 4)
    simctl(token_demo.sim("rx-1"), "FREEZE", "2 BATT_RUN_TIME 00020", "2 BATT_BARS 001")
    expect(page.locator("#btn-alerts")).to_have_attribute("data-severity", "critical")
    page.locator("#btn-alerts").click()
    drawer = page.locator("#alerts")
    item = drawer.locator(".al").filter(has_text="HH02")
    ack = item.get_by_role("button", name=re.compile(r"^Ack\b"))
    ack.click()
    msg = page.locator("#alerts-msg")
    expect(msg).to_contain_text("needs a write token")
    token_box = drawer.get_by_label("Write token")
    expect(token_box).to_be_focused()
    token_box.fill("not-the-token")
    ack.click()
    expect(msg).to_contain_text("refused this token")
    expect(item).to_have_attribute("data-state", "open")
    token_box.fill(TOKEN)
    with page.expect_request("**/ack") as req:
        token_box.press("Enter")  # sends the refused ack again
    assert req.value.headers["authorization"] == f"Bearer {TOKEN}"
    expect(item).to_have_attribute("data-state", "acknowledged")
    expect(item.locator(".al-meta")).to_contain_text("acknowledged by foh")
    expect(drawer.locator("#al-token")).to_be_hidden()
    assert page.evaluate("() => localStorage.getItem('micboardd.token')") == TOKEN
    aid = item.get_attribute("data-id")
    assert aid and server_alert(token_demo, aid)["acked_by"] == "foh"


LOGIC = """async () => {
  const { Model, Changes } = await import("/state.js");
  const out = {};
  const m = new Model(() => 1000);
  const c0 = m.snapshot(1, {devices: {}, channels: {}, slots: [], groups: []});
  out.snapshot = c0.alerts;
  out.none = m.alertList().length;
  const a = (id, state, severity, opened, extra = {}) => ({id, rule: "battery",
    channel: "d/1", device: "d", severity, state, opened, ...extra});
  const c1 = m.patch(2, 1, {alerts: {
    w: a("w", "open", "warning", 10), c: a("c", "open", "critical", 5),
    k: a("k", "acknowledged", "critical", 20), r: a("r", "resolved", "warning", 30,
      {resolved: 40}),
    x: a("x", "open", "warning", 15, {channel: null, device: "d2", rule: "rx_offline"})}});
  out.c1 = [c1.alerts, c1.layout, c1.empty];
  out.order = m.alertList().map((x) => x.id);
  const marks = m.alertMarks();
  out.marks = [[...marks.channels], [...marks.devices]];
  const c2 = m.patch(3, 2, {alerts: {c: null, w: null, x: {state: "acknowledged"}}});
  out.after = m.alertList().map((x) => x.id);
  out.marksAfter = [[...m.alertMarks().channels], [...m.alertMarks().devices]];
  out.c2 = c2.alerts;
  out.c3 = m.patch(4, 3, {channels: {}}).alerts;
  out.merged = new Changes().add(c2).alerts;
  out.emptyChanges = new Changes().empty;
  return out;
}"""


def test_model_keeps_alerts_and_tells_the_view(alert_demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(alert_demo.url + "/")
    out = page.evaluate(LOGIC)
    assert out["snapshot"] is True and out["none"] == 0
    assert out["c1"] == [True, False, False]
    # open first (critical first), then acknowledged, then resolved; newest first
    assert out["order"] == ["c", "x", "w", "k", "r"]
    # per channel (and receiver) its worst episode: severity first, then open
    mark = lambda rule, sev, acked: {"rule": rule, "severity": sev, "acked": acked}  # noqa: E731
    assert out["marks"] == [[["d/1", mark("battery", "critical", False)]],
                            [["d2", mark("rx_offline", "warning", False)]]]
    assert out["after"] == ["k", "x", "r"]  # removed ones are gone
    assert out["marksAfter"] == [[["d/1", mark("battery", "critical", True)]],
                                 [["d2", mark("rx_offline", "warning", True)]]]
    assert out["c2"] is True and out["c3"] is False and out["merged"] is True
    assert out["emptyChanges"] is True
